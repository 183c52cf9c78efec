"""The member's side of after-sales (售后): the request form and withdrawing a request.

The order page (/orders/<id>) shows the entry and each request's timeline through the
`aftersale_panel` template global below.
"""
from flask import Blueprint, flash, redirect, url_for
from flask_babel import gettext as _
from flask_login import current_user

from app.access import member_required
from app.forms.aftersales import AfterSaleRequestForm
from app.forms.base import ActionForm
from app.routes.web import htmx_redirect, render_page
from app.services import aftersales, shop
from app.services.clock import utcnow
from app.services.errors import DomainError, NotFound

bp = Blueprint("aftersales", __name__)


@bp.app_template_global()
def aftersale_panel(order):
    """What the order page shows about after-sales: the requests with their steps, and
    whether (and until when) the member may ask for one."""
    member = current_user
    allowed, why = aftersales.can_request(order, member) if order.kind == "physical" else (False, None)
    return {
        "requests": aftersales.order_requests(order.id) if order.kind == "physical" else [],
        "allowed": allowed, "why": why, "window_end": aftersales.window_end(order, member.growth),
        "days": aftersales.window_days(member.growth), "timeline": aftersales.timeline,
        "kind_label": aftersales.kind_label, "status_label": aftersales.status_label,
    }


@bp.route("/orders/<id:order_id>/aftersale", methods=["GET", "POST"])
@member_required
def new(order_id):
    order = shop.get_order(order_id, current_user.id)
    form = AfterSaleRequestForm()
    if form.validate_on_submit():
        try:
            aftersales.request_aftersale(current_user.id, order.id, form.kind.data, form.reason.data,
                                         getattr(form, "photo_bytes", []))
        except NotFound:
            raise
        except DomainError as refusal:
            field = getattr(form, refusal.field, None) if refusal.field else None
            (field.errors if field is not None else form.form_errors).append(str(refusal.message))
        else:
            flash(_("售后申请已提交，请留意审核结果"), "success")
            return redirect(url_for("shop.order", order_id=order.id), 303)
    allowed, why = aftersales.can_request(order, current_user, utcnow())
    return render_page("shop/aftersale_form.html", order=order, form=form, allowed=allowed, why=why,
                       days=aftersales.window_days(current_user.growth),
                       window_end=aftersales.window_end(order, current_user.growth),
                       status=422 if form.errors or form.form_errors else 200)


@bp.post("/orders/<id:order_id>/aftersale/cancel")
@member_required
def cancel(order_id):
    shop.get_order(order_id, current_user.id)  # another member's or a missing order: 404
    form = ActionForm()
    if not form.validate_on_submit():
        flash(next(iter(form.errors.values()))[0], "error")
        return htmx_redirect("shop.order", order_id=order_id)
    try:
        aftersales.cancel_aftersale(current_user.id, order_id)
    except NotFound:
        raise
    except DomainError as refusal:
        flash(str(refusal.message), "error")
    else:
        flash(_("售后申请已撤销"), "success")
    return htmx_redirect("shop.order", order_id=order_id)
