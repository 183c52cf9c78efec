"""Shared web helpers: money formatting (role checks: tests/routes/test_authorization.py)."""
import pathlib
import re
from datetime import datetime, timezone

import pytest
from flask_babel import force_locale, format_datetime

import app as app_package
from app.routes.web import _shanghai
from app.services.clock import to_shanghai
from app.services.money import yuan
from app.extensions import db as _db
from tests.shop_factories import make_merchant, make_product  # noqa: F401  (fixtures)


@pytest.mark.parametrize("fen, text", [(0, "0.00"), (3900, "39.00"), (5, "0.05"), (123456, "1234.56"), (-150, "-1.50"),
                                       (None, "0.00")])
def test_fen_shown_as_yuan(app, fen, text):
    assert yuan(fen) == text
    with app.test_request_context():
        assert app.jinja_env.filters["yuan"](fen) == text


def _template_patterns():
    patterns = set()
    for path in pathlib.Path(app_package.__file__).parent.joinpath("templates").rglob("*.html"):
        patterns |= set(re.findall(r"shanghai\('([^']*)'\)", path.read_text(encoding="utf-8")))
    return sorted(patterns | {"yyyy-MM-dd HH:mm"})  # the filter's default


@pytest.mark.parametrize("locale", ["zh_Hans_CN", "en"])
def test_moments_are_written_as_babel_would_in_shanghai_time(app, locale):
    moments = [datetime(2026, 12, 31, 15, 59, 59, tzinfo=timezone.utc),  # 23:59:59 in Shanghai
               datetime(2026, 12, 31, 16, 0, tzinfo=timezone.utc),  # the new year there
               datetime(2027, 2, 28, 23, 5, 7, tzinfo=timezone.utc), datetime(2026, 6, 1, 0, 0, 1)]  # naive: UTC
    patterns = _template_patterns()
    assert len(patterns) >= 5
    with app.test_request_context(), force_locale(locale):
        for pattern in patterns + ["MMM d, yyyy", "EEEE HH:mm", "yyyy'年'MM'月'"]:  # others: Babel's own
            for moment in moments:
                assert _shanghai(moment, pattern) == format_datetime(to_shanghai(moment), pattern), (pattern, moment)
        assert _shanghai(None) == ""


@pytest.mark.parametrize("role, inside, outside", [
    ("operator", 'class="console-nav"', 'class="tabbar"'),
    ("staff", 'class="merchant-bar"', 'class="tabbar"'),
])
def test_staff_and_operators_see_error_pages_inside_their_console(client, make_account, make_merchant, role,
                                                                  inside, outside):
    from tests.conftest import login_as

    extra = {"merchant_id": make_merchant()} if role == "staff" else {}
    login_as(client, make_account(role, **extra))
    for path in ("/admin/orders/999999", "/merchant/no-such-page", "/no-such-page"):
        response = client.get(path)
        page = response.get_data(as_text=True)
        assert response.status_code in (403, 404), path
        assert inside in page and outside not in page, path
    home = {"operator": "/admin/", "staff": "/merchant/"}[role]
    assert f'href="{home}"' in page


def test_members_and_visitors_see_error_pages_in_the_mall(client, make_member):
    from tests.conftest import login_as

    assert 'class="console-nav"' not in client.get("/no-such-page").get_data(as_text=True)
    login_as(client, make_member())
    page = client.get("/no-such-page").get_data(as_text=True)
    assert "页面不存在" in page and 'class="console-nav"' not in page and 'class="merchant-bar"' not in page


@pytest.mark.parametrize("header, expected", [
    ("en-US,en;q=0.9", "lang=\"en\""),
    ("zh-CN,zh;q=0.9,en;q=0.8", "lang=\"zh-CN\""),
    ("fr-FR,fr;q=0.9", "lang=\"zh-CN\""),             # neither: the mall's own language
])
def test_the_browsers_language_is_honoured(client, header, expected):
    page = client.get("/products", headers={"Accept-Language": header})
    assert expected in page.get_data(as_text=True)
    assert "Accept-Language" in page.headers["Vary"]


def test_a_chosen_language_beats_the_browsers(client):
    client.get("/products?lang=zh_CN")                 # chosen on /me: remembered in a cookie
    page = client.get("/products", headers={"Accept-Language": "en-US,en;q=0.9"}).get_data(as_text=True)
    assert 'lang="zh-CN"' in page


def test_me_offers_a_language_switch(client, make_member):
    from tests.conftest import login_as

    login_as(client, make_member())
    page = client.get("/me").get_data(as_text=True)
    assert 'href="/me?lang=en"' in page and 'data-testid="language-switch"' in page
    english = client.get("/me?lang=en").get_data(as_text=True)
    assert 'href="/me?lang=zh_CN"' in english and "中文" in english


