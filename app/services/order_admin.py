"""Operators' work on orders: ship a goods order, refund an order.

Every function here acts for an operator (checked by app.access) and writes an audit entry.
"""
import re

from flask_babel import gettext as _
from sqlalchemy import select, update

from app.access import require_operator
from app.models import Order, Voucher
from app.services import audit, fulfilment, messages
from app.services.clock import utcnow
from app.services.errors import AlreadyDone, DomainError, NotFound
from app.services.ids import is_db_id
from app.services.shop import status_label
from app.services.tx import write_transaction


def _any_order(session, order_id):
    """Any member's order, for an operator (members get only their own: shop.get_order)."""
    order = session.get(Order, order_id) if is_db_id(order_id) else None
    if order is None:
        raise NotFound(_("订单不存在"))
    return order


_TRACKING_RE = re.compile(r"^[A-Za-z0-9\-]{4,40}$")


def ship_order(order_id, carrier, tracking_no, actor_id, now=None):
    """An operator ships a goods order with the carrier and tracking number; the member is told."""
    now = now or utcnow()
    carrier, tracking_no = (carrier or "").strip(), (tracking_no or "").strip().upper()
    if not carrier or len(carrier) > 40:
        raise DomainError(_("请填写快递公司"), field="carrier")
    if not _TRACKING_RE.match(tracking_no):
        raise DomainError(_("请填写正确的快递单号（4到40位字母、数字或短横线）"), field="tracking_no")
    with write_transaction() as session:
        require_operator(actor_id)
        order = _any_order(session, order_id)
        if order.kind != "physical":
            raise DomainError(_("只有实物订单需要发货"))
        if not order.ship_address:
            raise DomainError(_("会员尚未填写收货地址，暂不能发货"))
        done = session.execute(
            update(Order).where(Order.id == order.id, Order.status == "paid")
            .values(status="shipped", carrier=carrier, tracking_no=tracking_no, shipped_at=now)
            .returning(Order.id).execution_options(synchronize_session=False)
        ).scalar_one_or_none()
        session.refresh(order)
        if done is None:
            if order.status == "shipped":
                raise AlreadyDone(_("订单已发货"))
            raise DomainError(_("订单%(status)s，不能发货", status=status_label(order)))
        audit.record(actor_id, "order.ship", target=f"order:{order.id}", carrier=carrier, tracking_no=tracking_no)
        messages.notify(order.user_id, "order.shipped",
                        {"order_id": order.id, "name": order.product_name, "carrier": carrier, "no": tracking_no},
                        key=f"shipped:{order.id}")
    return order


def refund_order(order_id, actor_id, reason, now=None):
    """An operator refunds an order: points back, unused coupons/vouchers void, a cash part due back."""
    now = now or utcnow()
    reason = (reason or "").strip()
    if not reason:
        raise DomainError(_("请填写退款原因"), field="reason")
    with write_transaction() as session:
        require_operator(actor_id)
        order = _any_order(session, order_id)
        used = session.execute(
            select(Voucher.id).where(Voucher.order_id == order.id, Voucher.status == "redeemed").limit(1)
        ).first()
        if used is not None:
            raise DomainError(_("该订单的券已被核销，不能退款"))
        reverted = fulfilment.revert_order(order.id, ("paid", "shipped", "completed"), "refunded", reason[:100], now)
        if reverted is None:
            session.refresh(order)
            raise DomainError(_("订单%(status)s，不能退款", status=status_label(order)))
        audit.record(actor_id, "order.refund", target=f"order:{order.id}", reason=reason,
                     points=order.points_total, cash_fen=order.cash_total_fen)
    return order
