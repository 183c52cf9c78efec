"""Earning points: daily check-in, tasks and points packets, referrals, profile, levels."""
import time

from flask import (Blueprint, abort, current_app, flash, make_response, redirect, render_template, request,
                   session, url_for)
from flask_babel import gettext as _
from flask_babel import ngettext
from flask_login import current_user
from markupsafe import Markup

from app.access import member_required
from app.forms.base import ActionForm
from app.forms.engage import BindPhoneForm, CheckinForm, MakeupForm, ProfileForm, ShareForm
from app.routes.web import (Kept, absolute_url, is_htmx_fragment_request, own_blocks, page_shareable, render_page,
                            request_key_slot, shared_page)
from app.services import cache as shared_cache
from app.services import checkin as checkins
from app.services import packets, referrals
from app.services import profile as profiles
from app.services import draws, spend_quotes, wechat
from app.services import tasks as task_service
from app.services.clock import next_midnight, shanghai_today
from app.services.earning import is_double_points_day, upcoming_double_points_days
from app.services.errors import DomainError
from app.services.levels import all_levels, level_for, next_level
from app.services.settings import get_setting

bp = Blueprint("engage", __name__)

CHECKIN_TABLES = shared_cache.watch("settings")  # what the check-in page shows outside its panel

INVITE_COOKIE_DAYS = 30


# ---- shared helpers -------------------------------------------------------------------------

def _is_htmx():
    return request.headers.get("HX-Request") == "true"


def _first_error(form):
    return next(iter(form.errors.values()))[0]


def _component(partial, page_endpoint, message, ok, **context):
    """An htmx action's answer: its component again with the message (and, when points moved,
    the header balance out of band); without htmx, a flash and a redirect to the page."""
    if not _is_htmx():
        flash(message, "success" if ok else "error")
        return redirect(url_for(page_endpoint), 303)
    response = make_response(render_template(partial, notice=message, notice_ok=ok, oob_balance=ok, **context))
    response.headers["Vary"] = "HX-Request"
    return response


def _decimal(value, places):
    """An integer scaled down by 10**places, as text without trailing zeros (display only)."""
    whole, part = divmod(int(value), 10 ** places)
    part = f"{part:0{places}d}".rstrip("0")
    return f"{whole}.{part}" if part else str(whole)


@bp.app_template_filter("eg_times")
def _times(multiplier_pct):
    """110 -> '1.1' (times the base points)."""
    return _decimal(multiplier_pct, 2)


@bp.app_template_filter("eg_discount")
def _discount(discount_pct):
    """98 -> '9.8折'; 100 -> no discount."""
    return _("无折扣") if int(discount_pct) >= 100 else _("%(n)s折", n=_decimal(discount_pct, 1))


def _double_points():
    """Context every earning page shares: today's double points and the check-in teaser."""
    table = checkins.reward_table()
    return {"double_today": is_double_points_day(shanghai_today()), "double_factor": get_setting("double_points.factor"),
            "checkin_teaser": ngettext("连续%(d)d天最高%(num)d积分", "连续%(d)d天最高%(num)d积分", max(table), d=len(table))}


# ---- check-in -------------------------------------------------------------------------------

def _month_arg(value):
    return checkins.parse_month(value, shanghai_today()) if value else None


def _checkin_page(month=None, panel=True, **panel_args):
    """The check-in page, or its panel alone for htmx (month navigation and the actions); with
    panel=False, for sharing: the panel is then each visitor's own (see checkin())."""
    return render_page("engage/checkin.html", block="panel", rewards=checkins.reward_table(),
                       makeup=checkins.makeup_rules(), **(_checkin_panel(month, **panel_args) if panel else {}),
                       **_double_points())


def _checkin_panel(month=None, notice=None, ok=True, confirm=None, confirm_form=None):
    """What the panel shows this member: streak, today's button, the month's calendar, make-ups."""
    today = shanghai_today()
    state = checkins.status(current_user.id, growth=current_user.growth, today=today)
    calendar = checkins.month_view(current_user.id, month or today.replace(day=1), today=today,
                                   joined=shanghai_today(current_user.created_at), makeups_left_now=state.makeups_left,
                                   recent=state.recent)
    return dict(state=state, cal=calendar, checkin_key=request_key_slot("checkin"), makeup_key=request_key_slot("makeup"),
                notice=notice, notice_ok=ok, confirm=confirm, confirm_form=confirm_form,
                confirm_points=spend_quotes.confirm_threshold(), oob_balance=notice is not None and ok)


def _checkin_answer(message, ok, month):
    if not _is_htmx():
        flash(message, "success" if ok else "error")
        return redirect(url_for("engage.checkin", month=month.strftime("%Y-%m") if month else None), 303)
    return _checkin_page(month, notice=message, ok=ok)


