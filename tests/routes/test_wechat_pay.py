"""WeChat Pay API v3 (issue 11 item 3) through the real wechatpayv3 client against
tests/fake_wechatpay.py: prepay and the JSAPI parameters, notifications (verified, replayed,
stale, tampered, amount-mismatched, duplicated, early and late), query on return, close, refund,
paying again after a failure."""
import json
import time
from base64 import b64decode

import pytest
from cryptography.hazmat.primitives.asymmetric.padding import PKCS1v15
from cryptography.hazmat.primitives.hashes import SHA256
from sqlalchemy import func, select

from app.extensions import db
from app.models import Order, PointEntry, UserIdentity
from app.services import order_admin, order_jobs, shop
from app.services.tx import write_transaction
from tests.concurrency import run_concurrently
from tests.conftest import balance_of, login_as
from tests.fake_wechat import APP_ID, APP_SECRET
from tests.fake_wechatpay import APIV3_KEY, CERT_SERIAL_NO, MCHID, PUBLIC_KEY_ID, FakeWeChatPay
from tests.shop_factories import make_product, new_key, no_newbie_bonus  # noqa: F401  (fixtures)

WX_UA = "Mozilla/5.0 (Linux; Android 13) Mobile MicroMessenger/8.0.50"
NOTIFY = "/pay/wechat/notify"
pytestmark = pytest.mark.usefixtures("no_newbie_bonus")


@pytest.fixture(scope="session")
def pay_server(tmp_path_factory):
    server = FakeWeChatPay().start()
    server.keys = server.write_keys(tmp_path_factory.mktemp("wechatpay"))
    yield server
    server.stop()


@pytest.fixture()
def fake(app, pay_server):
    """WeChat Pay configured against the fake for this test only."""
    pay_server.reset()
    merchant_key, platform_key = pay_server.keys
    values = dict(PAYMENT_PROVIDER="wechat", WECHAT_APP_ID=APP_ID, WECHAT_APP_SECRET=APP_SECRET,
                  WECHATPAY_MCHID=MCHID, WECHATPAY_CERT_SERIAL_NO=CERT_SERIAL_NO,
                  WECHATPAY_PRIVATE_KEY_PATH=merchant_key, WECHATPAY_APIV3_KEY=APIV3_KEY,
                  WECHATPAY_PUBLIC_KEY_PATH=platform_key, WECHATPAY_PUBLIC_KEY_ID=PUBLIC_KEY_ID,
                  WECHATPAY_API_BASE=pay_server.url)
    saved = {key: app.config[key] for key in values}
    app.config.update(values)
    yield pay_server
    app.config.update(saved)


@pytest.fixture()
def cash_order(app, fake, make_member, make_product):
    """A member known by WeChat with a points + cash coupon order awaiting ¥39."""
    member = make_member(points=500)
    with app.app_context():
        with write_transaction() as session:
            session.add(UserIdentity(user_id=member, provider="wechat", app_id=APP_ID, openid="o-payer"))
        before = balance_of(member)
        order = shop.redeem_product(member, make_product(kind="coupon", points_price=50, cash_fen=3900), 1,
                                    new_key())
        assert order.status == "pending_payment" and order.payment.provider == "wechat"
        ids = {"member": member, "order": order.id, "out_trade_no": order.payment.out_trade_no, "before": before}
        db.session.remove()
    return ids


def order_of(app, order_id):
    with app.app_context():
        order = db.session.get(Order, order_id)
        found = (order.status, order.payment.status)
        db.session.remove()
    return found


def notify(client, headers, body):
    return client.post(NOTIFY, data=body, headers={**headers, "Content-Type": "application/json"})


def open_order_page(client, fake, cash_order):
    login_as(client, cash_order["member"])
    return client.get(f"/orders/{cash_order['order']}", headers={"User-Agent": WX_UA}).get_data(as_text=True)


