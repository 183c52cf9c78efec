"""The console's orders: filters, CSV export, the order page's actions, bulk shipping, order numbers shown."""
import csv
import io
import re
from datetime import timedelta

import pytest

from app.extensions import db
from app.models import Order, User
from app.services import payments, shop
from app.services.clock import shanghai_today, utcnow
from app.services.tx import write_transaction
from tests.conftest import login_as
from tests.shop_factories import make_address, make_product, new_key, no_newbie_bonus  # noqa: F401

pytestmark = pytest.mark.usefixtures("no_newbie_bonus")


@pytest.fixture()
def shop_world(app, make_member, make_product, make_address, make_account):
    """Two members' orders of three kinds and states; an operator."""
    a, b = make_member(points=5000), make_member(points=5000)
    cup = make_product(name="保温杯", points_price=100, stock=20)
    coupon = make_product(name="满减券", kind="coupon", points_price=10, stock=20)
    cash = make_product(name="蓝牙耳机", points_price=199, cash_fen=3900, stock=5)
    with app.app_context():
        address_a, address_b = make_address(a), make_address(b, name="李四")
        orders = {
            "a_cup": shop.redeem_product(a, cup, 1, new_key(), address_id=address_a).id,
            "a_coupon": shop.redeem_product(a, coupon, 1, new_key()).id,
            "b_cup": shop.redeem_product(b, cup, 2, new_key(), address_id=address_b).id,
            "b_cash": shop.redeem_product(b, cash, 1, new_key(), address_id=address_b).id,
        }
        # an order from three Shanghai days ago, for the date filter
        with write_transaction() as session:
            old = session.get(Order, orders["a_coupon"])
            old.created_at = utcnow() - timedelta(days=3)
        numbers = {key: db.session.get(Order, order_id).order_no for key, order_id in orders.items()}
        phones = {key: db.session.get(User, uid).phone for key, uid in (("a", a), ("b", b))}
        db.session.remove()
    return {"a": a, "b": b, "cup": cup, "orders": orders, "numbers": numbers, "phones": phones,
            "operator": make_account("operator")}


def _numbers_on(html, world):
    return sorted(key for key, number in world["numbers"].items() if number in html)


@pytest.mark.parametrize("query, expected", [
    ("", ["a_coupon", "a_cup", "b_cash", "b_cup"]),
    ("status=pending_payment", ["b_cash"]),
    ("status=paid", ["a_cup", "b_cup"]),
    ("kind=coupon", ["a_coupon"]),
    ("member={phone_a}", ["a_coupon", "a_cup"]),
    ("member={id_b}", ["b_cash", "b_cup"]),
    ("product=保温", ["a_cup", "b_cup"]),
    ("product={cup}", ["a_cup", "b_cup"]),
    ("number={no_b_cash}", ["b_cash"]),
    ("date_from={today}", ["a_cup", "b_cash", "b_cup"]),
    ("date_to={three_days_ago}", ["a_coupon"]),
    ("status=paid&member={phone_b}", ["b_cup"]),
])
def test_the_list_filters_by_status_kind_member_product_number_and_shanghai_day(client, shop_world, query, expected):
    w = shop_world
    today = shanghai_today()
    query = query.format(phone_a=w["phones"]["a"], phone_b=w["phones"]["b"], id_b=w["b"], cup=w["cup"],
                         no_b_cash=w["numbers"]["b_cash"], today=today.isoformat(),
                         three_days_ago=(today - timedelta(days=3)).isoformat())
    login_as(client, w["operator"])
    response = client.get(f"/admin/orders?{query}")
    assert response.status_code == 200
    assert _numbers_on(response.get_data(as_text=True), w) == expected


@pytest.mark.parametrize("query, message", [
    ("date_from=2026-13-01", "请输入正确的日期"),
    ("date_from=2026-11-20&date_to=2026-11-10", "结束日期不能早于开始日期"),
    ("member=abc", "请输入会员的11位手机号或会员ID"),
    ("number=2026-11", "订单号只含数字"),
])
def test_a_bad_filter_is_named_at_its_field(client, shop_world, query, message):
    login_as(client, shop_world["operator"])
    response = client.get(f"/admin/orders?{query}")
    assert response.status_code == 200 and message in response.get_data(as_text=True)


def test_the_list_pages_and_keeps_its_filters(app, client, make_member, make_product, make_account):
    member = make_member(points=5000)
    coupon = make_product(kind="coupon", points_price=1, stock=50)
    with app.app_context():
        for _ in range(23):
            shop.redeem_product(member, coupon, 1, new_key())
        db.session.remove()
    login_as(client, make_account("operator"))
    first = client.get("/admin/orders?kind=coupon").get_data(as_text=True)
    assert first.count('data-testid="order-row"') == 20 and "kind=coupon&amp;page=2" in first
    second = client.get("/admin/orders?kind=coupon&page=2").get_data(as_text=True)
    assert second.count('data-testid="order-row"') == 3


