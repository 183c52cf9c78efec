"""The personal centre and the points statement."""
from datetime import timedelta

from flask import Blueprint, flash, redirect, session, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import lazy_pgettext
from flask_babel import ngettext
from flask_login import current_user, logout_user

from app.access import member_required
from app.forms.base import ActionForm
from app.forms.engage import DeleteAccountForm
from app.routes.params import id_arg
from app.routes.web import Kept, htmx_redirect, own_blocks, page_shareable, render_page, shared_page
from app.services import cache as shared_cache
from app.services import consumption, data_rights, ledger, messages
from app.services.errors import DomainError
from app.services.clock import utcnow
from app.services.levels import level_for, next_level

bp = Blueprint("me", __name__, url_prefix="/me")

ME_TABLES = shared_cache.watch("settings")  # nothing outside /me's own parts is read from the database

# Entries on the personal centre.
SHORTCUTS = [  # each with its own icon, so no two features look alike
    ("me.points", _l("积分明细"), "list"),
    ("shop.orders", _l("我的订单"), "receipt"),
    ("shop.my_vouchers", _l("我的券码"), "ticket"),
    ("shop.my_coupons", lazy_pgettext("page", "优惠券"), "tag"),  # "Coupons"; a kind of product is "Coupon"
    ("engage.tasks", _l("任务中心"), "check"),
    ("engage.invite", _l("邀请好友"), "share"),
    ("engage.checkin", _l("每日签到"), "calendar"),
    ("games.index", _l("积分游戏"), "dice"),
    ("games.treasure_index", _l("积分夺宝"), "trophy"),
    ("me.messages_page", _l("消息中心"), "bell"),
    ("engage.profile", _l("个人资料"), "user"),
    ("shop.addresses", _l("收货地址"), "home"),
    ("engage.level", _l("会员等级"), "gift"),
    ("me.data", _l("我的数据"), "download"),
]


EXPIRY_WARNING = timedelta(days=30)  # /me warns of points expiring this soon


def _own_parts():
    """What /me shows of the member: level, growth, points and when they expire (and until when
    that holds by the clock: kept_until)."""
    soonest, within, changes_at = ledger.expiry_outlook(current_user.id, EXPIRY_WARNING, utcnow())
    return dict(level=level_for(current_user.growth), next_level=next_level(current_user.growth),
                next_expiry=soonest, expiring_30d=within, kept_until=changes_at)


@bp.get("")
@member_required
def index():
    if not page_shareable():
        return render_page("me/index.html", shortcuts=SHORTCUTS, **_own_parts())
    # The order tabs, shortcuts and links are the same for every member of a level: shared whole;
    # the head (name, level, balance), points expiry and newbie gift are each member's own.
    # The head and expiry are kept for the member until their account or points change (or a lot
    # expires, or nears its expiry); the newbie gift (read without a query for most) per request.
    kept = Kept("me", ("settings", shared_cache.rows_of("users", current_user.id),
                       shared_cache.rows_of("point_lots", current_user.id)))
    return shared_page("me", ME_TABLES, lambda: (render_page("me/index.html", shortcuts=SHORTCUTS), None),
                       own={**own_blocks("me/index.html", ("me_head", "me_expiry"), _own_parts, kept=kept),
                            **own_blocks("me/index.html", ("me_newbie",))})


@bp.get("/code")
@member_required
def member_code():
    """The member code staff scan for consumption points; htmx fetches a fresh one every minute."""
    now = utcnow()
    code = consumption.member_code(current_user.id, now)
    response = render_page("me/code.html", block="member_code", code_svg=consumption.member_code_svg(code),
                           valid_until=now + timedelta(seconds=consumption.MEMBER_CODE_TTL),
                           refresh=consumption.MEMBER_CODE_REFRESH)
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/points")
@member_required
def points():
    before = id_arg("before")
    entries, next_before = ledger.ledger_page(current_user.id, before_id=before)
    return render_page(
        "me/points.html", block="ledger_rows",
        entries=entries, next_before=next_before, kind_label=ledger.kind_label, entry_note=ledger.entry_note,
        next_expiry=ledger.next_expiry(current_user.id),
    )


@bp.get("/messages")
@member_required
def messages_page():
    before = id_arg("before")
    rows, next_before = messages.message_page(current_user.id, before_id=before)
    return render_page("me/messages.html", block="message_rows", rows=rows, next_before=next_before,
                       form=ActionForm())


@bp.post("/messages/read")
@member_required
def messages_read():
    form = ActionForm()
    if form.validate_on_submit():
        messages.mark_all_read(current_user.id)
    return htmx_redirect("me.messages_page")


# ---- the member's data: download and account deletion ------------------------------------------

@bp.get("/data")
@member_required
def data():
    return render_page("me/data.html")


@bp.get("/data/download")
@member_required
def data_download():
    """Everything about the member as a ZIP of CSV files; never cached on the way."""
    filename, body = data_rights.export_zip(current_user.id)
    return body, 200, {
        "Content-Type": "application/zip",
        "Content-Disposition": f'attachment; filename="{filename}"',
        "Cache-Control": "no-store",
    }


@bp.route("/delete", methods=["GET", "POST"])
@member_required
def delete_account():
    form = DeleteAccountForm()
    if form.validate_on_submit():
        try:
            written_off = data_rights.delete_account(current_user.id, confirm=form.confirm.data,
                                                     password=form.password.data)
        except DomainError as error:
            getattr(form, error.field or "confirm").errors.append(str(error.message))
        else:
            session.clear()
            logout_user()
            flash(_("账号已注销，个人信息已清除。感谢你的陪伴。") if not written_off else
                  ngettext("账号已注销，个人信息已清除，剩余 %(num)d 积分已作废。",
                           "账号已注销，个人信息已清除，剩余 %(num)d 积分已作废。", written_off), "info")
            return redirect(url_for("main.home"), 303)
    check = data_rights.deletion_check(current_user.id)
    return render_page("me/delete.html", status=422 if form.errors else 200, form=form, check=check,
                       confirm_word=data_rights.CONFIRM_WORD)