@pytest.mark.parametrize("accept, encoding", [("br, gzip", "br"), ("gzip", "gzip")])
def test_pages_are_compressed_for_clients_that_accept_it(client, accept, encoding):
    plain = client.get("/products")
    packed = client.get("/products", headers={"Accept-Encoding": accept})
    assert "Content-Encoding" not in plain.headers
    assert packed.headers["Content-Encoding"] == encoding and "Accept-Encoding" in packed.headers["Vary"]
    assert len(packed.data) < len(plain.data) / 2


def test_a_database_outage_is_a_clear_503_and_nothing_half_done(app, member_client, make_product, monkeypatch):
    from sqlalchemy.exc import OperationalError

    from app.models import Order
    from app.services import catalog, shop

    product = make_product(kind="virtual", points_price=10)

    def down(*_args, **_kwargs):
        raise OperationalError("SELECT 1", {}, Exception("server closed the connection unexpectedly"))

    monkeypatch.setattr(catalog, "search_products", down)
    page = member_client.get("/products")
    assert page.status_code == 503 and page.headers["Retry-After"] == "5"
    assert "服务暂时不可用" in page.get_data(as_text=True) and "没有生效" in page.get_data(as_text=True)
    monkeypatch.setattr(shop, "redeem_product", down)
    form = member_client.submit(f"/products/{product}/redeem", {"quantity": "1", "confirmed": "1"},
                                page=f"/products/{product}", htmx=True)
    assert form.status_code == 503 and form.headers["HX-Retarget"] == "#toast"
    with app.app_context():
        assert _db.session.query(Order).count() == 0
        _db.session.remove()
    monkeypatch.undo()
    assert member_client.get("/products").status_code == 200  # back by itself when the database is


def test_one_chinese_word_reads_as_its_place_means_in_english(client, app, make_member, make_account, make_product):
    """商品 is the tab bar's "Shop", a list's "Products" and a column's "Product"; 会员 a page's "Members";
    抽奖 the draw button's "Play" and the console's "Lucky draws"."""
    from tests.conftest import login_as
    from tests.games_factories import make_draw

    english = {"Accept-Language": "en"}
    make_product(name="Mug", points_price=100, stock=5)
    draw = make_draw(app)
    login_as(client, make_member(points=1000))
    shelf = client.get("/products", headers=english).get_data(as_text=True)
    assert re.search(r'<h1 class="sr-only">Products</h1>', shelf)
    assert re.search(r'href="/products"[^>]*>.*?Shop', shelf, re.S)
    assert re.search(r'data-testid="draw-go">Play<small>', client.get(f"/draw/{draw}", headers=english)
                     .get_data(as_text=True))
    login_as(client, make_account("operator"))
    orders = client.get("/admin/orders", headers=english).get_data(as_text=True)
    assert re.search(r"<label>Product\s*<input", orders)  # the filter by product
    assert "Orders: 0" in orders  # a count said as a label: never "1 orders"
    assert ">Products</a>" in orders and ">Members</a>" in orders  # the side navigation
    assert "<h1>Lucky draws</h1>" in client.get("/admin/rules/draws", headers=english).get_data(as_text=True)
    assert "<h1>Members</h1>" in client.get("/admin/members", headers=english).get_data(as_text=True)
    # 分类 is a field's "Category"; 上架 a state ("On shelf") or a button ("Put on shelf").
    make_product(name="Cup", points_price=100, stock=5, is_active=False)
    products = client.get("/admin/products", headers=english).get_data(as_text=True)
    assert re.search(r"<label>Category<select", products) and ">Put on shelf</button>" in products


def test_a_kind_of_product_is_singular_and_a_members_list_plural(client, make_member, make_product):
    """优惠券 is a product's kind ("Coupon") on its card, and "Coupons" as the member's own list."""
    from tests.conftest import login_as

    english = {"Accept-Language": "en"}
    make_product(name="Coffee", kind="coupon", points_price=100, stock=5)
    login_as(client, make_member(points=1000))
    shelf = client.get("/products", headers=english).get_data(as_text=True)
    assert ">Coupon<" in shelf and ">Coupons<" not in shelf
    assert "<small>points</small>" in shelf  # 积分 after a number is the unit; as a column, "Points"
    me = client.get("/me", headers=english).get_data(as_text=True)
    assert re.search(r'href="/me/coupons"[^>]*>.*?Coupons', me, re.S)
