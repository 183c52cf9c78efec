"""The operator console's risk review page (风控审核) through HTTP: the queue with its reasons,
approve and reject (with a required reason, safe to send twice), the thresholds form, and the
member's order showing 审核中."""
from datetime import timedelta

import pytest
from sqlalchemy import select

from app.extensions import db as _db
from app.models import Order
from app.services import shop
from app.services.clock import utcnow
from tests.conftest import balance_of, login_as
from tests.shop_factories import make_product, new_key, no_newbie_bonus  # noqa: F401

pytestmark = pytest.mark.usefixtures("no_newbie_bonus")


@pytest.fixture()
def held(app, make_member, make_product):
    """A member (old enough) whose 25,000-point coupon order waits in review; (member, order id)."""
    user_id = make_member(points=30000, created_at=utcnow() - timedelta(days=2))
    with app.app_context():
        order = shop.redeem_product(user_id, make_product(kind="coupon", points_price=25000), 1, new_key())
        assert order.status == "review"
        order_id = order.id
        _db.session.remove()
    return user_id, order_id


def status_of(app, order_id):
    with app.app_context():
        status = _db.session.execute(select(Order.status).where(Order.id == order_id)).scalar_one()
        _db.session.remove()
    return status


def test_the_member_sees_their_held_order_as_under_review(client, held):
    user_id, order_id = held
    login_as(client, user_id)
    page = client.get(f"/orders/{order_id}").get_data(as_text=True)
    assert "审核中" in page and "订单正在审核" in page
    assert "审核中" in client.get("/orders").get_data(as_text=True)


def test_the_queue_lists_held_orders_with_their_reasons(client, held, make_account):
    login_as(client, make_account("operator"))
    page = client.get("/admin/review").get_data(as_text=True)
    assert "风控审核" in page and "大额订单" in page and "订单 25000 积分，超过 20000" in page


def test_reject_needs_a_reason_then_returns_the_points_once(app, client, held, make_account):
    user_id, order_id = held
    login_as(client, make_account("operator"))
    refused = client.submit(f"/admin/review/{order_id}/reject", page="/admin/review",
                            data={"request_key": new_key(), "reason": " "})
    assert refused.status_code == 422 and "请填写拒绝原因" in refused.get_data(as_text=True)
    assert status_of(app, order_id) == "review"
    form = {"request_key": new_key(), "reason": "疑似刷单"}
    assert client.submit(f"/admin/review/{order_id}/reject", page="/admin/review", data=form).status_code == 303
    again = client.submit(f"/admin/review/{order_id}/reject", page="/admin/review", data=form, follow_redirects=True)
    assert "该订单已审核" in again.get_data(as_text=True)
    with app.app_context():
        assert balance_of(user_id) == 30500
    assert status_of(app, order_id) == "cancelled"


def test_approve_delivers(app, client, held, make_account):
    _user, order_id = held
    login_as(client, make_account("operator"))
    approved = client.submit(f"/admin/review/{order_id}/approve", page="/admin/review", data={"request_key": new_key()})
    assert approved.status_code == 303
    assert status_of(app, order_id) == "completed"


def test_the_thresholds_form_refuses_a_bad_value_at_its_field_and_saves_a_good_one(client, make_account):
    login_as(client, make_account("operator"))
    values = {"enabled": "y", "order_points_over": "abc", "ip_accounts_per_day": "3", "invitee_burst": "10",
              "new_account_minutes": "30", "new_account_share_pct": "80",
              "new_account_min_points": "2000", "device_accounts_per_day": "3", "draws_week_factor": "5",
              "draws_week_min": "50", "makeups_month": "8"}
    refused = client.submit("/admin/review/rules", page="/admin/review", data=values)
    assert refused.status_code == 422 and "请输入整数" in refused.get_data(as_text=True)
    values["order_points_over"] = "5000"
    assert client.submit("/admin/review/rules", page="/admin/review", data=values).status_code == 303
    assert 'value="5000"' in client.get("/admin/review").get_data(as_text=True)
