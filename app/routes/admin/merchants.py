"""Merchants and their staff in the operator console."""
from flask import flash, request
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from app.forms.admin_people import AccountForm, ConfirmForm, MerchantForm
from app.routes.admin import bp, nav_entry
from app.routes.admin.members import page_number, refuse
from app.routes.web import csv_download, htmx_redirect, render_page
from app.services import accounts, audit, console_accounts, merchant_admin
from app.services import settlement as settlements
from app.services.errors import DomainError, NotFound

nav_entry("admin.merchants", _l("商户"), 50)


def one_time_password_page(issued, account, back, status=200):
    """The page that shows a one-time password, once: never cached, never stored anywhere."""
    response = render_page("admin/one_time_password.html", status=status, password=issued.password,
                           account=account, back=back)
    response.headers["Cache-Control"] = "no-store"
    return response


def field_error(form, error, fields):
    """Put a service's refusal at its field; anything else is the error page's business."""
    if error.field not in fields:
        raise error
    getattr(form, error.field).errors.append(str(error.message))


@bp.get("/merchants")
def merchants():
    q, status = request.args.get("q", "")[:80], request.args.get("status", "")
    page, staff_counts = merchant_admin.merchants_page(q, status, page_number())
    start, end = settlements.default_range()
    week = settlements.totals_by_merchant([m.id for m in page.items], start, end)
    return render_page("admin/merchants.html", page=page, staff_counts=staff_counts, week=week, q=q, state=status)


_TERMS = ("name", "address", "phone", "points_per_yuan", "daily_cap_points", "max_amount_yuan")


@bp.route("/merchants/new", methods=["GET", "POST"])
def new_merchant():
    form = MerchantForm()
    if form.validate_on_submit():
        try:
            merchant = merchant_admin.create_merchant(current_user.id, form.terms(), form.request_key.data)
        except DomainError as error:
            field_error(form, error, _TERMS)
        else:
            flash(_("商户已创建"), "success")
            return htmx_redirect("admin.merchant", merchant_id=merchant.id)
    return render_page("admin/merchant_form.html", form=form, merchant=None, status=422 if form.errors else 200)


@bp.route("/merchants/<id:merchant_id>/edit", methods=["GET", "POST"])
def edit_merchant(merchant_id):
    merchant = merchant_admin.get_merchant(merchant_id)
    form = MerchantForm()
    if request.method == "GET":
        form.fill(merchant)
    elif form.validate_on_submit():
        try:
            merchant_admin.update_merchant(current_user.id, merchant_id, form.terms())
        except DomainError as error:
            field_error(form, error, _TERMS)
        else:
            flash(_("商户资料已保存"), "success")
            return htmx_redirect("admin.merchant", merchant_id=merchant_id)
    return render_page("admin/merchant_form.html", form=form, merchant=merchant, status=422 if form.errors else 200)


def _merchant_page(merchant_id, staff_form=None, status=200):
    merchant = merchant_admin.get_merchant(merchant_id)
    week = settlements.totals_by_merchant([merchant.id], *settlements.default_range())[merchant.id]
    return render_page("admin/merchant.html", status=status, merchant=merchant, week=week,
                       staff=console_accounts.merchant_staff(merchant.id), staff_form=staff_form or AccountForm(),
                       action_form=ConfirmForm(), history=audit.present(audit.history(f"merchant:{merchant.id}")))


@bp.get("/merchants/<id:merchant_id>")
def merchant(merchant_id):
    return _merchant_page(merchant_id)


@bp.get("/merchants/<id:merchant_id>/settlement")
def merchant_settlement(merchant_id):
    """The merchant's settlement as its staff see it: the vouchers redeemed at its counter and their
    face value, the points it awarded and the amounts behind them, per day, week or month."""
    merchant = merchant_admin.get_merchant(merchant_id)
    period, start, end, errors = settlements.requested(request.args)
    result = settlements.merchant_settlement(merchant.id, period, start, end)
    return render_page("admin/merchant_settlement.html", status=422 if errors else 200, merchant=merchant,
                       result=result, errors=errors, periods=settlements.PERIODS, args=request.args)


@bp.get("/merchants/<id:merchant_id>/settlement.csv")
def merchant_settlement_csv(merchant_id):
    merchant = merchant_admin.get_merchant(merchant_id)
    period, start, end, _errors = settlements.requested(request.args)
    result = settlements.merchant_settlement(merchant.id, period, start, end)
    return csv_download(settlements.settlement_csv(result),
                        f"merchant{merchant.id}-{settlements.csv_filename(result)}")


@bp.post("/merchants/<id:merchant_id>/staff")
def add_staff(merchant_id):
    merchant_admin.get_merchant(merchant_id)
    form = AccountForm()
    if form.validate_on_submit():
        try:
            issued = console_accounts.add_account(current_user.id, "staff", form.phone.data, form.name.data,
                                                  form.request_key.data, merchant_id=merchant_id)
        except DomainError as error:
            field_error(form, error, ("phone", "name"))
        else:
            if issued.password is None:
                flash(_("该店员账号已创建。一次性密码只显示一次，如未记下，请为其重置密码。"), "info")
                return htmx_redirect("admin.merchant", merchant_id=merchant_id)
            return one_time_password_page(issued, console_accounts.get_account(issued.user_id, "staff"),
                                          back=("admin.merchant", {"merchant_id": merchant_id}))
    return _merchant_page(merchant_id, staff_form=form, status=422)


def _staff_action(merchant_id, staff_id):
    """The staff account named in the path, of the merchant in the path (else 404)."""
    staff = console_accounts.get_account(staff_id, "staff")
    if staff.merchant_id != merchant_admin.get_merchant(merchant_id).id:
        raise NotFound(_("账号不存在"))
    return staff


def _set_staff_disabled(merchant_id, staff_id, disabled):
    _staff_action(merchant_id, staff_id)
    form = ConfirmForm()
    if not form.confirms("disable" if disabled else "enable"):
        refuse(form)
    elif accounts.set_disabled(staff_id, disabled, actor_id=current_user.id, role="staff"):
        flash(_("已停用该店员，其登录已全部失效") if disabled else _("已启用该店员"), "success")
    return htmx_redirect("admin.merchant", merchant_id=merchant_id)


@bp.post("/merchants/<id:merchant_id>/staff/<id:staff_id>/disable")
def disable_staff(merchant_id, staff_id):
    return _set_staff_disabled(merchant_id, staff_id, True)


@bp.post("/merchants/<id:merchant_id>/staff/<id:staff_id>/enable")
def enable_staff(merchant_id, staff_id):
    return _set_staff_disabled(merchant_id, staff_id, False)


@bp.post("/merchants/<id:merchant_id>/staff/<id:staff_id>/reset-password")
def reset_staff_password(merchant_id, staff_id):
    staff = _staff_action(merchant_id, staff_id)
    form = ConfirmForm()
    if not form.confirms("reset"):
        refuse(form)
        return htmx_redirect("admin.merchant", merchant_id=merchant_id)
    issued = console_accounts.reset_password(current_user.id, staff_id, "staff", form.request_key.data)
    if issued.password is None:
        flash(_("密码已重置。一次性密码只显示一次，如未记下，请再次重置。"), "info")
        return htmx_redirect("admin.merchant", merchant_id=merchant_id)
    return one_time_password_page(issued, staff, back=("admin.merchant", {"merchant_id": merchant_id}))
