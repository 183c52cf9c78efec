"""Redemption: every rule and its message, nothing changed on a refusal, the order lifecycle."""
from datetime import datetime, time, timedelta

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.models import AuditLog, Coupon, Message, Order, PointEntry, Product, Voucher
from app.services import addresses, events, fulfilment, ledger, order_admin, shop
from app.services.clock import SHANGHAI, add_months, utcnow
from app.services.errors import AlreadyDone, DomainError, Forbidden, NotFound
from app.services.tx import write_transaction
from tests.conftest import balance_of, statements_sent
from tests.shop_factories import make_address, make_merchant, make_product, new_key, no_newbie_bonus  # noqa: F401

pytestmark = pytest.mark.usefixtures("no_newbie_bonus")


def redeem(user_id, product_id, quantity=1, **kwargs):
    return shop.redeem_product(user_id, product_id, quantity, new_key(), **kwargs)


def stock_of(product_id):
    db.session.expire_all()
    return db.session.get(Product, product_id).stock


def order_count():
    return db.session.execute(select(func.count(Order.id))).scalar_one()


def assert_refused(call, message, field=None):
    """The call is refused with `message` (a fragment) and changes nothing."""
    before = (order_count(), db.session.execute(select(func.count(PointEntry.id))).scalar_one(),
              db.session.execute(select(func.sum(Product.stock))).scalar_one())
    with pytest.raises(DomainError) as caught:
        call()
    assert message in str(caught.value.message)
    if field is not None:
        assert caught.value.field == field
    db.session.rollback()
    after = (order_count(), db.session.execute(select(func.count(PointEntry.id))).scalar_one(),
             db.session.execute(select(func.sum(Product.stock))).scalar_one())
    assert after == before
    return caught.value


def test_a_redemption_spends_points_takes_stock_and_leaves_a_paid_order(db, make_member, make_product, make_address):
    user_id = make_member()
    address_id = make_address(user_id)
    product_id = make_product(points_price=120, stock=3)
    order = redeem(user_id, product_id, 2, address_id=address_id)
    assert (order.status, order.quantity, order.points_unit, order.points_total) == ("paid", 2, 120, 240)
    assert order.ship_name == "张三" and "南京东路" in order.ship_address
    assert balance_of(user_id) == 500 - 240
    assert stock_of(product_id) == 1
    entry = db.session.get(PointEntry, order.spend_entry_id)
    assert (entry.kind, entry.amount, entry.ref) == ("redeem", -240, f"order:{order.id}")
    assert ledger.reconcile() == []


def test_a_double_tap_creates_one_order(db, make_member, make_product):
    user_id, product_id = make_member(), make_product(kind="coupon")
    key = new_key()
    first = shop.redeem_product(user_id, product_id, 1, key)
    second = shop.redeem_product(user_id, product_id, 1, key)
    assert first.id == second.id
    assert order_count() == 1 and balance_of(user_id) == 400 and stock_of(product_id) == 9


def test_the_redeemed_event_fires_inside_the_transaction(db, make_member, make_product):
    user_id, product_id = make_member(), make_product(kind="coupon")
    seen = []

    def receiver(_sender, user_id, order_id, **_extra):
        seen.append((user_id, order_id, db.session.get(Order, order_id) is not None))

    events.product_redeemed.connect(receiver)
    try:
        order = redeem(user_id, product_id)
    finally:
        events.product_redeemed.disconnect(receiver)
    assert seen == [(user_id, order.id, True)]


def test_level_discount_applies_to_the_points_price(db, make_member, make_product):
    user_id = make_member(points=20000, growth=10000)  # gold: 95 %
    product_id = make_product(kind="coupon", points_price=999)
    order = redeem(user_id, product_id)
    assert order.points_unit == 950  # 949.05 rounded up
    assert balance_of(user_id) == 20500 - 950


@pytest.mark.parametrize("quantity", [0, -1, 11, 10**12, "2", None, 1.5, True])
def test_a_quantity_outside_one_to_ten_is_refused(db, make_member, make_product, quantity):
    user_id, product_id = make_member(), make_product(kind="coupon", points_price=1)
    assert_refused(lambda: redeem(user_id, product_id, quantity), "每单可兑换 1 到 10 件", field="quantity")


def test_missing_and_off_shelf_products_are_not_found(db, make_member, make_product):
    user_id = make_member()
    hidden = make_product(is_active=False)
    assert_refused(lambda: redeem(user_id, 999999), "商品不存在或已下架")
    assert_refused(lambda: redeem(user_id, hidden), "商品不存在或已下架")
    assert_refused(lambda: redeem(user_id, "1"), "商品不存在或已下架")


