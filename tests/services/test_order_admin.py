"""Operators' order actions: a refund's ledger effect and cash refund, cancel, bulk shipping, order numbers."""
import re
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.models import AuditLog, Message, Order, Payment, PointEntry, PointLot, Product
from app.services import ledger, order_admin, payments, shop
from app.services.clock import shanghai_today, utcnow
from app.services.errors import AlreadyDone, DomainError
from app.services.payments import SandboxProvider
from app.services.tx import write_transaction
from tests.concurrency import run_concurrently
from tests.conftest import balance_of
from tests.shop_factories import make_address, make_product, new_key, no_newbie_bonus  # noqa: F401

pytestmark = pytest.mark.usefixtures("no_newbie_bonus")


def redeem(user_id, product_id, quantity=1, **kwargs):
    return shop.redeem_product(user_id, product_id, quantity, new_key(), **kwargs)


def fresh(order_id):
    db.session.rollback()
    return db.session.get(Order, order_id)


def stock_of(product_id):
    db.session.rollback()
    return db.session.get(Product, product_id).stock


def lots_of(user_id):
    db.session.rollback()
    return db.session.execute(
        select(PointLot).where(PointLot.user_id == user_id).order_by(PointLot.id)).scalars().all()


@pytest.fixture()
def operator(make_account):
    return make_account("operator")


@pytest.fixture()
def paid_cash_order(db, make_member, make_product, make_address):
    """A member's goods order for 199 points + 39.00 yuan, paid through the sandbox."""
    user_id = make_member()
    product_id = make_product(points_price=199, cash_fen=3900, stock=3)
    order = redeem(user_id, product_id, address_id=make_address(user_id))
    payments.complete_payment(order.payment.out_trade_no, amount_fen=3900, provider_txn_id="SANDBOX-T1")
    return user_id, product_id, order.id


# ---- a refund's ledger effect ----------------------------------------------------------------

def test_a_refund_returns_points_to_the_lots_they_came_from_with_their_expiry(db, make_member, make_product,
                                                                              make_address, operator):
    user_id = make_member()                                   # the 500-point registration gift, 12 months
    now = utcnow()
    with write_transaction():
        soon = ledger.earn(user_id, 100, "adjust", expires_at=now + timedelta(days=10), growth=False, now=now)
    product_id = make_product(points_price=300, stock=5)
    order = redeem(user_id, product_id, address_id=make_address(user_id), now=now)
    assert balance_of(user_id) == 300 and stock_of(product_id) == 4
    gift_lot, soon_lot = [lot for lot in lots_of(user_id)]
    assert (gift_lot.remaining, soon_lot.remaining) == (300, 0)  # the soonest-expiring lot went first
    gift_expiry = gift_lot.expires_at

    later = now + timedelta(days=20)                          # the 10-day lot has expired meanwhile
    refunded = order_admin.refund_order(order.id, operator, "仓库缺货", now=later)

    assert refunded.status == "refunded" and balance_of(user_id) == 600 and stock_of(product_id) == 5
    spend = db.session.get(PointEntry, refunded.spend_entry_id)
    refund = db.session.get(PointEntry, refunded.refund_entry_id)
    assert (refund.kind, refund.amount, refund.refund_of_id, refund.balance_after) == ("refund", 300, spend.id, 600)
    lots = {lot.id: lot for lot in lots_of(user_id)}
    assert lots[gift_lot.id].remaining == 500 and lots[gift_lot.id].expires_at == gift_expiry
    assert lots[soon_lot.id].remaining == 0 and lots[soon_lot.id].expires_at == soon.created_at + timedelta(days=10)
    fresh_lot = [lot for lot in lots.values() if lot.entry_id == refund.id]
    assert [(lot.remaining, lot.expires_at) for lot in fresh_lot] == [(100, ledger.default_expiry(later))]
    assert ledger.reconcile() == []


def test_a_refund_has_a_reason_is_audited_and_the_member_is_told(db, paid_cash_order, operator):
    user_id, _product_id, order_id = paid_cash_order
    with pytest.raises(DomainError, match="请填写退款原因"):
        order_admin.refund_order(order_id, operator, "   ")
    order_admin.refund_order(order_id, operator, "商品破损")
    entry = db.session.execute(select(AuditLog).where(AuditLog.action == "order.refund")).scalar_one()
    assert entry.target == f"order:{order_id}" and entry.actor_id == operator
    assert (entry.detail["before"], entry.detail["after"]) == ({"status": "paid"}, {"status": "refunded"})
    assert entry.detail["reason"] == "商品破损" and entry.detail["refund_id"].startswith("SANDBOX-")
    notice = db.session.execute(select(Message).where(Message.msgid == "order.refunded")).scalar_one()
    assert notice.user_id == user_id and notice.params["order_no"] == fresh(order_id).order_no


