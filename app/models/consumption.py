"""Consumption points (消费积分): what a merchant's staff awarded a member for an amount paid."""
from datetime import date, datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db
from app.models.base import utcnow
from app.models.types import UTCDateTime


class ConsumptionAward(db.Model):
    """One award at the counter: its ledger entry, and the receipt that makes a retry pay once."""

    __tablename__ = "consumption_awards"
    __table_args__ = (
        # A receipt is awarded once per merchant: a retried or double-tapped confirm finds this row.
        UniqueConstraint("merchant_id", "receipt_no", name="uq_consumption_awards_merchant_receipt"),
        CheckConstraint("amount_fen > 0", name="amount_positive"),
        CheckConstraint("points > 0", name="points_positive"),
        # The daily cap sums one member's awards at one merchant on one Shanghai day.
        Index("ix_consumption_awards_member_day", "user_id", "merchant_id", "day"),
        Index("ix_consumption_awards_merchant_created", "merchant_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchants.id"))
    staff_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    amount_fen: Mapped[int]
    points: Mapped[int]
    receipt_no: Mapped[str] = mapped_column(String(32))
    entry_id: Mapped[int] = mapped_column(ForeignKey("point_entries.id"), unique=True)
    # The Shanghai calendar day of the award (the daily cap's day).
    day: Mapped[date]
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