def test_before_the_window_opens_the_member_is_told_when(db, make_member, make_product):
    user_id = make_member()
    opens = (utcnow() + timedelta(days=1)).replace(second=0, microsecond=0)
    product_id = make_product(kind="coupon", sale_starts_at=opens, sale_ends_at=opens + timedelta(hours=2))
    assert_refused(lambda: redeem(user_id, product_id, now=opens - timedelta(seconds=1)),
                   f"兑换尚未开始，{opens.astimezone(SHANGHAI):%Y-%m-%d %H:%M} 开抢")
    assert redeem(user_id, product_id, now=opens).status == "completed"


def test_after_the_window_closes_it_is_over(db, make_member, make_product):
    user_id = make_member()
    closes = utcnow() - timedelta(minutes=1)
    product_id = make_product(kind="coupon", sale_starts_at=closes - timedelta(days=1), sale_ends_at=closes)
    assert_refused(lambda: redeem(user_id, product_id), "兑换已结束")


def test_level_restriction_names_both_levels(db, make_member, make_product):
    user_id = make_member(points=5000)
    product_id = make_product(kind="coupon", min_level="gold")
    assert_refused(lambda: redeem(user_id, product_id), "该商品仅限金卡会员及以上兑换，你当前是普通会员")
    rich = make_member(growth=10000)
    assert redeem(rich, product_id).status == "completed"


def test_daily_limit_counts_units_per_shanghai_day(db, make_member, make_product):
    user_id = make_member(points=5000)
    product_id = make_product(kind="coupon", limit_day=2, stock=50)
    late = datetime.combine(utcnow().astimezone(SHANGHAI).date() + timedelta(days=1), time(23, 50), tzinfo=SHANGHAI)
    redeem(user_id, product_id, 2, now=late)
    assert_refused(lambda: redeem(user_id, product_id, now=late + timedelta(minutes=5)),
                   "该商品每人每天限兑 2 件，你今天已兑换 2 件", field="quantity")
    assert redeem(user_id, product_id, 2, now=late + timedelta(minutes=11)).quantity == 2  # 00:01 next day


def test_monthly_limit(db, make_member, make_product):
    user_id = make_member(points=5000)
    product_id = make_product(kind="coupon", limit_month=3, stock=50)
    month_end = add_months(utcnow().astimezone(SHANGHAI).date().replace(day=1), 1) - timedelta(days=1)
    day = datetime.combine(month_end, time(12, 0), tzinfo=SHANGHAI)
    redeem(user_id, product_id, 2, now=day)
    assert_refused(lambda: redeem(user_id, product_id, 2, now=day), "该商品每人每月限兑 3 件，你本月已兑换 2 件")
    redeem(user_id, product_id, 1, now=day)
    next_month = datetime.combine(month_end + timedelta(days=1), time(0, 0), tzinfo=SHANGHAI)
    assert redeem(user_id, product_id, 3, now=next_month).quantity == 3


def test_limit_ever_and_cancelled_orders_do_not_count(db, make_member, make_product, make_address):
    user_id = make_member(points=5000)
    address_id = make_address(user_id)
    product_id = make_product(limit_total=1)
    first = redeem(user_id, product_id, address_id=address_id)
    assert_refused(lambda: redeem(user_id, product_id, address_id=address_id), "该商品每人限兑 1 件，你已兑换 1 件")
    shop.cancel_order(user_id, first.id)
    assert redeem(user_id, product_id, address_id=address_id).status == "paid"


def test_prizes_do_not_count_towards_redemption_limits(db, make_member, make_product):
    user_id, product_id = make_member(), make_product(kind="coupon", limit_total=1)
    with write_transaction():
        fulfilment.grant_product(user_id, product_id, source="draw", ref="draw-play:1")
    assert redeem(user_id, product_id).status == "completed"


def test_stock_refusals_say_how_many_are_left(db, make_member, make_product):
    user_id = make_member(points=5000)
    product_id = make_product(kind="coupon", stock=2)
    assert_refused(lambda: redeem(user_id, product_id, 3), "库存不足，仅剩 2 件")
    redeem(user_id, product_id, 2)
    assert_refused(lambda: redeem(user_id, product_id), "该商品已兑完")


