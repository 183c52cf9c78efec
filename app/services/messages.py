"""Notices to members: written in the causing transaction, read in /me/messages.

Kinds: expiry (points expiring within 30 days), shipped, prize, treasure, checkin, system.
"""
from datetime import timedelta

from flask_babel import gettext as _
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError

from app.extensions import db
from app.models import Message, PointLot, User
from app.services.clock import shanghai_today, to_shanghai, utcnow
from app.services.tx import in_write_transaction, write_transaction


def notify(user_id, kind, title, body, *, link=None, key=None):
    """Add a message inside the caller's transaction; with a key, at most once per member."""
    assert in_write_transaction(), "notify runs inside the causing write_transaction()"
    session = db.session
    try:
        with session.begin_nested():
            session.add(Message(user_id=user_id, kind=kind, title=str(title), body=str(body), link=link, key=key))
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
    """Newest first; returns (messages, id to continue before or None)."""
    stmt = select(Message).where(Message.user_id == user_id)
    if before_id is not None:
        stmt = stmt.where(Message.id < before_id)
    rows = db.session.execute(stmt.order_by(Message.id.desc()).limit(limit + 1)).scalars().all()
    return rows[:limit], (rows[limit - 1].id if len(rows) > limit else None)


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
            sent += notify(
                user_id, "expiry", _("积分即将过期"),
                _("你有 %(n)s 积分将在30天内过期（最早 %(when)s），快去兑换吧。", n=int(points),
                  when=to_shanghai(first).strftime("%Y-%m-%d")),
                link="/products", key=f"expiry:{month}",  # a stable URL (SPEC), also valid from cron
            )
    return sent
