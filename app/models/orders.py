"""Orders and what they deliver: shipping addresses, payments of the cash part,
coupons and merchant vouchers."""
from datetime import datetime

from sqlalchemy import (JSON, CheckConstraint, ForeignKey, Index, String, UniqueConstraint, bindparam, event, func,
                        select, text, update)
from sqlalchemy.orm import Mapped, mapped_column, relationship
from sqlalchemy.orm.attributes import set_committed_value

from app.extensions import db
from app.models.base import utcnow
from app.models.types import UTCDateTime

# "review": held by a risk rule (app.services.risk) until an operator approves or rejects it.
ORDER_STATUSES = ("pending_payment", "paid", "shipped", "completed", "cancelled", "refunded", "review")
ORDER_SOURCES = ("redeem", "draw", "treasure")


class Address(db.Model):
    """A member's shipping address; orders keep a copy, so editing never rewrites history."""

    __tablename__ = "addresses"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    name: Mapped[str] = mapped_column(String(20))
    phone: Mapped[str] = mapped_column(String(11))
    region: Mapped[str] = mapped_column(String(60))
    detail: Mapped[str] = mapped_column(String(120))
    is_default: Mapped[bool] = mapped_column(default=False)
    is_deleted: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    @property
    def one_line(self):
        return f"{self.region} {self.detail}"


