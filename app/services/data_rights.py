"""A member's rights over their data: download it all, or delete the account.

Deleting anonymises: the member row keeps its id, balance history and orders (the books need
them: every ledger entry, order and payment stays, so `points reconcile` stays clean and the
dashboard's past figures do not move), but every field that says who the person was is cleared
(phone, nickname, birthday, openid, avatar, invite code, IPs, shipping names, phones and
addresses, typed text that quoted the phone). What is left of the balance is written off through
the ledger as an expiry. All sessions end and there is no way back: nothing is kept that could
restore the person.
"""
import io
import zipfile
from dataclasses import dataclass

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import ngettext
from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import selectinload

from app.extensions import db
from app.models import (AfterSale, AuditLog, CheckIn, DrawPlay, Message, Order, PointEntry, Referral,
                        TemplateMessage, User, UserIdentity)
from app.models.aftersales import OPEN_STATUSES as OPEN_AFTERSALES
from app.models.orders import Address
from app.models.members import new_session_token
from app.services import audit, ledger
from app.services.accounts import check_password
from app.services.clock import to_shanghai, utcnow
from app.services.csv_export import csv_text
from app.services.errors import DomainError
from app.services.levels import level_for
from app.services.members import lock_member
from app.services.phrases import phrase
from app.services.shop import status_label
from app.services.tx import write_transaction

# What the member types to confirm; shown on the page in the reader's language.
CONFIRM_WORD = _l("注销")
# Orders still moving: the member must finish or cancel them first (goods on the way, cash held).
IN_PROGRESS = ("pending_payment", "paid", "shipped", "review")
# The note of the ledger entry that writes the balance off.
WRITTEN_OFF = phrase("ledger.account_deleted", _l("账户注销，剩余积分作废"))
ANONYMOUS_NAME = "-"


class DeletionRefused(DomainError):
    """The account cannot be deleted now; the message says why."""


@dataclass(frozen=True)
class DeletionCheck:
    """What the deletion page tells the member before they confirm."""
    balance: int
    blockers: list  # reasons the account cannot be deleted yet (orders in progress ...)


def _when(value):
    return to_shanghai(value).strftime("%Y-%m-%d %H:%M:%S") if value else ""


# ---- download ---------------------------------------------------------------------------------

def _profile_rows(member):
    level = level_for(member.growth)
    return [
        (_("会员编号"), member.id), (_("手机号"), member.phone or ""), (_("昵称"), member.nickname or ""),
        (_("生日"), member.birthday.isoformat() if member.birthday else ""), (_("等级"), str(level.name)),
        (_("成长值"), member.growth), (_("积分余额"), member.points_balance),
        (_("邀请码"), member.invite_code or ""), (_("注册时间"), _when(member.created_at)),
        (_("签到提醒"), _("开启") if member.streak_reminders else _("关闭")),
    ]


def _ledger_rows(user_id):
    entries = db.session.execute(
        select(PointEntry).where(PointEntry.user_id == user_id).order_by(PointEntry.id)
    ).scalars()
    for entry in entries:
        yield (_when(entry.created_at), ledger.kind_label(entry.kind), entry.amount, entry.balance_after,
               ledger.entry_note(entry) or "")


def _order_rows(user_id):
    orders = db.session.execute(select(Order).where(Order.user_id == user_id).order_by(Order.id)
                                .options(selectinload(Order.vouchers))).scalars()
    for order in orders:
        yield (order.number, _when(order.created_at), order.product_name, order.quantity, order.points_total,
               f"{order.cash_total_fen / 100:.2f}" if order.cash_total_fen else "", status_label(order),
               order.ship_name or "", order.ship_phone or "", order.ship_address or "", order.carrier or "",
               order.tracking_no or "")


def _draw_rows(user_id):
    plays = db.session.execute(
        select(DrawPlay).where(DrawPlay.user_id == user_id).order_by(DrawPlay.id)
    ).unique().scalars()
    for play in plays:
        yield (_when(play.created_at), play.draw.name, play.cost, play.prize.name)


def _checkin_rows(user_id):
    rows = db.session.execute(select(CheckIn).where(CheckIn.user_id == user_id).order_by(CheckIn.day)).scalars()
    for row in rows:
        yield (row.day.isoformat(), _("补签") if row.kind == "makeup" else _("签到"), row.streak_day, row.points)


def _address_rows(user_id):
    rows = db.session.execute(
        select(Address).where(Address.user_id == user_id, Address.is_deleted.is_(False)).order_by(Address.id)
    ).scalars()
    for row in rows:
        yield (row.name, row.phone, row.region, row.detail, _("是") if row.is_default else "")


def export_zip(user_id):
    """Everything the mall holds about a member, as a ZIP of CSV files (UTF-8 with a BOM, for Excel).

    Returns (filename, bytes). Read-only: one consistent snapshot is not needed for a download,
    each file is read as it is written.
    """
    member = db.session.get(User, user_id)
    files = {
        "profile.csv": ((_("项目"), _("内容")), _profile_rows(member)),
        "points.csv": ((_("时间"), _("类型"), _("变动"), _("余额"), _("说明")), _ledger_rows(user_id)),
        "orders.csv": ((_("订单号"), _("下单时间"), _("商品"), _("数量"), _("积分"), _("现金（元）"), _("状态"),
                        _("收货人"), _("收货电话"), _("收货地址"), _("快递公司"), _("快递单号")),
                       _order_rows(user_id)),
        "draws.csv": ((_("时间"), _("活动"), _("消耗积分"), _("结果")), _draw_rows(user_id)),
        "checkins.csv": ((_("日期"), _("类型"), _("连续天数"), _("奖励积分")), _checkin_rows(user_id)),
        "addresses.csv": ((_("收货人"), _("电话"), _("地区"), _("详细地址"), _("默认")), _address_rows(user_id)),
    }
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, (header, rows) in files.items():
            archive.writestr(name, csv_text(header, rows).encode("utf-8"))
    stamp = to_shanghai(utcnow()).strftime("%Y%m%d")
    return f"pointsmall-data-{user_id}-{stamp}.zip", buffer.getvalue()


