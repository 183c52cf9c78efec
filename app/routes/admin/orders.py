"""The console's orders: list with filters and CSV export, the order page and its actions, bulk shipping."""
from flask import flash, redirect, request, url_for
from flask_babel import gettext as _
from flask_babel import ngettext
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from app.forms.admin_orders import MAX_SHIP_FILE_BYTES, CancelForm, OrderFilterForm, RefundCashForm, RefundForm, ShipForm, ShipImportForm
from app.routes.admin import bp, nav_entry
from app.routes.params import int_arg
from app.routes.web import csv_download, render_page
from app.services import ledger, order_admin, order_console
from app.services.clock import shanghai_today, utcnow
from app.services.errors import AlreadyDone, DomainError, NotFound
from app.services.shop import status_label

nav_entry("admin.orders", _l("订单"), 20)


@bp.get("/orders")
def orders():
    form = OrderFilterForm(request.args)
    form.validate()
    page, members = order_console.order_page(form.to_filter(), int_arg("page", lo=1, hi=10**6) or 1)
    return render_page("admin/orders.html", form=form, page=page, members=members, status_label=status_label,
                       kinds=order_console.KIND_LABELS)


@bp.get("/orders/export.csv")
def orders_export():
    form = OrderFilterForm(request.args)
    form.validate()
    return csv_download(order_console.export_csv(form.to_filter()), f"orders-{shanghai_today():%Y%m%d}.csv")


def _order_page(order_id, *, ship_form=None, cancel_form=None, refund_form=None, cash_form=None, status=200):
    detail = order_console.order_detail(order_id)
    return render_page(
        "admin/order.html", status=status, **detail, status_label=status_label, kinds=order_console.KIND_LABELS,
        sources=order_console.SOURCE_LABELS, payment_labels=order_console.PAYMENT_LABELS, now=utcnow(), entry_kind=ledger.kind_label,
        ship_form=ship_form or ShipForm(formdata=None), cancel_form=cancel_form or CancelForm(formdata=None),
        refund_form=refund_form or RefundForm(formdata=None), cash_form=cash_form or RefundCashForm(formdata=None),
    )


@bp.get("/orders/<id:order_id>")
def order(order_id):
    return _order_page(order_id)


def _order_action(order_id, form, form_name, act, done_message):
    """Validate, act, then back to the order page (Post/Redirect/Get); a refusal stays on the page
    next to its field. A double submit lands on AlreadyDone: shown as information, nothing changes."""
    order_console.order_detail(order_id)  # a missing order is a 404 whatever the form says
    if form.validate_on_submit():
        try:
            act(form)
        except NotFound:
            raise
        except AlreadyDone as done:
            flash(str(done.message), "info")
            return redirect(url_for("admin.order", order_id=order_id), 303)
        except DomainError as refusal:
            field = getattr(form, refusal.field, None) if refusal.field else None  # "reason": the form's own
            (field.errors if field is not None else form.form_errors).append(str(refusal.message))
        else:
            flash(str(done_message), "success")
            return redirect(url_for("admin.order", order_id=order_id), 303)
    return _order_page(order_id, status=422, **{form_name: form})


@bp.post("/orders/<id:order_id>/ship")
def order_ship(order_id):
    return _order_action(
        order_id, ShipForm(), "ship_form",
        lambda f: order_admin.ship_order(order_id, f.carrier.data, f.tracking_no.data, current_user.id),
        _l("已发货，会员已收到通知"))


@bp.post("/orders/<id:order_id>/cancel")
def order_cancel(order_id):
    return _order_action(
        order_id, CancelForm(), "cancel_form",
        lambda f: order_admin.cancel_order(order_id, current_user.id, f.reason.data),
        _l("订单已取消，积分和库存已退回"))


@bp.post("/orders/<id:order_id>/refund")
def order_refund(order_id):
    return _order_action(
        order_id, RefundForm(), "refund_form",
        lambda f: order_admin.refund_order(order_id, current_user.id, f.reason.data),
        _l("已退款：积分已退回，现金部分已原路退还"))


@bp.post("/orders/<id:order_id>/refund-cash")
def order_refund_cash(order_id):
    return _order_action(
        order_id, RefundCashForm(), "cash_form",
        lambda f: order_admin.refund_cash(order_id, current_user.id, f.reason.data),
        _l("现金已原路退还"))


@bp.route("/orders/ship-import", methods=["GET", "POST"])
def orders_ship_import():
    form, report, status = ShipImportForm(), None, 200
    if form.validate_on_submit():
        data = form.data_to_ship()
        try:
            if len(data) > MAX_SHIP_FILE_BYTES:
                raise DomainError(_("文件不能超过 1 MB"), field="file")
            report = order_admin.bulk_ship(data, current_user.id, ship_valid=form.ship_valid.data)
        except DomainError as refusal:
            form.file.errors = [*form.file.errors, str(refusal.message)]
        if report is not None and report.applied:
            flash(ngettext("已发货 %(num)s 单", "已发货 %(num)s 单", report.shipped), "success")
    if form.errors or (report is not None and not report.applied):
        status = 422
    return render_page("admin/ship_import.html", status=status, form=form, report=report,
                       resubmit=ShipImportForm(formdata=None), states=order_admin.ROW_STATES)
