"""Members in the operator console: search, the member page, points adjustments, disable/enable."""
from flask import flash, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_pgettext
from flask_login import current_user

from app.forms.admin_people import AdjustPointsForm, ConfirmForm
from app.routes.admin import bp, nav_entry
from app.routes.params import int_arg
from app.routes.web import htmx_redirect, render_page
from app.services import accounts, console_accounts, ledger, member_admin, shop
from app.services.errors import DomainError
from app.services.ids import parse_ref
from app.services.levels import level_for

nav_entry("admin.members", lazy_pgettext("page", "会员"), 40)

MAX_PAGE = 100_000


def page_number():
    """?page= as a page number (1 when absent or not a number; paginate clamps the rest)."""
    return int_arg("page", lo=1, hi=MAX_PAGE) or 1


def refuse(form):
    """Flash the first error of a bare action form (a stale page, a reused key)."""
    flash(str(next(iter(form.errors.values()))[0]), "error")


@bp.get("/members")
def members():
    q, status = request.args.get("q", "")[:40], request.args.get("status", "")
    page = member_admin.search_members(q, status, page_number())
    return render_page("admin/members.html", page=page, q=q, state=status, level_for=level_for)


# A ledger entry's reference ("order:12", "merchant:3") opens the console's page about it, where there is one.
_REF_PAGES = {"order": ("admin.order", "order_id"), "merchant": ("admin.merchant", "merchant_id")}


def ref_url(ref):
    """The console page of what a ledger entry refers to, or None."""
    kind, object_id = parse_ref(ref)
    page = _REF_PAGES.get(kind)
    return url_for(page[0], **{page[1]: object_id}) if page and object_id else None


def _member_page(user_id, form=None, status=200):
    member = member_admin.get_member(user_id)
    return render_page(
        "admin/member.html", status=status, member=member, level=level_for(member.growth),
        entries=member_admin.ledger_entries(member.id, page_number()), activity=member_admin.member_activity(member.id),
        form=form or AdjustPointsForm(), action_form=ConfirmForm(),
        kind_label=ledger.kind_label, entry_note=ledger.entry_note, order_status=shop.status_label,
        referral_status=member_admin.referral_status, ref_url=ref_url,
    )


@bp.get("/members/<id:user_id>")
def member(user_id):
    return _member_page(user_id)


@bp.post("/members/<id:user_id>/adjust")
def adjust_points(user_id):
    member_admin.get_member(user_id)  # 404 before the form for an id that is no member
    form = AdjustPointsForm()
    if form.validate_on_submit():
        try:
            entry = member_admin.adjust_points(current_user.id, user_id, form.delta.data, form.reason.data,
                                               form.request_key.data)
        except DomainError as error:
            if error.field not in ("delta", "reason"):
                raise
            getattr(form, error.field).errors.append(str(error.message))
        else:
            flash(_("已调整 %(delta)+d 积分，调整后余额 %(balance)s", delta=entry.amount, balance=entry.balance_after),
                  "success")
            return htmx_redirect("admin.member", user_id=user_id)
    return _member_page(user_id, form=form, status=422)


def _set_disabled(user_id, disabled):
    form = ConfirmForm()
    if not form.confirms("disable" if disabled else "enable"):
        refuse(form)
    elif accounts.set_disabled(user_id, disabled, actor_id=current_user.id, role="member"):
        flash(_("已停用该会员，其登录已全部失效") if disabled else _("已启用该会员"), "success")
    return htmx_redirect("admin.member", user_id=user_id)


@bp.post("/members/<id:user_id>/disable")
def disable_member(user_id):
    member_admin.get_member(user_id)
    return _set_disabled(user_id, True)


@bp.post("/members/<id:user_id>/enable")
def enable_member(user_id):
    member_admin.get_member(user_id)
    return _set_disabled(user_id, False)


@bp.post("/members/<id:user_id>/reset-password")
def reset_member_password(user_id):
    """A member who forgot the password asked customer service: a one-time password, shown once."""
    member = member_admin.get_member(user_id)
    form = ConfirmForm()
    if not form.confirms("reset"):
        refuse(form)
        return htmx_redirect("admin.member", user_id=user_id)
    try:
        issued = console_accounts.reset_password(current_user.id, user_id, "member", form.request_key.data)
    except DomainError as refusal:
        flash(str(refusal.message), "error")
        return htmx_redirect("admin.member", user_id=user_id)
    if issued.password is None:
        flash(_("密码已重置。一次性密码只显示一次，如未记下，请再次重置。"), "info")
        return htmx_redirect("admin.member", user_id=user_id)
    from app.routes.admin.merchants import one_time_password_page  # merchants builds on this module

    return one_time_password_page(issued, member, back=("admin.member", {"user_id": user_id}))