def test_the_csv_export_is_the_filtered_list_with_a_bom_and_chinese_headers(client, shop_world):
    w = shop_world
    login_as(client, w["operator"])
    response = client.get("/admin/orders/export.csv?status=paid")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    raw = response.get_data()
    assert raw.startswith(b"\xef\xbb\xbf")
    rows = list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"))))
    assert list(rows[0])[:5] == ["订单号", "下单时间", "状态", "类型", "来源"]
    assert {"收货人", "快递单号", "现金（元）"} <= set(rows[0])
    assert sorted(row["订单号"] for row in rows) == sorted([w["numbers"]["a_cup"], w["numbers"]["b_cup"]])
    b_row = next(row for row in rows if row["订单号"] == w["numbers"]["b_cup"])
    assert (b_row["状态"], b_row["数量"], b_row["收货人"], b_row["会员手机号"]) == ("待发货", "2", "李四", w["phones"]["b"])


def test_a_formula_in_a_members_text_is_not_run_by_the_spreadsheet(app, client, make_member, make_product,
                                                                    make_address, make_account):
    member = make_member(points=500)
    product = make_product(points_price=10)
    with app.app_context():
        shop.redeem_product(member, product, 1, new_key(), address_id=make_address(member, name="=HYPERLINK(1)"))
        db.session.remove()
    login_as(client, make_account("operator"))
    rows = list(csv.DictReader(io.StringIO(client.get("/admin/orders/export.csv").get_data().decode("utf-8-sig"))))
    assert rows[0]["收货人"] == "'=HYPERLINK(1)"


def test_shipping_from_the_order_page_shows_the_member_carrier_tracking_and_a_message(client, shop_world):
    w = shop_world
    order_id, number = w["orders"]["a_cup"], w["numbers"]["a_cup"]
    login_as(client, w["operator"])
    page = client.get(f"/admin/orders/{order_id}").get_data(as_text=True)
    assert number in page and 'data-testid="ship-form"' in page and 'data-testid="ledger-redeem"' in page
    # The member and the product are a click away.
    assert f'<a href="/admin/members/{w["a"]}" data-testid="order-member">{w["phones"]["a"]}</a>' in page
    assert f'<a href="/admin/products/{w["cup"]}" data-testid="order-product">ID {w["cup"]}</a>' in page
    bad = client.submit(f"/admin/orders/{order_id}/ship", {"carrier": "顺丰速运", "tracking_no": "12"})
    assert bad.status_code == 422 and "请填写正确的快递单号" in bad.get_data(as_text=True)
    done = client.submit(f"/admin/orders/{order_id}/ship", {"carrier": "顺丰速运", "tracking_no": "SF5000001"})
    assert done.status_code == 303 and done.headers["Location"] == f"/admin/orders/{order_id}"
    again = client.submit(f"/admin/orders/{order_id}/ship", {"carrier": "顺丰速运", "tracking_no": "SF5000001"},
                          page=f"/admin/orders/{w['orders']['b_cup']}")  # the double submit
    assert again.status_code == 303
    assert "订单已发货" in client.get(again.headers["Location"]).get_data(as_text=True)

    login_as(client, w["a"])
    member_page = client.get(f"/orders/{order_id}").get_data(as_text=True)
    assert "顺丰速运" in member_page and "SF5000001" in member_page and number in member_page
    inbox = client.get("/me/messages").get_data(as_text=True)
    assert inbox.count("订单已发货") == 1 and number in inbox and "SF5000001" in inbox


def test_refund_from_the_order_page_needs_a_reason_and_the_member_sees_it(app, client, shop_world):
    w = shop_world
    order_id = w["orders"]["b_cash"]
    with app.app_context():
        order = db.session.get(Order, order_id)
        payments.complete_payment(order.payment.out_trade_no, amount_fen=3900, provider_txn_id="T-1")
        db.session.remove()
    login_as(client, w["operator"])
    missing = client.submit(f"/admin/orders/{order_id}/refund", {"refund_reason": " "})
    assert missing.status_code == 422 and "请填写退款原因" in missing.get_data(as_text=True)
    done = client.submit(f"/admin/orders/{order_id}/refund", {"refund_reason": "缺货"})
    assert done.status_code == 303
    page = client.get(f"/admin/orders/{order_id}").get_data(as_text=True)
    assert 'data-testid="ledger-refund"' in page and 'data-testid="refund-id"' in page and "SANDBOX-R" in page
    assert "order.refund" in page  # the order's own audit history
    again = client.submit(f"/admin/orders/{order_id}/refund", {"refund_reason": "缺货"}, page=f"/admin/orders/{w['orders']['a_cup']}")
    assert again.status_code == 303 and "订单已退款" in client.get(again.headers["Location"]).get_data(as_text=True)
    login_as(client, w["b"])
    member_page = client.get(f"/orders/{order_id}").get_data(as_text=True)
    assert "缺货" in member_page and "¥39.00 · 已退款" in member_page  # the cash part, returned


