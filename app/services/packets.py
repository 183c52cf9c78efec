"""Points packets (主动领取): operators publish points a member must tap to claim within a window.

Claimed points expire after `points.packet_expiry_days` (7 by default). One claim per
member per packet (a unique row) and at most `total` claims (a guarded UPDATE), under any
concurrency.
"""
from datetime import timedelta

from flask_babel import gettext as _
from sqlalchemy import or_, select, update
from sqlalchemy.exc import IntegrityError

from app.extensions import db
from app.models import PacketClaim, PointsPacket
from app.services import ledger
from app.services.earning import source_enabled
from app.services.clock import utcnow
from app.services.errors import AlreadyDone, DomainError, NotFound
from app.services.ids import is_db_id
from app.services.settings import get_setting
from app.services.members import lock_member
from app.services.tx import write_transaction

MAX_PACKET_POINTS = 1_000_000
_FIELDS = ("title", "points", "starts_at", "ends_at", "total", "enabled")


def _validated(title, points, starts_at, ends_at, total, claimed=0):
    title = (title or "").strip()
    if not title or len(title) > 60:
        raise DomainError(_("请填写标题（60字以内）"), field="title")
    if not isinstance(points, int) or isinstance(points, bool) or not 0 < points <= MAX_PACKET_POINTS:
        raise DomainError(_("积分需为1到%(n)d之间的整数", n=MAX_PACKET_POINTS), field="points")
    if starts_at is None or ends_at is None or starts_at.tzinfo is None or ends_at.tzinfo is None:
        raise DomainError(_("请填写领取开始和结束时间"), field="starts_at")
    if ends_at <= starts_at:
        raise DomainError(_("结束时间需晚于开始时间"), field="ends_at")
    if total is not None and (not isinstance(total, int) or total < max(claimed, 1)):
        raise DomainError(_("数量需为不小于已领取数（%(n)d）的正整数，不限量请留空", n=claimed), field="total")
    return title


def create_packet(title, points, starts_at, ends_at, total=None, *, enabled=True):
    """Publish a packet (operator use case). Times are aware datetimes; total None = unlimited."""
    title = _validated(title, points, starts_at, ends_at, total)
    with write_transaction() as session:
        packet = PointsPacket(title=title, points=points, starts_at=starts_at, ends_at=ends_at,
                              total=total, enabled=enabled)
        session.add(packet)
    return packet


def update_packet(packet_id, **changes):
    """Change a packet's title, points, window, total or enabled flag (operator use case)."""
    unknown = set(changes) - set(_FIELDS)
    if unknown:
        raise TypeError(f"unknown packet fields: {sorted(unknown)}")
    with write_transaction() as session:
        packet = session.execute(
            select(PointsPacket).where(PointsPacket.id == packet_id).with_for_update()
        ).scalar_one_or_none()
        if packet is None:
            raise NotFound(_("积分红包不存在"))
        merged = {name: changes.get(name, getattr(packet, name)) for name in _FIELDS}
        merged["title"] = _validated(merged["title"], merged["points"], merged["starts_at"], merged["ends_at"],
                                     merged["total"], packet.claimed)
        for name, value in merged.items():
            setattr(packet, name, value)
    return packet


def set_packet_enabled(packet_id, enabled):
    """Switch one packet on or off."""
    return update_packet(packet_id, enabled=bool(enabled))


def list_packets():
    """Every packet, newest first (operator console)."""
    return db.session.execute(select(PointsPacket).order_by(PointsPacket.id.desc())).scalars().all()


def get_packet(packet_id):
    packet = db.session.get(PointsPacket, packet_id) if is_db_id(packet_id) else None
    if packet is None:
        raise NotFound(_("积分红包不存在"))
    return packet


def _open_clause(now):
    return (PointsPacket.enabled.is_(True), PointsPacket.starts_at <= now, PointsPacket.ends_at > now)


def packets_for(user_id, now=None):
    """Packets a member sees: open ones, and ones in window they already claimed, with their claim."""
    now = now or utcnow()
    claims = {c.packet_id: c for c in db.session.execute(
        select(PacketClaim).join(PointsPacket, PointsPacket.id == PacketClaim.packet_id)
        .where(PacketClaim.user_id == user_id, *_open_clause(now))
    ).scalars()}
    packets = db.session.execute(
        select(PointsPacket).where(*_open_clause(now)).order_by(PointsPacket.ends_at, PointsPacket.id)
    ).scalars().all()
    return [(packet, claims.get(packet.id)) for packet in packets]


def claim_of(user_id, packet_id):
    """The member's claim of a packet, or None."""
    return db.session.execute(
        select(PacketClaim).where(PacketClaim.user_id == user_id, PacketClaim.packet_id == packet_id)
    ).scalar_one_or_none()


def claim_packet(user_id, packet_id, *, now=None):
    """Claim a packet: one per member, while open and not all claimed. Returns the PacketClaim."""
    now = now or utcnow()
    if not source_enabled("earn.packet"):
        raise DomainError(_("领积分活动暂未开放"))
    with write_transaction() as session:
        lock_member(user_id)
        packet = get_packet(packet_id)
        claim = PacketClaim(packet_id=packet_id, user_id=user_id)
        try:
            with session.begin_nested():
                session.add(claim)
        except IntegrityError as exc:
            raise AlreadyDone(_("你已经领过这个积分红包了")) from exc
        taken = session.execute(
            update(PointsPacket)
            .where(PointsPacket.id == packet_id, *_open_clause(now),
                   or_(PointsPacket.total.is_(None), PointsPacket.claimed < PointsPacket.total))
            .values(claimed=PointsPacket.claimed + 1)
            .returning(PointsPacket.claimed)
            .execution_options(synchronize_session=False)
        ).scalar_one_or_none()
        if taken is None:
            raise DomainError(_refusal(packet, now))
        expires_at = now + timedelta(days=int(get_setting("points.packet_expiry_days")))
        entry = ledger.earn(user_id, packet.points, "packet", key=f"packet:{packet_id}", ref=f"packet:{packet_id}",
                            note=packet.title, expires_at=expires_at, now=now)
        if entry is None:
            raise AlreadyDone(_("你已经领过这个积分红包了"))
        claim.points, claim.expires_at = entry.amount, expires_at
    return claim


def _refusal(packet, now):
    if not packet.enabled or packet.ends_at <= now:
        return _("这个积分红包已经结束了")
    if packet.starts_at > now:
        return _("这个积分红包还没开始领取")
    return _("手慢了，积分红包已经被领完了")


__all__ = [
    "claim_of", "claim_packet", "create_packet", "get_packet", "list_packets", "packets_for",
    "set_packet_enabled", "update_packet",
]
