"""Risk review (风控审核) in the operator console: held orders with their reasons, the decisions,
and the rules' thresholds on the same page."""
from flask import flash
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from app.forms.base import ActionForm
from app.forms.risk import ReviewRejectForm, RiskRulesForm
from app.routes.admin import bp, nav_entry
from app.routes.admin.members import page_number
from app.routes.web import form_action, htmx_redirect, render_page
from app.services import risk
from app.services.errors import DomainError
from app.services.listing import paginate

nav_entry("admin.review", _l("风控审核"), 25)


def _page(rules_form=None, reject_forms=None, status=200):
    page = paginate(risk.queue(), page_number())
    if rules_form is None:
        rules_form = RiskRulesForm(formdata=None, data=risk.rules())
    reject_forms = reject_forms or {}
    return render_page("admin/review.html", status=status, page=page, rules_form=rules_form,
                       reject_forms={r.order_id: reject_forms.get(r.order_id) or ReviewRejectForm()
                                     for r in page.items},
                       approve_form=ActionForm(), reason_text=risk.reason_text, rule_labels=risk.RULE_LABELS)


@bp.get("/review")
def review():
    return _page()


def _decide(order_id, form, act, done_message):
    return form_action(form, act, done_message, back=lambda: htmx_redirect("admin.review"),
                       again=lambda: _page(reject_forms={order_id: form}, status=422))


@bp.post("/review/<id:order_id>/approve")
def review_approve(order_id):
    return _decide(order_id, ActionForm(), lambda f: risk.approve(order_id, current_user.id),
                   _("已通过审核，订单继续处理"))


@bp.post("/review/<id:order_id>/reject")
def review_reject(order_id):
    form = ReviewRejectForm()
    return _decide(order_id, form, lambda f: risk.reject(order_id, current_user.id, f.reason.data),
                   _("已拒绝，积分和库存已退回"))


@bp.post("/review/rules")
def review_rules():
    form = RiskRulesForm()
    if form.validate_on_submit():
        try:
            risk.save_rules(form.values(), current_user.id)
        except DomainError as refusal:
            getattr(form, refusal.field).errors.append(str(refusal.message))
        else:
            flash(_("风控规则已保存"), "success")
            return htmx_redirect("admin.review")
    return _page(rules_form=form, status=422)