def test_the_cash_part_goes_back_through_the_sandbox_at_once(db, paid_cash_order, operator):
    user_id, product_id, order_id = paid_cash_order
    assert balance_of(user_id) == 301 and stock_of(product_id) == 2
    later = utcnow() + timedelta(minutes=1)
    order_admin.refund_order(order_id, operator, "会员申请退款", now=later)
    payment = fresh(order_id).payment
    assert payment.status == "refunded" and payment.refunded_at == later
    assert payment.refund_id == f"SANDBOX-R{payment.out_trade_no}" and payment.refund_reason == "会员申请退款"
    assert balance_of(user_id) == 500 and stock_of(product_id) == 3
    assert ledger.reconcile() == []


def test_retrying_a_refund_is_one_refund(db, paid_cash_order, operator, monkeypatch):
    _user_id, _product_id, order_id = paid_cash_order
    calls = []
    real_refund = SandboxProvider.refund
    monkeypatch.setattr(SandboxProvider, "refund", lambda self, p, amount: calls.append(amount) or real_refund(self, p, amount))
    order_admin.refund_order(order_id, operator, "误兑")
    refund_id = fresh(order_id).payment.refund_id
    with pytest.raises(AlreadyDone):
        order_admin.refund_order(order_id, operator, "误兑")       # the double submit
    with pytest.raises(AlreadyDone):
        order_admin.refund_cash(order_id, operator, "误兑")
    assert payments.refund_payment(order_id, "误兑").refund_id == refund_id  # the after-sales path, again
    assert calls == [3900]
    assert db.session.execute(select(func.count()).where(PointEntry.kind == "refund")).scalar_one() == 1
    assert db.session.execute(select(func.count()).where(AuditLog.action == "order.refund")).scalar_one() == 1


def test_a_late_repeat_of_the_payment_notice_does_not_reopen_a_refunded_payment(db, paid_cash_order, operator):
    _user_id, _product_id, order_id = paid_cash_order
    order_admin.refund_order(order_id, operator, "误兑")
    payment = fresh(order_id).payment
    payments.complete_payment(payment.out_trade_no, amount_fen=3900, provider_txn_id="SANDBOX-T1")
    assert fresh(order_id).payment.status == "refunded"


def test_two_operators_refunding_at_once_refund_once(app, paid_cash_order, operator):
    user_id, _product_id, order_id = paid_cash_order
    db.session.remove()
    outcome = run_concurrently(app, lambda i: order_admin.refund_order(order_id, operator, f"退款 {i}").id, 4,
                               expected=(AlreadyDone,))
    assert outcome.errors == [] and len(outcome.results) == 1 and len(outcome.refusals) == 3
    assert balance_of(user_id) == 500
    assert db.session.execute(select(func.count()).where(PointEntry.kind == "refund")).scalar_one() == 1
    assert fresh(order_id).payment.status == "refunded"


def test_a_provider_refusal_changes_nothing(db, paid_cash_order, operator, monkeypatch):
    user_id, product_id, order_id = paid_cash_order

    def refuse(self, payment, amount):
        raise payments.PaymentUnavailable("退款通道暂不可用")
    monkeypatch.setattr(SandboxProvider, "refund", refuse)
    with pytest.raises(payments.PaymentUnavailable):
        order_admin.refund_order(order_id, operator, "误兑")
    order = fresh(order_id)
    assert (order.status, order.payment.status) == ("paid", "succeeded")
    assert balance_of(user_id) == 301 and stock_of(product_id) == 2


def test_cash_that_arrived_after_a_timeout_is_returned_by_the_operator(db, make_member, make_product,
                                                                       make_address, operator):
    from app.services import order_jobs

    user_id = make_member()
    product_id = make_product(points_price=100, cash_fen=500, stock=3)
    order = redeem(user_id, product_id, address_id=make_address(user_id))
    order_jobs.cancel_unpaid_orders(now=utcnow() + timedelta(hours=1))
    payments.complete_payment(order.payment.out_trade_no, amount_fen=500, provider_txn_id="LATE")
    assert fresh(order.id).payment.status == "refund_due"
    with pytest.raises(DomainError, match="请填写退款原因"):
        order_admin.refund_cash(order.id, operator, "")
    payment = order_admin.refund_cash(order.id, operator, "超时后到账")
    assert payment.status == "refunded" and payment.refund_id
    with pytest.raises(AlreadyDone):
        order_admin.refund_cash(order.id, operator, "超时后到账")


