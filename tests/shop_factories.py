"""Factories for the shop's tests: products, merchants, staff, addresses."""
import pytest

from app.extensions import db
from app.models import Address, Merchant, Product, VirtualCode
from app.services.tx import write_transaction


@pytest.fixture()
def make_product(app):
    """A product on the shelf (points only, stock 10, physical) unless told otherwise."""

    def make(codes=None, **columns):
        values = {"name": "测试商品", "kind": "physical", "points_price": 100, "stock": 10}
        values.update(columns)
        with app.app_context():
            with write_transaction() as session:
                product = Product(**values)
                session.add(product)
                session.flush()
                for code in codes or ():
                    session.add(VirtualCode(product_id=product.id, code=code))
                product_id = product.id
            db.session.remove()
        return product_id

    return make


@pytest.fixture()
def make_merchant(app):
    def make(name="老街面馆"):
        with app.app_context():
            with write_transaction() as session:
                merchant = Merchant(name=name)
                session.add(merchant)
                session.flush()
                merchant_id = merchant.id
            db.session.remove()
        return merchant_id

    return make


@pytest.fixture()
def make_address(app):
    def make(user_id, **columns):
        values = {"name": "张三", "phone": "13812345678", "region": "上海市 黄浦区", "detail": "南京东路 100 号"}
        values.update(columns)
        with app.app_context():
            with write_transaction() as session:
                address = Address(user_id=user_id, **values)
                session.add(address)
                session.flush()
                address_id = address.id
            db.session.remove()
        return address_id

    return make


@pytest.fixture()
def no_newbie_bonus(app):
    """Switch off the newbie tasks, so a first redemption's reward does not blur the sums."""
    from app.services.settings import put_setting

    with app.app_context():
        with write_transaction():
            put_setting("earn.newbie", {"enabled": False})
        db.session.remove()


def new_key():
    import uuid

    return uuid.uuid4().hex
