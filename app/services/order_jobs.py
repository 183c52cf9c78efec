"""Order jobs run from cron: unpaid points + cash orders time out."""
from sqlalchemy import select

from app.extensions import db
from app.models import Order
from app.services import fulfilment
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
            if fulfilment.revert_order(order_id, ("pending_payment",), "cancelled",
                                       fulfilment.CANCELLED_UNPAID, now) is not None:
                cancelled += 1
    return cancelled
