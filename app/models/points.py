"""The points ledger: entries, lots that expire, and which lots a spend drew from."""
from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.extensions import db
from app.models.base import utcnow
from app.models.types import UTCDateTime


class PointEntry(db.Model):
    """One signed change of a member's points; the balance is their sum."""

    __tablename__ = "point_entries"
    __table_args__ = (
        # An idempotency key makes an earning or a charge happen at most once per member.
        UniqueConstraint("user_id", "key", name="uq_point_entries_user_key"),
        CheckConstraint("amount <> 0", name="amount_not_zero"),
        CheckConstraint("balance_after >= 0", name="balance_after_not_negative"),
        Index("ix_point_entries_user_created", "user_id", "created_at"),
        Index("ix_point_entries_kind_created", "kind", "created_at"),
        # The dashboard's live day and distinct active members of a range (index-only scans; services/stats.py).
        Index("ix_point_entries_created", "created_at", "user_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    amount: Mapped[int]
    balance_after: Mapped[int]
    kind: Mapped[str] = mapped_column(String(20))
    ref: Mapped[str | None] = mapped_column(String(64))
    note: Mapped[str | None] = mapped_column(String(200))
    # A translatable note (a task's title) by phrase id, shown in the reader's language.
    note_id: Mapped[str | None] = mapped_column(String(40))
    key: Mapped[str | None] = mapped_column(String(80))
    # For a refund: the spend it gives back.
    refund_of_id: Mapped[int | None] = mapped_column(ForeignKey("point_entries.id"), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    allocations = relationship(
        "PointAllocation", back_populates="entry", foreign_keys="PointAllocation.entry_id"
    )


class PointLot(db.Model):
    """Points earned together, expiring together; spends draw the soonest-expiring first."""

    __tablename__ = "point_lots"
    __table_args__ = (
        CheckConstraint("remaining >= 0", name="remaining_not_negative"),
        CheckConstraint("remaining <= amount", name="remaining_within_amount"),
        CheckConstraint("amount > 0", name="amount_positive"),
        Index("ix_point_lots_user_open", "user_id", "expires_at", "remaining"),
        Index("ix_point_lots_expires", "expires_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    entry_id: Mapped[int] = mapped_column(ForeignKey("point_entries.id"))
    amount: Mapped[int]
    remaining: Mapped[int]
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # When the member was told these points expire soon (messages.send_expiry_reminders); once.
    expiry_reminded_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class PointAllocation(db.Model):
    """How much of a spend (or an expiry) came out of which lot."""

    __tablename__ = "point_allocations"
    __table_args__ = (CheckConstraint("amount > 0", name="amount_positive"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    entry_id: Mapped[int] = mapped_column(ForeignKey("point_entries.id"), index=True)
    lot_id: Mapped[int] = mapped_column(ForeignKey("point_lots.id"), index=True)
    amount: Mapped[int]

    entry = relationship("PointEntry", back_populates="allocations", foreign_keys=[entry_id])
    lot = relationship("PointLot")
