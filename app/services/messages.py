"""Notices to members: written in the causing transaction, read in /me/messages.

A message row stores a message id (a key of MESSAGES) and its parameters, never words: the
request that causes a notice (the last buyer of a treasure round, a cron job) may read another
language than the members who are told. The words are made when the message is shown, in the
reader's language (`message_page`). Adding an event is one MESSAGES entry and one `notify` call.
"""
from dataclasses import dataclass
from datetime import timedelta

from flask import url_for
from flask_babel import lazy_gettext as _l
from flask_babel import ngettext
from sqlalchemy import func, select, update

from app.extensions import db
from app.models import CheckIn, Message, PointLot, User
from app.services import cache as shared_cache
from app.services.clock import shanghai_today, to_shanghai, utcnow
from app.services.idempotency import insert_unless_taken
from app.services.phrases import decode_params, encode_params
from app.services.tx import in_write_transaction, write_transaction


@dataclass(frozen=True)
class MessageType:
    """What a kind of message says and where it leads.

    `title` and `body` are lazy_gettext templates with named %(param)s placeholders, or a
    function of the parameters (for ngettext). The link is url_for(endpoint, **the params named
    in link_params). `kind` groups messages in the centre (expiry, shipped, prize, treasure, ...).
    """

    kind: str
    title: object
    body: object
    endpoint: str | None = None
    link_params: tuple = ()


def _expiring_body(p):
    return ngettext("你有 %(num)s 积分将在30天内过期（最早 %(when)s），快去兑换吧。",
                    "你有 %(num)s 积分将在30天内过期（最早 %(when)s），快去兑换吧。", p["n"], when=p["when"])


def _consumption_body(p):
    return ngettext("你在「%(merchant)s」消费 ¥%(amount)s（小票 %(receipt)s），获得 %(num)s 积分。",
                    "你在「%(merchant)s」消费 ¥%(amount)s（小票 %(receipt)s），获得 %(num)s 积分。", p["n"],
                    merchant=p["merchant"], amount=p["amount"], receipt=p["receipt"])


def _shipped_body(p):
    if "order_no" not in p:  # stored before orders had numbers
        return _l("你兑换的「%(name)s」已发货：%(carrier)s %(no)s") % p
    return _l("订单 %(order_no)s「%(name)s」已发货：%(carrier)s %(no)s") % p


def _closed_body(template):
    def body(p):
        text = template % p
        if p.get("n"):
            text += " " + ngettext("%(num)s 积分已退回。", "%(num)s 积分已退回。", p["n"])
        return text
    return body


def _aftersale_refunded_body(p):
    body = ngettext("「%(name)s」的售后已完成，%(num)s 积分已退回。", "「%(name)s」的售后已完成，%(num)s 积分已退回。",
                    p["points"], name=p["name"])
    if p.get("cash") and p["cash"] != "0.00":
        body += " " + _l("现金 ¥%(cash)s 将原路退回。") % {"cash": p["cash"]}
    return body


def _lot_expiring_body(p):
    return ngettext("你有 %(num)s 积分将于 %(when)s 过期，快去兑换吧。",
                    "你有 %(num)s 积分将于 %(when)s 过期，快去兑换吧。", p["n"], when=p["when"])


_REDEEMED_BODIES = {
    "physical": _l("订单 %(order_no)s「%(name)s」兑换成功，我们会尽快为你发货。"),
    "virtual": _l("订单 %(order_no)s「%(name)s」兑换成功，兑换码：%(codes)s"),
    "coupon": _l("订单 %(order_no)s「%(name)s」兑换成功，优惠券已放入你的券包：%(codes)s"),
    "voucher": _l("订单 %(order_no)s「%(name)s」兑换成功，到店出示券码即可使用：%(codes)s"),
}


def _redeemed_body(p):
    return _REDEEMED_BODIES.get(p["kind"], _REDEEMED_BODIES["physical"]) % p


def _adjusted_body(p):
    if p["n"] > 0:
        return ngettext("运营为你增加了 %(num)s 积分，原因：%(reason)s",
                        "运营为你增加了 %(num)s 积分，原因：%(reason)s", p["n"], reason=p["reason"])
    return ngettext("运营扣减了你 %(num)s 积分，原因：%(reason)s",
                    "运营扣减了你 %(num)s 积分，原因：%(reason)s", -p["n"], reason=p["reason"])


