"""After-sales (售后): a delivered goods order's return, exchange or refund only, from the
member's request through the operator's steps, with the refund through the ledger."""
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.models import AfterSale, AuditLog, Message, Order, Payment, PointEntry, PointLot, Product
from app.services import aftersales, ledger
from app.services.aftersales import AfterSaleRefused
from app.services.clock import utcnow
from app.services.errors import AlreadyDone, DomainError, Forbidden, NotFound
from app.services.settings import DEFAULTS, put_setting
from app.services.tx import write_transaction
from tests.aftersale_factories import delivered_order, jpeg_bytes
from tests.concurrency import run_concurrently
from tests.conftest import balance_of
from tests.shop_factories import make_product, no_newbie_bonus  # noqa: F401  (fixtures)

pytestmark = pytest.mark.usefixtures("no_newbie_bonus")


@pytest.fixture()
def operator(make_account):
    return make_account("operator")


@pytest.fixture()
def goods(make_product):
    return make_product(name="蓝牙耳机", points_price=300, stock=10)


def messages_of(user_id):
    return db.session.execute(
        select(Message.msgid).where(Message.user_id == user_id).order_by(Message.id)).scalars().all()


def audits(action):
    return db.session.execute(select(AuditLog).where(AuditLog.action == action)).scalars().all()


def fresh(model, row_id):
    db.session.expire_all()
    return db.session.get(model, row_id)


def test_a_return_goes_from_request_to_refund_with_restock(app, db, make_member, goods, operator):
    member = make_member(points=1000)
    order_id = delivered_order(app, member, goods, operator)
    assert balance_of(member) == 1500 - 300  # 500 registration gift + 1000, less the order
    assert fresh(Product, goods).stock == 9

    request = aftersales.request_aftersale(member, order_id, "return", "耳机左侧没有声音", [jpeg_bytes()])
    assert request.status == "requested" and len(request.photos) == 1
    assert (app.config["UPLOAD_DIR"] + "/" + request.photos[0]).endswith(".jpg")

    aftersales.approve(request.id, operator, "请寄回 上海市黄浦区南京东路100号 售后部")
    assert fresh(AfterSale, request.id).status == "approved"
    aftersales.mark_received(request.id, operator)
    assert fresh(AfterSale, request.id).status == "received"
    aftersales.complete(request.id, operator, restock=True)

    done = fresh(AfterSale, request.id)
    assert done.status == "completed"
    assert (done.refund_points, done.refund_cash_fen, done.restocked) == (300, 0, True)
    assert done.created_at <= done.approved_at <= done.received_at <= done.completed_at
    order = fresh(Order, order_id)
    assert order.status == "refunded" and order.refund_entry_id == done.refund_entry_id
    refund = db.session.get(PointEntry, done.refund_entry_id)
    assert (refund.kind, refund.amount, refund.refund_of_id) == ("refund", 300, order.spend_entry_id)
    assert balance_of(member) == 1500
    assert ledger.reconcile() == []
    assert fresh(Product, goods).stock == 10
    assert messages_of(member)[-4:] == ["aftersale.requested", "aftersale.approved", "aftersale.received",
                                        "aftersale.refunded"]
    for action, before, after in (("aftersale.approve", "requested", "approved"),
                                  ("aftersale.receive", "approved", "received"),
                                  ("aftersale.complete", "received", "completed")):
        (row,) = audits(action)
        assert row.actor_id == operator and row.target == f"aftersale:{request.id}"
        assert (row.detail["before"]["status"], row.detail["after"]["status"]) == (before, after)


def test_without_restock_the_units_stay_out_of_stock(app, db, make_member, goods, operator):
    member = make_member()
    order_id = delivered_order(app, member, goods, operator)
    request = aftersales.request_aftersale(member, order_id, "return", "不想要了")
    aftersales.approve(request.id, operator, "寄回仓库")
    aftersales.mark_received(request.id, operator)
    aftersales.complete(request.id, operator, restock=False)
    assert fresh(Product, goods).stock == 9
    assert fresh(AfterSale, request.id).restocked is False
    assert balance_of(member) == 500


