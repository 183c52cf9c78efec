"""Earning: check-ins, tasks, shares, points packets, referrals and the counters that cap them."""
from datetime import date, datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.extensions import db
from app.models.base import utcnow
from app.models.types import UTCDateTime

CHECKIN_KINDS = ("normal", "makeup")
REFERRAL_STATUSES = ("paid", "pending", "capped", "off")


class CheckIn(db.Model):
    """One checked-in Shanghai calendar day of a member; the streak is read off these rows."""

    __tablename__ = "checkins"
    __table_args__ = (
        # One check-in per member per day, whatever the number of taps or requests.
        UniqueConstraint("user_id", "day", name="uq_checkins_user_day"),
        CheckConstraint("kind IN ('normal', 'makeup')", name="kind_known"),
        CheckConstraint("points >= 0", name="points_not_negative"),
        Index("ix_checkins_day", "day"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    day: Mapped[date]
    kind: Mapped[str] = mapped_column(String(8), default="normal")
    # What was paid for the day (0 for a make-up) and the streak position it was paid for.
    points: Mapped[int] = mapped_column(default=0)
    streak_day: Mapped[int] = mapped_column(default=1)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class TaskCompletion(db.Model):
    """A task done by a member in a period ("once" for newbie tasks, the day for daily ones)."""

    __tablename__ = "task_completions"
    __table_args__ = (
        UniqueConstraint("user_id", "task", "period", name="uq_task_completions_user_task_period"),
        Index("ix_task_completions_task_created", "task", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    task: Mapped[str] = mapped_column(String(24))
    period: Mapped[str] = mapped_column(String(10))
    points: Mapped[int] = mapped_column(default=0)
    ref: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Share(db.Model):
    """A member shared a product on a day (a double tap records it once)."""

    __tablename__ = "shares"
    __table_args__ = (
        UniqueConstraint("user_id", "product_id", "day", name="uq_shares_user_product_day"),
        Index("ix_shares_day", "day"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    product_id: Mapped[int]
    day: Mapped[date]
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class PointsPacket(db.Model):
    """Points an operator publishes for members to claim inside a window (主动领取)."""

    __tablename__ = "points_packets"
    __table_args__ = (
        CheckConstraint("points > 0", name="points_positive"),
        CheckConstraint("ends_at > starts_at", name="window_ordered"),
        CheckConstraint("claimed >= 0", name="claimed_not_negative"),
        CheckConstraint("total IS NULL OR claimed <= total", name="claimed_within_total"),
        Index("ix_points_packets_window", "starts_at", "ends_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(60))
    points: Mapped[int]
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # How many members may claim it; None means no limit.
    total: Mapped[int | None]
    claimed: Mapped[int] = mapped_column(default=0)
    enabled: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    @property
    def left(self):
        """Claims still available, or None when unlimited."""
        return None if self.total is None else max(self.total - self.claimed, 0)


class PacketClaim(db.Model):
    """A member's one claim of a packet."""

    __tablename__ = "packet_claims"
    __table_args__ = (UniqueConstraint("packet_id", "user_id", name="uq_packet_claims_packet_user"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    packet_id: Mapped[int] = mapped_column(ForeignKey("points_packets.id"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    points: Mapped[int] = mapped_column(default=0)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Referral(db.Model):
    """Who invited whom, from which IP, and whether the inviter has been paid."""

    __tablename__ = "referrals"
    __table_args__ = (
        CheckConstraint("status IN ('paid', 'pending', 'capped', 'off')", name="status_known"),
        CheckConstraint("inviter_id <> invitee_id", name="not_self"),
        Index("ix_referrals_inviter_created", "inviter_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    inviter_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    # One inviter per member, as a database fact.
    invitee_id: Mapped[int] = mapped_column(ForeignKey("users.id"), unique=True)
    ip: Mapped[str | None] = mapped_column(String(45))
    status: Mapped[str] = mapped_column(String(8))
    points: Mapped[int] = mapped_column(default=0)
    paid_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    invitee = relationship("User", foreign_keys=[invitee_id], lazy="joined")


class EarnQuota(db.Model):
    """A use counter for a capped thing in a period, e.g. paid referrals from one IP on a day.

    Taken with a guarded UPDATE (used < limit), so concurrent requests cannot overshoot.
    """

    __tablename__ = "earn_quotas"
    __table_args__ = (CheckConstraint("used >= 0", name="used_not_negative"),)

    scope: Mapped[str] = mapped_column(String(16), primary_key=True)
    subject: Mapped[str] = mapped_column(String(64), primary_key=True)
    period: Mapped[str] = mapped_column(String(10), primary_key=True)
    used: Mapped[int] = mapped_column(default=0)