def _referral_body(p):
    return ngettext("你邀请的好友完成了首次兑换，邀请奖励 %(num)s 积分已到账。",
                    "你邀请的好友完成了首次兑换，邀请奖励 %(num)s 积分已到账。", p["n"])


def _level_up_body(p):
    from app.services.levels import level_label  # levels reads settings; imported when shown
    return _l("恭喜！你已升级为「%(level)s」，享受更多会员权益。") % {"level": level_label(p["key"], p["name"])}


def _streak_body(p):
    return ngettext("你已连续签到 %(num)s 天，今天还没签到，别让连续记录中断哦。",
                    "你已连续签到 %(num)s 天，今天还没签到，别让连续记录中断哦。", p["n"])


MESSAGES = {
    "points.expiring": MessageType("expiry", _l("积分即将过期"), _expiring_body, "shop.products"),
    # A member's lots newly due within 30 days, told together: n = their points, when = the
    # earliest expiry, lots = how many (send_expiry_reminders).
    "points.lots_expiring": MessageType("expiry", _l("积分即将过期"), _expiring_body, "me.points"),
    # Stored before reminders were grouped: one earning's points expiring within 30 days.
    "points.lot_expiring": MessageType("expiry", _l("积分即将过期"), _lot_expiring_body, "me.points"),
    "order.redeemed": MessageType("order", _l("兑换已确认"), _redeemed_body, "shop.order", ("order_id",)),
    "order.payment_failed": MessageType("order", _l("支付失败"),
                                        _closed_body(_l("订单 %(order_no)s「%(name)s」支付失败，订单已取消。")),
                                        "shop.order", ("order_id",)),
    # Since failed payments can be retried: the order stays payable until its deadline.
    "order.payment_failed_retry": MessageType(
        "order", _l("支付未成功"),
        _l("订单 %(order_no)s「%(name)s」支付未成功，请在 %(deadline)s 前重新支付，超时订单将自动取消。"),
        "shop.order", ("order_id",)),
    "referral.paid": MessageType("points", _l("邀请奖励到账"), _referral_body, "engage.invite"),
    "points.adjusted": MessageType("points", _l("积分调整"), _adjusted_body, "me.points"),
    "level.up": MessageType("level", _l("会员升级"), _level_up_body, "engage.level"),
    "checkin.streak_at_risk": MessageType("checkin", _l("今天还没签到"), _streak_body, "engage.checkin"),
    "order.shipped": MessageType("shipped", _l("订单已发货"), _shipped_body, "shop.order", ("order_id",)),
    "order.cancelled": MessageType("order", _l("订单已取消"),
                                   _closed_body(_l("订单 %(order_no)s「%(name)s」已被取消：%(reason)s。")),
                                   "shop.order", ("order_id",)),
    "order.refunded": MessageType("order", _l("订单已退款"),
                                  _closed_body(_l("订单 %(order_no)s「%(name)s」已退款：%(reason)s。")),
                                  "shop.order", ("order_id",)),
    "draw.prize_won": MessageType("prize", _l("恭喜中奖"), _l("你在「%(draw)s」中抽中了%(prize)s"),
                                  "games.history", ("draw_id",)),
    "treasure.won": MessageType("treasure", _l("积分夺宝中奖啦"),
                                _l("恭喜！你在「%(name)s」第 %(period)s 期中奖，幸运号码 %(no)s。"),
                                "games.treasure_round", ("round_id",)),
    "treasure.drawn": MessageType("treasure", _l("积分夺宝已开奖"),
                                  _l("「%(name)s」第 %(period)s 期已开奖，幸运号码 %(no)s，下次好运！"),
                                  "games.treasure_round", ("round_id",)),
    "treasure.refunded": MessageType("treasure", _l("积分夺宝未满员，积分已退回"),
                                     _l("「%(name)s」第 %(period)s 期到期未满员，你的积分已全部退回。"),
                                     "games.treasure_round", ("round_id",)),
    "consumption.awarded": MessageType("points", _l("消费积分到账"), _consumption_body, "me.points"),
    # After-sales (售后): each step of a member's request, linking to the order.
    "aftersale.requested": MessageType("aftersale", _l("售后申请已提交"),
                                       _l("你对「%(name)s」的售后申请已提交，我们会尽快审核。"), "shop.order", ("order_id",)),
    "aftersale.approved": MessageType("aftersale", _l("售后申请已同意"),
                                      _l("你对「%(name)s」的售后申请已同意。说明：%(instructions)s"),
                                      "shop.order", ("order_id",)),
    "aftersale.received": MessageType("aftersale", _l("退回商品已收到"),
                                      _l("我们已收到你退回的「%(name)s」，正在处理。"), "shop.order", ("order_id",)),
    "aftersale.refunded": MessageType("aftersale", _l("售后退款已完成"), _aftersale_refunded_body,
                                      "shop.order", ("order_id",)),
    "aftersale.exchanged": MessageType("aftersale", _l("换货已发出"),
                                       _l("「%(name)s」的换货已发出：%(carrier)s %(no)s"), "shop.order", ("order_id",)),
    "aftersale.rejected": MessageType("aftersale", _l("售后申请未通过"),
                                      _l("你对「%(name)s」的售后申请未通过：%(reason)s"), "shop.order", ("order_id",)),
    # Risk review (风控审核): the operator's decision on a held order.
    "order.auto_completed": MessageType("order", _l("已自动确认收货"),
                                        _l("订单 %(order_no)s「%(name)s」发货已满 %(days)s 天，系统已自动确认收货。"
                                           "如有问题，可在售后期内申请售后。"),
                                        "shop.order", ("order_id",)),
    "order.review_approved": MessageType("order", _l("订单审核通过"),
                                         _l("订单 %(order_no)s「%(name)s」已通过审核，正在为你处理。"),
                                         "shop.order", ("order_id",)),
    "order.review_rejected": MessageType("order", _l("订单审核未通过"),
                                         _closed_body(_l("订单 %(order_no)s「%(name)s」未通过审核：%(reason)s。")),
                                         "shop.order", ("order_id",)),
    # Rows written before messages were stored as ids: their words, as they were stored.
    "legacy": MessageType("system", lambda p: p.get("title") or "", lambda p: p.get("body") or ""),
}


