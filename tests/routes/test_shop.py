"""Shop pages over HTTP: catalogue, product and redeem (full page and htmx), orders, vouchers, addresses."""
import re
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.models import Order, Product
from app.services import fulfilment, order_admin, shop
from app.services.clock import utcnow
from app.services.tx import write_transaction
from tests.conftest import balance_of, login_as
from tests.shop_factories import make_address, make_merchant, make_product, new_key, no_newbie_bonus  # noqa: F401

pytestmark = pytest.mark.usefixtures("no_newbie_bonus")
HTMX = {"HX-Request": "true"}


def orders_in_db(app):
    with app.app_context():
        return db.session.execute(select(func.count(Order.id))).scalar_one()


def stock(app, product_id):
    with app.app_context():
        return db.session.get(Product, product_id).stock


def balance(app, user_id):
    with app.app_context():
        return balance_of(user_id)


# Catalogue and product pages


def test_catalogue_filters_and_loads_more_with_htmx(client, make_product):
    for n in range(12):
        make_product(name=f"好物{n:02d}", points_price=100 + n)
    make_product(name="贵重耳机", points_price=5000)
    html = client.get("/products?sort=points_asc").get_data(as_text=True)
    assert html.count('data-testid="product-card"') == 10 and "加载更多" in html
    assert html.index("好物00") < html.index("好物09")
    more = client.get("/products?sort=points_asc&page=2", headers=HTMX)
    body = more.get_data(as_text=True)
    assert "<html" not in body and body.count('data-testid="product-card"') == 3 and "加载更多" not in body
    assert "HX-Request" in more.headers["Vary"]
    high = client.get("/products?min_points=2000").get_data(as_text=True)
    assert "贵重耳机" in high and "好物00" not in high
    assert "没有找到" in client.get("/products?q=不存在的东西").get_data(as_text=True)


@pytest.mark.parametrize("query", ["category=abc", "min_points=-1&max_points=x", "sort=<script>", "page=-3",
                                   "page=99999999999999999999", "category=99999999999999999999", "q=%25%27"])
def test_catalogue_never_fails_on_bad_parameters(client, make_product, query):
    make_product()
    assert client.get(f"/products?{query}").status_code == 200


@pytest.mark.parametrize("path", ["/products/999", "/products/99999999999999999999", "/products/abc", "/products/-1"])
def test_missing_products_are_404(client, path):
    response = client.get(path)
    html = response.get_data(as_text=True)
    assert response.status_code == 404 and ("页面不存在" in html or "商品不存在或已下架" in html)


def test_off_shelf_products_are_404(client, make_product):
    assert client.get(f"/products/{make_product(is_active=False)}").status_code == 404


def test_product_page_shows_price_stock_limits_window_and_safe_description(member_client, make_product):
    product_id = make_product(points_price=488, cash_fen=3900, stock=7, limit_day=2, limit_total=5,
                              sale_ends_at=utcnow() + timedelta(hours=3),
                              description_html='<p>好物<script>alert(1)</script><img src=x onerror="alert(2)"></p>')
    html = member_client.get(f"/products/{product_id}").get_data(as_text=True)
    assert "<b class=\"pts\">488<" in html and "¥39.00" in html and 'data-testid="stock-left">7<' in html
    assert "每人每天限兑 2 件，今日已兑 0 件" in html and "每人限兑 5 件，已兑 0 件" in html
    assert "距结束" in html and 'data-left="' in html
    assert "alert" not in html and "好物" in html
    assert "请选择" not in html and "新增收货地址" in html


def test_members_can_share_a_product_from_its_page(app, member_client, make_product):
    if "engage.share" not in app.view_functions:
        pytest.skip("the engagement area is not registered")
    product_id = make_product()
    html = member_client.get(f"/products/{product_id}").get_data(as_text=True)
    assert f'id="share-{product_id}"' in html and 'data-testid="share-button"' in html
    assert f'name="product_id" value="{product_id}"' in html


def test_anonymous_visitors_are_asked_to_log_in(client, make_product):
    html = client.get(f"/products/{make_product()}").get_data(as_text=True)
    assert "登录后兑换" in html and "/login?next=" in html


def test_upcoming_ended_and_sold_out_buttons(member_client, make_product):
    now = utcnow()
    upcoming = make_product(sale_starts_at=now + timedelta(days=1))
    ended = make_product(sale_starts_at=now - timedelta(days=2), sale_ends_at=now - timedelta(days=1))
    sold_out = make_product(stock=0)
    assert "即将开抢" in member_client.get(f"/products/{upcoming}").get_data(as_text=True)
    assert "兑换已结束" in member_client.get(f"/products/{ended}").get_data(as_text=True)
    assert 'data-testid="sold-out"' in member_client.get(f"/products/{sold_out}").get_data(as_text=True)


# Redeeming


