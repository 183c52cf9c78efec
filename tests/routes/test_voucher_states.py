"""What a member sees of merchant vouchers, through the real pages: a voucher order is 待使用
until its vouchers are used (then 已使用 with the store and time), 已过期 when they ran out,
已退款 when refunded; /me/vouchers groups them; merchant goods are sold like any product."""
import re
from datetime import timedelta

import pytest
from sqlalchemy import event, select

from app.extensions import db
from app.models import Merchant, Order, Voucher
from app.services import order_admin, shop, vouchers
from app.services.clock import utcnow
from app.services.tx import write_transaction
from tests.shop_factories import make_product, new_key, no_newbie_bonus  # noqa: F401

pytestmark = pytest.mark.usefixtures("no_newbie_bonus")


@pytest.fixture()
def store(app):
    """A merchant with an address and a phone, like the demo's."""
    with app.app_context():
        with write_transaction() as session:
            merchant = Merchant(name="老街面馆", address="上海市黄浦区南京东路 100 号", phone="021-63210000")
            session.add(merchant)
            session.flush()
            merchant_id = merchant.id
        db.session.remove()
    return merchant_id


@pytest.fixture()
def goods(make_product, store):
    """The merchant's advertising goods: 1,000 yuan of meals as 5 vouchers of 200, on sale now."""
    now = utcnow()
    return make_product(name="老街面馆 200 元代金券", kind="voucher", merchant_id=store, points_price=100, stock=5,
                        face_value_fen=20000, sale_starts_at=now - timedelta(days=1),
                        sale_ends_at=now + timedelta(days=14))


def redeem_page(client, product_id, quantity=1):
    """Redeem through the product page; returns the order page's path."""
    page = f"/products/{product_id}"
    response = client.submit(f"{page}/redeem", {"confirmed": "1", "quantity": str(quantity)}, page=page)
    assert response.status_code == 303, response.get_data(as_text=True)
    return response.headers["Location"]


def order_id_of(path):
    return int(path.rstrip("/").rsplit("/", 1)[1])


def codes_of(app, order_id):
    with app.app_context():
        codes = db.session.execute(select(Voucher.code).where(Voucher.order_id == order_id)
                                   .order_by(Voucher.id)).scalars().all()
        db.session.remove()
    return codes


def redeem_at_counter(app, code, staff_id, when=None):
    with app.app_context():
        vouchers.redeem_voucher(code, staff_id, now=when)
        db.session.remove()


def order_status(client, path):
    html = client.get(path).get_data(as_text=True)
    return re.search(r'data-testid="order-status">([^<]*)<', html).group(1), html


def row_status(client, query=""):
    html = client.get(f"/orders{query}").get_data(as_text=True)
    return re.findall(r'data-testid="order-row-status">([^<]*)<', html), html


# A voucher order's state, on the order page and in the order list


def test_an_unused_voucher_order_is_to_use_not_completed(member_client, goods):
    path = redeem_page(member_client, goods)
    status, html = order_status(member_client, path)
    assert status == "待使用" and "已完成" not in html
    assert 'data-testid="order-voucher"' in html and "可使用" in html
    assert row_status(member_client)[0] == ["待使用"]


def test_a_voucher_order_is_used_with_the_store_and_time_once_all_are_used(app, member_client, goods, store,
                                                                           make_account):
    path = redeem_page(member_client, goods, quantity=2)
    staff = make_account("staff", merchant_id=store)
    first, second = codes_of(app, order_id_of(path))
    redeem_at_counter(app, first, staff)
    assert order_status(member_client, path)[0] == "待使用"  # one of two left
    when = utcnow().replace(second=0, microsecond=0) + timedelta(hours=1)
    redeem_at_counter(app, second, staff, when=when)
    status, html = order_status(member_client, path)
    assert status == "已使用"
    shown = (when + timedelta(hours=8)).strftime("%Y-%m-%d %H:%M")  # Shanghai time
    assert "老街面馆" in html and shown in html
    rows, list_html = row_status(member_client)
    assert rows == ["已使用"] and 'data-testid="order-row-used">老街面馆 · ' in list_html


