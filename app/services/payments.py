"""The cash part of points + cash orders, through a payment provider.

A provider (the sandbox now, WeChat Pay JSAPI later) only knows how to let the member
pay and how to tell us the outcome; the order side is here and the same for all:
`open_payment` (inside the redemption), then `complete_payment` or `fail_payment`
(each one transaction, safe to call twice: a provider may notify more than once), and
`refund_payment` to return the cash of a payment marked refund_due (a cancelled or
refunded order whose cash had arrived).
The sandbox provider is for development and tests and is refused in production.
"""
import secrets
from typing import Protocol

from flask import current_app
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import select, update

from app.extensions import db
from app.models import Order, OrderReview, Payment, Product
from app.services import fulfilment, messages
from app.services.clock import utcnow
from app.services.errors import DomainError, NotFound
from app.services.ids import is_db_id
from app.services.phrases import phrase
from app.services.tx import in_write_transaction, write_transaction


# Why a payment's order was cancelled, on orders from before failed payments could be retried
# (stored by id, shown in the reader's language: keep them registered).
PAYMENT_FAILED = phrase("order.cancelled.payment_failed", _l("支付失败"))
SANDBOX_PAYMENT_FAILED = phrase("order.cancelled.sandbox_failed", _l("沙箱支付：模拟支付失败"))


class PaymentUnavailable(DomainError):
    status = 503


class PaymentProvider(Protocol):
    """What every payment provider offers the order page."""

    name: str      # stored on Payment.provider
    label: str     # shown to the member next to the pay button
    template: str  # the partial that lets the member pay, rendered on the order page

    def checkout(self, payment: Payment) -> dict:
        """Context for `template` (for WeChat: the JSAPI parameters of a prepay order)."""

    def refund(self, payment: Payment, amount_fen: int) -> str:
        """Return `amount_fen` of a succeeded payment to the payer; returns the provider's refund id.

        Must be idempotent on `payment.out_refund_no` (WeChat's out_refund_no): asked again for
        the same payment it answers with the same refund and moves no more money. Raises
        PaymentUnavailable when the provider cannot take the refund now (nothing changes then).
        A provider whose refunds complete later (WeChat) will need a 'refunding' state; the
        sandbox's complete at once.
        """


class SandboxProvider:
    """沙箱支付: the member taps 'paid' or 'failed'. Development and tests only."""

    name = "sandbox"
    label = _l("沙箱支付")
    template = "shop/_pay_sandbox.html"

    def __init__(self, app):
        if app.config.get("PRODUCTION"):
            raise PaymentUnavailable(_("沙箱支付仅用于开发和测试，生产环境不可用"))

    def checkout(self, payment):
        return {"payment": payment}

    def refund(self, payment, amount_fen):
        """The sandbox returns the cash at once; its refund id is fixed by out_refund_no, so a
        retry is the same refund."""
        if amount_fen <= 0 or amount_fen > payment.amount_fen:
            raise DomainError(_("退款金额无效"))
        return f"SANDBOX-{payment.out_refund_no}"


PROVIDERS = {"sandbox": SandboxProvider}


def get_provider(name=None):
    """The configured provider (PAYMENT_PROVIDER), or the named one; refuses what is unavailable."""
    name = name or current_app.config.get("PAYMENT_PROVIDER", "sandbox")
    provider_class = PROVIDERS.get(name)
    if provider_class is None:
        raise PaymentUnavailable(_("支付暂不可用，请稍后再试"))
    return provider_class(current_app)


def open_payment(order):
    """Create the pending payment of an order's cash part, inside the redemption's transaction."""
    assert in_write_transaction()
    provider = get_provider()
    payment = Payment(order_id=order.id, provider=provider.name, out_trade_no=secrets.token_hex(16),
                      amount_fen=order.cash_total_fen, status="pending")
    db.session.add(payment)
    db.session.flush()
    return payment


def _locked_payment(out_trade_no):
    payment = db.session.execute(
        select(Payment).where(Payment.out_trade_no == out_trade_no)
        .with_for_update(of=Payment).execution_options(populate_existing=True)
    ).scalar_one_or_none()
    if payment is None:
        raise NotFound(_("支付单不存在"))
    return payment