def test_cancel_from_the_order_page(client, shop_world):
    w = shop_world
    order_id = w["orders"]["b_cup"]
    login_as(client, w["operator"])
    done = client.submit(f"/admin/orders/{order_id}/cancel", {"cancel_reason": "地址无法送达"})
    assert done.status_code == 303
    page = client.get(f"/admin/orders/{order_id}").get_data(as_text=True)
    assert "已取消" in page and "地址无法送达" in page and 'data-testid="cancel-form"' not in page


def _upload(client, text_bytes, **fields):
    return client.submit("/admin/orders/ship-import", {"file": (io.BytesIO(text_bytes), "ship.csv"), **fields},
                         content_type="multipart/form-data")


def test_bulk_ship_reports_errors_then_ships_the_valid_rows_when_chosen(client, shop_world):
    w = shop_world
    text = (f"订单号,快递公司,快递单号\r\n{w['numbers']['a_cup']},顺丰速运,SF6000001\r\n"
            f"{w['numbers']['a_coupon']},顺丰速运,SF6000002\r\n99999999999999,顺丰速运,SF6000003\r\n"
            f"{w['numbers']['b_cup']},顺丰速运,\r\n")
    login_as(client, w["operator"])
    report = _upload(client, text.encode("gb18030"))
    html = report.get_data(as_text=True)
    assert report.status_code == 422 and 'data-testid="ship-not-applied"' in html
    assert html.count('data-testid="ship-row"') == 4
    for message in ("只有实物订单需要发货", "订单不存在", "请填写快递单号"):
        assert message in html
    assert 'data-testid="ship-valid-form"' in html
    with client.application.app_context():
        assert db.session.get(Order, w["orders"]["a_cup"]).status == "paid"
        db.session.remove()

    chosen = client.submit("/admin/orders/ship-import", {"content": text, "ship_valid": "y"})
    assert chosen.status_code == 200 and "已发货 1 单" in chosen.get_data(as_text=True)
    with client.application.app_context():
        shipped = db.session.get(Order, w["orders"]["a_cup"])
        assert (shipped.status, shipped.tracking_no) == ("shipped", "SF6000001")
        db.session.remove()


def test_a_bulk_ship_file_without_the_columns_is_refused_at_the_field(client, shop_world):
    login_as(client, shop_world["operator"])
    response = _upload(client, "order,tracking\r\n1,2\r\n".encode())
    assert response.status_code == 422 and "文件缺少列" in response.get_data(as_text=True)
    nothing = client.submit("/admin/orders/ship-import", {})
    assert nothing.status_code == 422 and "请选择 CSV 文件" in nothing.get_data(as_text=True)


def test_members_see_order_numbers_not_row_ids(client, shop_world):
    w = shop_world
    login_as(client, w["a"])
    listing = client.get("/orders").get_data(as_text=True)
    assert w["numbers"]["a_cup"] in listing and w["numbers"]["a_coupon"] in listing
    page = client.get(f"/orders/{w['orders']['a_cup']}").get_data(as_text=True)
    assert f'data-testid="order-no">{w["numbers"]["a_cup"]}<' in page


def test_the_side_navigation_marks_the_group_of_the_page_being_shown(client, shop_world):
    login_as(client, shop_world["operator"])
    html = client.get(f"/admin/orders/{shop_world['orders']['a_cup']}").get_data(as_text=True)
    assert '<a href="/admin/orders" aria-current="page">' in html
    assert '<a href="/admin/" aria-current="page">' not in html


@pytest.mark.parametrize("path", ["/admin/", "/admin/orders", "/admin/products", "/admin/rules", "/admin/liability",
                                  "/admin/categories", "/admin/members", "order"])
def test_each_console_page_is_titled_by_its_heading(client, shop_world, path):
    """A browser tab, a bookmark and a screen reader name the page, not only the console."""
    login_as(client, shop_world["operator"])
    number = shop_world["numbers"]["a_cup"]
    html = client.get(f"/admin/orders/{shop_world['orders']['a_cup']}" if path == "order" else path).get_data(as_text=True)
    title = re.search(r"<title>(.*?)</title>", html).group(1)
    heading = re.sub(r"<[^>]+>", "", re.search(r"<h1>(.*?)</h1>", html, re.S).group(1)).strip()
    assert title == f"{heading} · 运营后台 · 积分商城"
    if path == "order":
        assert title.startswith(f"订单 / {number} · ")