def test_a_retry_of_a_done_redemption_gets_its_order_after_the_product_sold_out(db, make_member, make_product):
    user_id = make_member(points=5000)
    product_id = make_product(kind="coupon", stock=1)
    key = new_key()
    first = shop.redeem_product(user_id, product_id, 1, key)
    assert stock_of(product_id) == 0
    again = shop.redeem_product(user_id, product_id, 1, key)  # the double tap, answered after the sell-out
    assert again.id == first.id and order_count() == 1
    assert_refused(lambda: redeem(user_id, product_id), "该商品已兑完")  # a new request is refused


def test_a_rush_on_a_sold_out_product_is_refused_by_one_read(db, make_member, make_product):
    # The stock and whether this request was done already (a retry goes on to get its order), in
    # one statement; nothing is written.
    user_id, product_id = make_member(points=5000), make_product(kind="coupon", stock=0)
    sent = []

    def refused_while_listening():
        with statements_sent(db.engine) as statements:
            try:
                redeem(user_id, product_id)
            finally:
                sent.extend(statements)
    assert_refused(refused_while_listening, "该商品已兑完")
    assert len(sent) == 1 and sent[0].lstrip().upper().startswith("SELECT")


def test_sold_out_and_closed_sales_say_what_closed_first(db, make_member, make_product):
    user_id = make_member(points=5000)
    ended = make_product(kind="coupon", stock=0, sale_starts_at=utcnow() - timedelta(days=2),
                         sale_ends_at=utcnow() - timedelta(days=1))
    upcoming = make_product(kind="coupon", stock=0, sale_starts_at=utcnow() + timedelta(days=1))
    assert_refused(lambda: redeem(user_id, ended), "兑换已结束")
    assert_refused(lambda: redeem(user_id, upcoming), "兑换尚未开始")
    assert_refused(lambda: redeem(user_id, make_product(kind="coupon", stock=0), 0), "每单可兑换", field="quantity")


def test_stock_restocked_after_the_redemption_read_it_is_taken_once(db, make_member, make_product, monkeypatch):
    """PostgreSQL reads committed rows: an operator's restock may commit after the redemption read the
    product sold out. The guarded update then finds stock and the order goes ahead - taking its units
    once, not again at the end."""
    from sqlalchemy.orm.attributes import set_committed_value

    user_id = make_member(points=5000)
    product_id = make_product(kind="coupon", stock=5)
    read = shop._product_to_redeem

    def read_before_the_restock(product_id):
        product = read(product_id)
        set_committed_value(product, "stock", 0)  # what it read before the restock committed
        return product
    monkeypatch.setattr(shop, "_product_to_redeem", read_before_the_restock)
    order = redeem(user_id, product_id)
    assert order.quantity == 1
    db.session.expire_all()
    product = db.session.get(Product, product_id)
    assert (product.stock, product.sold) == (4, 1)


def test_not_enough_points_names_both_numbers(db, make_member, make_product):
    user_id = make_member()
    product_id = make_product(kind="coupon", points_price=300)
    assert_refused(lambda: redeem(user_id, product_id, 2), "积分不足：需要 600 积分，你当前有 500 积分")


def test_goods_need_the_members_own_address(db, make_member, make_product, make_address):
    user_id, other = make_member(), make_member()
    foreign = make_address(other)
    deleted = make_address(user_id, is_deleted=True)
    product_id = make_product()
    assert_refused(lambda: redeem(user_id, product_id), "请选择收货地址", field="address_id")
    assert_refused(lambda: redeem(user_id, product_id, address_id=foreign), "收货地址不存在", field="address_id")
    assert_refused(lambda: redeem(user_id, product_id, address_id=deleted), "收货地址不存在", field="address_id")
    assert_refused(lambda: redeem(user_id, product_id, address_id=10**12), "收货地址不存在", field="address_id")


def test_staff_and_operators_cannot_redeem(db, make_account, make_product, make_merchant):
    staff = make_account("staff", merchant_id=make_merchant())
    product_id = make_product(kind="coupon")
    assert_refused(lambda: redeem(staff, product_id), "仅限会员账号")


def test_virtual_goods_hand_out_supplier_codes_until_the_pool_is_empty(db, make_member, make_product):
    user_id = make_member(points=5000)
    product_id = make_product(kind="virtual", stock=5, codes=["A-1", "A-2"])
    order = redeem(user_id, product_id, 2)
    assert order.status == "completed" and [c.code for c in order.codes] == ["A-1", "A-2"]
    assert_refused(lambda: redeem(user_id, product_id), "兑换码已发完")