def test_the_order_page_in_wechat_opens_the_pay_sheet_with_signed_parameters(app, client, fake, cash_order):
    page = open_order_page(client, fake, cash_order)
    assert 'data-testid="wechat-pay-button"' in page and "微信支付 ¥39.00" in page
    params = json.loads(page.split("data-wxpay='")[1].split("'")[0])
    assert params["appId"] == APP_ID and params["package"].startswith("prepay_id=") and params["signType"] == "RSA"
    message = "\n".join([params["appId"], params["timeStamp"], params["nonceStr"], params["package"]]) + "\n"
    fake.merchant_key.public_key().verify(b64decode(params["paySign"]), message.encode(), PKCS1v15(), SHA256())
    assert fake.state.orders[cash_order["out_trade_no"]]["openid"] == "o-payer"
    assert fake.state.orders[cash_order["out_trade_no"]]["amount"] == 3900


def test_a_member_without_wechat_is_asked_to_open_the_page_in_wechat(app, client, fake, make_member, make_product):
    member = make_member(points=500)
    with app.app_context():
        order = shop.redeem_product(member, make_product(kind="coupon", points_price=50, cash_fen=100), 1, new_key())
        order_id = order.id
        db.session.remove()
    login_as(client, member)
    assert 'data-testid="wechat-pay-open-in-wechat"' in client.get(f"/orders/{order_id}").get_data(as_text=True)
    assert fake.state.prepay_calls == 0


def test_a_verified_notification_pays_the_order_once(app, client, fake, cash_order):
    open_order_page(client, fake, cash_order)
    response = notify(client, *fake.notification(cash_order["out_trade_no"]))
    assert response.status_code == 200 and response.get_json()["code"] == "SUCCESS"
    assert order_of(app, cash_order["order"]) == ("completed", "succeeded")
    again = notify(client, *fake.notification(cash_order["out_trade_no"]))  # WeChat notifies again: new nonce
    assert again.status_code == 200
    assert order_of(app, cash_order["order"]) == ("completed", "succeeded")
    with app.app_context():
        assert db.session.execute(select(func.count(PointEntry.id)).where(
            PointEntry.user_id == cash_order["member"], PointEntry.amount < 0)).scalar() == 1
        db.session.remove()


@pytest.mark.parametrize("spoil", ["replayed", "stale", "tampered body", "tampered signature", "wrong amount",
                                   "unknown order", "other merchant"])
def test_a_bad_notification_changes_nothing(app, client, fake, cash_order, spoil):
    open_order_page(client, fake, cash_order)
    out_trade_no = cash_order["out_trade_no"]
    if spoil == "replayed":
        headers, body = fake.notification(out_trade_no, state="PAYERROR")
        assert notify(client, headers, body).status_code == 200                   # the first one is acted on
        headers, body = fake.notification(out_trade_no, nonce=headers["Wechatpay-Nonce"])
    elif spoil == "stale":
        headers, body = fake.notification(out_trade_no, timestamp=int(time.time()) - 6 * 60)
    elif spoil == "tampered body":
        headers, body = fake.notification(out_trade_no)
        body = body.replace('"event_type": "TRANSACTION.SUCCESS"', '"event_type": "TRANSACTION.SUCCESS "')
    elif spoil == "tampered signature":
        headers, body = fake.notification(out_trade_no)
        headers["Wechatpay-Signature"] = headers["Wechatpay-Signature"][::-1]
    elif spoil == "wrong amount":
        headers, body = fake.notification(out_trade_no, amount=1)
    elif spoil == "unknown order":
        headers, body = fake.notification("f" * 32, amount=3900)
    else:
        headers, body = fake.notification(out_trade_no, mchid="1234567890")
    response = notify(client, headers, body)
    assert 400 <= response.status_code < 500 and response.get_json()["code"] == "FAIL"
    status, payment = order_of(app, cash_order["order"])
    assert status == "pending_payment" and payment in ("pending", "failed")


