"""After-sales (售后) in the operator console: the queue and a request's page with its steps."""
from flask import request
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from app.forms.aftersales import ApproveForm, CompleteForm, RejectForm
from app.forms.base import ActionForm
from app.routes.admin import bp, nav_entry
from app.routes.admin.members import page_number
from app.routes.web import form_action, htmx_redirect, render_page
from app.services import aftersales as service
from app.services import audit, shop
from app.services.listing import paginate

nav_entry("admin.aftersales", _l("售后"), 30)

_FILTERS = ("open", *service.STATUS_LABELS)


@bp.app_template_global()
def order_aftersales(order_id):
    """The order's after-sales requests with their labels, for the console's order page."""
    return [(row, service.kind_label(row.kind), service.status_label(row.status))
            for row in service.order_requests(order_id)]


@bp.get("/aftersales")
def aftersales():
    state = request.args.get("status", "open")
    state = state if state in _FILTERS or state == "all" else "open"
    page = paginate(service.queue(None if state == "all" else state), page_number())
    tabs = [("open", _("处理中")), *service.STATUS_LABELS.items(), ("all", _("全部"))]
    return render_page("admin/aftersales.html", page=page, state=state, tabs=tabs,
                       kind_label=service.kind_label, status_label=service.status_label)


def _request_page(request_id, forms=None, status=200):
    found = service.get_request(request_id)
    forms = forms or {}
    return render_page(
        "admin/aftersale.html", status=status, r=found, order=found.order, steps=service.timeline(found),
        kind_label=service.kind_label, status_label=service.status_label, order_status=shop.status_label,
        approve_form=forms.get("approve") or ApproveForm(), complete_form=forms.get("complete") or CompleteForm(),
        reject_form=forms.get("reject") or RejectForm(), action_form=ActionForm(),
        history=audit.present(audit.history(f"aftersale:{found.id}")),
    )


@bp.get("/aftersales/<id:request_id>")
def aftersale(request_id):
    return _request_page(request_id)


def _step(request_id, name, form, act, done_message):
    """Run one operator step: a refusal goes next to its field (or is flashed), success back to the page."""
    service.get_request(request_id)  # a missing request: 404, whatever the form
    return form_action(form, act, done_message,
                       back=lambda: htmx_redirect("admin.aftersale", request_id=request_id),
                       again=lambda: _request_page(request_id, forms={name: form}, status=422))


@bp.post("/aftersales/<id:request_id>/approve")
def aftersale_approve(request_id):
    return _step(request_id, "approve", ApproveForm(),
                 lambda f: service.approve(request_id, current_user.id, f.instructions.data),
                 _("已同意售后申请"))


@bp.post("/aftersales/<id:request_id>/receive")
def aftersale_receive(request_id):
    return _step(request_id, "receive", ActionForm(),
                 lambda f: service.mark_received(request_id, current_user.id), _("已确认收到退回商品"))


@bp.post("/aftersales/<id:request_id>/complete")
def aftersale_complete(request_id):
    return _step(request_id, "complete", CompleteForm(),
                 lambda f: service.complete(request_id, current_user.id, restock=f.restock.data,
                                               carrier=f.carrier.data, tracking_no=f.tracking_no.data),
                 _("售后已完成"))


@bp.post("/aftersales/<id:request_id>/reject")
def aftersale_reject(request_id):
    return _step(request_id, "reject", RejectForm(),
                 lambda f: service.reject(request_id, current_user.id, f.reason.data), _("已拒绝售后申请"))