class Order(db.Model):
    """A redemption (or a prize) of `quantity` units of one product."""

    __tablename__ = "orders"
    __table_args__ = (
        CheckConstraint(
            "status IN ('pending_payment', 'paid', 'shipped', 'completed', 'cancelled', 'refunded', 'review')",
            name="status_known",
        ),
        CheckConstraint("source IN ('redeem', 'draw', 'treasure')", name="source_known"),
        CheckConstraint("quantity >= 1", name="quantity_positive"),
        CheckConstraint("points_unit >= 0 AND points_total >= 0", name="points_not_negative"),
        CheckConstraint("cash_total_fen >= 0", name="cash_not_negative"),
        # A prize is granted once for its play or round.
        UniqueConstraint("source", "ref", name="uq_orders_source_ref"),
        Index("ix_orders_user_product_created", "user_id", "product_id", "created_at"),
        Index("ix_orders_user_id_desc", "user_id", "id"),
        Index("ix_orders_status_deadline", "status", "pay_deadline"),
        Index("ix_orders_created", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # What people see and type (member pages, console, CSV, messages): the Shanghai date the order
    # was placed and its id, zero-padded (20261123000123). Set by the INSERT's own transaction
    # (see _number_new_order below); URLs keep the id.
    order_no: Mapped[str | None] = mapped_column(String(24), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"))
    kind: Mapped[str] = mapped_column(String(10))
    product_name: Mapped[str] = mapped_column(String(60))
    quantity: Mapped[int] = mapped_column(default=1)
    points_unit: Mapped[int] = mapped_column(default=0)
    points_total: Mapped[int] = mapped_column(default=0)
    cash_total_fen: Mapped[int] = mapped_column(default=0)
    status: Mapped[str] = mapped_column(String(16))
    source: Mapped[str] = mapped_column(String(10), default="redeem")
    ref: Mapped[str | None] = mapped_column(String(64))
    spend_entry_id: Mapped[int | None] = mapped_column(ForeignKey("point_entries.id"), unique=True)
    refund_entry_id: Mapped[int | None] = mapped_column(ForeignKey("point_entries.id"), unique=True)
    # Shipping: a copy of the address chosen, then the carrier's details.
    address_id: Mapped[int | None] = mapped_column(ForeignKey("addresses.id"))
    ship_name: Mapped[str | None] = mapped_column(String(20))
    ship_phone: Mapped[str | None] = mapped_column(String(11))
    ship_address: Mapped[str | None] = mapped_column(String(200))
    carrier: Mapped[str | None] = mapped_column(String(40))
    tracking_no: Mapped[str | None] = mapped_column(String(40))
    # Points + cash: unpaid orders are cancelled after this instant.
    pay_deadline: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Why it was cancelled or refunded: a phrase id (app.services.phrases, shown in the reader's
    # language) or an operator's free text.
    cancel_reason_id: Mapped[str | None] = mapped_column(String(40))
    cancel_reason: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    paid_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    shipped_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    product = relationship("Product", lazy="joined")
    codes = relationship("VirtualCode", order_by="VirtualCode.id", lazy="selectin")
    vouchers = relationship("Voucher", order_by="Voucher.id", lazy="selectin", back_populates="order")
    coupons = relationship("Coupon", order_by="Coupon.id", lazy="selectin", back_populates="order")
    payment = relationship("Payment", uselist=False, lazy="selectin", back_populates="order")

    @property
    def number(self):
        """The order number to show (the id only for a row not yet flushed)."""
        return self.order_no or str(self.id or "")


def order_number(order_id, created_at):
    """Shanghai date of `created_at` + the id, zero-padded to 6 digits: unique because the id is,
    and gap-tolerant (a rolled-back order leaves a gap, nothing else), on every database."""
    from app.services.clock import to_shanghai

    return f"{to_shanghai(created_at):%Y%m%d}{order_id:06d}"


def next_order_id(session):
    """The id the next order gets, taken before it is written, so that an order can be written once
    and whole (its number is made from the id). PostgreSQL: the id's sequence; SQLite: one above the
    largest, as SQLite itself would give it - a write transaction holds SQLite's write lock."""
    postgres = session.get_bind().dialect.name == "postgresql"
    return session.execute(_NEXT_ID_PG if postgres else _NEXT_ID).scalar_one()


_NEXT_ID_PG = text("SELECT nextval(pg_get_serial_sequence('orders', 'id'))")
_NEXT_ID = select(func.coalesce(func.max(Order.__table__.c.id), 0) + 1)


@event.listens_for(Order, "after_insert")
def _number_new_order(_mapper, connection, order):
    """Every new order gets its number in its creating transaction, whoever creates it."""
    if order.order_no:
        return
    created_at = order.created_at or utcnow()
    number = order_number(order.id, created_at)
    connection.execute(_NUMBER, {"p_order": order.id, "p_number": number})
    set_committed_value(order, "order_no", number)


_NUMBER = (update(Order.__table__).where(Order.__table__.c.id == bindparam("p_order"))  # built once
           .values(order_no=bindparam("p_number")))


class OrderReview(db.Model):
    """Why an order was held for risk review (the rules that fired), and the operator's decision."""

    __tablename__ = "order_reviews"
    __table_args__ = (
        CheckConstraint("decision IN ('approved', 'rejected') OR decision IS NULL", name="decision_known"),
        Index("ix_order_reviews_open", "decision", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    # [{"rule": "order_points_over", ...figures}], in the order the rules ran.
    reasons: Mapped[list] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    decision: Mapped[str | None] = mapped_column(String(10))
    decided_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    note: Mapped[str | None] = mapped_column(String(200))

    order = relationship("Order", lazy="joined")
    member = relationship("User", foreign_keys=[user_id], lazy="joined")


class Payment(db.Model):
    """The cash part of an order, paid through a payment provider."""

    __tablename__ = "payments"
    __table_args__ = (
        CheckConstraint("status IN ('pending', 'succeeded', 'failed', 'refund_due', 'refunded')", name="status_known"),
        CheckConstraint("amount_fen > 0", name="amount_positive"),
        CheckConstraint("(status = 'refunded') = (refunded_at IS NOT NULL)", name="refunded_when_stamped"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"), unique=True)
    provider: Mapped[str] = mapped_column(String(16))
    # Our reference at the provider (WeChat's out_trade_no): unguessable, unique.
    out_trade_no: Mapped[str] = mapped_column(String(32), unique=True)
    amount_fen: Mapped[int]
    status: Mapped[str] = mapped_column(String(12), default="pending")
    provider_txn_id: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The cash part returned (refund_due -> refunded): the provider's refund id and when.
    refund_id: Mapped[str | None] = mapped_column(String(64))
    refund_reason: Mapped[str | None] = mapped_column(String(100))
    refunded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    @property
    def out_refund_no(self):
        """Our reference for this payment's refund at the provider: fixed, so a retried refund is the same one."""
        return f"R{self.out_trade_no}"

    order = relationship("Order", back_populates="payment")


class Coupon(db.Model):
    """A coupon a member redeemed; valid for a number of days from issue."""

    __tablename__ = "coupons"
    __table_args__ = (
        CheckConstraint("status IN ('active', 'used', 'void')", name="status_known"),
        Index("ix_coupons_user_valid", "user_id", "valid_until"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"), index=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"))
    code: Mapped[str] = mapped_column(String(32), unique=True)
    title: Mapped[str] = mapped_column(String(60))
    value_fen: Mapped[int] = mapped_column(default=0)
    min_spend_fen: Mapped[int] = mapped_column(default=0)
    valid_until: Mapped[datetime] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(String(8), default="active")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    order = relationship("Order", back_populates="coupons")


class Voucher(db.Model):
    """A merchant voucher: a signed code shown as a QR, redeemed once at its merchant."""

    __tablename__ = "vouchers"
    __table_args__ = (
        CheckConstraint("status IN ('active', 'redeemed', 'void')", name="status_known"),
        CheckConstraint("valid_from < valid_until", name="window_ordered"),
        CheckConstraint("(status = 'redeemed') = (redeemed_at IS NOT NULL)", name="redeemed_when_stamped"),
        Index("ix_vouchers_user_valid", "user_id", "valid_until"),
        Index("ix_vouchers_merchant_redeemed", "merchant_id", "redeemed_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"), index=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"))
    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchants.id"))
    code: Mapped[str] = mapped_column(String(32), unique=True)
    title: Mapped[str] = mapped_column(String(60))
    value_fen: Mapped[int] = mapped_column(default=0)
    valid_from: Mapped[datetime] = mapped_column(UTCDateTime)
    valid_until: Mapped[datetime] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(String(8), default="active")
    redeemed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    redeemed_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    order = relationship("Order", back_populates="vouchers")
    merchant = relationship("Merchant", lazy="joined")