@bp.get("/checkin")
@member_required
def checkin():
    month = _month_arg(request.args.get("month"))
    if request.args.get("month") and month is None:
        abort(404)
    if is_htmx_fragment_request() or not page_shareable(("month",)):
        return _checkin_page(month)
    # The rules, the double-points banner, header and tab bar are the same for every member of a
    # level (until the rules change or the day ends); the panel is rendered for each visitor.
    return shared_page("checkin", CHECKIN_TABLES,
                       lambda: (_checkin_page(panel=False), next_midnight()),
                       own=own_blocks("engage/checkin.html", ("panel",), lambda: _checkin_panel(month),
                                      kept=Kept(f"checkin:{month or ''}", *checkins.panel_kept(current_user.id))))


@bp.post("/checkin")
@member_required
def do_checkin():
    form = CheckinForm()
    month = _month_arg(form.month.data)
    if not form.validate_on_submit():
        return _checkin_answer(_first_error(form), False, month)
    try:
        row = checkins.check_in(current_user.id)
    except DomainError as error:
        return _checkin_answer(str(error.message), False, month)
    return _checkin_answer(ngettext("签到成功，获得 %(num)d 积分", "签到成功，获得 %(num)d 积分", row.points), True, month)


@bp.post("/checkin/makeup")
@member_required
def makeup():
    form = MakeupForm()
    month = _month_arg(form.month.data)
    if not form.validate_on_submit():
        return _checkin_answer(_first_error(form), False, month)
    try:
        if form.confirmed.data != "1" and spend_quotes.needs_confirmation(checkins.makeup_rules()["cost"]):
            # A costly make-up is confirmed first (the day is the key: a double tap is one make-up).
            return _checkin_page(month, confirm=checkins.quote_make_up(current_user.id, form.day.data),
                                 confirm_form=form)
        checkins.make_up(current_user.id, form.day.data)
    except DomainError as error:
        return _checkin_answer(str(error.message), False, month)
    return _checkin_answer(_("补签成功，%(day)s 已补上", day=form.day.data.strftime("%m-%d")), True, month)


# ---- tasks, packets, birthday ------------------------------------------------------------------

def _task_links():
    return {
        "profile": url_for("engage.profile"),
        "phone": url_for("engage.bind_phone"),
        "first_redeem": url_for("shop.products"),
        "first_draw": url_for("games.index"),
        "share": url_for("shop.products"),
        "browse": url_for("engage.promotions"),
    }


@bp.get("/tasks")
@member_required
def tasks():
    newbie, daily = task_service.task_board(current_user)
    growth = current_user.growth
    return render_page("engage/tasks.html", newbie=newbie, daily=daily, links=_task_links(), form=ActionForm(),
                       packets=packets.packets_for(current_user.id), birthday=task_service.birthday_gift(current_user),
                       level=level_for(growth), next_level=next_level(growth),
                       invite=referrals.invite_rules(), **_double_points())


def _task_view(key):
    newbie, daily = task_service.task_board(current_user)
    return next((view for view in newbie + daily if view.task.key == key), None)


@bp.post("/tasks/<key>/claim")
@member_required
def claim_task(key):
    form = ActionForm()
    if key not in task_service.TASKS:
        abort(404)
    try:
        if not form.validate_on_submit():
            raise DomainError(_first_error(form))
        entry = task_service.claim_task(current_user.id, key)
    except DomainError as error:
        return _component("engage/_task.html", "engage.tasks", str(error.message), False,
                          t=_task_view(key), links=_task_links(), form=ActionForm())
    return _component("engage/_task.html", "engage.tasks",
                      ngettext("奖励 %(num)d 积分已到账", "奖励 %(num)d 积分已到账", entry.amount), True,
                      t=_task_view(key), links=_task_links(), form=ActionForm())


@bp.post("/tasks/birthday")
@member_required
def claim_birthday():
    form = ActionForm()
    try:
        if not form.validate_on_submit():
            raise DomainError(_first_error(form))
        entry = task_service.claim_birthday_gift(current_user.id)
        message, ok = ngettext("生日快乐！%(num)d 积分已到账", "生日快乐！%(num)d 积分已到账", entry.amount), True
    except DomainError as error:
        message, ok = str(error.message), False
    return _component("engage/_birthday.html", "engage.tasks", message, ok,
                      birthday=task_service.birthday_gift(current_user), form=ActionForm())


@bp.post("/packets/<id:packet_id>/claim")
@member_required
def claim_packet(packet_id):
    form = ActionForm()
    packet = packets.get_packet(packet_id)
    try:
        if not form.validate_on_submit():
            raise DomainError(_first_error(form))
        claim = packets.claim_packet(current_user.id, packet_id)
        message, ok = ngettext("领取成功，%(num)d 积分7天内有效", "领取成功，%(num)d 积分7天内有效", claim.points), True
    except DomainError as error:
        message, ok = str(error.message), False
    return _component("engage/_packet.html", "engage.tasks", message, ok, packet=packets.get_packet(packet.id),
                      claim=packets.claim_of(current_user.id, packet.id), form=ActionForm())


@bp.post("/share")
@member_required
def share():
    form = ShareForm()
    if not form.validate_on_submit():
        abort(404)
    entry = task_service.record_share(current_user.id, form.product_id.data)
    message = ngettext("分享奖励 %(num)d 积分已到账", "分享奖励 %(num)d 积分已到账", entry.amount) if entry else _("已记录分享，今天的分享奖励已领过")
    return _component("engage/_share_button.html", "engage.tasks", message, entry is not None,
                      product_id=form.product_id.data, shared=True)


