"""Shipped orders complete themselves: `flask orders auto-complete` confirms receipt of orders
shipped `shop.rules.auto_complete_days` (10) days ago that the member never confirmed."""
from datetime import timedelta

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import Message, Order
from app.services import order_admin, order_jobs, shop
from app.services.clock import utcnow
from app.services.settings import put_setting
from app.services.tx import write_transaction
from tests.concurrency import run_concurrently
from tests.shop_factories import make_address, make_product, new_key, no_newbie_bonus  # noqa: F401

pytestmark = pytest.mark.usefixtures("no_newbie_bonus")


@pytest.fixture()
def shipped(app, make_member, make_product, make_address, make_account):
    """Ship physical orders at the given moments; returns {label: (member, order id)}."""
    operator = make_account("operator")

    def make(**shipped_at):
        made = {}
        for label, when in shipped_at.items():
            member = make_member(points=500)
            with app.app_context():
                order = shop.redeem_product(member, make_product(points_price=100), 1, new_key(),
                                            address_id=make_address(member))
                order_admin.ship_order(order.id, "顺丰", f"SF{order.id:08d}", operator, now=when)
                made[label] = (member, order.id)
                db.session.remove()
        return made

    return make


def _order(order_id):
    db.session.rollback()
    return db.session.get(Order, order_id)


def _messages(user_id):
    db.session.rollback()
    return db.session.execute(select(Message).where(Message.user_id == user_id,
                                                    Message.msgid == "order.auto_completed")).scalars().all()


def test_orders_shipped_ten_days_ago_are_completed_once_and_the_member_is_told(app, db, shipped):
    now = utcnow()
    orders = shipped(old=now - timedelta(days=10, minutes=1), recent=now - timedelta(days=9, hours=23))
    assert order_jobs.complete_shipped_orders(now=now) == 1
    member, order_id = orders["old"]
    order = _order(order_id)
    assert order.status == "completed" and order.completed_at is not None
    assert _order(orders["recent"][1]).status == "shipped"
    assert len(_messages(member)) == 1 and _messages(member)[0].params["days"] == 10
    assert order_jobs.complete_shipped_orders(now=now) == 0           # a second run changes nothing
    assert len(_messages(member)) == 1
    assert shop.status_label(order) == "已完成"


def test_the_operator_sets_the_days(app, db, shipped):
    now = utcnow()
    orders = shipped(three_days=now - timedelta(days=3, minutes=1))
    with write_transaction():
        put_setting("shop.rules", {"max_quantity": 10, "pay_minutes": 15, "tiers": [500, 2000],
                                   "auto_complete_days": 3})
    assert order_jobs.complete_shipped_orders(now=now) == 1
    assert _order(orders["three_days"][1]).status == "completed"


def test_a_member_confirming_while_the_job_runs_completes_the_order_once(app, db, shipped):
    now = utcnow()
    member, order_id = shipped(old=now - timedelta(days=11))["old"]

    def work(i):
        if i % 2:
            return order_jobs.complete_shipped_orders(now=now)
        shop.confirm_receipt(member, order_id, now=now)
        return 0

    outcome = run_concurrently(app, work, 6)
    assert outcome.errors == []
    assert sum(outcome.results) <= 1                                  # the job completed it at most once
    assert _order(order_id).status == "completed"
    assert len(_messages(member)) == sum(outcome.results)


def test_the_cli_reports_what_it_completed(app, shipped):
    shipped(old=utcnow() - timedelta(days=12))
    with app.app_context():
        result = app.test_cli_runner().invoke(args=["orders", "auto-complete"])
        db.session.remove()
    assert result.exit_code == 0 and "completed 1 shipped orders" in result.output