def complete_payment(out_trade_no, *, amount_fen, provider_txn_id, now=None):
    """The provider says the cash arrived: the order becomes paid and is delivered.

    A duplicate notification changes nothing. If the order was cancelled meanwhile (it
    timed out), the payment is marked refund_due so operators return the cash.
    """
    now = now or utcnow()
    with write_transaction() as session:
        payment = _locked_payment(out_trade_no)
        if payment.status in ("succeeded", "refund_due", "refunded"):
            return payment
        if amount_fen != payment.amount_fen:
            raise DomainError(_("支付金额与订单不符"))
        payment.provider_txn_id, payment.completed_at = provider_txn_id, now
        claimed = session.execute(
            update(Order).where(Order.id == payment.order_id, Order.status == "pending_payment")
            .values(status="paid", paid_at=now).returning(Order.id)
            .execution_options(synchronize_session=False)
        ).scalar_one_or_none()
        if claimed is None:
            payment.status = "refund_due"
            return payment
        payment.status = "succeeded"
        order = session.execute(
            select(Order).where(Order.id == claimed).execution_options(populate_existing=True)
        ).scalar_one()
        held = session.execute(
            select(OrderReview.id).where(OrderReview.order_id == order.id, OrderReview.decision.is_(None))
        ).first()
        if held is not None:  # flagged by a risk rule when redeemed: waits for an operator (services.risk)
            order.status = "review"
        else:
            fulfilment.deliver(order, session.get(Product, order.product_id), now)
    return payment


def fail_payment(out_trade_no, *, now=None):
    """The provider says a payment attempt failed (declined, cancelled by the member): the order stays
    unpaid and payable until its deadline, when `orders cancel-unpaid` cancels it and gives the
    points and stock back. The member is told once, with the deadline. Safe to repeat."""
    now = now or utcnow()
    with write_transaction() as session:
        payment = _locked_payment(out_trade_no)
        if payment.status != "pending":
            return payment
        payment.status, payment.completed_at = "failed", now
        order = session.execute(
            select(Order).where(Order.id == payment.order_id).execution_options(populate_existing=True)
        ).scalar_one()
        if order.status == "pending_payment":
            messages.notify(order.user_id, "order.payment_failed_retry",
                            {"order_id": order.id, "order_no": order.number, "name": order.product_name,
                             "deadline": order.pay_deadline or now},
                            key=f"order.payment_failed:{order.id}")
    return payment


def retry_payment(payment):
    """A member pays again after a failed attempt, before the deadline: the payment is pending once
    more (same out_trade_no: WeChat lets an unpaid order be paid again). Inside the caller's transaction."""
    assert in_write_transaction()
    db.session.execute(update(Payment).where(Payment.id == payment.id, Payment.status == "failed")
                       .values(status="pending", completed_at=None))


def refund_payment(order_id, reason, now=None):
    """Return the cash part of an order whose payment is refund_due; returns the Payment.

    Runs in its own write transaction, or joins the caller's when called inside one (the
    after-sales completion, an operator refund): then the order's reversal and the cash
    refund commit together. The payment row is locked first, so two calls at once refund
    once; a call on a payment already refunded returns it unchanged (a retry is one refund).
    The provider is asked before the commit: if the commit then fails, the payment stays
    refund_due and a retry asks the provider again with the same out_refund_no, which the
    provider answers with the same refund. Raises NotFound (no payment), DomainError (the
    payment is not due a refund) or PaymentUnavailable (the provider refused; nothing changed).
    """
    now = now or utcnow()
    reason = (reason or "").strip()
    with write_transaction() as session:
        found = session.execute(select(Payment.out_trade_no).where(Payment.order_id == order_id)).scalar_one_or_none() \
            if is_db_id(order_id) else None
        if found is None:
            raise NotFound(_("该订单没有现金支付"))
        payment = _locked_payment(found)
        if payment.status == "refunded":
            return payment
        if payment.status != "refund_due":
            raise DomainError(_("该支付无需退款"))
        refund_id = get_provider(payment.provider).refund(payment, payment.amount_fen)
        payment.status, payment.refund_id, payment.refunded_at = "refunded", refund_id, now
        payment.refund_reason = reason[:100] or None
        session.flush()
    return payment


def sandbox_pay(user_id, order_id, succeed, now=None):
    """The sandbox's two buttons: pay the member's own pending order, or make this attempt fail
    (the order stays payable until its deadline)."""
    if not isinstance(get_provider(), SandboxProvider):
        raise PaymentUnavailable(_("沙箱支付未启用"))
    now = now or utcnow()
    order = db.session.get(Order, order_id) if is_db_id(order_id) else None
    if order is None or order.user_id != user_id or order.payment is None:
        raise NotFound(_("订单不存在"))
    payment = order.payment
    if payment.provider != SandboxProvider.name:
        raise PaymentUnavailable(_("该订单不是沙箱支付订单"))
    if order.status != "pending_payment":
        return payment
    if order.pay_deadline and now >= order.pay_deadline:
        raise DomainError(_("订单已超时未支付，将自动取消"))
    if payment.status == "failed":
        with write_transaction():
            retry_payment(payment)
    if succeed:
        return complete_payment(payment.out_trade_no, amount_fen=payment.amount_fen,
                                provider_txn_id=f"SANDBOX-{secrets.token_hex(8)}", now=now)
    return fail_payment(payment.out_trade_no, now=now)


__all__ = [
    "PROVIDERS", "PaymentProvider", "PaymentUnavailable", "SandboxProvider", "complete_payment", "fail_payment",
    "get_provider", "open_payment", "refund_payment", "retry_payment", "sandbox_pay",
]