@bp.get("/promotions")
def promotions():
    if current_user.is_authenticated:
        session["promo_seen"] = int(time.time())
    today = shanghai_today()
    member = current_user if current_user.is_authenticated else None
    browse = task_service.task_points("browse")
    done = member is not None and task_service.task_done_today(member.id, "browse", today)
    return render_page("engage/promotions.html", packets=packets.packets_for(member.id if member else 0),
                       upcoming=upcoming_double_points_days(today), browse_points=browse, browse_done=done,
                       browse_seconds=task_service.browse_seconds(), invite=referrals.invite_rules(),
                       **_double_points())


@bp.post("/promotions/browsed")
@member_required
def browsed():
    try:  # CSRF: checked for every POST by CSRFProtect (the token rides in the htmx header)
        entry = task_service.reward_browse(current_user.id, session.get("promo_seen"))
    except DomainError as error:
        return _component("engage/_browse.html", "engage.promotions", str(error.message), False,
                          browse_points=task_service.task_points("browse"), browse_done=False, retry=True)
    message = ngettext("浏览奖励 %(num)d 积分已到账", "浏览奖励 %(num)d 积分已到账", entry.amount) if entry else _("今天的浏览奖励已经领过了")
    return _component("engage/_browse.html", "engage.promotions", message, entry is not None,
                      browse_points=task_service.task_points("browse"), browse_done=True)


# ---- referrals -------------------------------------------------------------------------------

@bp.get("/invite")
@member_required
def invite():
    code = referrals.invite_code_for(current_user.id)
    link = absolute_url("engage.referral_link", code=code)
    return render_page("engage/invite.html", link=link, qr=Markup(referrals.qr_svg(link)),
                       rules=referrals.invite_rules(), summary=referrals.invite_summary(current_user.id),
                       invitees=referrals.invitees(current_user.id))


def _remember_invite(response, code):
    response.set_cookie("invite", code, max_age=INVITE_COOKIE_DAYS * 86400, httponly=True, samesite="Lax",
                        secure=current_app.config["SESSION_COOKIE_SECURE"])
    return response


@bp.after_app_request
def _invite_from_shared_link(response):
    """A page shared from WeChat carries ?invite=<code> (services/wechat.py share links): a visitor
    who is not a member yet keeps the code for registration, as the /r/<code> link does."""
    code = request.args.get("invite", "")
    if (code and request.method == "GET" and response.status_code == 200 and len(code) <= 16
            and not current_user.is_authenticated and "invite" not in request.cookies
            and referrals.inviter_by_code(code) is not None):
        _remember_invite(response, code)
    return response


@bp.get("/r/<code>")
def referral_link(code):
    if referrals.inviter_by_code(code) is None:
        abort(404)
    if current_user.is_authenticated:
        flash(_("你已经是会员啦，邀请好友也能赚积分"), "info")
        return redirect(url_for("engage.invite"))
    inviter = referrals.inviter_by_code(code)
    page = render_template("engage/invite_landing.html", code=code, inviter_name=inviter.display_name,
                           gift=get_setting("earn.register"), newbie=draws.newbie_draw())
    return _remember_invite(make_response(page), code)


# ---- profile, phone, level ------------------------------------------------------------------

@bp.route("/me/profile", methods=["GET", "POST"])
@member_required
def profile():
    form = ProfileForm(obj=current_user)
    if form.validate_on_submit():
        try:
            completed = profiles.update_profile(current_user.id, form.nickname.data, form.birthday.data,
                                                streak_reminders=form.streak_reminders.data)
        except DomainError as error:
            getattr(form, error.field or "nickname").errors.append(str(error.message))
        else:
            points = task_service.task_points("profile")
            flash(ngettext("资料已保存，完善资料奖励 %(num)d 积分已到账", "资料已保存，完善资料奖励 %(num)d 积分已到账", points) if completed and points
                  else _("资料已保存"), "success")
            return redirect(url_for("engage.profile"), 303)
    wechat_bind = wechat.configured() and not wechat.bound(current_user.id)
    return render_template("engage/profile.html", form=form, wechat_bind=wechat_bind), (422 if form.errors else 200)


@bp.route("/me/phone", methods=["GET", "POST"])
@member_required
def bind_phone():
    form = BindPhoneForm()
    if not current_user.phone and form.validate_on_submit():
        try:
            profiles.bind_phone(current_user.id, form.phone.data)
        except DomainError as error:
            form.phone.errors.append(str(error.message))
        else:
            flash(_("手机号绑定成功"), "success")
            return redirect(url_for("engage.tasks"), 303)
    return render_template("engage/phone.html", form=form,
                           reward=task_service.task_points("phone")), (422 if form.errors else 200)


@bp.get("/me/level")
@member_required
def level():
    growth = current_user.growth
    return render_page("engage/level.html", levels=all_levels(), level=level_for(growth),
                       next_level=next_level(growth))
