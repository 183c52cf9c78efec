"""Operator accounts in the operator console (the `create-account` CLI makes the first one)."""
from flask import flash
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from app.forms.admin_people import AccountForm, ConfirmForm
from app.routes.admin import bp, nav_entry
from app.routes.admin.members import page_number, refuse
from app.routes.admin.merchants import field_error, one_time_password_page
from app.routes.web import htmx_redirect, render_page
from app.services import accounts, console_accounts
from app.services.errors import DomainError

nav_entry("admin.operators", _l("运营账号"), 90)


def _operators_page(form=None, status=200):
    return render_page("admin/operators.html", status=status, page=console_accounts.operators_page(page_number()),
                       form=form or AccountForm(), action_form=ConfirmForm())


@bp.get("/operators")
def operators():
    return _operators_page()


@bp.post("/operators")
def add_operator():
    form = AccountForm()
    if form.validate_on_submit():
        try:
            issued = console_accounts.add_account(current_user.id, "operator", form.phone.data, form.name.data,
                                                  form.request_key.data)
        except DomainError as error:
            field_error(form, error, ("phone", "name"))
        else:
            if issued.password is None:
                flash(_("该运营账号已创建。一次性密码只显示一次，如未记下，请为其重置密码。"), "info")
                return htmx_redirect("admin.operators")
            return one_time_password_page(issued, console_accounts.get_account(issued.user_id, "operator"),
                                          back=("admin.operators", {}))
    return _operators_page(form=form, status=422)


def _set_operator_disabled(operator_id, disabled):
    console_accounts.get_account(operator_id, "operator")
    form = ConfirmForm()
    if not form.confirms("disable" if disabled else "enable"):
        refuse(form)
        return htmx_redirect("admin.operators")
    try:
        changed = accounts.set_disabled(operator_id, disabled, actor_id=current_user.id, role="operator")
    except accounts.AccountError as error:  # oneself, the last enabled operator
        flash(str(error.message), "error")
    else:
        if changed:
            flash(_("已停用该运营账号，其登录已全部失效") if disabled else _("已启用该运营账号"), "success")
    return htmx_redirect("admin.operators")


@bp.post("/operators/<id:operator_id>/disable")
def disable_operator(operator_id):
    return _set_operator_disabled(operator_id, True)


@bp.post("/operators/<id:operator_id>/enable")
def enable_operator(operator_id):
    return _set_operator_disabled(operator_id, False)


@bp.post("/operators/<id:operator_id>/reset-password")
def reset_operator_password(operator_id):
    operator = console_accounts.get_account(operator_id, "operator")
    form = ConfirmForm()
    if not form.confirms("reset"):
        refuse(form)
        return htmx_redirect("admin.operators")
    try:
        issued = console_accounts.reset_password(current_user.id, operator_id, "operator", form.request_key.data)
    except accounts.AccountError as error:  # one's own password is changed on the password page
        flash(str(error.message), "error")
        return htmx_redirect("admin.operators")
    if issued.password is None:
        flash(_("密码已重置。一次性密码只显示一次，如未记下，请再次重置。"), "info")
        return htmx_redirect("admin.operators")
    return one_time_password_page(issued, operator, back=("admin.operators", {}))
