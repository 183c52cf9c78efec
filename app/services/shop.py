"""Redemption (兑换) and the member's side of the order lifecycle: redeem, receive, cancel.

Operators ship and refund in order_admin.py; the unpaid-order job is in order_jobs.py;
addresses are in addresses.py.

A redemption is one transaction, in the order that survives concurrency on SQLite
and PostgreSQL: the request key first (a double tap gets the first order back), then
the member's row lock (so their limits are counted with nobody else adding to them),
the rules, the guarded stock update, the order, the points spend, the delivery.
Locks are always taken payment -> member -> order -> product, so no two use cases wait
on each other in a circle.
"""
import functools
from dataclasses import dataclass
from datetime import timedelta

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import ngettext
from sqlalchemy import and_, bindparam, case, func, select, update
from sqlalchemy.orm import lazyload

from app.extensions import db
from app.models import Address, Order, Product, User
from app.models.orders import next_order_id, order_number
from app.services import cache as shared_cache
from app.services import catalog, events, fulfilment, ledger, payments, risk, spend_quotes, voucher_states, vouchers
from app.services.clock import day_bounds_utc, month_bounds_utc, next_midnight, shanghai_today, to_shanghai, utcnow
from app.services.errors import DomainError, NotFound
from app.services.idempotency import claim_request, stored_result, used_before_column
from app.services.ids import is_db_id
from app.services.levels import all_levels, discounted_points, level_for
from app.services.settings import get_setting
from app.services.members import lock_member
from app.services.tx import execute_rows, keep_loaded, write_transaction

STATUS_LABELS = {
    "pending_payment": _l("待付款"), "paid": _l("待发货"), "shipped": _l("已发货"), "completed": _l("已完成"),
    "cancelled": _l("已取消"), "refunded": _l("已退款"), "review": _l("审核中"),
    # Delivered voucher orders, by their vouchers (voucher_states.voucher_order_state).
    "to_use": _l("待使用"), "used": _l("已使用"), "expired": _l("已过期"),
}
# Tabs of /orders: key -> statuses shown (to_use and completed also split on the vouchers, list_orders).
ORDER_TABS = {
    "all": None, "pending_payment": ("pending_payment",), "paid": ("paid",), "shipped": ("shipped",),
    "to_use": ("completed",), "completed": ("completed",), "closed": ("cancelled", "refunded"),
}
_COUNTED = ("cancelled", "refunded")  # orders that no longer count towards a member's limits


class RedemptionRefused(DomainError):
    """A rule refused the redemption; the message names the rule in plain words."""


def order_state(order, now=None):
    """The member-facing state key: the order's status, or for a delivered voucher order
    to_use / used / expired, derived from its vouchers."""
    return voucher_states.voucher_order_state(order, now) or order.status


def status_label(order, now=None):
    """The member-facing status; paid non-physical orders are delivered at once."""
    if order.status == "paid" and order.kind == "physical" and not order.ship_address:
        return _("待填写地址")
    return str(STATUS_LABELS[order_state(order, now)])


def max_quantity():
    return int(get_setting("shop.rules")["max_quantity"])


def _fmt(when):
    return to_shanghai(when).strftime("%Y-%m-%d %H:%M")


# A member's orders are kept apart from everyone else's: a product page's redeem panel, kept for a
# member, is rendered again when their own orders change, not at every order anyone places.
shared_cache.watch_rows("orders", key="user_id")


def redeem_panel_kept(user_id, product, now=None):
    """What a member's redeem panel on `product`'s page is read from, and until when it holds:
    (tables, until) - the catalogue and rules, their account, orders and addresses; the day's and
    month's limits start again at midnight, and the sale window opens or closes."""
    tables = (*catalog.PRODUCT_TABLES, "settings", "addresses", shared_cache.rows_of("users", user_id),
              shared_cache.rows_of("orders", user_id))
    now = now or utcnow()
    return tables, shared_cache.earliest_future((next_midnight(now), catalog.next_window_change([product])), now)