@dataclass(frozen=True)
class ShownMessage:
    """A message as its reader sees it (the link is built when asked for, inside a request)."""

    id: int
    kind: str
    title: str
    body: str
    read_at: object
    created_at: object
    endpoint: str | None = None
    link_values: tuple = ()
    stored_link: str | None = None

    @property
    def link(self):
        if self.endpoint is None:
            return self.stored_link
        return url_for(self.endpoint, **dict(self.link_values))


def _words(template, params):
    if callable(template):
        return str(template(params))
    return str(template) % params


def show(message):
    """A stored message in the current locale (the reader's)."""
    message_type = MESSAGES.get(message.msgid)
    if message_type is None:  # written by a newer version, or an entry removed: never a 500
        return ShownMessage(message.id, message.kind, message.msgid, "", message.read_at, message.created_at)
    params = decode_params(message.params)
    return ShownMessage(
        message.id, message.kind, _words(message_type.title, params), _words(message_type.body, params),
        message.read_at, message.created_at, endpoint=message_type.endpoint,
        link_values=tuple((name, message.params[name]) for name in message_type.link_params),
        stored_link=message.params.get("link") if message.msgid == "legacy" else None,
    )


def notify(user_id, msgid, params=None, *, key=None):
    """Add a message (a MESSAGES id and its parameters) inside the caller's transaction;
    with a key, at most once per member. Parameters: str/int data, Phrase for translatable
    text, date/datetime for times; they are formatted when the message is shown."""
    assert in_write_transaction(), "notify runs inside the causing write_transaction()"
    message_type = MESSAGES[msgid]
    encoded = encode_params(params)
    decoded = decode_params(encoded)
    for template in (message_type.title, message_type.body):
        _words(template, decoded)  # a missing or misspelt parameter fails here, not when a member reads it
    missing = [name for name in message_type.link_params if name not in encoded]
    if missing:
        raise KeyError(f"message {msgid!r} links with {missing}")
    if key is None:
        message = Message(user_id=user_id, kind=message_type.kind, msgid=msgid, params=encoded)
        db.session.add(message)
    else:  # a key already used (a concurrent request's too, once it commits) adds nothing
        added = insert_unless_taken(Message, user_id=user_id, kind=message_type.kind, msgid=msgid, params=encoded,
                                    key=key)
        if added is None:
            return False
        message = added.id
    _queue_template(message)
    return True


def _queue_template(message):
    """With WeChat configured and a template for this kind of message, queue it for WeChat in the
    same transaction (services/wechat_templates.py sends after commit, once). `message`: the row,
    or its id."""
    from app.services import wechat, wechat_templates  # WeChat is optional; keep the import where it is used

    if wechat.configured():
        wechat_templates.queue(message if isinstance(message, Message) else db.session.get(Message, message))