def test_redeem_without_js_redirects_to_the_order(app, member_client, make_product):
    product_id = make_product(kind="coupon", points_price=120)
    page = f"/products/{product_id}"
    response = member_client.submit(f"{page}/redeem", {"confirmed": "1", "quantity": "2"}, page=page)
    assert response.status_code == 303
    order_id = int(re.search(r"/orders/(\d+)$", response.headers["Location"]).group(1))
    html = member_client.get(f"/orders/{order_id}").get_data(as_text=True)
    assert "兑换成功" in html and "已完成" in html and 'id="points-balance">260<' in html
    assert stock(app, product_id) == 8


def test_redeem_with_htmx_swaps_the_panel_and_the_header_balance(app, member_client, make_product):
    product_id = make_product(kind="coupon", points_price=120, stock=5)
    page = f"/products/{product_id}"
    response = member_client.submit(f"{page}/redeem", {"confirmed": "1", "quantity": "1"}, page=page, htmx=True)
    body = response.get_data(as_text=True)
    assert response.status_code == 200 and "HX-Request" in response.headers["Vary"]
    assert "<html" not in body and body.lstrip().startswith('<section id="redeem-panel"')
    assert '<span id="points-balance" hx-swap-oob="true">380</span>' in body
    assert 'data-testid="stock-left">4<' in body and 'data-testid="redeem-ok"' in body
    assert re.search(r'name="request_key"[^>]*value="[0-9a-f]{32}"', body)  # a fresh key for the next tap
    assert balance(app, member_client.user_id) == 380


def test_a_double_submit_creates_one_order(app, member_client, make_product):
    product_id = make_product(kind="coupon", points_price=100)
    page = f"/products/{product_id}"
    token_key = {"quantity": "1", "request_key": new_key(), "confirmed": "1"}
    first = member_client.submit(f"{page}/redeem", token_key, page=page)
    second = member_client.submit(f"{page}/redeem", token_key, page=page)
    assert first.headers["Location"] == second.headers["Location"]
    assert orders_in_db(app) == 1 and balance(app, member_client.user_id) == 400


@pytest.mark.parametrize("quantity, message", [
    ("abc", "数量须为整数"), ("1.5", "数量须为整数"), ("1e3", "数量须为整数"), ("", "请填写数量"),
    ("0", "每单可兑换 1 到 10 件"), ("-1", "每单可兑换 1 到 10 件"), ("11", "每单可兑换 1 到 10 件"),
    ("99999999999", "每单可兑换 1 到 10 件"), ("999999999999", "每单可兑换 1 到 10 件"),
    ("99999999999999999999", "每单可兑换 1 到 10 件"), ("-99999999999999999999", "每单可兑换 1 到 10 件"),
])
@pytest.mark.parametrize("htmx", [False, True])
def test_bad_quantities_get_a_message_by_the_field(app, member_client, make_product, quantity, message, htmx):
    product_id = make_product(kind="coupon", points_price=1)
    page = f"/products/{product_id}"
    response = member_client.submit(f"{page}/redeem", {"confirmed": "1", "quantity": quantity}, page=page, htmx=htmx)
    html = response.get_data(as_text=True)
    assert response.status_code == (200 if htmx else 422)
    assert re.search(r'id="quantity-error"[^>]*>' + re.escape(message), html)
    assert 'aria-describedby="quantity-error"' in html
    assert orders_in_db(app) == 0 and stock(app, product_id) == 10 and balance(app, member_client.user_id) == 500


def test_refusals_name_the_rule_in_the_panel_with_htmx(app, member_client, make_product):
    product_id = make_product(kind="coupon", points_price=400, limit_total=1)
    page = f"/products/{product_id}"
    member_client.submit(f"{page}/redeem", {"confirmed": "1", "quantity": "1"}, page=page, htmx=True)
    response = member_client.submit(f"{page}/redeem", {"confirmed": "1", "quantity": "1"}, page=page, htmx=True)
    body = response.get_data(as_text=True)
    assert response.status_code == 200 and "该商品每人限兑 1 件，你已兑换 1 件" in body
    assert 'id="points-balance" hx-swap-oob="true">100<' in body
    assert orders_in_db(app) == 1


def test_not_enough_points_without_js(app, member_client, make_product):
    product_id = make_product(kind="coupon", points_price=501)
    page = f"/products/{product_id}"
    response = member_client.submit(f"{page}/redeem", {"confirmed": "1", "quantity": "1"}, page=page)
    assert response.status_code == 422
    assert "积分不足：需要 501 积分，你当前有 500 积分" in response.get_data(as_text=True)
    assert orders_in_db(app) == 0 and stock(app, product_id) == 10


def test_the_level_discount_is_shown_and_charged(app, member_client, make_product):
    with app.app_context():
        with write_transaction() as session:
            from app.models import User

            session.get(User, member_client.user_id).growth = 10000  # gold: 95 % of the points price
    product_id = make_product(kind="coupon", points_price=200)
    page = f"/products/{product_id}"
    html = member_client.get(page).get_data(as_text=True)
    assert '<b class="pts">190</b>' in html and "原价 200 积分" in html and "会员折扣" in html
    member_client.submit(f"{page}/redeem", {"confirmed": "1", "quantity": "2"}, page=page)
    with app.app_context():
        order = db.session.execute(select(Order)).scalar_one()
        assert (order.points_unit, order.points_total) == (190, 380)
    assert balance(app, member_client.user_id) == 500 - 380