def member_limits(user_id, product, now=None):
    """The product's per-member limits with what the member has used: [(scope, limit, used)],
    every scope counted in one query."""
    today = shanghai_today(now or utcnow())
    scopes = [(scope, limit, bounds) for scope, limit, bounds in (
        ("day", product.limit_day, day_bounds_utc(today)), ("month", product.limit_month, month_bounds_utc(today)),
        ("total", product.limit_total, None)) if limit]
    if not scopes:
        return []
    params = {"p_user": user_id, "p_product": product.id}
    for scope, _limit, bounds in scopes:
        if bounds is not None:
            params[f"p_{scope}_from"], params[f"p_{scope}_to"] = bounds
    used = execute_rows(_used_statement(tuple(scope for scope, _limit, _bounds in scopes)), params).one()
    return [(scope, limit, int(n)) for (scope, limit, _bounds), n in zip(scopes, used)]


@functools.cache
def _used_statement(scopes):
    """The units a member's redemptions of a product count in each of `scopes` ("day", "month": inside
    :p_<scope>_from and :p_<scope>_to; "total": all), built once per combination: a product page asks each view."""
    units = [Order.quantity if scope == "total" else
             case((and_(Order.created_at >= bindparam(f"p_{scope}_from"), Order.created_at < bindparam(f"p_{scope}_to")),
                   Order.quantity), else_=0)
             for scope in scopes]
    return select(*(func.coalesce(func.sum(unit), 0) for unit in units)).where(
        Order.user_id == bindparam("p_user"), Order.product_id == bindparam("p_product"), Order.source == "redeem",
        Order.status.not_in(_COUNTED))


def required_level(product):
    """The Level a product is restricted to (and above), or None."""
    if not product.min_level:
        return None
    return next((lv for lv in all_levels() if lv.key == product.min_level), None)


def price_for(product, growth):
    """The points a member pays per unit, after their level discount."""
    return discounted_points(product.points_price, growth) if product.points_price else 0


_LIMIT_MESSAGES = {
    "total": lambda n, used: _("该商品每人限兑 %(n)s 件，你已兑换 %(used)s 件", n=n, used=used),
    "month": lambda n, used: _("该商品每人每月限兑 %(n)s 件，你本月已兑换 %(used)s 件", n=n, used=used),
    "day": lambda n, used: _("该商品每人每天限兑 %(n)s 件，你今天已兑换 %(used)s 件", n=n, used=used),
}


def _limit_over(limits, quantity):
    """The first limit (ever, then month, then day) that `quantity` more units would break, or None."""
    for scope, limit, used in reversed(limits):
        if used + quantity > limit:
            return scope, limit, used
    return None


def _limit_refusal(over):
    scope, limit, used = over
    return RedemptionRefused(_LIMIT_MESSAGES[scope](limit, used), field="quantity")


def redeem_blocker(member, product, limits, price):
    """Why this member cannot redeem even one unit now, as a short button label, or None.

    Only a hint for the product page (the redemption itself checks every rule again):
    a level below the product's, a per-member limit used up, too few points.
    """
    needed = required_level(product)
    if needed is not None and member.growth < needed.min_growth:
        return _("%(level)s及以上可兑换", level=needed.label)
    over = _limit_over(limits, 1)
    if over is not None:
        return {"day": _("今日已达兑换上限"), "month": _("本月已达兑换上限")}.get(over[0], _("已达兑换上限"))
    if member.points_balance < price:
        return ngettext("积分不足，还差 %(num)s 积分", "积分不足，还差 %(num)s 积分", price - member.points_balance)
    return None


def _check_rules(member, product, quantity, now):
    if not _is_quantity(quantity):
        raise RedemptionRefused(_("每单可兑换 1 到 %(n)s 件", n=max_quantity()), field="quantity")
    if product.sale_starts_at and now < product.sale_starts_at:
        raise RedemptionRefused(_("兑换尚未开始，%(when)s 开抢", when=_fmt(product.sale_starts_at)))
    if product.sale_ends_at and now >= product.sale_ends_at:
        raise RedemptionRefused(_("兑换已结束，截止时间 %(when)s", when=_fmt(product.sale_ends_at)))
    needed = required_level(product)
    if needed is not None and member.growth < needed.min_growth:
        raise RedemptionRefused(_("该商品仅限%(level)s及以上兑换，你当前是%(mine)s",
                                  level=needed.label, mine=level_for(member.growth).label))
    over = _limit_over(member_limits(member.id, product, now), quantity)
    if over is not None:
        raise _limit_refusal(over)
    if product.kind == "voucher" and vouchers.voucher_window(product, now) is None:
        raise RedemptionRefused(_("该券的使用期已结束，暂停兑换"))


