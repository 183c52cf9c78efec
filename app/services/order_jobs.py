"""Order jobs run from cron: unpaid points + cash orders time out; shipped orders complete themselves."""
from datetime import timedelta

from sqlalchemy import select, update

from app.extensions import db
from app.models import Order, Payment
from app.services import fulfilment, messages, payments
from app.services.clock import utcnow
from app.services.settings import DEFAULTS, get_setting
from app.services.tx import write_transaction


def cancel_unpaid_orders(now=None):
    """Cancel points + cash orders past their payment deadline (cron-safe, idempotent).

    One short transaction per order; returns how many were cancelled.
    """
    now = now or utcnow()
    ids = db.session.execute(
        select(Order.id).where(Order.status == "pending_payment", Order.pay_deadline <= now).order_by(Order.id)
    ).scalars().all()
    cancelled = 0
    for order_id in ids:
        _close_at_provider(order_id)
        with write_transaction():
            order = fulfilment.revert_order(order_id, ("pending_payment",), "cancelled",
                                            fulfilment.CANCELLED_UNPAID, now)
            if order is not None:
                cancelled += 1
                messages.notify(order.user_id, "order.cancelled",
                                {"order_id": order.id, "order_no": order.number, "name": order.product_name,
                                 "reason": fulfilment.CANCELLED_UNPAID, "n": order.points_total},
                                key=f"order.cancel:{order.id}")
    return cancelled


def _close_at_provider(order_id):
    """Close the order's payment at a provider that keeps unpaid orders open (WeChat Pay), so it
    cannot be paid after we cancel it. Best effort: a payment arriving anyway is marked refund_due."""
    payment = db.session.execute(select(Payment).where(Payment.order_id == order_id)).scalar_one_or_none()
    if payment is None or payment.status not in ("pending", "failed"):
        return
    try:
        provider = payments.get_provider(payment.provider)
        if hasattr(provider, "close"):
            provider.close(payment)
    except payments.PaymentUnavailable:
        pass
    finally:
        db.session.rollback()


def auto_complete_days():
    """Days after shipping when an order counts as received if the member has not confirmed it."""
    rules = get_setting("shop.rules") or {}
    return int(rules.get("auto_complete_days", DEFAULTS["shop.rules"]["auto_complete_days"]))


def complete_shipped_orders(now=None):
    """Confirm receipt of orders shipped `auto_complete_days` ago for members who did not (cron-safe).

    One short transaction per order with a guarded update (shipped -> completed), so a member
    confirming at the same moment completes it once and is told once. The after-sales window
    counts from this completion. Returns how many were completed.
    """
    now = now or utcnow()
    days = auto_complete_days()
    ids = db.session.execute(
        select(Order.id).where(Order.status == "shipped", Order.shipped_at <= now - timedelta(days=days))
        .order_by(Order.id)
    ).scalars().all()
    completed = 0
    for order_id in ids:
        with write_transaction() as session:
            done = session.execute(
                update(Order).where(Order.id == order_id, Order.status == "shipped")
                .values(status="completed", completed_at=now).returning(Order.user_id)
                .execution_options(synchronize_session=False)
            ).scalar_one_or_none()
            if done is None:
                continue  # confirmed (or refunded) since the list was read
            order = session.get(Order, order_id)
            completed += 1
            messages.notify(done, "order.auto_completed",
                            {"order_id": order_id, "order_no": order.number, "name": order.product_name,
                             "days": days},
                            key=f"order.auto_completed:{order_id}")
    return completed
