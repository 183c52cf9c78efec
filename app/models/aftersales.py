"""After-sales (售后) requests on delivered goods orders: return, exchange or refund only."""
from datetime import datetime

from sqlalchemy import JSON, CheckConstraint, ForeignKey, Index, String, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.extensions import db
from app.models.base import utcnow
from app.models.types import UTCDateTime

AFTERSALE_KINDS = ("return", "exchange", "refund")
AFTERSALE_STATUSES = ("requested", "approved", "received", "completed", "rejected", "cancelled")
# A request in one of these states is open: an order has at most one open request.
OPEN_STATUSES = ("requested", "approved", "received")
_OPEN_SQL = "status IN ('requested', 'approved', 'received')"


class AfterSale(db.Model):
    """A member's after-sales request on an order and each step an operator took on it."""

    __tablename__ = "aftersales"
    __table_args__ = (
        CheckConstraint("kind IN ('return', 'exchange', 'refund')", name="kind_known"),
        CheckConstraint(
            "status IN ('requested', 'approved', 'received', 'completed', 'rejected', 'cancelled')",
            name="status_known",
        ),
        CheckConstraint("refund_points >= 0 AND refund_cash_fen >= 0", name="refund_not_negative"),
        # One open request per order, whatever two requests racing each other do.
        Index("uq_aftersales_open_order", "order_id", unique=True,
              sqlite_where=text(_OPEN_SQL), postgresql_where=text(_OPEN_SQL)),
        Index("ix_aftersales_status_created", "status", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    kind: Mapped[str] = mapped_column(String(10))
    reason: Mapped[str] = mapped_column(String(200))
    # Up to three photo paths under UPLOAD_DIR (resized JPEGs).
    photos: Mapped[list] = mapped_column(JSON, default=list)
    status: Mapped[str] = mapped_column(String(10), default="requested")
    # What the operator tells the member when approving (where to send the goods).
    return_instructions: Mapped[str | None] = mapped_column(String(300))
    reject_reason: Mapped[str | None] = mapped_column(String(200))
    # The outcome: what went back to the member, whether the units went back to stock,
    # and for an exchange the replacement's shipment.
    refund_points: Mapped[int] = mapped_column(default=0)
    refund_cash_fen: Mapped[int] = mapped_column(default=0)
    refund_entry_id: Mapped[int | None] = mapped_column(ForeignKey("point_entries.id"))
    restocked: Mapped[bool] = mapped_column(default=False)
    exchange_carrier: Mapped[str | None] = mapped_column(String(40))
    exchange_tracking_no: Mapped[str | None] = mapped_column(String(40))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    approved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    received_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    rejected_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    order = relationship("Order", lazy="joined")
    member = relationship("User", lazy="joined", foreign_keys=[user_id])

    @property
    def is_open(self):
        return self.status in OPEN_STATUSES