_MESSAGES = shared_cache.watch("messages")


def unread_count(user_id):
    """How many messages the member has not opened (kept until a message is written)."""
    return shared_cache.shared(f"unread:{user_id}", _MESSAGES, lambda: db.session.execute(
        select(func.count(Message.id)).where(Message.user_id == user_id, Message.read_at.is_(None))
    ).scalar_one(), in_process=True)


def message_page(user_id, before_id=None, limit=20):
    """Newest first, in the reader's language; returns (messages shown, id to continue before or None)."""
    stmt = select(Message).where(Message.user_id == user_id)
    if before_id is not None:
        stmt = stmt.where(Message.id < before_id)
    rows = db.session.execute(stmt.order_by(Message.id.desc()).limit(limit + 1)).scalars().all()
    return [show(row) for row in rows[:limit]], (rows[limit - 1].id if len(rows) > limit else None)


def mark_all_read(user_id):
    """Mark every message of the member read; returns how many changed."""
    with write_transaction() as session:
        changed = session.execute(
            update(Message).where(Message.user_id == user_id, Message.read_at.is_(None)).values(read_at=utcnow())
        ).rowcount
    return changed


def send_expiry_reminders(now=None, days=30):
    """Tell each member, in one message, about their lots of points newly due to expire within
    `days`; every lot is told about once, ever.

    Cron-safe, daily or monthly: a member's due lots are claimed (point_lots.expiry_reminded_at,
    set only where still empty) in the transaction that writes their message, so a repeated or a
    concurrent run tells no lot twice. Returns how many messages were added.
    """
    now = now or utcnow()
    until = now + timedelta(days=days)
    due = (PointLot.remaining > 0, PointLot.expires_at > now, PointLot.expires_at <= until,
           PointLot.expiry_reminded_at.is_(None))
    members = db.session.execute(
        select(PointLot.user_id).join(User, User.id == PointLot.user_id)
        .where(*due, User.is_disabled.is_(False)).distinct().order_by(PointLot.user_id)
    ).scalars().all()
    sent = 0
    for user_id in members:
        with write_transaction() as session:
            claimed = session.execute(
                update(PointLot).where(PointLot.user_id == user_id, *due).values(expiry_reminded_at=now)
                .returning(PointLot.id, PointLot.remaining, PointLot.expires_at)
                .execution_options(synchronize_session=False)
            ).all()
            if not claimed:
                continue  # another run told them meanwhile
            sent += notify(user_id, "points.lots_expiring",
                           {"n": sum(int(lot.remaining) for lot in claimed), "lots": len(claimed),
                            "when": to_shanghai(min(lot.expires_at for lot in claimed)).date()},
                           key=f"expiry.lots:{min(lot.id for lot in claimed)}")
    return sent


STREAK_REMINDER_HOUR = 20  # Beijing time: a streak of 3+ not yet extended by then is at risk
STREAK_REMINDER_MIN = 3


def send_streak_reminders(now=None):
    """Message members with a check-in streak of 3+ days who have not checked in today, once a
    Shanghai day, from 20:00 Beijing time on (earlier runs send nothing); members who opted out
    in their profile are skipped. Idempotent: the key carries the day. Returns how many were sent."""
    from app.services.checkin import streak_through  # checkin pays through the ledger, which notifies

    now = now or utcnow()
    if to_shanghai(now).hour < STREAK_REMINDER_HOUR:
        return 0
    today = shanghai_today(now)
    yesterday = today - timedelta(days=1)
    key = f"streak:{today.isoformat()}"
    checked_today = select(CheckIn.user_id).where(CheckIn.day == today)
    told_today = select(Message.user_id).where(Message.key == key)
    candidates = db.session.execute(
        select(User.id).join(CheckIn, (CheckIn.user_id == User.id) & (CheckIn.day == yesterday))
        .where(User.role == "member", User.is_disabled.is_(False), User.streak_reminders.is_(True),
               User.id.not_in(checked_today), User.id.not_in(told_today))
        .order_by(User.id)
    ).scalars().all()
    sent = 0
    for user_id in candidates:
        streak = streak_through(user_id, yesterday)
        if streak < STREAK_REMINDER_MIN:
            continue
        with write_transaction():
            if db.session.execute(select(CheckIn.id).where(CheckIn.user_id == user_id, CheckIn.day == today)).first():
                continue  # checked in meanwhile
            sent += notify(user_id, "checkin.streak_at_risk", {"n": streak, "day": today}, key=key)
    return sent
