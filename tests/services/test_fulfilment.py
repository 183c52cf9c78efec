"""grant_product: a prize order inside the caller's transaction, as a redemption delivers it."""
import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import Coupon, Order, Product, Voucher
from app.services import fulfilment, vouchers
from app.services.errors import DomainError, NotFound
from app.services.tx import write_transaction
from tests.conftest import balance_of
from tests.shop_factories import make_address, make_merchant, make_product  # noqa: F401


def test_grant_needs_the_callers_transaction(db, make_member, make_product):
    user_id, product_id = make_member(), make_product()
    with pytest.raises(RuntimeError):
        fulfilment.grant_product(user_id, product_id, source="draw", ref="draw-play:1")


def test_grant_of_goods_is_a_zero_point_order_to_the_default_address(db, make_member, make_product, make_address):
    user_id = make_member()
    make_address(user_id, detail="旧地址")
    make_address(user_id, detail="默认地址", is_default=True)
    product_id = make_product(stock=2, points_price=900)
    with write_transaction():
        order = fulfilment.grant_product(user_id, product_id, source="draw", ref="draw-play:7")
    assert (order.status, order.points_total, order.source) == ("paid", 0, "draw")
    assert "默认地址" in order.ship_address
    assert db.session.get(Product, product_id).stock == 1
    assert balance_of(user_id) == 500


def test_grant_issues_coupons_vouchers_and_codes(db, make_member, make_product, make_merchant):
    user_id = make_member()
    coupon = make_product(kind="coupon", face_value_fen=1000, valid_days=30)
    voucher = make_product(kind="voucher", merchant_id=make_merchant(), face_value_fen=20000)
    virtual = make_product(kind="virtual", codes=["CODE-1", "CODE-2"])
    with write_transaction():
        fulfilment.grant_product(user_id, coupon, source="draw", ref="p1")
        fulfilment.grant_product(user_id, voucher, source="draw", ref="p2")
        order = fulfilment.grant_product(user_id, virtual, source="treasure", ref="round:1")
    assert [c.code for c in order.codes] == ["CODE-1"]
    assert db.session.execute(select(Coupon)).scalar_one().status == "active"
    issued = db.session.execute(select(Voucher)).scalar_one()
    assert vouchers.signature_ok(issued.code)
    assert db.session.execute(select(Order.status)).scalars().all() == ["completed"] * 3


def test_grant_out_of_stock_raises_a_domain_error_and_a_savepoint_keeps_the_rest(db, make_member, make_product):
    user_id = make_member()
    product_id = make_product(stock=0)
    with write_transaction() as session:
        with pytest.raises(DomainError, match="兑完"):
            with session.begin_nested():
                fulfilment.grant_product(user_id, product_id, source="draw", ref="x")
    assert db.session.execute(select(Order)).first() is None


def test_grant_of_a_missing_product_is_not_found(db, make_member):
    user_id = make_member()
    with write_transaction():
        with pytest.raises(NotFound):
            fulfilment.grant_product(user_id, 999, source="draw", ref="x")


def test_a_play_grants_once(db, make_member, make_product):
    from sqlalchemy.exc import IntegrityError

    user_id, product_id = make_member(), make_product()
    with write_transaction():
        fulfilment.grant_product(user_id, product_id, source="draw", ref="draw-play:1")
    with pytest.raises(IntegrityError):
        with write_transaction():
            fulfilment.grant_product(user_id, product_id, source="draw", ref="draw-play:1")
    assert db.session.get(Product, product_id).stock == 9