def test_payments_not_due_a_refund_are_refused(db, make_member, make_product, make_address):
    user_id = make_member()
    order = redeem(user_id, make_product(points_price=100, cash_fen=500), address_id=make_address(user_id))
    with pytest.raises(DomainError, match="该支付无需退款"):
        payments.refund_payment(order.id, "x")                   # still pending
    with pytest.raises(DomainError, match="没有现金支付"):
        payments.refund_payment(redeem(user_id, make_product(kind="coupon", points_price=1)).id, "x")


# ---- cancel ------------------------------------------------------------------------------------

def test_an_operator_cancels_an_unpaid_order(db, make_member, make_product, make_address, operator):
    user_id = make_member()
    product_id = make_product(points_price=100, cash_fen=500, stock=3)
    order = redeem(user_id, product_id, address_id=make_address(user_id))
    with pytest.raises(DomainError, match="请填写取消原因"):
        order_admin.cancel_order(order.id, operator, "")
    order_admin.cancel_order(order.id, operator, "商品下架")
    order = fresh(order.id)
    assert (order.status, order.cancel_reason, order.payment.status) == ("cancelled", "商品下架", "failed")
    assert balance_of(user_id) == 500 and stock_of(product_id) == 3
    with pytest.raises(AlreadyDone):
        order_admin.cancel_order(order.id, operator, "商品下架")
    notice = db.session.execute(select(Message).where(Message.user_id == user_id)).scalar_one()
    assert notice.msgid == "order.cancelled" and notice.params["reason"] == "商品下架"
    assert db.session.execute(select(AuditLog.action)).scalars().all() == ["order.cancel"]


def test_cancelling_a_paid_unshipped_order_returns_the_cash_too(db, paid_cash_order, operator):
    user_id, product_id, order_id = paid_cash_order
    order_admin.cancel_order(order_id, operator, "无法发货")
    order = fresh(order_id)
    assert (order.status, order.payment.status) == ("cancelled", "refunded")
    assert balance_of(user_id) == 500 and stock_of(product_id) == 3


def test_a_shipped_order_cannot_be_cancelled_only_refunded(db, paid_cash_order, operator):
    _user_id, product_id, order_id = paid_cash_order
    order_admin.ship_order(order_id, "顺丰速运", "SF1000001", operator)
    with pytest.raises(DomainError, match="订单已发货，不能取消"):
        order_admin.cancel_order(order_id, operator, "晚了")
    order_admin.refund_order(order_id, operator, "退货")
    assert stock_of(product_id) == 2  # the goods left the warehouse: no stock back


# ---- shipping ---------------------------------------------------------------------------------

def test_shipping_is_audited_with_before_and_after_and_the_message_names_the_order(db, paid_cash_order, operator):
    user_id, _product_id, order_id = paid_cash_order
    order_admin.ship_order(order_id, "顺丰速运", "sf1000001", operator)
    entry = db.session.execute(select(AuditLog)).scalar_one()
    assert entry.detail["before"] == {"status": "paid", "carrier": None, "tracking_no": None}
    assert entry.detail["after"] == {"status": "shipped", "carrier": "顺丰速运", "tracking_no": "SF1000001"}
    from app.services import messages
    shown, _more = messages.message_page(user_id)
    assert fresh(order_id).order_no in shown[0].body and "SF1000001" in shown[0].body


# ---- bulk shipping ----------------------------------------------------------------------------

@pytest.fixture()
def shipping_world(db, make_member, make_product, make_address):
    """Three paid goods orders, a coupon order and a cancelled goods order."""
    user_id = make_member(points=5000)
    goods = make_product(points_price=10, stock=20)
    address = make_address(user_id)
    paid = [redeem(user_id, goods, address_id=address).order_no for _ in range(3)]
    coupon = redeem(user_id, make_product(kind="coupon", points_price=10)).order_no
    cancelled = redeem(user_id, goods, address_id=address)
    shop.cancel_order(user_id, cancelled.id)
    return {"user": user_id, "paid": paid, "coupon": coupon, "cancelled": cancelled.order_no}


def _csv(rows, header="订单号,快递公司,快递单号"):
    return "\r\n".join([header, *rows]) + "\r\n"


def _shipped_count():
    db.session.rollback()
    return db.session.execute(select(func.count()).where(Order.status == "shipped")).scalar_one()


