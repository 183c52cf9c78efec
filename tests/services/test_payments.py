"""Points + cash: the order waits for the payment provider; unpaid orders are cancelled after 15 minutes."""
from datetime import timedelta

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import Order, Payment, Product, VirtualCode
from app.services import ledger, order_jobs, payments, shop
from app.services.clock import utcnow
from app.services.errors import DomainError, NotFound
from app.services.payments import PaymentUnavailable, SandboxProvider
from tests.conftest import balance_of
from tests.shop_factories import make_address, make_product, new_key, no_newbie_bonus  # noqa: F401

pytestmark = pytest.mark.usefixtures("no_newbie_bonus")


@pytest.fixture()
def cash_order(db, make_member, make_product, make_address):
    """A member's points + cash order for goods: 199 points + 39.00 yuan, awaiting payment."""
    user_id = make_member()
    product_id = make_product(points_price=199, cash_fen=3900, stock=3)
    order = shop.redeem_product(user_id, product_id, 1, new_key(), address_id=make_address(user_id))
    return user_id, product_id, order.id


def fresh(order_id):
    db.session.rollback()
    return db.session.get(Order, order_id)


def stock_of(product_id):
    db.session.rollback()
    return db.session.get(Product, product_id).stock


def test_the_order_holds_points_and_stock_while_it_waits(cash_order):
    user_id, product_id, order_id = cash_order
    order = fresh(order_id)
    assert (order.status, order.cash_total_fen, order.points_total) == ("pending_payment", 3900, 199)
    assert order.pay_deadline == order.created_at + timedelta(minutes=15)
    assert (order.payment.status, order.payment.provider, order.payment.amount_fen) == ("pending", "sandbox", 3900)
    assert balance_of(user_id) == 301 and stock_of(product_id) == 2


def test_payment_completes_the_order_once(cash_order):
    user_id, _product_id, order_id = cash_order
    payment = fresh(order_id).payment
    payments.complete_payment(payment.out_trade_no, amount_fen=3900, provider_txn_id="T1")
    payments.complete_payment(payment.out_trade_no, amount_fen=3900, provider_txn_id="T1")  # a repeated notice
    order = fresh(order_id)
    assert order.status == "paid" and order.paid_at is not None and order.payment.status == "succeeded"
    assert balance_of(user_id) == 301


def test_a_wrong_amount_or_unknown_payment_is_refused(cash_order):
    _user_id, _product_id, order_id = cash_order
    payment = fresh(order_id).payment
    with pytest.raises(DomainError, match="支付金额与订单不符"):
        payments.complete_payment(payment.out_trade_no, amount_fen=1, provider_txn_id="T1")
    with pytest.raises(NotFound):
        payments.complete_payment("nope", amount_fen=3900, provider_txn_id="T1")
    assert fresh(order_id).status == "pending_payment"


def test_a_failed_payment_keeps_the_order_payable_until_the_job_cancels_it(cash_order):
    user_id, product_id, order_id = cash_order
    out_trade_no = fresh(order_id).payment.out_trade_no
    payments.fail_payment(out_trade_no)
    order = fresh(order_id)
    assert order.status == "pending_payment" and order.payment.status == "failed"
    assert balance_of(user_id) < 500 and stock_of(product_id) == 2             # still held for the retry
    assert order_jobs.cancel_unpaid_orders(now=order.pay_deadline) == 1
    order = fresh(order_id)
    assert order.status == "cancelled" and order.payment.status == "failed"
    assert balance_of(user_id) == 500 and stock_of(product_id) == 3
    assert ledger.reconcile() == []


def test_a_late_success_after_a_failed_attempt_still_pays_the_order(cash_order):
    _user_id, _product_id, order_id = cash_order
    payment = fresh(order_id).payment
    payments.fail_payment(payment.out_trade_no)
    payments.complete_payment(payment.out_trade_no, amount_fen=payment.amount_fen, provider_txn_id="T-late")
    assert fresh(order_id).status == "paid" and fresh(order_id).payment.status == "succeeded"


def test_unpaid_orders_are_cancelled_after_fifteen_minutes(cash_order, app):
    user_id, product_id, order_id = cash_order
    deadline = fresh(order_id).pay_deadline
    assert order_jobs.cancel_unpaid_orders(now=deadline - timedelta(seconds=1)) == 0
    assert order_jobs.cancel_unpaid_orders(now=deadline) == 1
    assert order_jobs.cancel_unpaid_orders(now=deadline) == 0  # cron-safe
    order = fresh(order_id)
    assert (order.status, order.cancel_reason_id, order.payment.status) == (
        "cancelled", "order.cancelled.unpaid", "failed")
    assert balance_of(user_id) == 500 and stock_of(product_id) == 3


def test_the_cli_job_cancels_what_is_overdue(cash_order, app):
    _user_id, _product_id, order_id = cash_order
    db.session.execute(Order.__table__.update().values(pay_deadline=utcnow() - timedelta(minutes=1)))
    db.session.commit()
    result = app.test_cli_runner().invoke(args=["orders", "cancel-unpaid"])
    assert result.exit_code == 0 and "cancelled 1 unpaid orders" in result.output
    assert fresh(order_id).status == "cancelled"


def test_money_arriving_after_the_cancel_is_marked_for_refund(cash_order):
    _user_id, _product_id, order_id = cash_order
    out_trade_no = fresh(order_id).payment.out_trade_no
    order_jobs.cancel_unpaid_orders(now=utcnow() + timedelta(minutes=16))
    payments.complete_payment(out_trade_no, amount_fen=3900, provider_txn_id="LATE")
    order = fresh(order_id)
    assert order.status == "cancelled" and order.payment.status == "refund_due"