def test_a_voucher_order_whose_vouchers_ran_out_unused_is_expired(app, member_client, make_product, store):
    product_id = make_product(kind="voucher", merchant_id=store, points_price=100, valid_days=1)
    with app.app_context():
        order = shop.redeem_product(member_client.user_id, product_id, 1, new_key(),
                                    now=utcnow() - timedelta(days=3))
        path = f"/orders/{order.id}"
        db.session.remove()
    status, html = order_status(member_client, path)
    assert status == "已过期" and "ohead-expired" in html
    assert row_status(member_client)[0] == ["已过期"]


def test_a_refunded_voucher_order_stays_refunded_and_its_vouchers_are_void(app, member_client, goods,
                                                                           make_account):
    path = redeem_page(member_client, goods)
    with app.app_context():
        order_admin.refund_order(order_id_of(path), make_account("operator"), "商户停业")
        db.session.remove()
    status, html = order_status(member_client, path)
    assert status == "已退款" and "已作废" in html
    assert row_status(member_client)[0] == ["已退款"]


def test_the_to_use_tab_lists_voucher_orders_with_something_left_to_use(app, member_client, goods, store,
                                                                         make_product, make_account):
    to_use = order_id_of(redeem_page(member_client, goods))
    used = order_id_of(redeem_page(member_client, goods))
    redeem_at_counter(app, codes_of(app, used)[0], make_account("staff", merchant_id=store))
    physical = order_id_of(redeem_page(member_client, make_product(kind="virtual", codes=["CARD-1"])))
    ids = lambda html: [int(i) for i in re.findall(r'href="/orders/(\d+)"', html)]  # noqa: E731
    assert ids(row_status(member_client, "?tab=to_use")[1]) == [to_use]
    assert ids(row_status(member_client, "?tab=completed")[1]) == [physical, used]
    assert 'href="/orders?tab=to_use"' in member_client.get("/orders").get_data(as_text=True)


def test_the_order_list_loads_vouchers_without_a_query_per_order(app, member_client, goods, store, make_account):
    def statements_for_the_list():
        seen = []
        listener = lambda *args: seen.append(args[2])  # noqa: E731
        with app.app_context():
            engine = db.engine
        event.listen(engine, "before_cursor_execute", listener)
        try:
            assert member_client.get("/orders").status_code == 200
        finally:
            event.remove(engine, "before_cursor_execute", listener)
        return len(seen)

    redeem_page(member_client, goods)
    redeem_page(member_client, goods)
    few = statements_for_the_list()
    for _n in range(3):
        redeem_page(member_client, goods)
    assert statements_for_the_list() == few


# /me/vouchers


def test_my_vouchers_are_grouped_to_use_used_and_expired(app, member_client, goods, store, make_product,
                                                        make_account):
    redeem_page(member_client, goods)
    used_order = order_id_of(redeem_page(member_client, goods))
    redeem_at_counter(app, codes_of(app, used_order)[0], make_account("staff", merchant_id=store))
    short = make_product(name="过期的券", kind="voucher", merchant_id=store, points_price=10, valid_days=1)
    with app.app_context():
        shop.redeem_product(member_client.user_id, short, 1, new_key(), now=utcnow() - timedelta(days=3))
        db.session.remove()

    to_use = member_client.get("/me/vouchers").get_data(as_text=True)
    assert re.findall(r'data-state="(\w+)"', to_use) == ["usable"]
    assert re.search(r'voucher-tab-usable">待使用 <span class="vtab-count">1<', to_use)
    assert re.search(r'voucher-tab-used">已使用 <span class="vtab-count">1<', to_use)
    assert re.search(r'voucher-tab-expired">已过期 <span class="vtab-count">1<', to_use)
    assert 'class="voucher-qr"' in to_use and "<svg" in to_use
    assert re.search(r'data-testid="voucher-code">([A-Z2-7]{4} ){5}[A-Z2-7]{4}<', to_use)
    # 去使用: a disclosure with the store's name, address and phone, no script needed
    assert re.search(r'<details class="vstore"[^>]*>\s*<summary[^>]*>.*去使用</summary>', to_use)
    assert "上海市黄浦区南京东路 100 号" in to_use and 'href="tel:021-63210000"' in to_use
    assert "有效期" in to_use

    used = member_client.get("/me/vouchers?tab=used").get_data(as_text=True)
    assert re.findall(r'data-state="(\w+)"', used) == ["redeemed"]
    assert "voucher-qr" not in used and re.search(r"老街面馆 · \d{4}-\d\d-\d\d \d\d:\d\d 核销", used)

    expired = member_client.get("/me/vouchers?tab=expired").get_data(as_text=True)
    assert re.findall(r'data-state="(\w+)"', expired) == ["expired"]
    assert "过期的券" in expired and "voucher-qr" not in expired and "voucher-expired" in expired