def _shipping_address(user_id, address_id):
    if address_id is None:
        raise RedemptionRefused(_("请选择收货地址"), field="address_id")
    address = db.session.get(Address, address_id) if is_db_id(address_id) else None
    if address is None or address.user_id != user_id or address.is_deleted:
        raise RedemptionRefused(_("收货地址不存在，请重新选择"), field="address_id")
    return address


@dataclass(frozen=True)
class Quote:
    """What a redemption will cost, shown on the confirmation sheet before any point moves."""
    product: Product
    quantity: int
    points_total: int
    cash_total_fen: int
    balance_after: int
    address: Address | None


def needs_confirmation(quote):
    return spend_quotes.needs_confirmation(quote.points_total, quote.cash_total_fen)


def quote_redemption(user_id, product_id, quantity, *, address_id=None, now=None):
    """Check the rules a redemption would check and price it, without changing anything.
    Raises the same RedemptionRefused (with its field) the redemption itself would."""
    now = now or utcnow()
    member = db.session.get(User, user_id)
    product = db.session.get(Product, product_id) if is_db_id(product_id) else None
    if product is None or not product.is_active:
        raise NotFound(_("商品不存在或已下架"))
    _check_rules(member, product, quantity, now)
    address = _shipping_address(user_id, address_id) if product.kind == "physical" else None
    points_total = price_for(product, member.growth) * quantity
    if member.points_balance < points_total:
        raise RedemptionRefused(_("积分不足：需要 %(need)s 积分，你当前有 %(have)s 积分",
                                  need=points_total, have=member.points_balance))
    return Quote(product, quantity, points_total, product.cash_fen * quantity, member.points_balance - points_total,
                 address)


def _product_to_redeem(product_id):
    """The product read again inside the redemption's transaction, without its images (a route may
    have loaded them before; a redemption does not show them)."""
    if not is_db_id(product_id):
        return None
    return db.session.execute(_PRODUCT_TO_REDEEM, {"p_product": product_id}).scalar_one_or_none()


_PRODUCT_TO_REDEEM = (select(Product).where(Product.id == bindparam("p_product")).options(lazyload(Product.images))
                      .execution_options(populate_existing=True))  # built once: every redemption reads it


def _refuse_if_sold_out(user_id, product_id, quantity, request_key, now):
    """Refuse a redemption of a product on sale but sold out, as last committed, before any write.

    When a hot product sells out, every later request of a storm is refused by one read of the
    stock and of whether this request key was used: a retry of a redemption that was done goes on
    to get its order. Anything else (no such product, a closed sale, a quantity out of range) is
    left to the redemption's own rules, which say it as they always do."""
    if not (is_db_id(product_id) and _is_quantity(quantity)):
        return
    row = execute_rows(_ON_SALE_STOCK, {"p_product": product_id, "p_user": user_id, "p_scope": "redeem",
                                        "p_key": request_key}).first()
    if row is None or row.stock >= quantity or catalog.sale_state(row, now) in ("upcoming", "ended"):
        return
    if row.key_used:
        return
    over = _limit_over(member_limits(user_id, row, now), quantity)
    if over is not None:  # the member's own limit says more than the sold-out page around it
        raise _limit_refusal(over)
    raise fulfilment.out_of_stock(row.stock)


_ON_SALE_STOCK = select(Product.id, Product.stock, Product.sale_starts_at, Product.sale_ends_at, Product.limit_day,
                        Product.limit_month, Product.limit_total, used_before_column()
                        ).where(Product.id == bindparam("p_product"), Product.is_active)


def _is_quantity(quantity):
    return isinstance(quantity, int) and not isinstance(quantity, bool) and 1 <= quantity <= max_quantity()