def test_a_level_restricted_product_says_who_may_redeem_it(app, member_client, make_product):
    product_id = make_product(kind="coupon", min_level="gold")
    page = f"/products/{product_id}"
    html = member_client.get(page).get_data(as_text=True)
    assert "仅限金卡会员及以上兑换" in html
    assert re.search(r'data-testid="redeem-blocked">\s*金卡会员及以上可兑换', html)
    response = member_client.submit(f"{page}/redeem", {"confirmed": "1", "quantity": "1", "request_key": new_key()}, page=page)
    assert response.status_code == 422
    assert "该商品仅限金卡会员及以上兑换，你当前是普通会员" in response.get_data(as_text=True)
    assert orders_in_db(app) == 0 and balance(app, member_client.user_id) == 500


def test_a_used_up_limit_disables_the_button_after_the_redemption(app, member_client, make_product):
    product_id = make_product(kind="coupon", points_price=10, limit_day=1)
    page = f"/products/{product_id}"
    body = member_client.submit(f"{page}/redeem", {"confirmed": "1", "quantity": "1"}, page=page, htmx=True).get_data(as_text=True)
    assert 'data-testid="redeem-ok"' in body and "今日已兑 1 件" in body
    assert re.search(r'data-testid="redeem-blocked">\s*今日已达兑换上限', body) and "立即兑换" not in body
    again = member_client.submit(f"{page}/redeem", {"confirmed": "1", "quantity": "1", "request_key": new_key()}, page=page, htmx=True)
    assert "该商品每人每天限兑 1 件，你今天已兑换 1 件" in again.get_data(as_text=True)
    assert orders_in_db(app) == 1


@pytest.mark.parametrize("htmx", [False, True])
def test_a_field_refusal_still_shows_when_the_product_sold_out_meanwhile(app, member_client, make_product, htmx):
    product_id = make_product(kind="coupon", points_price=10, stock=1, limit_total=1)
    page = f"/products/{product_id}"
    member_client.submit(f"{page}/redeem", {"confirmed": "1", "quantity": "1"}, page=page)
    response = member_client.submit(f"{page}/redeem", {"confirmed": "1", "quantity": "1", "request_key": new_key()}, page=page, htmx=htmx)
    body = response.get_data(as_text=True)
    assert 'data-testid="sold-out"' in body
    assert re.search(r'data-testid="redeem-error">该商品每人限兑 1 件，你已兑换 1 件<', body)
    assert orders_in_db(app) == 1


def test_too_few_points_disables_the_button_and_says_how_many_are_missing(member_client, make_product):
    html = member_client.get(f"/products/{make_product(kind='coupon', points_price=520)}").get_data(as_text=True)
    assert re.search(r'data-testid="redeem-blocked">\s*积分不足，还差 20 积分', html)


@pytest.mark.parametrize("window", ["ended", "upcoming"])
def test_redeeming_outside_the_sale_window_is_refused(app, member_client, make_product, window):
    now = utcnow()
    if window == "ended":
        product_id = make_product(kind="coupon", sale_starts_at=now - timedelta(days=2),
                                  sale_ends_at=now - timedelta(minutes=1))
        message = "兑换已结束，截止时间"
    else:
        product_id = make_product(kind="coupon", sale_starts_at=now + timedelta(hours=1))
        message = "兑换尚未开始"
    page = f"/products/{product_id}"
    response = member_client.submit(f"{page}/redeem", {"confirmed": "1", "quantity": "1", "request_key": new_key()}, page=page)
    assert response.status_code == 422 and message in response.get_data(as_text=True)
    assert orders_in_db(app) == 0 and stock(app, product_id) == 10 and balance(app, member_client.user_id) == 500


def test_goods_need_an_address_of_ones_own(app, member_client, make_member, make_product, make_address):
    product_id = make_product(points_price=100)
    foreign = make_address(make_member())
    page = f"/products/{product_id}"
    for data, message in [({}, "请选择收货地址"), ({"address_id": str(foreign)}, "收货地址不存在"),
                          ({"address_id": "x"}, "收货地址不存在"), ({"address_id": "99999999999999"}, "收货地址不存在")]:
        response = member_client.submit(f"{page}/redeem", {"confirmed": "1", "quantity": "1", **data}, page=page)
        assert response.status_code == 422
        assert re.search(r'id="address_id-error"[^>]*>' + message, response.get_data(as_text=True)), data
    mine = make_address(member_client.user_id)
    response = member_client.submit(f"{page}/redeem", {"confirmed": "1", "quantity": "1", "address_id": str(mine)}, page=page)
    assert response.status_code == 303 and orders_in_db(app) == 1


def test_redeeming_a_missing_product_is_404(member_client, make_product):
    page = f"/products/{make_product()}"
    assert member_client.submit("/products/424242/redeem", {"confirmed": "1", "quantity": "1"}, page=page).status_code == 404
    assert member_client.submit("/products/424242/redeem", {"confirmed": "1", "quantity": "1"}, page=page, htmx=True).status_code == 404