def test_a_rejected_request_refunds_nothing_and_tells_the_member_why(app, db, make_member, goods, operator):
    member = make_member()
    order_id = delivered_order(app, member, goods, operator)
    request = aftersales.request_aftersale(member, order_id, "refund", "不喜欢")
    with pytest.raises(AfterSaleRefused) as refused:
        aftersales.reject(request.id, operator, "   ")
    assert refused.value.field == "reason"
    aftersales.reject(request.id, operator, "商品无质量问题，不支持仅退款")

    rejected = fresh(AfterSale, request.id)
    assert (rejected.status, rejected.reject_reason) == ("rejected", "商品无质量问题，不支持仅退款")
    assert fresh(Order, order_id).status == "completed"
    assert balance_of(member) == 200
    assert messages_of(member)[-1] == "aftersale.rejected"
    (row,) = audits("aftersale.reject")
    assert row.detail["after"]["reject_reason"] == "商品无质量问题，不支持仅退款"
    with pytest.raises(DomainError):
        aftersales.complete(request.id, operator)
    # The request is closed: the member may ask again within the window.
    again = aftersales.request_aftersale(member, order_id, "return", "确实有质量问题，附照片")
    assert again.id != request.id and again.status == "requested"


def test_a_refund_only_can_be_approved_straight_to_refund_with_the_cash_part_due(app, db, make_member,
                                                                                 make_product, operator):
    member = make_member()
    product = make_product(name="保温杯", points_price=199, cash_fen=3900, stock=5)
    order_id = delivered_order(app, member, product, operator)
    request = aftersales.request_aftersale(member, order_id, "refund", "少发了配件")
    with pytest.raises(AfterSaleRefused):
        aftersales.mark_received(request.id, operator)  # nothing comes back for a refund only
    aftersales.complete(request.id, operator)

    done = fresh(AfterSale, request.id)
    assert (done.status, done.refund_points, done.refund_cash_fen) == ("completed", 199, 3900)
    assert done.approved_at == done.completed_at
    payment = db.session.execute(select(Payment).where(Payment.order_id == order_id)).scalar_one()
    assert payment.status == "refunded" and payment.refund_id  # the provider returned the cash; never points
    assert balance_of(member) == 500
    assert fresh(Order, order_id).status == "refunded"


def test_an_exchange_ships_a_replacement_and_refunds_nothing(app, db, make_member, goods, operator):
    member = make_member()
    order_id = delivered_order(app, member, goods, operator)
    request = aftersales.request_aftersale(member, order_id, "exchange", "尺码不对")
    aftersales.approve(request.id, operator, "寄回仓库，注明订单号")
    with pytest.raises(AfterSaleRefused):
        aftersales.complete(request.id, operator, carrier="顺丰", tracking_no="SF999888")  # not received yet
    aftersales.mark_received(request.id, operator)
    with pytest.raises(DomainError) as refused:
        aftersales.complete(request.id, operator, carrier="顺丰", tracking_no="??")
    assert refused.value.field == "tracking_no"
    aftersales.complete(request.id, operator, carrier="顺丰", tracking_no="sf999888")
    done = fresh(AfterSale, request.id)
    assert (done.status, done.exchange_carrier, done.exchange_tracking_no) == ("completed", "顺丰", "SF999888")
    assert fresh(Order, order_id).status == "completed"
    assert balance_of(member) == 200
    assert messages_of(member)[-1] == "aftersale.exchanged"


def test_approving_a_return_needs_the_return_instructions(app, db, make_member, goods, operator):
    member = make_member()
    request = aftersales.request_aftersale(member, delivered_order(app, member, goods, operator), "return", "坏了")
    with pytest.raises(AfterSaleRefused) as refused:
        aftersales.approve(request.id, operator, "")
    assert refused.value.field == "instructions"
    aftersales.approve(request.id, operator, "寄回仓库")
    with pytest.raises(AlreadyDone):
        aftersales.approve(request.id, operator, "寄回仓库")
    assert len(audits("aftersale.approve")) == 1


def test_only_operators_act_on_requests(app, db, make_member, goods, operator):
    member = make_member()
    request = aftersales.request_aftersale(member, delivered_order(app, member, goods, operator), "refund", "坏了")
    with pytest.raises(Forbidden):
        aftersales.complete(request.id, member)
    assert fresh(AfterSale, request.id).status == "requested"