def redeem_product(user_id, product_id, quantity, request_key, *, address_id=None, now=None):
    """Redeem `quantity` units for points (and cash). Returns the Order - the same one on a retry.

    Every refusal is a RedemptionRefused (or NotFound) naming the rule; nothing changes then.
    Points + cash orders wait for payment (pay_deadline); others are delivered at once, unless a
    risk rule holds them in status "review" for an operator (services.risk).
    """
    now = now or utcnow()
    _refuse_if_sold_out(user_id, product_id, quantity, request_key, now)
    with write_transaction() as session:
        # The new order's id is taken first and stored with the request key: what a retry gets.
        order_id = next_order_id(session)
        done = claim_request(user_id, "redeem", request_key, result=order_id)
        if done is not None:
            return stored_result(Order, user_id, done)
        member = lock_member(user_id)
        product = _product_to_redeem(product_id)
        if product is None or not product.is_active:
            raise NotFound(_("商品不存在或已下架"))
        _check_rules(member, product, quantity, now)
        if ledger.expire_member_lots(user_id, now) is not None:  # the balance below is what can really be spent
            session.refresh(member)
        address = _shipping_address(user_id, address_id) if product.kind == "physical" else None
        points_unit = price_for(product, member.growth)
        points_total, cash_total = points_unit * quantity, product.cash_fen * quantity
        if member.points_balance < points_total:
            raise RedemptionRefused(_("积分不足：需要 %(need)s 积分，你当前有 %(have)s 积分",
                                      need=points_total, have=member.points_balance))
        balance_before = member.points_balance
        # Sold out as last read: the guarded update decides at once. It may find a restock committed
        # since the read; the units are then taken here, and not again below.
        taken = product.stock < quantity and fulfilment.take_stock(product.id, quantity) is not None
        # The order is written once, whole - its id taken first, the points charged before it is added
        # (an order row has many indexes: an UPDATE after its INSERT costs nearly as much again).
        order = Order(id=order_id, order_no=order_number(order_id, now), user_id=user_id, product_id=product.id,
                      kind=product.kind, product_name=product.name, quantity=quantity, points_unit=points_unit,
                      points_total=points_total, cash_total_fen=cash_total,
                      status="pending_payment" if cash_total else "paid", source="redeem", created_at=now)
        if address is not None:
            fulfilment.copy_address(order, address)
        entry = None
        if points_total:
            entry = ledger.spend(user_id, points_total, "redeem", key=f"order:{order_id}", ref=f"order:{order_id}",
                                 note=product.name, now=now, new_key=True)  # no order had this id
            order.spend_entry_id = entry.id
        flags = risk.assess(member, order, balance_before, now)
        if cash_total or flags:
            session.add(order)  # written by the next flush, with what is set below
        if cash_total:
            order.pay_deadline = now + timedelta(minutes=int(get_setting("shop.rules")["pay_minutes"]))
            if product.kind == "virtual":
                fulfilment.reserve_codes(order, now)
            payments.open_payment(order)
            if flags:
                risk.hold(order, flags, now, on_payment=True)  # paid, it waits for an operator
        elif flags:
            risk.hold(order, flags, now)  # charged and reserved; delivered once an operator approves
        else:
            fulfilment.deliver(order, product, now)  # writes the order, delivered, in one INSERT
        if entry is not None:
            events.points_spent.send(None, user_id=user_id, kind="redeem", entry_id=entry.id)
        events.product_redeemed.send(None, user_id=user_id, order_id=order.id)
        session.flush()
        # The stock last: the product's row stays locked until the commit, so a hot product's orders
        # queue on it for the shortest time (all the work above is undone if it is sold out now).
        if not taken:
            fulfilment.take_stock(product.id, quantity)
        keep_loaded(order)
    return order


_ONE_ORDER = (lazyload(Order.codes), lazyload(Order.vouchers), lazyload(Order.coupons), lazyload(Order.payment))


def get_order(order_id, owner_id):
    """The member's own order, else NotFound (another member's order does not exist for them)."""
    # Codes, vouchers, coupons and the payment load when read: an order has one kind of them at most.
    order = db.session.get(Order, order_id, options=_ONE_ORDER) if is_db_id(order_id) else None
    if order is None or order.user_id != owner_id:
        raise NotFound(_("订单不存在"))
    return order