def test_redeem_needs_login_and_csrf(app, client, member_client, make_product):
    product_id = make_product(kind="coupon")
    assert member_client.post(f"/products/{product_id}/redeem", data={"confirmed": "1", "quantity": "1"}).status_code == 400
    member_client.get("/logout")
    anonymous = app.test_client()
    response = anonymous.post(f"/products/{product_id}/redeem", data={"confirmed": "1", "quantity": "1"})
    assert response.status_code in (302, 400)
    assert orders_in_db(app) == 0


# Orders


@pytest.fixture()
def goods_order(app, member_client, make_product, make_address):
    product_id = make_product(points_price=150, stock=3)
    with app.app_context():
        order = shop.redeem_product(member_client.user_id, product_id, 1, new_key(),
                                    address_id=make_address(member_client.user_id))
        return product_id, order.id


def test_orders_list_tabs_and_detail(member_client, goods_order):
    _product_id, order_id = goods_order
    html = member_client.get("/orders").get_data(as_text=True)
    assert 'data-testid="order-row"' in html and "待发货" in html
    assert 'data-testid="order-row"' not in member_client.get("/orders?tab=completed").get_data(as_text=True)
    assert 'data-testid="order-row"' in member_client.get("/orders?tab=paid").get_data(as_text=True)
    assert member_client.get("/orders?tab=<bad>").status_code == 200
    detail = member_client.get(f"/orders/{order_id}").get_data(as_text=True)
    assert 'data-testid="order-status">待发货<' in detail and "张三" in detail and "取消订单" in detail


def test_orders_load_more_with_htmx(app, member_client, make_product):
    product_id = make_product(kind="coupon", points_price=1, stock=20)
    with app.app_context():
        for _ in range(13):
            shop.redeem_product(member_client.user_id, product_id, 1, new_key())
    html = member_client.get("/orders").get_data(as_text=True)
    assert html.count('data-testid="order-row"') == 10
    before = re.search(r"before=(\d+)", html).group(1)
    more = member_client.get(f"/orders?before={before}", headers=HTMX).get_data(as_text=True)
    assert "<html" not in more and more.count('data-testid="order-row"') == 3
    for garbage in ("abc", "-5", "0", "99999999999999999999"):
        response = member_client.get(f"/orders?before={garbage}")
        assert response.status_code == 200 and response.get_data(as_text=True).count('data-testid="order-row"') == 10


@pytest.mark.parametrize("path", ["/orders/{id}", "/orders/999999", "/orders/99999999999999999999"])
def test_another_members_or_a_missing_order_is_404(app, client, goods_order, make_member, path):
    _product_id, order_id = goods_order
    login_as(client, make_member())
    assert client.get(path.format(id=order_id)).status_code == 404


def test_another_member_cannot_cancel_my_order(app, client, goods_order, make_member):
    _product_id, order_id = goods_order
    login_as(client, make_member())
    response = client.submit(f"/orders/{order_id}/cancel", page="/orders")
    assert response.status_code == 404
    with app.app_context():
        assert db.session.get(Order, order_id).status == "paid"


@pytest.mark.parametrize("action, data", [("cancel", {}), ("receive", {}), ("address", {"address_id": "1"}),
                                          ("pay/sandbox", {"outcome": "success"})])
@pytest.mark.parametrize("whose", ["another members", "missing"])
def test_buttons_on_another_members_or_a_missing_order_are_404(app, client, goods_order, make_member, action, data,
                                                              whose):
    _product_id, order_id = goods_order
    login_as(client, make_member())
    target = order_id if whose == "another members" else 424242
    assert client.submit(f"/orders/{target}/{action}", data, page="/orders").status_code == 404
    with app.app_context():
        assert db.session.get(Order, order_id).status == "paid"


@pytest.mark.parametrize("address", ["foreign", "x", "99999999999999999999", ""])
def test_an_order_address_must_be_ones_own(app, member_client, goods_order, make_member, make_address, address):
    _product_id, order_id = goods_order
    value = str(make_address(make_member(), detail="别人家 9 号")) if address == "foreign" else address
    page = f"/orders/{order_id}"
    response = member_client.submit(f"{page}/address", {"address_id": value}, page=page)
    assert response.status_code == 303 and response.headers["Location"] == page
    html = member_client.get(page).get_data(as_text=True)
    assert ("请选择收货地址" if address == "" else "收货地址不存在，请重新选择") in html
    assert "别人家" not in html
    with app.app_context():
        assert "南京东路 100 号" in db.session.get(Order, order_id).ship_address


def test_a_refused_button_without_js_is_a_message_on_the_order_page(app, member_client, goods_order):
    _product_id, order_id = goods_order
    page = f"/orders/{order_id}"
    response = member_client.submit(f"{page}/receive", page=page)
    assert response.status_code == 303 and response.headers["Location"] == page
    assert "订单尚未发货，不能确认收货" in member_client.get(page).get_data(as_text=True)
    with app.app_context():
        assert db.session.get(Order, order_id).status == "paid"