def test_coupons_are_valid_thirty_days(db, make_member, make_product):
    user_id = make_member()
    product_id = make_product(kind="coupon", face_value_fen=1000, min_spend_fen=3000)
    now = utcnow()
    order = redeem(user_id, product_id, 2, now=now)
    coupons = db.session.execute(select(Coupon).where(Coupon.order_id == order.id)).scalars().all()
    assert len(coupons) == 2 and all(c.valid_until == now + timedelta(days=30) for c in coupons)
    assert len({c.code for c in coupons}) == 2


def test_vouchers_are_issued_per_unit_with_the_products_window(db, make_member, make_product, make_merchant):
    user_id = make_member(points=5000)
    now = utcnow()
    product_id = make_product(kind="voucher", merchant_id=make_merchant(), face_value_fen=20000,
                              valid_from=now + timedelta(days=1), valid_until=now + timedelta(days=60))
    order = redeem(user_id, product_id, 2, now=now)
    issued = db.session.execute(select(Voucher).where(Voucher.order_id == order.id)).scalars().all()
    assert [(v.valid_from, v.valid_until, v.value_fen) for v in issued] == \
        [(now + timedelta(days=1), now + timedelta(days=60), 20000)] * 2


def test_a_voucher_whose_use_window_is_over_is_not_sold(db, make_member, make_product, make_merchant):
    user_id = make_member()
    product_id = make_product(kind="voucher", merchant_id=make_merchant(), valid_until=utcnow() - timedelta(days=1))
    assert_refused(lambda: redeem(user_id, product_id), "该券的使用期已结束")


# The order lifecycle


@pytest.fixture()
def goods_order(db, make_member, make_product, make_address):
    user_id = make_member()
    product_id = make_product(points_price=200, stock=5)
    order = redeem(user_id, product_id, address_id=make_address(user_id))
    return user_id, product_id, order.id


def test_ship_then_confirm_receipt(db, goods_order, make_account):
    user_id, _product_id, order_id = goods_order
    operator = make_account("operator")
    order_admin.ship_order(order_id, "顺丰速运", " sf1234567890 ", operator)
    order = shop.get_order(order_id, user_id)
    assert (order.status, order.carrier, order.tracking_no) == ("shipped", "顺丰速运", "SF1234567890")
    notice = db.session.execute(select(Message).where(Message.user_id == user_id, Message.msgid == "order.shipped")).scalar_one()
    assert (notice.kind, notice.msgid, notice.params["no"]) == ("shipped", "order.shipped", "SF1234567890")
    assert db.session.execute(select(AuditLog.action)).scalar_one() == "order.ship"
    with pytest.raises(AlreadyDone):
        order_admin.ship_order(order_id, "顺丰速运", "SF1234567890", operator)
    assert_refused(lambda: shop.cancel_order(user_id, order_id), "该订单已发货，不能取消")
    assert shop.confirm_receipt(user_id, order_id).status == "completed"
    assert shop.confirm_receipt(user_id, order_id).status == "completed"  # twice is harmless


def test_shipping_is_for_operators_with_a_carrier_and_a_tracking_number(db, goods_order, make_account):
    _user_id, _product_id, order_id = goods_order
    operator = make_account("operator")
    with pytest.raises(Forbidden):
        order_admin.ship_order(order_id, "顺丰速运", "SF123456", make_account("staff"))
    for carrier, tracking, field in [("", "SF123456", "carrier"), ("顺丰", "12", "tracking_no"),
                                     ("顺丰", "SF 12<script>", "tracking_no")]:
        with pytest.raises(Exception) as caught:
            order_admin.ship_order(order_id, carrier, tracking, operator)
        assert caught.value.field == field
    with pytest.raises(NotFound):
        order_admin.ship_order(10**9, "顺丰", "SF123456", operator)
    db.session.expire_all()
    assert db.session.get(Order, order_id).status == "paid"


def test_cancel_an_unshipped_order_returns_points_and_stock_once(db, goods_order, make_account):
    user_id, product_id, order_id = goods_order
    assert balance_of(user_id) == 300 and stock_of(product_id) == 4
    order = shop.cancel_order(user_id, order_id)
    assert order.status == "cancelled" and order.refund_entry_id is not None
    shop.cancel_order(user_id, order_id)  # a second tap changes nothing
    assert balance_of(user_id) == 500 and stock_of(product_id) == 5
    assert ledger.reconcile() == []
    with pytest.raises(DomainError, match="订单已取消，不能发货"):
        order_admin.ship_order(order_id, "顺丰", "SF123456", make_account("operator"))


def test_confirming_an_unshipped_order_is_refused(db, goods_order):
    user_id, _product_id, order_id = goods_order
    assert_refused(lambda: shop.confirm_receipt(user_id, order_id), "订单尚未发货，不能确认收货")


