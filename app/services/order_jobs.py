"""Order jobs run from cron: unpaid points + cash orders time out."""
from sqlalchemy import select

from app.extensions import db
from app.models import Order
from app.services import fulfilment, messages
from app.services.clock import utcnow
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