def test_member_cancels_an_unpaid_order(cash_order):
    user_id, product_id, order_id = cash_order
    shop.cancel_order(user_id, order_id)
    order = fresh(order_id)
    assert order.status == "cancelled" and order.payment.status == "failed"
    assert balance_of(user_id) == 500 and stock_of(product_id) == 3


def test_sandbox_buttons_only_for_the_owner_and_before_the_deadline(cash_order, make_member):
    user_id, _product_id, order_id = cash_order
    with pytest.raises(NotFound):
        payments.sandbox_pay(make_member(), order_id, True)
    with pytest.raises(DomainError, match="订单已超时"):
        payments.sandbox_pay(user_id, order_id, True, now=utcnow() + timedelta(minutes=16))
    assert payments.sandbox_pay(user_id, order_id, True).status == "succeeded"
    assert fresh(order_id).status == "paid"


def test_virtual_codes_are_held_while_unpaid_and_shown_once_paid(db, make_member, make_product):
    user_id = make_member()
    product_id = make_product(kind="virtual", points_price=10, cash_fen=100, stock=2, codes=["V-1", "V-2"])
    first = shop.redeem_product(user_id, product_id, 1, new_key())
    second = shop.redeem_product(user_id, product_id, 1, new_key())
    payments.sandbox_pay(user_id, first.id, True)
    payments.sandbox_pay(user_id, second.id, False)               # still payable: its code stays held
    assert [c.code for c in fresh(first.id).codes] == ["V-1"] and fresh(first.id).status == "completed"
    assert db.session.execute(select(VirtualCode.code).where(VirtualCode.order_id.is_(None))).scalars().all() == []
    order_jobs.cancel_unpaid_orders(now=fresh(second.id).pay_deadline)  # the deadline passes unpaid
    free = db.session.execute(select(VirtualCode.code).where(VirtualCode.order_id.is_(None))).scalars().all()
    assert free == ["V-2"] and stock_of(product_id) == 1


def test_the_sandbox_is_refused_in_production(app, cash_order):
    user_id, _product_id, order_id = cash_order
    app.config["PRODUCTION"] = True
    try:
        with pytest.raises(PaymentUnavailable, match="沙箱支付仅用于开发和测试"):
            payments.get_provider()
        with pytest.raises(PaymentUnavailable):
            payments.sandbox_pay(user_id, order_id, True)
        with pytest.raises(PaymentUnavailable):
            SandboxProvider(app)
    finally:
        app.config["PRODUCTION"] = False
    assert fresh(order_id).status == "pending_payment"


def test_production_config_refuses_to_start_with_the_sandbox(monkeypatch):
    from app import create_app

    monkeypatch.setenv("SECRET_KEY", "a-real-secret")
    monkeypatch.setenv("DATABASE_URL", "postgresql://mall@127.0.0.1:1/mall")
    monkeypatch.setenv("SITE_URL", "https://mall.example.com")
    monkeypatch.delenv("PAYMENT_PROVIDER", raising=False)
    with pytest.raises(RuntimeError, match="sandbox payment provider is refused in production"):
        create_app("production")
    monkeypatch.setenv("PAYMENT_PROVIDER", "sandbox")
    with pytest.raises(RuntimeError, match="sandbox payment provider is refused in production"):
        create_app("production")


def test_an_app_built_from_production_config_refuses_the_sandbox_provider(monkeypatch):
    from app import create_app
    from app.config import ProductionConfig

    monkeypatch.setenv("SECRET_KEY", "a-real-secret")
    monkeypatch.setenv("DATABASE_URL", "postgresql://mall@127.0.0.1:1/mall")
    monkeypatch.setenv("SITE_URL", "https://mall.example.com")
    monkeypatch.setenv("PAYMENT_PROVIDER", "wechat")  # passes the start-up check; never connects here
    for name, value in {"WECHAT_APP_ID": "wx0123", "WECHATPAY_MCHID": "1900000109", "WECHATPAY_CERT_SERIAL_NO": "51",
                        "WECHATPAY_PRIVATE_KEY_PATH": "/k.pem", "WECHATPAY_APIV3_KEY": "k" * 32,
                        "WECHATPAY_CERT_DIR": "/certs"}.items():
        monkeypatch.setenv(name, value)

    class Production(ProductionConfig):
        PAYMENT_PROVIDER = "sandbox"  # a deployer's slip past the check
        SQLALCHEMY_DATABASE_URI = "postgresql+psycopg://mall@127.0.0.1:1/mall"

    production = create_app(Production)
    with production.app_context():
        with pytest.raises(PaymentUnavailable, match="沙箱支付仅用于开发和测试"):
            payments.get_provider()
        with pytest.raises(PaymentUnavailable, match="沙箱支付仅用于开发和测试"):
            payments.get_provider("sandbox")
        db.engine.dispose()


def test_an_unknown_provider_is_unavailable(app, app_ctx):
    app.config["PAYMENT_PROVIDER"] = "wechat"
    try:
        with pytest.raises(PaymentUnavailable):
            payments.get_provider()
    finally:
        app.config["PAYMENT_PROVIDER"] = "sandbox"


def test_payment_rows_are_one_per_order(cash_order):
    _user_id, _product_id, order_id = cash_order
    assert len(db.session.execute(select(Payment).where(Payment.order_id == order_id)).scalars().all()) == 1