def test_the_member_may_withdraw_a_request_under_review_only(app, db, make_member, goods, operator):
    member, other = make_member(), make_member()
    order_id = delivered_order(app, member, goods, operator)
    request = aftersales.request_aftersale(member, order_id, "return", "坏了")
    with pytest.raises(NotFound):
        aftersales.cancel_aftersale(other, order_id)
    aftersales.cancel_aftersale(member, order_id)
    aftersales.cancel_aftersale(member, order_id)  # a second tap changes nothing
    assert fresh(AfterSale, request.id).status == "cancelled"
    second = aftersales.request_aftersale(member, order_id, "return", "坏了")
    aftersales.approve(second.id, operator, "寄回")
    with pytest.raises(AfterSaleRefused):
        aftersales.cancel_aftersale(member, order_id)


@pytest.mark.parametrize("status_kind", ["unshipped", "shipped", "coupon"])
def test_only_delivered_goods_orders_qualify(app, db, make_member, make_product, operator, status_kind):
    from app.services import order_admin, shop
    from tests.shop_factories import new_key

    member = make_member()
    if status_kind == "coupon":
        order = shop.redeem_product(member, make_product(kind="coupon"), 1, new_key())
    else:
        from app.models import Address
        with write_transaction() as session:
            address = Address(user_id=member, name="张三", phone="13812345678", region="上海", detail="南京东路 1 号")
            session.add(address)
        order = shop.redeem_product(member, make_product(), 1, new_key(), address_id=address.id)
        if status_kind == "shipped":
            order_admin.ship_order(order.id, "顺丰", "SF12345", operator)
    with pytest.raises(AfterSaleRefused) as refused:
        aftersales.request_aftersale(member, order.id, "return", "坏了")
    assert "只有已完成的实物订单" in str(refused.value.message)


def test_another_members_order_does_not_exist_for_them(app, db, make_member, goods, operator):
    member, other = make_member(), make_member()
    order_id = delivered_order(app, member, goods, operator)
    with pytest.raises(NotFound):
        aftersales.request_aftersale(other, order_id, "return", "坏了")


def test_the_window_is_seven_days_from_delivery_by_default(app, db, make_member, goods, operator):
    member = make_member(points=1000)
    order_id = delivered_order(app, member, goods, operator, received_at=utcnow() - timedelta(days=8))
    with pytest.raises(AfterSaleRefused) as refused:
        aftersales.request_aftersale(member, order_id, "return", "坏了")
    assert "7 天" in str(refused.value.message)
    recent = delivered_order(app, member, goods, operator, received_at=utcnow() - timedelta(days=6))
    assert aftersales.request_aftersale(member, recent, "return", "坏了").status == "requested"


def test_a_higher_level_gets_a_longer_window(app, db, make_member, goods, operator):
    gold = make_member(points=1000, growth=10000)  # 金卡: 15 days by default
    order_id = delivered_order(app, gold, goods, operator, received_at=utcnow() - timedelta(days=12))
    assert aftersales.window_days(10000) == 15
    assert aftersales.request_aftersale(gold, order_id, "return", "坏了").status == "requested"
    late = delivered_order(app, gold, goods, operator, received_at=utcnow() - timedelta(days=16))
    with pytest.raises(AfterSaleRefused):
        aftersales.request_aftersale(gold, late, "return", "坏了")


def test_levels_stored_without_the_perk_fall_back_to_seven_days(app, db):
    with write_transaction():
        put_setting("levels", [{k: v for k, v in row.items() if k != "aftersale_days"} for row in DEFAULTS["levels"]])
    assert aftersales.window_days(0) == aftersales.window_days(20000) == 7


def test_a_double_submit_is_one_request(app, db, make_member, goods, operator):
    member = make_member()
    order_id = delivered_order(app, member, goods, operator)
    first = aftersales.request_aftersale(member, order_id, "return", "坏了")
    second = aftersales.request_aftersale(member, order_id, "exchange", "换一个")
    assert second.id == first.id
    assert db.session.execute(select(func.count(AfterSale.id))).scalar_one() == 1
    assert messages_of(member).count("aftersale.requested") == 1


