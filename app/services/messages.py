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
from sqlalchemy.exc import IntegrityError

from app.extensions import db
from app.models import Message, PointLot, User
from app.services.clock import shanghai_today, to_shanghai, utcnow
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


MESSAGES = {
    "points.expiring": MessageType("expiry", _l("积分即将过期"), _expiring_body, "shop.products"),
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
    session = db.session
    try:
        with session.begin_nested():
            session.add(Message(user_id=user_id, kind=message_type.kind, msgid=msgid, params=encoded, key=key))
    except IntegrityError:
        if key is None:
            raise
        return False
    return True


def unread_count(user_id):
    """How many messages the member has not opened."""
    return db.session.execute(
        select(func.count(Message.id)).where(Message.user_id == user_id, Message.read_at.is_(None))
    ).scalar_one()


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
    """Tell each member with points expiring within `days` how many, once per Shanghai month.

    Idempotent: the key carries the month, so cron may run it daily.
    """
    now = now or utcnow()
    until = now + timedelta(days=days)
    rows = db.session.execute(
        select(PointLot.user_id, func.sum(PointLot.remaining), func.min(PointLot.expires_at))
        .join(User, User.id == PointLot.user_id)
        .where(PointLot.remaining > 0, PointLot.expires_at > now, PointLot.expires_at <= until,
               User.is_disabled.is_(False))
        .group_by(PointLot.user_id)
    ).all()
    month = shanghai_today(now).strftime("%Y-%m")
    sent = 0
    for user_id, points, first in rows:
        with write_transaction():
            sent += notify(user_id, "points.expiring", {"n": int(points), "when": to_shanghai(first).date()},
                           key=f"expiry:{month}")
    return sent