def test_cancel_returns_points_and_stock(app, member_client, goods_order):
    product_id, order_id = goods_order
    assert balance(app, member_client.user_id) == 350
    response = member_client.submit(f"/orders/{order_id}/cancel", page=f"/orders/{order_id}", htmx=True)
    assert response.status_code == 204 and response.headers["HX-Redirect"] == f"/orders/{order_id}"
    again = member_client.submit(f"/orders/{order_id}/cancel", page=f"/orders/{order_id}")
    assert again.status_code == 303
    assert balance(app, member_client.user_id) == 500 and stock(app, product_id) == 3
    html = member_client.get(f"/orders/{order_id}").get_data(as_text=True)
    assert "已取消" in html and "150 积分已退回" in html and "取消订单" not in html


def test_the_cancel_reason_is_shown_in_the_readers_language(app, member_client, goods_order, make_account):
    _product_id, order_id = goods_order
    page = f"/orders/{order_id}"
    member_client.submit(f"{page}/cancel?lang=en", page=f"{page}?lang=en")  # cancelled while reading English
    english = member_client.get(page).get_data(as_text=True)  # the cookie remembers English
    assert "Cancelled by you" in english and "会员取消" not in english
    chinese = member_client.get(f"{page}?lang=zh_CN").get_data(as_text=True)
    assert "会员取消" in chinese and "Cancelled by you" not in chinese


def test_an_operators_refund_reason_is_shown_as_written(app, member_client, goods_order, make_account):
    _product_id, order_id = goods_order
    with app.app_context():
        order_admin.refund_order(order_id, make_account("operator"), "仓库缺货，抱歉")
    assert "仓库缺货，抱歉" in member_client.get(f"/orders/{order_id}?lang=en").get_data(as_text=True)


def test_shipped_orders_show_tracking_and_can_be_received(app, member_client, goods_order, make_account):
    _product_id, order_id = goods_order
    operator = make_account("operator")
    with app.app_context():
        order_admin.ship_order(order_id, "顺丰速运", "SF1234567890", operator)
    html = member_client.get(f"/orders/{order_id}").get_data(as_text=True)
    assert "顺丰速运" in html and "SF1234567890" in html and "取消订单" not in html
    refused = member_client.submit(f"/orders/{order_id}/cancel", page=f"/orders/{order_id}", htmx=True)
    assert refused.status_code == 400 and "不能取消" in refused.get_data(as_text=True)
    assert refused.headers["HX-Retarget"] == "#toast"
    member_client.submit(f"/orders/{order_id}/receive", page=f"/orders/{order_id}")
    html = member_client.get(f"/orders/{order_id}").get_data(as_text=True)
    assert 'data-testid="order-status">已完成<' in html
    timeline = re.sub(r"\s+", " ", html.split('data-testid="order-timeline"')[1].split("</ol>")[0])
    steps = re.findall(r"<b>([^<]+)</b>", timeline)
    assert steps == ["下单", "已发货", "已完成"] and "顺丰速运 SF1234567890" in timeline


def test_points_plus_cash_pays_through_the_sandbox(app, member_client, make_product, make_address):
    product_id = make_product(points_price=199, cash_fen=3900, stock=2)
    address_id = make_address(member_client.user_id)
    page = f"/products/{product_id}"
    location = member_client.submit(f"{page}/redeem", {"confirmed": "1", "quantity": "1", "address_id": str(address_id)},
                                    page=page).headers["Location"]
    html = member_client.get(location).get_data(as_text=True)
    assert "待付款" in html and "沙箱支付" in html and "仅用于开发测试" in html and "¥39.00" in html
    response = member_client.submit(f"{location}/pay/sandbox", {"outcome": "success"}, page=location)
    assert response.status_code == 303
    html = member_client.get(location).get_data(as_text=True)
    assert "支付成功" in html and 'data-testid="order-status">待发货<' in html and "沙箱支付" not in html


def test_a_failed_sandbox_payment_can_be_paid_again_before_the_deadline(app, member_client, make_product):
    product_id = make_product(kind="coupon", points_price=50, cash_fen=100)
    page = f"/products/{product_id}"
    location = member_client.submit(f"{page}/redeem", {"confirmed": "1", "quantity": "1"}, page=page).headers["Location"]
    member_client.submit(f"{location}/pay/sandbox", {"outcome": "fail"}, page=location)
    html = member_client.get(location).get_data(as_text=True)
    assert "支付未成功，可在订单超时前重新支付" in html and "待付款" in html and 'data-testid="sandbox-pay"' in html
    assert balance(app, member_client.user_id) == 450 and stock(app, product_id) == 9   # held while payable
    assert member_client.submit(f"{location}/pay/sandbox", {"outcome": "success"}, page=location).status_code == 303
    assert "支付成功" in member_client.get(location).get_data(as_text=True)


