"""Factories for after-sales tests: a goods order that was redeemed, shipped and received."""
import io
import uuid

from PIL import Image

from app.extensions import db
from app.models import Address
from app.services import order_admin, payments, shop
from app.services.tx import write_transaction


def delivered_order(app, member_id, product_id, operator_id, *, quantity=1, received_at=None, now=None):
    """Redeem `product_id` for the member, ship it as the operator and confirm receipt (at
    `received_at`, default now). A cash part is paid through the sandbox. Returns the order id."""
    with app.app_context():
        with write_transaction() as session:
            address = Address(user_id=member_id, name="张三", phone="13812345678", region="上海市 黄浦区",
                              detail="南京东路 100 号")
            session.add(address)
            session.flush()
            address_id = address.id
        order = shop.redeem_product(member_id, product_id, quantity, uuid.uuid4().hex, address_id=address_id, now=now)
        if order.status == "pending_payment":
            payments.sandbox_pay(member_id, order.id, True, now=now)
        order_admin.ship_order(order.id, "顺丰速运", "SF1234567890", operator_id, now=now)
        shop.confirm_receipt(member_id, order.id, now=received_at or now)
        order_id = order.id
        db.session.remove()
    return order_id


def jpeg_bytes(size=(64, 48), colour=(200, 60, 40)):
    """A small real JPEG."""
    out = io.BytesIO()
    Image.new("RGB", size, colour).save(out, "JPEG")
    return out.getvalue()


def aftersale_row(app, user_id, order_id, status="requested"):
    """An after-sales request stored as it is (no rules checked), for tests that only need one to exist."""
    from app.models import AfterSale

    with app.app_context():
        with write_transaction() as session:
            row = AfterSale(order_id=order_id, user_id=user_id, kind="return", reason="坏了", photos=[], status=status)
            session.add(row)
            session.flush()
            row_id = row.id
        db.session.remove()
    return row_id