# ---- deletion ---------------------------------------------------------------------------------

def _blockers(session, user_id):
    reasons = []
    in_progress = session.execute(
        select(func.count(Order.id)).where(Order.user_id == user_id, Order.status.in_(IN_PROGRESS))
    ).scalar_one()
    if in_progress:
        reasons.append(ngettext("你有 %(num)d 个进行中的订单（待付款、待发货、已发货或审核中），完成或取消后才能注销",
                                "你有 %(num)d 个进行中的订单（待付款、待发货、已发货或审核中），完成或取消后才能注销",
                                in_progress))
    open_aftersales = session.execute(
        select(func.count(AfterSale.id)).where(AfterSale.user_id == user_id, AfterSale.status.in_(OPEN_AFTERSALES))
    ).scalar_one()
    if open_aftersales:
        reasons.append(ngettext("你有 %(num)d 个处理中的售后申请，处理完成后才能注销",
                                "你有 %(num)d 个处理中的售后申请，处理完成后才能注销", open_aftersales))
    return reasons


def deletion_check(user_id):
    """The balance that will be written off and anything that stops the deletion now."""
    member = db.session.get(User, user_id)
    return DeletionCheck(balance=member.points_balance, blockers=_blockers(db.session, user_id))


def _scrub(text, secrets):
    for secret in secrets:
        if secret and text and secret in text:
            text = text.replace(secret, "***")
    return text


def delete_account(user_id, *, confirm, password=None, now=None):
    """Anonymise the member for good, in one transaction; DeletionRefused (with a field) if not allowed.

    confirm must be the confirmation word; a member with a password must give it. A second
    request after success finds the account already gone and changes nothing.
    """
    now = now or utcnow()
    if (confirm or "").strip() != str(CONFIRM_WORD):
        raise DeletionRefused(_("请输入“%(word)s”确认", word=CONFIRM_WORD), field="confirm")
    member = db.session.get(User, user_id)
    if member is None or member.role != "member" or member.deleted_at is not None:
        raise DeletionRefused(_("账号已注销"))
    # The slow hash runs before the write lock; the transaction re-checks the hash it verified.
    checked_hash = member.password_hash
    if checked_hash and not check_password(member, password or ""):
        raise DeletionRefused(_("密码不正确"), field="password")
    with write_transaction() as session:
        member = lock_member(user_id)
        if member.deleted_at is not None or member.password_hash != checked_hash:
            raise DeletionRefused(_("账号信息已变化，请刷新页面后重试"))
        blockers = _blockers(session, user_id)
        if blockers:
            raise DeletionRefused(blockers[0])
        secrets = [value for value in (member.phone, member.nickname) if value and len(value) >= 4]
        balance = member.points_balance
        if balance:
            ledger.spend(user_id, balance, "expire", key=f"account-deleted:{user_id}", note=WRITTEN_OFF, now=now)
        session.execute(update(User).where(User.id == user_id).values(
            phone=None, nickname=None, birthday=None, openid=None, avatar_url=None, password_hash=None,
            invite_code=None, register_ip=None, register_device=None, streak_reminders=False, is_disabled=True, deleted_at=now,
            session_token=new_session_token(), must_change_password=False,
        ))
        session.execute(update(Address).where(Address.user_id == user_id).values(
            name=ANONYMOUS_NAME, phone="", region="", detail="", is_deleted=True, is_default=False))
        session.execute(update(Order).where(Order.user_id == user_id).values(
            ship_name=None, ship_phone=None, ship_address=None))
        session.execute(update(Referral).where(Referral.invitee_id == user_id).values(ip=None))
        audit.record(user_id, "member.deleted", target=f"user:{user_id}", written_off=balance)
        session.execute(update(AuditLog).where(AuditLog.actor_id == user_id).values(ip=None))
        for aftersale in session.execute(select(AfterSale).where(AfterSale.user_id == user_id)).scalars():
            aftersale.reason = _scrub(aftersale.reason, secrets)
        for order in session.execute(
                select(Order).where(Order.user_id == user_id, Order.cancel_reason.is_not(None))).scalars():
            order.cancel_reason = _scrub(order.cancel_reason, secrets)
        _forget_identities(session, user_id)
        session.execute(delete(TemplateMessage).where(TemplateMessage.user_id == user_id))
        session.execute(delete(Message).where(Message.user_id == user_id))
    db.session.expire_all()
    return balance


def _forget_identities(session, user_id):
    """Drop the member's third-party identities (WeChat openids and unionids) and pending WeChat
    template messages (they carry nothing once the openid is gone)."""
    session.execute(delete(UserIdentity).where(UserIdentity.user_id == user_id))


__all__ = ["CONFIRM_WORD", "DeletionCheck", "DeletionRefused", "delete_account", "deletion_check", "export_zip"]
