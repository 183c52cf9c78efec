"""The catalogue: filters, sorting, paging, safe descriptions, the leaderboard, code pools."""
from datetime import timedelta

import pytest
from werkzeug.datastructures import MultiDict

from app.extensions import db
from app.models import Category, Product
from app.services import addresses, catalog, shop
from app.services.catalog import PER_PAGE, ProductQuery
from app.services.clock import utcnow
from app.services.errors import DomainError, NotFound
from app.services.tx import write_transaction
from tests.shop_factories import make_product, new_key  # noqa: F401


def ids(products):
    return [p.id for p in products]


@pytest.fixture()
def shelf(db, make_product):
    with write_transaction() as session:
        session.add_all([Category(name="数码", position=1), Category(name="日用", position=2)])
    digital, daily = (c.id for c in catalog.categories())
    products = {
        "cheap": make_product(name="挂耳咖啡", points_price=300, category_id=daily, sold=50),
        "mid": make_product(name="保温杯", subtitle="316 不锈钢", points_price=1200, category_id=daily, sold=5),
        "dear": make_product(name="蓝牙耳机", points_price=2990, category_id=digital, sold=20, is_hot=True),
        "hidden": make_product(name="下架咖啡", points_price=100, is_active=False),
        "digital": digital, "daily": daily,
    }
    db.session.rollback()  # end this session's read snapshot: the products were added by other sessions
    return products


def search(**args):
    return catalog.search_products(ProductQuery.from_args(MultiDict({k: str(v) for k, v in args.items()})))[0]


def test_filters_by_category_query_and_points_tiers(shelf):
    assert set(ids(search())) == {shelf["cheap"], shelf["mid"], shelf["dear"]}
    assert set(ids(search(category=shelf["daily"]))) == {shelf["cheap"], shelf["mid"]}
    assert ids(search(q="咖啡")) == [shelf["cheap"]]
    assert ids(search(q="不锈钢")) == [shelf["mid"]]  # the subtitle counts
    assert ids(search(q="%")) == [] and ids(search(q="_")) == []  # wildcards are literal
    assert ids(search(max_points=500)) == [shelf["cheap"]]
    assert ids(search(min_points=500, max_points=2000)) == [shelf["mid"]]
    assert ids(search(min_points=2000)) == [shelf["dear"]]


def test_sorts(shelf):
    assert ids(search(sort="points_asc")) == [shelf["cheap"], shelf["mid"], shelf["dear"]]
    assert ids(search(sort="points_desc")) == [shelf["dear"], shelf["mid"], shelf["cheap"]]
    assert ids(search(sort="hot")) == [shelf["cheap"], shelf["dear"], shelf["mid"]]
    assert ids(search(sort="new")) == [shelf["dear"], shelf["mid"], shelf["cheap"]]


@pytest.mark.parametrize("args", [
    {"category": "abc", "min_points": "-5", "max_points": "1e9", "sort": "DROP TABLE", "page": "0"},
    {"category": "99999999999999999999", "min_points": "99999999999999999999", "page": "99999999999"},
    {"q": "x" * 500},
])
def test_garbage_parameters_fall_back_to_no_filter(shelf, args):
    query = ProductQuery.from_args(MultiDict(args))
    assert query.sort in catalog.SORTS and 1 <= query.page <= 1000 and len(query.q) <= 40
    catalog.search_products(query)  # never raises


def test_pages_of_ten_with_has_more(db, make_product):
    for n in range(PER_PAGE + 3):
        make_product(name=f"商品{n}")
    first, more = catalog.search_products(ProductQuery(sort="new"))
    second, more_after = catalog.search_products(ProductQuery(sort="new", page=2))
    assert len(first) == PER_PAGE and more and len(second) == 3 and not more_after
    assert not set(ids(first)) & set(ids(second))


def test_get_product_hides_what_is_off_the_shelf(shelf):
    assert catalog.get_product(shelf["cheap"]).name == "挂耳咖啡"
    for bad in (shelf["hidden"], 999999, 10**20, 0, -1, None, "1"):
        with pytest.raises(NotFound):
            catalog.get_product(bad)
    assert catalog.get_product(shelf["hidden"], include_inactive=True)


def test_descriptions_are_sanitised():
    dirty = ('<p onclick="x()">好<script>alert(1)</script><b>物</b></p><img src="javascript:alert(1)" onerror="x">'
             '<a href="javascript:alert(1)">坏</a><a href="https://example.com/a">好</a><style>p{}</style>'
             '<iframe src="https://evil"></iframe>')
    clean = catalog.sanitize_html(dirty)
    assert "script" not in clean and "onclick" not in clean and "onerror" not in clean
    assert "javascript" not in clean and "iframe" not in clean and "style" not in clean
    assert "<b>物</b>" in clean and 'href="https://example.com/a"' in clean and 'rel="noopener noreferrer"' in clean
    assert catalog.sanitize_html(None) == ""


def test_sale_state(db, make_product):
    now = utcnow()
    product = Product(stock=1, sale_starts_at=now + timedelta(hours=1), sale_ends_at=now + timedelta(hours=2))
    assert catalog.sale_state(product, now) == "upcoming"
    assert catalog.sale_state(product, now + timedelta(hours=1)) == "on_sale"
    assert catalog.sale_state(product, now + timedelta(hours=2)) == "ended"
    product.stock = 0
    assert catalog.sale_state(product, now + timedelta(hours=1)) == "sold_out"


def test_leaderboard_counts_units_redeemed_in_thirty_days(db, make_member, make_product):
    user_id = make_member(points=10000)
    a, b = make_product(name="甲", kind="coupon", points_price=1), make_product(name="乙", kind="coupon", points_price=1)
    shop.redeem_product(user_id, a, 1, new_key())
    shop.redeem_product(user_id, b, 3, new_key())
    cancelled = shop.redeem_product(user_id, make_product(name="丙", points_price=1, kind="physical"), 5, new_key(),
                                    address_id=addresses.add_address(user_id, name="甲", phone="13800000000",
                                                                region="上海", detail="一号路 1 号").id)
    shop.cancel_order(user_id, cancelled.id)
    assert [(p.name, n) for p, n in catalog.leaderboard()] == [("乙", 3), ("甲", 1)]
    assert catalog.leaderboard(now=utcnow() + timedelta(days=31)) == []


def test_code_pools_grow_stock_and_skip_duplicates(db, make_product):
    product_id = make_product(kind="virtual", stock=0)
    assert catalog.add_virtual_codes(product_id, ["A", "B", " A ", "", None]) == 2
    assert catalog.add_virtual_codes(product_id, ["B", "C"]) == 1
    db.session.expire_all()
    assert db.session.get(Product, product_id).stock == 3
    with pytest.raises(DomainError, match="只有虚拟商品"):
        catalog.add_virtual_codes(make_product(), ["X"])


def test_create_product_sanitises_and_attaches_images(db):
    product = catalog.create_product(name="新品", kind="physical", points_price=10, stock=1,
                                     description_html="<p>好</p><script>x</script>", images=["a.jpg", "b.jpg"])
    db.session.expire_all()
    row = db.session.get(Product, product.id)
    assert row.description_html == "<p>好</p>" and row.cover == "a.jpg" and len(row.images) == 2