def test_void_vouchers_of_a_refunded_order_are_under_a_no_longer_valid_note(app, member_client, goods,
                                                                            make_account):
    path = redeem_page(member_client, goods)
    with app.app_context():
        order_admin.refund_order(order_id_of(path), make_account("operator"), "商户停业")
        db.session.remove()
    assert 'data-state="' not in member_client.get("/me/vouchers").get_data(as_text=True)
    expired = member_client.get("/me/vouchers?tab=expired").get_data(as_text=True)
    void_part = expired.split('data-testid="voucher-group-void"')[1]
    assert "已失效" in void_part and re.findall(r'data-state="(\w+)"', void_part) == ["void"]
    assert "voucher-qr" not in expired


def test_an_unknown_vouchers_tab_shows_the_vouchers_to_use(member_client):
    html = member_client.get("/me/vouchers?tab=nonsense").get_data(as_text=True)
    assert 'class="on" href="/me/vouchers"' in html


# Merchant goods


def test_merchant_goods_are_in_the_shop_with_the_merchants_name_and_address(client, goods):
    listing = client.get("/products").get_data(as_text=True)
    assert f'href="/products/{goods}"' in listing and "老街面馆 200 元代金券" in listing
    page = client.get(f"/products/{goods}").get_data(as_text=True)
    store_part = page.split('data-testid="product-merchant"')[1]
    assert "老街面馆" in store_part and "上海市黄浦区南京东路 100 号" in store_part


def test_redeeming_merchant_goods_issues_a_voucher_tied_to_the_merchant(app, member_client, goods, store):
    path = redeem_page(member_client, goods)
    with app.app_context():
        issued = db.session.execute(select(Voucher).where(Voucher.order_id == order_id_of(path))).scalars().all()
        assert [(v.merchant_id, v.value_fen, v.status) for v in issued] == [(store, 20000, "active")]
        assert db.session.get(Order, order_id_of(path)).kind == "voucher"
        db.session.remove()


@pytest.mark.parametrize("window, message", [
    ((timedelta(days=1), timedelta(days=8)), "兑换尚未开始"),
    ((-timedelta(days=8), -timedelta(days=1)), "兑换已结束"),
])
def test_merchant_goods_are_refused_outside_their_sale_window(app, member_client, make_product, store,
                                                             window, message):
    now = utcnow()
    product_id = make_product(kind="voucher", merchant_id=store, points_price=100, stock=5,
                              sale_starts_at=now + window[0], sale_ends_at=now + window[1])
    page = f"/products/{product_id}"
    response = member_client.submit(f"{page}/redeem", {"confirmed": "1", "quantity": "1"}, page=page)
    assert response.status_code == 422 and message in response.get_data(as_text=True)
    with app.app_context():
        assert db.session.execute(select(Voucher.id)).first() is None
        db.session.remove()


def test_the_operators_order_filter_splits_to_use_from_completed_as_members_see_them(
        app, client, member_client, goods, store, make_product, make_account):
    from tests.conftest import login_as

    to_use = order_id_of(redeem_page(member_client, goods))
    used = order_id_of(redeem_page(member_client, goods))
    redeem_at_counter(app, codes_of(app, used)[0], make_account("staff", merchant_id=store))
    virtual = order_id_of(redeem_page(member_client, make_product(kind="virtual", codes=["CARD-1"])))
    login_as(client, make_account("operator"))
    ids = lambda html: [int(i) for i in re.findall(r'href="/admin/orders/(\d+)"', html)]  # noqa: E731
    waiting = client.get("/admin/orders?status=to_use").get_data(as_text=True)
    assert ids(waiting) == [to_use] and "待使用" in waiting
    done = client.get("/admin/orders?status=completed").get_data(as_text=True)
    assert ids(done) == [virtual, used] and "待使用" not in done.split("<tbody")[1]
    exported = client.get("/admin/orders/export.csv?status=to_use").get_data(as_text=True)
    assert exported.count("\r\n") == 2 and ",待使用," in exported