def test_another_members_order_does_not_exist_for_them(db, goods_order, make_member):
    _user_id, _product_id, order_id = goods_order
    stranger = make_member()
    for call in (shop.get_order, shop.cancel_order, shop.confirm_receipt):
        with pytest.raises(NotFound):
            call(order_id, stranger)
    db.session.expire_all()
    assert db.session.get(Order, order_id).status == "paid"


def test_delivered_virtual_orders_cannot_be_cancelled(db, make_member, make_product):
    user_id = make_member()
    order = redeem(user_id, make_product(kind="virtual", stock=1, codes=["X-1"]))
    assert_refused(lambda: shop.cancel_order(user_id, order.id), "该订单已完成，不能取消")


def test_operator_refund_of_a_shipped_order_returns_points_not_stock(db, goods_order, make_account):
    user_id, product_id, order_id = goods_order
    operator = make_account("operator")
    order_admin.ship_order(order_id, "中通快递", "ZT10001", operator)
    with pytest.raises(Exception, match="退款原因"):
        order_admin.refund_order(order_id, operator, "  ")
    order = order_admin.refund_order(order_id, operator, "商品破损")
    assert order.status == "refunded" and balance_of(user_id) == 500 and stock_of(product_id) == 4
    assert ledger.reconcile() == []


def test_refund_voids_unused_vouchers_and_is_refused_once_one_is_used(db, make_member, make_product, make_merchant,
                                                                      make_account):
    from app.services import vouchers

    merchant_id = make_merchant()
    staff, operator = make_account("staff", merchant_id=merchant_id), make_account("operator")
    user_id = make_member(points=5000)
    product_id = make_product(kind="voucher", merchant_id=merchant_id, points_price=100)
    order = redeem(user_id, product_id, 2)
    first = redeem(user_id, product_id)
    vouchers.redeem_voucher(first.vouchers[0].code, staff)
    with pytest.raises(Exception, match="已被核销"):
        order_admin.refund_order(first.id, operator, "误兑")
    order_admin.refund_order(order.id, operator, "误兑")
    states = db.session.execute(select(Voucher.status).where(Voucher.order_id == order.id)).scalars().all()
    assert states == ["void", "void"] and stock_of(product_id) == 10 - 1


def test_a_prize_without_an_address_gets_one_before_shipping(db, make_member, make_product, make_address, make_account):
    user_id, product_id = make_member(), make_product()
    with write_transaction():
        order_id = fulfilment.grant_product(user_id, product_id, source="draw", ref="play:1").id
    operator = make_account("operator")
    with pytest.raises(Exception, match="尚未填写收货地址"):
        order_admin.ship_order(order_id, "顺丰", "SF123456", operator)
    foreign = make_address(make_member())
    assert_refused(lambda: shop.set_order_address(user_id, order_id, foreign), "收货地址不存在")
    shop.set_order_address(user_id, order_id, make_address(user_id, detail="新家 8 号"))
    assert order_admin.ship_order(order_id, "顺丰", "SF123456", operator).ship_address.endswith("新家 8 号")


def test_list_orders_pages_and_filters_by_tab(db, make_member, make_product):
    user_id = make_member(points=5000)
    product_id = make_product(kind="coupon", points_price=1, stock=30)
    ids = [redeem(user_id, product_id).id for _ in range(12)]
    rows, before = shop.list_orders(user_id)
    assert [o.id for o in rows] == ids[::-1][:10] and before == ids[2]
    rest, more = shop.list_orders(user_id, before_id=before)
    assert [o.id for o in rest] == ids[1::-1] and more is None
    assert shop.list_orders(user_id, "pending_payment")[0] == []
    assert len(shop.list_orders(user_id, "completed")[0]) == 10


def test_addresses_first_is_default_and_delete_is_the_owners(db, make_member):
    user_id, other = make_member(), make_member()
    first = addresses.add_address(user_id, name="甲", phone="13800000000", region="上海", detail="一号路 1 号")
    second = addresses.add_address(user_id, name="乙", phone="13800000001", region="上海", detail="二号路 2 号",
                              make_default=True)
    rows = addresses.list_addresses(user_id)
    assert [a.id for a in rows] == [second.id, first.id] and rows[0].is_default and not rows[1].is_default
    with pytest.raises(NotFound):
        addresses.delete_address(other, first.id)
    addresses.delete_address(user_id, first.id)
    assert [a.id for a in addresses.list_addresses(user_id)] == [second.id]
