"""Stock and delivery: taking stock with a guarded update, and handing over what an order
bought - shipping for goods, a supplier code for virtual goods, coupons, merchant vouchers.

Used by redemptions (services.shop) and by games that give products away (draws,
treasure) through `grant_product`. Everything here runs inside the caller's
write_transaction() and never commits.
"""
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import bindparam, inspect, select, update

from app.extensions import db
from app.models import Address, Order, Payment, Product, User, VirtualCode
from app.services import ledger, messages, vouchers
from app.services.clock import utcnow
from app.services.errors import DomainError, NotFound
from app.services.ids import is_db_id
from app.services.phrases import phrase, split_text
from app.services.tx import execute_rows, in_write_transaction, insert_object


# Why an order was cancelled, as the member (or an operator) reads it later in their own
# language: stored by id. An operator's refund reason is free text and is stored as written.
CANCELLED_BY_MEMBER = phrase("order.cancelled.member", _l("会员取消"))
CANCELLED_UNPAID = phrase("order.cancelled.unpaid", _l("超时未支付，已自动取消"))


class OutOfStock(DomainError):
    """Not enough stock left (or no supplier codes left) for the units asked."""


def _require_tx():
    if not in_write_transaction():
        raise RuntimeError("fulfilment runs inside the caller's write_transaction()")


# Built once (every redemption and prize runs it), the values bound per call.
_TAKE_STOCK = (update(Product).where(Product.id == bindparam("p_product"), Product.stock >= bindparam("p_quantity"))
               .values(stock=Product.stock - bindparam("p_quantity"), sold=Product.sold + bindparam("p_quantity"))
               .returning(Product.stock).execution_options(synchronize_session=False))


def take_stock(product_id, quantity):
    """Take `quantity` units with a guarded UPDATE (never below zero). Raises OutOfStock.

    On PostgreSQL the product row stays locked until the transaction ends, so the
    rest of this order's work for the product is serialised with other orders of it.
    """
    _require_tx()
    left = execute_rows(_TAKE_STOCK, {"p_product": product_id, "p_quantity": quantity}).scalar_one_or_none()
    if left is None:
        stock = db.session.execute(select(Product.stock).where(Product.id == product_id)).scalar_one_or_none()
        if stock is None:
            raise NotFound(_("商品不存在或已下架"))
        raise out_of_stock(stock)
    return left


def out_of_stock(stock):
    """The refusal of an order for more units than the `stock` left."""
    if stock == 0:
        return OutOfStock(_("该商品已兑完，库存为 0"))
    return OutOfStock(_("库存不足，仅剩 %(n)s 件", n=stock), field="quantity")


def return_stock(product_id, quantity):
    """Put units back (a cancelled or refunded order that was not shipped)."""
    _require_tx()
    db.session.execute(
        update(Product)
        .where(Product.id == product_id, Product.sold >= quantity)
        .values(stock=Product.stock + quantity, sold=Product.sold - quantity)
        .execution_options(synchronize_session=False)
    )


def release_codes(order_id):
    """Return an undelivered order's supplier codes to the pool."""
    db.session.execute(
        update(VirtualCode).where(VirtualCode.order_id == order_id)
        .values(order_id=None, assigned_at=None).execution_options(synchronize_session=False)
    )


def reserve_codes(order, now):
    """Hand `quantity` unused supplier codes to the order (shown once it is paid)."""
    _require_tx()
    session = db.session
    query = (select(VirtualCode.id)
             .where(VirtualCode.product_id == order.product_id, VirtualCode.order_id.is_(None))
             .order_by(VirtualCode.id).limit(order.quantity))
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    ids = session.execute(query).scalars().all()
    taken = 0
    if ids:
        taken = session.execute(
            update(VirtualCode).where(VirtualCode.id.in_(ids), VirtualCode.order_id.is_(None))
            .values(order_id=order.id, assigned_at=now).execution_options(synchronize_session=False)
        ).rowcount
    if taken != order.quantity:
        raise OutOfStock(_("兑换码已发完，请稍后再来"))


def _has_codes(order_id):
    return db.session.execute(select(VirtualCode.id).where(VirtualCode.order_id == order_id).limit(1)).first() is not None


def deliver(order, product, now=None):
    """Hand over what a paid (or free) order bought; goods wait for shipping. A new order not yet added
    to the session (a redemption's) is written here, with what delivering it sets."""
    _require_tx()
    now = now or utcnow()
    order.paid_at = order.paid_at or now
    if product.kind == "physical":
        order.status = "paid"  # goods wait for shipping
    else:
        order.status = "completed"
        order.completed_at = now
    if inspect(order).transient:  # a redemption's new order: written once, whole, before its codes
        insert_object(order)
    issued = None  # the coupons or vouchers issued now, as rows in hand
    if product.kind == "virtual" and not _has_codes(order.id):
        reserve_codes(order, now)
    elif product.kind == "coupon":
        issued = vouchers.issue_coupons(order, product, now)
    elif product.kind == "voucher":
        issued = vouchers.issue_vouchers(order, product, now)
    db.session.flush()
    db.session.expire(order, ["codes", "vouchers", "coupons"])
    if order.source == "redeem":  # prizes are told by their game (draw.prize_won, treasure.won)
        _tell_redeemed(order, issued)
    return order