def test_concurrent_submits_make_one_open_request(app, make_member, goods, operator):
    member = make_member()
    order_id = delivered_order(app, member, goods, operator)

    def work(_i):
        return aftersales.request_aftersale(member, order_id, "return", "坏了", [jpeg_bytes()]).id

    outcome = run_concurrently(app, work, 8)
    assert outcome.errors == []
    assert len(set(outcome.results)) == 1 and len(outcome.results) == 8
    with app.app_context():
        rows = db.session.execute(select(AfterSale)).unique().scalars().all()
        assert len(rows) == 1 and len(rows[0].photos) == 1
        # The losers' photos were not left behind.
        stored = list((__import__("pathlib").Path(app.config["UPLOAD_DIR"]) / "aftersales").glob("*.jpg"))
        assert rows[0].photos[0].split("/")[-1] in {p.name for p in stored}
        assert len([p for p in stored if p.name == rows[0].photos[0].split("/")[-1]]) == 1
        db.session.remove()


def test_the_database_refuses_a_second_open_request(app, db, make_member, goods, operator):
    member = make_member()
    order_id = delivered_order(app, member, goods, operator)
    aftersales.request_aftersale(member, order_id, "return", "坏了")
    from sqlalchemy.exc import IntegrityError
    with pytest.raises(IntegrityError):
        with write_transaction() as session:
            session.add(AfterSale(order_id=order_id, user_id=member, kind="refund", reason="x", photos=[]))
            session.flush()


@pytest.mark.parametrize("photos, message", [
    ([b"just some text, not a picture"], "无法识别的图片文件"),
    ([jpeg_bytes()] * 4, "最多上传3张照片"),
    ([b"\xff" * (5 * 1024 * 1024 + 1)], "每张照片不能超过5MB"),
])
def test_photos_must_be_at_most_three_real_images(app, db, make_member, goods, operator, photos, message):
    member = make_member()
    order_id = delivered_order(app, member, goods, operator)
    with pytest.raises(AfterSaleRefused) as refused:
        aftersales.request_aftersale(member, order_id, "return", "坏了", photos)
    assert refused.value.field == "photos" and message in str(refused.value.message)
    assert db.session.execute(select(func.count(AfterSale.id))).scalar_one() == 0


def test_photos_are_resized(app, db, make_member, goods, operator):
    member = make_member()
    order_id = delivered_order(app, member, goods, operator)
    request = aftersales.request_aftersale(member, order_id, "return", "坏了", [jpeg_bytes((3000, 2000))])
    from PIL import Image
    with Image.open(f"{app.config['UPLOAD_DIR']}/{request.photos[0]}") as image:
        assert max(image.size) == aftersales.PHOTO_SIDE


def test_a_refund_returns_points_to_fresh_lots_when_the_originals_expired(app, db, make_member, goods, operator):
    member = make_member()
    soon = utcnow() + timedelta(days=2)
    with write_transaction():
        ledger.earn(member, 300, "adjust", key="short-lived", expires_at=soon, growth=False)
    order_id = delivered_order(app, member, goods, operator)
    order = db.session.get(Order, order_id)
    spent_from = db.session.execute(select(PointLot).where(PointLot.expires_at == soon)).scalar_one()
    assert spent_from.remaining == 0  # the order drew on the lot that expires first
    request = aftersales.request_aftersale(member, order_id, "refund", "坏了")
    later = utcnow() + timedelta(days=5)
    aftersales.complete(request.id, operator, now=later)

    refund = db.session.get(PointEntry, fresh(AfterSale, request.id).refund_entry_id)
    assert refund.amount == 300 and refund.refund_of_id == order.spend_entry_id
    (new_lot,) = db.session.execute(select(PointLot).where(PointLot.entry_id == refund.id)).scalars().all()
    assert (new_lot.amount, new_lot.remaining) == (300, 300)
    assert new_lot.expires_at > later + timedelta(days=300)
    assert fresh(PointLot, spent_from.id).remaining == 0
    assert ledger.reconcile() == []