def test_an_unpaid_order_is_cancelled_by_the_cli_job_after_fifteen_minutes(app, member_client, make_product):
    product_id = make_product(kind="coupon", points_price=120, cash_fen=990, stock=4)
    page = f"/products/{product_id}"
    location = member_client.submit(f"{page}/redeem", {"confirmed": "1", "quantity": "2"}, page=page).headers["Location"]
    assert balance(app, member_client.user_id) == 260 and stock(app, product_id) == 2
    runner = app.test_cli_runner()
    assert "cancelled 0 unpaid orders" in runner.invoke(args=["orders", "cancel-unpaid"]).output
    with app.app_context():
        with write_transaction() as session:  # fifteen minutes go by
            order = session.execute(select(Order)).scalar_one()
            order.pay_deadline = utcnow() - timedelta(seconds=1)
    assert "cancelled 1 unpaid orders" in runner.invoke(args=["orders", "cancel-unpaid"]).output
    html = member_client.get(location).get_data(as_text=True)
    assert 'data-testid="order-status">已取消<' in html and "超时未支付，已自动取消" in html and "沙箱支付" not in html
    assert balance(app, member_client.user_id) == 500 and stock(app, product_id) == 4
    with app.app_context():
        from app.services import ledger

        assert ledger.reconcile() == []


def test_production_config_hides_the_sandbox_and_refuses_its_buttons(app, member_client, make_product):
    product_id = make_product(kind="coupon", points_price=50, cash_fen=100)
    page = f"/products/{product_id}"
    location = member_client.submit(f"{page}/redeem", {"confirmed": "1", "quantity": "1"}, page=page).headers["Location"]
    token, key = member_client.form_tokens(location)
    app.config["PRODUCTION"] = True
    try:
        html = member_client.get(location).get_data(as_text=True)
        assert "沙箱支付" not in html and 'data-testid="payment-unavailable"' in html
        response = member_client.post(f"{location}/pay/sandbox",
                                      data={"csrf_token": token, "request_key": key, "outcome": "success"})
        assert response.status_code == 303
        assert "沙箱支付仅用于开发和测试，生产环境不可用" in member_client.get(location).get_data(as_text=True)
    finally:
        app.config["PRODUCTION"] = False
    with app.app_context():
        assert db.session.execute(select(Order.status)).scalar_one() == "pending_payment"


def test_a_prize_order_gets_its_address_on_the_order_page(app, member_client, make_product, make_address):
    product_id = make_product()
    with app.app_context():
        with write_transaction():
            order_id = fulfilment.grant_product(member_client.user_id, product_id, source="draw", ref="p:1").id
    html = member_client.get(f"/orders/{order_id}").get_data(as_text=True)
    assert "待填写地址" in html and "抽奖奖品" in html
    address_id = make_address(member_client.user_id, detail="人民路 8 号")
    member_client.submit(f"/orders/{order_id}/address", {"address_id": str(address_id)}, page=f"/orders/{order_id}")
    assert "人民路 8 号" in member_client.get(f"/orders/{order_id}").get_data(as_text=True)


def test_virtual_codes_show_on_the_order_page(app, member_client, make_product):
    product_id = make_product(kind="virtual", points_price=10, stock=1, codes=["CARD-0001"])
    page = f"/products/{product_id}"
    location = member_client.submit(f"{page}/redeem", {"confirmed": "1", "quantity": "1"}, page=page).headers["Location"]
    assert 'data-testid="virtual-code">CARD-0001<' in member_client.get(location).get_data(as_text=True)


# Vouchers, coupons, addresses


def test_vouchers_page_shows_a_qr_and_the_code(app, member_client, make_product, make_merchant):
    product_id = make_product(kind="voucher", merchant_id=make_merchant(), points_price=100, face_value_fen=20000)
    page = f"/products/{product_id}"
    member_client.submit(f"{page}/redeem", {"confirmed": "1", "quantity": "1"}, page=page)
    html = member_client.get("/me/vouchers").get_data(as_text=True)
    assert 'data-testid="voucher"' in html and "<svg" in html and "老街面馆" in html and "¥<b>200.00" in html
    assert re.search(r'data-testid="voucher-code">([A-Z2-7]{4} ){5}[A-Z2-7]{4}<', html)
    assert "可使用" in html


def test_coupons_page(app, member_client, make_product):
    product_id = make_product(kind="coupon", points_price=10, face_value_fen=1000, min_spend_fen=3000)
    page = f"/products/{product_id}"
    member_client.submit(f"{page}/redeem", {"confirmed": "1", "quantity": "1"}, page=page)
    html = member_client.get("/me/coupons").get_data(as_text=True)
    assert 'data-testid="coupon"' in html and "满30.00可用" in html and "有效期至" in html
    assert 'data-testid="coupon-use"' in html and "去使用" in html                   # copies the code to use it
    code = re.search(r'data-copy-text="([^"]+)"', html).group(1)
    assert code.replace("-", "") in html.replace("-", "").replace(" ", "")


def test_my_pages_need_login(client):
    for path in ("/orders", "/orders/1", "/me/vouchers", "/me/coupons", "/me/addresses", "/me/addresses/new"):
        response = client.get(path)
        assert response.status_code == 302 and "/login" in response.headers["Location"], path


