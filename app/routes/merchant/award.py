"""Consumption points at the counter (积分奖励): scan the member code or type the phone, then
the amount paid and the receipt number."""
from flask import current_app, flash, request
from flask_babel import format_datetime
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import ngettext
from flask_login import current_user

from app.extensions import limiter
from app.forms.merchant import AwardForm
from app.routes.merchant import action_entry, bp
from app.routes.web import htmx_redirect, render_page
from app.services import consumption
from app.services.clock import to_shanghai
from app.services.earning import source_enabled
from app.services.errors import DomainError
from app.services.levels import level_for

action_entry("merchant.award", _l("积分奖励"), 20)


def _render(form, member_ref=None, member=None, lookup_error=None, status=200):
    merchant = current_user.merchant
    return render_page(
        "merchant/award.html", status=status, form=form, member_ref=member_ref, member=member,
        level=level_for(member.growth) if member else None,
        cap_left=consumption.cap_left(member.id, merchant) if member else None,
        masked_phone=consumption.masked_phone, lookup_error=lookup_error, merchant=merchant,
        enabled=source_enabled("earn.consumption"),
    )


def _lookup_limit():
    return current_app.config["MEMBER_LOOKUP_RATE_LIMIT"]


def _staff_key():
    """Per staff account (several staff behind one shop's IP each get their own allowance); the
    console's guard turns everybody else away after this check, by IP."""
    user_id = getattr(current_user, "id", None)
    return f"staff:{user_id}" if user_id is not None else f"ip:{request.remote_addr}"


@bp.route("/award", methods=["GET", "POST"])
@limiter.limit(_lookup_limit, key_func=_staff_key, methods=["GET"], exempt_when=lambda: "member" not in request.args)
def award():
    if request.method == "GET":
        member_ref = request.args.get("member")
        if member_ref is None:
            return _render(AwardForm())
        try:
            member = consumption.find_member(member_ref)
        except DomainError as refusal:
            return _render(AwardForm(), member_ref=member_ref, lookup_error=refusal.message, status=422)
        return _render(AwardForm(member=member_ref), member_ref=member_ref, member=member)
    form = AwardForm()
    if not form.validate_on_submit():  # CSRF only: the service judges what was typed
        return _render(form, status=422)
    try:
        result = consumption.award_consumption_points(current_user.id, form.member.data, form.amount.data,
                                                      form.receipt_no.data)
    except DomainError as refusal:
        return _refused(form, refusal)
    _flash_result(result)
    return htmx_redirect("merchant.award")


def _refused(form, refusal):
    field = getattr(form, refusal.field, None) if refusal.field in ("amount", "receipt_no") else None
    if field is not None:
        field.errors = [refusal.message]
    if refusal.field == "member":
        return _render(AwardForm(), member_ref=form.member.data, lookup_error=refusal.message, status=422)
    try:
        member = consumption.find_member(form.member.data)
    except DomainError as lookup:
        return _render(AwardForm(), member_ref=form.member.data, lookup_error=lookup.message, status=422)
    if field is None:
        form.form_errors.append(refusal.message)
    return _render(form, member_ref=form.member.data, member=member, status=422)


def _flash_result(result):
    award, who = result.award, consumption.masked_phone(result.member)
    if not result.created:
        flash(_("小票 %(no)s 已于 %(when)s 奖励过 %(points)s 积分，未重复发放", no=award.receipt_no,
                when=_time(award.created_at), points=award.points), "info")
        return
    flash(ngettext("已为会员 %(who)s 奖励 %(num)s 积分（小票 %(no)s）",
                   "已为会员 %(who)s 奖励 %(num)s 积分（小票 %(no)s）", award.points, who=who, no=award.receipt_no),
          "success")
    if result.trimmed:
        flash(ngettext("已达今日上限：按规则应得 %(full)s 积分，实际奖励 %(num)s 积分",
                       "已达今日上限：按规则应得 %(full)s 积分，实际奖励 %(num)s 积分", award.points,
                       full=result.uncapped_points), "info")


def _time(value):
    return format_datetime(to_shanghai(value), "yyyy-MM-dd HH:mm")