_HANDED = {"virtual": "codes", "coupon": "coupons", "voucher": "vouchers"}


def _tell_redeemed(order, issued=None):
    """The member's 兑换成功 message with what was handed over (codes, coupons, vouchers):
    `issued` when deliver has them in hand, else the order's own kind of them (one query)."""
    handed = issued if issued is not None else getattr(order, _HANDED[order.kind]) if order.kind in _HANDED else []
    messages.notify(order.user_id, "order.redeemed",
                    {"order_id": order.id, "order_no": order.number, "name": order.product_name, "kind": order.kind,
                     "codes": ", ".join(item.code for item in handed)},
                    key=f"order.redeemed:{order.id}")


def default_address(user_id):
    """The member's default (else newest) shipping address, or None."""
    return db.session.execute(
        select(Address).where(Address.user_id == user_id, Address.is_deleted.is_(False))
        .order_by(Address.is_default.desc(), Address.id.desc()).limit(1)
    ).scalar_one_or_none()


def copy_address(order, address):
    """Put a copy of the address on the order (later edits never rewrite an order)."""
    order.address_id = address.id
    order.ship_name, order.ship_phone, order.ship_address = address.name, address.phone, address.one_line


def revert_order(order_id, from_statuses, new_status, reason, now=None):
    """Cancel or refund an order inside the caller's transaction (`reason`: a Phrase, or an
    operator's free text): points back to their lots,
    units back to stock (unless shipped or already handed over), unused coupons and
    vouchers void, the cash part closed or marked for refund.

    Returns the order, or None when its status is no longer one of `from_statuses`.
    Locks in the order every use case takes them: payment, member, order, product.
    """
    _require_tx()
    session = db.session
    payment = session.execute(
        select(Payment).where(Payment.order_id == order_id).with_for_update(of=Payment)
    ).scalar_one_or_none()
    owner = session.execute(select(Order.user_id).where(Order.id == order_id)).scalar_one_or_none()
    if owner is None:
        raise NotFound(_("订单不存在"))
    session.execute(select(User.id).where(User.id == owner).with_for_update())
    order = session.execute(
        select(Order).where(Order.id == order_id).with_for_update(of=Order).execution_options(populate_existing=True)
    ).scalar_one()
    if order.status not in from_statuses:
        return None
    was = order.status
    reason_text, order.cancel_reason_id = split_text(reason)
    order.cancel_reason = reason_text[:100] if reason_text else None
    order.status, order.cancelled_at = new_status, now or utcnow()
    handed_over = was == "shipped" or (was == "completed" and order.kind != "voucher" and order.kind != "coupon")
    if not handed_over:
        return_stock(order.product_id, order.quantity)
        if was in ("pending_payment", "review"):  # codes of an order never handed over
            release_codes(order.id)
    vouchers.void_order_vouchers(order.id)
    if order.spend_entry_id:
        entry = ledger.refund(order.spend_entry_id, note=order.product_name, now=order.cancelled_at)
        if entry is not None:
            order.refund_entry_id = entry.id
    if payment is not None and payment.status in ("pending", "succeeded"):
        payment.status = "failed" if payment.status == "pending" else "refund_due"
    session.flush()
    return order


def grant_product(user_id, product_id, *, source, ref, now=None):
    """Give one unit of a product as a prize, inside the caller's transaction (no commit).

    Takes one unit of stock with a guarded update (OutOfStock, a DomainError, when none
    is left) and creates a 0-point order that is delivered exactly as a redemption
    would be: goods await shipping (to the member's default address, changeable until
    shipped), virtual goods get a code, coupons and vouchers are issued. `source` is
    "draw" or "treasure"; (source, ref) is unique, so one play or round grants once.
    Products off the shelf can still be prizes. Returns the Order.
    """
    _require_tx()
    now = now or utcnow()
    session = db.session
    product = session.get(Product, product_id) if is_db_id(product_id) else None
    if product is None:
        raise NotFound(_("奖品商品不存在"))
    take_stock(product.id, 1)
    order = Order(user_id=user_id, product_id=product.id, kind=product.kind, product_name=product.name,
                  quantity=1, points_unit=0, points_total=0, cash_total_fen=0, status="paid",
                  source=source, ref=ref, created_at=now)
    if product.kind == "physical":
        address = default_address(user_id)
        if address is not None:
            copy_address(order, address)
    session.add(order)
    session.flush()
    from app.services import risk  # risk decisions deliver and revert through this module

    flags = risk.member_flags(session.get(User, user_id), now)
    if flags:
        risk.hold(order, flags, now)  # the prize waits for an operator, as a flagged redemption does
        return order
    return deliver(order, product, now)


__all__ = [
    "CANCELLED_BY_MEMBER", "CANCELLED_UNPAID", "OutOfStock", "copy_address", "default_address", "deliver",
    "grant_product", "release_codes", "reserve_codes", "return_stock", "revert_order", "take_stock",
]