@pytest.mark.parametrize("data, field, message", [
    ({"name": "", "phone": "13812345678", "region": "上海", "detail": "南京路 1 号"}, "name", "请填写收货人"),
    ({"name": "张三", "phone": "12345", "region": "上海", "detail": "南京路 1 号"}, "phone", "请输入正确的11位手机号"),
    ({"name": "张三", "phone": "13812345678", "region": "", "detail": "南京路 1 号"}, "region", "请填写省市区"),
    ({"name": "张三", "phone": "13812345678", "region": "上海", "detail": "短"}, "detail", "详细地址需为4到120个字"),
    ({"name": "张" * 21, "phone": "13812345678", "region": "上海", "detail": "南京路 1 号"}, "name", "收货人最多20个字"),
])
def test_address_form_errors_sit_by_their_fields(member_client, data, field, message):
    response = member_client.submit("/me/addresses/new", data)
    assert response.status_code == 422
    assert re.search(rf'id="{field}-error"[^>]*>{message}', response.get_data(as_text=True))


def test_adding_an_address_returns_to_the_product(member_client, make_product):
    product_id = make_product()
    data = {"name": "李四", "phone": "138 1234 5678", "region": "北京市 朝阳区", "detail": "建国路 88 号"}
    response = member_client.submit(f"/me/addresses/new?next=/products/{product_id}", data,
                                    page="/me/addresses/new")
    assert response.status_code == 303 and response.headers["Location"] == f"/products/{product_id}"
    html = member_client.get(f"/products/{product_id}").get_data(as_text=True)
    assert "李四" in html and "138****5678" in html and "checked" in html
    evil = member_client.submit("/me/addresses/new?next=https://evil.example/x", data, page="/me/addresses/new")
    assert evil.headers["Location"] == "/me/addresses"


def test_deleting_someone_elses_address_is_404(app, member_client, make_member, make_address):
    foreign = make_address(make_member())
    assert member_client.submit(f"/me/addresses/{foreign}/delete", page="/me/addresses").status_code == 404
    mine = make_address(member_client.user_id)
    assert member_client.submit(f"/me/addresses/{mine}/delete", page="/me/addresses").status_code == 303
    assert "南京东路" not in member_client.get("/me/addresses").get_data(as_text=True)


# Home and uploads


def test_home_shows_banners_categories_hot_products_and_leaderboard(app, member_client, make_product):
    from app.models import Banner, Category

    with app.app_context():
        with write_transaction() as session:
            session.add(Banner(title="大促", image="demo/banner.jpg", link="/products?sort=hot"))
            session.add(Banner(title="外链", image="demo/b2.jpg", link="https://evil.example"))
            session.add(Category(name="数码家电", symbol="数码"))
    product_id = make_product(kind="coupon", name="热卖咖啡券", points_price=10, is_hot=True)
    page = f"/products/{product_id}"
    member_client.submit(f"{page}/redeem", {"confirmed": "1", "quantity": "2"}, page=page)
    html = member_client.get("/").get_data(as_text=True)
    assert 'alt="大促"' in html and 'href="/products?sort=hot"' in html and "evil.example" not in html
    assert "数码家电" in html and "热卖咖啡券" in html and "兑换排行榜" in html and "兑换 2 件" in html
    assert 'id="points-balance">480<' in html
    if "engage.checkin" in app.view_functions:
        assert 'data-testid="checkin-entry"' in html


def test_home_for_visitors(client):
    html = client.get("/").get_data(as_text=True)
    assert "注册领500积分" in html and "商品即将上架" in html


def test_me_links_to_orders_vouchers_and_coupons(member_client):
    html = member_client.get("/me").get_data(as_text=True)
    assert 'href="/orders"' in html and 'href="/me/vouchers"' in html and 'href="/me/coupons"' in html


def test_uploads_are_served_from_the_upload_dir(app, client):
    import os

    folder = os.path.join(app.config["UPLOAD_DIR"], "demo")
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "x.jpg"), "wb") as handle:
        handle.write(b"\xff\xd8\xff")
    with client.get("/static/uploads/demo/x.jpg") as served:
        assert served.data == b"\xff\xd8\xff"
        assert served.cache_control.max_age == 31536000 and served.cache_control.immutable  # names are never reused
    assert client.get("/static/uploads/../config.py").status_code == 404
    assert client.get("/static/uploads/demo/missing.jpg").status_code == 404
    with client.get("/static/css/shop.css") as css:
        assert css.status_code == 200


# ---- confirm before spending ------------------------------------------------------------------

def test_a_spend_above_the_threshold_is_confirmed_first_without_javascript(app, member_client, make_product,
                                                                          make_address):
    product_id = make_product(name="保温杯", points_price=150)
    address = make_address(member_client.user_id, name="李四", detail="长乐路 8 号")
    page = f"/products/{product_id}"
    sheet = member_client.submit(f"{page}/redeem", {"quantity": "2", "address_id": str(address)}, page=page)
    html = sheet.get_data(as_text=True)
    assert sheet.status_code == 200 and 'data-testid="confirm-sheet"' in html        # the confirmation page
    assert 'data-testid="confirm-points">300<' in html and 'data-testid="confirm-balance-after">200<' in html
    assert "李四" in html and "长乐路 8 号" in html and "保温杯 × 2" in html
    assert orders_in_db(app) == 0 and balance(app, member_client.user_id) == 500     # nothing spent yet
    key = re.search(r'name="request_key"[^>]*value="([0-9a-f]{32})"', html).group(1)
    confirm = {"quantity": "2", "address_id": str(address), "confirmed": "1", "request_key": key}
    first = member_client.submit(f"{page}/redeem", confirm, page=page)
    second = member_client.submit(f"{page}/redeem", confirm, page=page)             # a double tap
    assert first.status_code == 303 and first.headers["Location"] == second.headers["Location"]
    assert orders_in_db(app) == 1 and balance(app, member_client.user_id) == 200