def test_a_file_with_errors_ships_nothing_and_reports_each_row(shipping_world, operator):
    w = shipping_world
    text = _csv([f"{w['paid'][0]},顺丰速运,SF2000001", "20990101999999,顺丰速运,SF2000002",
                 f"{w['coupon']},顺丰速运,SF2000003", f"{w['cancelled']},顺丰速运,SF2000004",
                 f"{w['paid'][1]},顺丰速运,", f"{w['paid'][0]},中通快递,ZT2000005", ",顺丰速运,SF2000006"])
    report = order_admin.bulk_ship(text.encode("utf-8"), operator)
    assert not report.applied and report.shipped == 0 and _shipped_count() == 0
    assert [(row.line, row.state, row.message) for row in report.rows] == [
        (2, "ok", ""), (3, "error", "订单不存在"), (4, "error", "只有实物订单需要发货"),
        (5, "error", "订单已取消，不能发货"), (6, "error", "请填写快递单号"),
        (7, "error", "订单号在文件中重复（第 2 行）"), (8, "error", "缺少订单号"),
    ]
    assert db.session.execute(select(func.count(Message.id)).where(Message.msgid == "order.shipped")).scalar_one() == 0

    chosen = order_admin.bulk_ship(text.encode("utf-8"), operator, ship_valid=True)
    assert chosen.applied and chosen.shipped == 1 and _shipped_count() == 1
    order = db.session.execute(select(Order).where(Order.order_no == w["paid"][0])).scalar_one()
    assert (order.carrier, order.tracking_no) == ("顺丰速运", "SF2000001")
    audit = db.session.execute(select(AuditLog)).scalar_one()
    assert audit.action == "order.ship" and audit.detail["bulk"] is True


def test_a_gb18030_file_from_excel_ships_and_a_second_upload_ships_nothing_again(shipping_world, operator):
    w = shipping_world
    text = _csv([f"{no},顺丰速运,SF30000{i}" for i, no in enumerate(w["paid"])])
    report = order_admin.bulk_ship(text.encode("gb18030"), operator)
    assert report.applied and report.shipped == 3 and _shipped_count() == 3
    again = order_admin.bulk_ship(text.encode("gb18030"), operator)
    assert again.shipped == 0 and [row.state for row in again.rows] == ["skipped"] * 3
    assert db.session.execute(select(func.count(Message.id)).where(Message.msgid == "order.shipped")).scalar_one() == 3


def test_utf8_with_a_bom_and_english_headers_is_read(shipping_world, operator):
    w = shipping_world
    text = _csv([f"{w['paid'][2]},YTO,YT4000001"], header="order_no,carrier,tracking_no")
    report = order_admin.bulk_ship(b"\xef\xbb\xbf" + text.encode("utf-8"), operator)
    assert report.shipped == 1


@pytest.mark.parametrize("data, message", [
    ("订单号,快递单号\r\n1,SF1\r\n".encode(), "文件缺少列：快递公司"),
    (b"", "文件是空的"),
    ("订单号,快递公司,快递单号\r\n".encode(), "文件中没有要发货的订单"),
    (b"\x80\xff\xfe", "无法识别文件编码"),
])
def test_a_file_that_cannot_be_read_is_refused_at_the_file_field(db, operator, data, message):
    with pytest.raises(DomainError) as caught:
        order_admin.bulk_ship(data, operator)
    assert message in caught.value.message and caught.value.field == "file"


# ---- order numbers ----------------------------------------------------------------------------

def test_orders_get_unique_numbers_of_the_shanghai_date_and_id_under_concurrency(app, make_member, make_product):
    members = [make_member() for _ in range(8)]
    product_id = make_product(kind="coupon", points_price=10, stock=100)
    outcome = run_concurrently(app, lambda i: redeem(members[i], product_id).id, 8)
    assert outcome.errors == []
    with app.app_context():
        rows = db.session.execute(select(Order.id, Order.order_no, Order.created_at)).all()
        today = shanghai_today(rows[0].created_at).strftime("%Y%m%d")
        db.session.remove()
    assert len(rows) == 8 and len({no for _id, no, _at in rows}) == 8
    for order_id, number, _at in rows:
        assert re.fullmatch(r"\d{14,}", number) and number == f"{today}{order_id:06d}"


def test_prizes_get_numbers_too(db, make_member, make_product):
    from app.services import fulfilment

    user_id, product_id = make_member(), make_product()
    with write_transaction():
        order = fulfilment.grant_product(user_id, product_id, source="draw", ref="play:9")
    assert fresh(order.id).order_no == f"{shanghai_today(order.created_at):%Y%m%d}{order.id:06d}"
    assert db.session.execute(select(func.count()).where(Payment.id > 0)).scalar_one() == 0