def test_the_same_notification_ten_times_at_once_pays_once(app, fake, cash_order):
    with app.test_client() as client:
        open_order_page(client, fake, cash_order)
    notes = [fake.notification(cash_order["out_trade_no"]) for _ in range(10)]

    def work(i):
        with app.test_client() as client:
            return notify(client, *notes[i]).status_code

    outcome = run_concurrently(None, work, 10)
    assert outcome.errors == [] and outcome.results == [200] * 10
    assert order_of(app, cash_order["order"]) == ("completed", "succeeded")


def test_a_notification_before_the_page_returns_and_a_late_one_settled_by_query(app, client, fake, cash_order,
                                                                            make_member, make_product):
    open_order_page(client, fake, cash_order)
    notify(client, *fake.notification(cash_order["out_trade_no"]))        # early: before the member is back
    back = client.get(f"/orders/{cash_order['order']}/pay/return")
    assert back.status_code == 303 and "支付成功" in client.get(back.headers["Location"]).get_data(as_text=True)

    late = make_member(points=500)
    with app.app_context():
        with write_transaction() as session:
            session.add(UserIdentity(user_id=late, provider="wechat", app_id=APP_ID, openid="o-late"))
        order = shop.redeem_product(late, make_product(kind="coupon", points_price=50, cash_fen=500), 1, new_key())
        order_id, out_trade_no = order.id, order.payment.out_trade_no
        db.session.remove()
    login_as(client, late)
    client.get(f"/orders/{order_id}", headers={"User-Agent": WX_UA})      # prepay
    fake.pay(out_trade_no)                                                 # paid; the notification is late
    client.get(f"/orders/{order_id}/pay/return")
    assert order_of(app, order_id) == ("completed", "succeeded")
    assert notify(client, *fake.notification(out_trade_no)).status_code == 200  # arrives at last: nothing more
    assert order_of(app, order_id) == ("completed", "succeeded")


def test_a_failed_attempt_can_be_paid_again(app, client, fake, cash_order):
    open_order_page(client, fake, cash_order)
    assert notify(client, *fake.notification(cash_order["out_trade_no"], state="PAYERROR")).status_code == 200
    assert order_of(app, cash_order["order"]) == ("pending_payment", "failed")
    page = client.get(f"/orders/{cash_order['order']}", headers={"User-Agent": WX_UA}).get_data(as_text=True)
    assert 'data-testid="wechat-pay-button"' in page                       # pay again
    notify(client, *fake.notification(cash_order["out_trade_no"]))
    assert order_of(app, cash_order["order"]) == ("completed", "succeeded")


def test_an_unpaid_order_is_closed_at_wechat_when_it_times_out(app, client, fake, cash_order):
    open_order_page(client, fake, cash_order)
    with app.app_context():
        deadline = db.session.get(Order, cash_order["order"]).pay_deadline
        assert order_jobs.cancel_unpaid_orders(now=deadline) == 1
        db.session.remove()
    assert fake.state.closed == [cash_order["out_trade_no"]]
    assert order_of(app, cash_order["order"])[0] == "cancelled"
    assert balance_of_member(app, cash_order) == cash_order["before"]       # the points came back


def balance_of_member(app, cash_order):
    with app.app_context():
        value = balance_of(cash_order["member"])
        db.session.remove()
    return value


def test_an_operator_refund_returns_the_cash_through_wechat_once(app, client, fake, cash_order, make_account):
    open_order_page(client, fake, cash_order)
    notify(client, *fake.notification(cash_order["out_trade_no"]))
    operator = make_account("operator")
    with app.app_context():
        order_admin.refund_order(cash_order["order"], operator, "商品质量问题")
        db.session.remove()
    assert order_of(app, cash_order["order"]) == ("refunded", "refunded")
    assert list(fake.state.refunds) == [f"R{cash_order['out_trade_no']}"]
    assert fake.state.refunds[f"R{cash_order['out_trade_no']}"]["amount"] == 3900