def test_the_confirmation_sheet_comes_over_htmx_and_refusals_come_before_it(app, member_client, make_product):
    product_id = make_product(kind="coupon", points_price=120)
    page = f"/products/{product_id}"
    sheet = member_client.submit(f"{page}/redeem", {"quantity": "1"}, page=page, htmx=True).get_data(as_text=True)
    assert 'data-testid="confirm-sheet"' in sheet and "<html" not in sheet and orders_in_db(app) == 0
    too_many = member_client.submit(f"{page}/redeem", {"quantity": "5"}, page=page, htmx=True).get_data(as_text=True)
    assert "积分不足" in too_many and 'data-testid="confirm-sheet"' not in too_many


def test_a_small_spend_needs_no_confirmation(app, member_client, make_product):
    product_id = make_product(kind="coupon", points_price=50)
    page = f"/products/{product_id}"
    assert member_client.submit(f"{page}/redeem", {"quantity": "1"}, page=page).status_code == 303
    assert orders_in_db(app) == 1


def test_product_cards_show_the_members_level_price_when_it_is_lower(app, client, make_member, make_product):
    make_product(name="香薰蜡烛", kind="coupon", points_price=1000)
    login_as(client, make_member(growth=20000))      # 钻石会员: 90 % of the list price
    card = client.get("/products").get_data(as_text=True).split('data-testid="level-price"')[1][:300]
    assert "<b class=\"pts\">900</b>" in card and "<s class=\"muted small\">1,000</s>" in card
    login_as(client, make_member())                  # no discount: the list price alone
    assert 'data-testid="level-price"' not in client.get("/products").get_data(as_text=True)


def test_the_limited_time_filter_lists_only_running_limited_offers(app, client, make_product):
    from datetime import timedelta

    from app.services.clock import utcnow
    now = utcnow()
    make_product(name="限时坚果", sale_starts_at=now - timedelta(hours=1), sale_ends_at=now + timedelta(hours=5))
    make_product(name="常规纸巾")
    make_product(name="已结束面膜", sale_starts_at=now - timedelta(days=2), sale_ends_at=now - timedelta(days=1))
    assert 'href="/products?limited=1"' in client.get("/").get_data(as_text=True)      # home's 更多
    page = client.get("/products?limited=1").get_data(as_text=True)
    assert "限时坚果" in page and "常规纸巾" not in page and "已结束面膜" not in page
    assert 'data-testid="limited-filter"' in page


def test_product_pictures_offer_webp_with_their_size_set(app, client):
    import re

    from app.seeds import seed_demo

    with app.app_context():
        seed_demo()
        _db_remove()
    listing = client.get("/products").get_data(as_text=True)
    card = re.search(r'<picture><source type="image/webp" srcset="([^"]+)"[^>]*><img src="([^"]+)"[^>]*'
                     r'width="240" height="240"', listing)
    assert card and card.group(2).endswith(".thumb.jpg")
    assert re.fullmatch(r"\S+\.thumb\.webp 240w, \S+\.card\.webp 480w, \S+\.webp 750w", card.group(1))
    lazy = ['loading="lazy"' in img for img in re.findall(r'<img [^>]*width="240" height="240"[^>]*>', listing)]
    assert lazy[:3] == [False, False, True]  # the first row paints at once; the rest load as they scroll in
    first = ['fetchpriority="high"' in img for img in re.findall(r'<img [^>]*width="240" height="240"[^>]*>', listing)]
    assert first[:3] == [True, True, False]  # the largest paint is fetched first
    product = re.search(r'href="/products/(\d+)"', listing).group(1)
    page = client.get(f"/products/{product}").get_data(as_text=True)
    assert re.search(r'<section class="gallery" aria-label="[^"]+" tabindex="0">', page)
    assert re.search(r'<source type="image/webp" srcset="[^" ]+\.webp"><img src="[^"]+\.jpg"[^>]*width="750" height="750"', page)
    assert "左右滑动" not in page
    with client.get(card.group(1).split(" ")[0]) as image:
        assert image.status_code == 200 and image.mimetype == "image/webp"
    home = client.get("/").get_data(as_text=True)
    strip = re.search(r'<section class="card flashsale">(.*?)</section>', home, re.S).group(1)
    shown = re.findall(r'<img src="([^"]+)"[^>]*width="140" height="140"', strip)
    assert shown and all(src.endswith(".thumb.jpg") for src in shown)  # a 140 px slot, not the 750 px picture
    assert 'sizes="140px"' in strip


def _db_remove():
    from app.extensions import db
    db.session.remove()