def list_orders(user_id, tab="all", before_id=None, limit=10):
    """A page of the member's orders, newest first; returns (orders, id to continue before or None)."""
    stmt = select(Order).where(Order.user_id == user_id)
    statuses = ORDER_TABS.get(tab)
    if statuses:
        stmt = stmt.where(Order.status.in_(statuses))
    if tab == "to_use":
        stmt = stmt.where(voucher_states.awaiting_use())
    elif tab == "completed":  # a voucher order is complete once nothing is left to use
        stmt = stmt.where(~voucher_states.awaiting_use())
    if is_db_id(before_id):  # anything else a URL may carry (-5, 10**20) is the first page
        stmt = stmt.where(Order.id < before_id)
    # A row shows the product, status and vouchers' use: codes, coupons and payments load only if read.
    stmt = stmt.options(lazyload(Order.codes), lazyload(Order.coupons), lazyload(Order.payment))
    rows = db.session.execute(stmt.order_by(Order.id.desc()).limit(limit + 1)).unique().scalars().all()
    return rows[:limit], (rows[limit - 1].id if len(rows) > limit else None)


def can_cancel(order):
    return order.status == "pending_payment" or (order.status == "paid" and order.kind == "physical")


def cancel_order(user_id, order_id, now=None):
    """The member cancels an unpaid or unshipped order: points and stock go back. Safe to repeat."""
    now = now or utcnow()
    with write_transaction():
        order = get_order(order_id, user_id)
        if order.status == "cancelled":
            return order
        if not can_cancel(order):
            raise RedemptionRefused(_("该订单%(status)s，不能取消", status=status_label(order)))
        reverted = fulfilment.revert_order(order.id, ("pending_payment", "paid"), "cancelled",
                                           fulfilment.CANCELLED_BY_MEMBER, now)
        if reverted is None:
            db.session.refresh(order)
            if order.status != "cancelled":
                raise RedemptionRefused(_("该订单%(status)s，不能取消", status=status_label(order)))
    return order


def confirm_receipt(user_id, order_id, now=None):
    """The member confirms a shipped order arrived. Safe to repeat."""
    now = now or utcnow()
    with write_transaction() as session:
        order = get_order(order_id, user_id)
        done = session.execute(
            update(Order).where(Order.id == order.id, Order.user_id == user_id, Order.status == "shipped")
            .values(status="completed", completed_at=now).returning(Order.id)
            .execution_options(synchronize_session=False)
        ).scalar_one_or_none()
        session.refresh(order)
        if done is None and order.status != "completed":
            raise RedemptionRefused(_("订单尚未发货，不能确认收货"))
    return order


def set_order_address(user_id, order_id, address_id):
    """Choose (or change) where an unshipped order goes, e.g. a prize won without an address."""
    with write_transaction() as session:
        order = get_order(order_id, user_id)
        if order.kind != "physical" or order.status != "paid":
            raise RedemptionRefused(_("该订单不能修改收货地址"))
        session.execute(select(Order.id).where(Order.id == order.id).with_for_update())
        session.refresh(order)
        if order.status != "paid":
            raise RedemptionRefused(_("订单已发货，不能修改收货地址"))
        fulfilment.copy_address(order, _shipping_address(user_id, address_id))
    return order


def pending_payment_for(order):
    """The provider and its checkout context for an order awaiting payment, or (None, None)."""
    payment = order.payment if order.status == "pending_payment" else None
    if payment is None or payment.status not in ("pending", "failed"):
        return None, None
    try:
        provider = payments.get_provider(payment.provider)
    except payments.PaymentUnavailable:
        return None, None  # the page says payment is unavailable; the order still times out and refunds
    return provider, provider.checkout(payment)


__all__ = [
    "ORDER_TABS", "Quote", "RedemptionRefused", "STATUS_LABELS", "can_cancel", "cancel_order", "confirm_receipt",
    "needs_confirmation", "quote_redemption",
    "get_order", "list_orders", "max_quantity", "member_limits", "order_state", "pending_payment_for", "price_for",
    "redeem_blocker", "redeem_product", "required_level", "set_order_address", "status_label",
]
