"""Query budget: every member page runs at most BUDGET SQL statements once the shared cache is
warm, and the count does not grow with the number of products, orders or plays it shows.

Statements are counted at the engine (transaction control - BEGIN, COMMIT, SAVEPOINT - aside:
SQLite's BEGIN is ours, PostgreSQL's is implicit). A new member page must be listed here, or in
NOT_PAGES with the reason it is not one.
"""
import re
import uuid
from contextlib import contextmanager

import pytest
from sqlalchemy import event, select

from app.extensions import db
from app.models import Draw, Product, TreasureRound, User
from app.seeds import seed_demo
from app.seeds.accounts import DEMO_MEMBER
from app.services import addresses, catalog, checkin, draws, ledger, shop, treasure
from app.services.settings import put_setting
from app.services.tx import write_transaction
from tests.conftest import login_as, statements_sent
from tests.shop_factories import make_address, make_merchant, make_product  # noqa: F401  (fixtures)

BUDGET = 6

# Member-side GET routes that are not pages a member browses, and why.
NOT_PAGES = {
    "auth.wechat_start": "a redirect to WeChat",
    "auth.wechat_callback": "WeChat's redirect back: logs in and redirects",
    "me.data_download": "a file download, built on request",
    "shop.upload": "an uploaded image file",
    "games.treasure_records": "a text file of a round's records",
}
MEMBER_BLUEPRINTS = ("main", "auth", "engage", "games", "me", "shop", "aftersales")


@contextmanager
def counted(app):
    with app.app_context():
        engine = db.engine
    with statements_sent(engine) as statements:
        yield statements


@pytest.fixture()
def shop_floor(app):
    """The demo shop, with the demo member's history: orders, a draw play, a check-in, shares."""
    with app.app_context():
        seed_demo()
        member = db.session.execute(select(User).where(User.phone == DEMO_MEMBER[0])).scalar_one()
        with write_transaction():
            ledger.earn(member.id, 50000, "adjust", key="budget-points", growth=False)
        address = addresses.add_address(member.id, name="小李", phone="13700000001", region="上海市 黄浦区",
                                        detail="南京东路 100 号", make_default=True)
        for product in db.session.execute(select(Product).where(Product.is_active.is_(True))).scalars():
            try:
                shop.redeem_product(member.id, product.id, 1, uuid.uuid4().hex, address_id=address.id)
            except Exception:  # noqa: BLE001 - windows, levels, stock: whatever the demo refuses
                db.session.rollback()
        draw = db.session.execute(select(Draw).where(Draw.purpose == "normal", Draw.is_active.is_(True))).scalars().first()
        draws.play_draw(member.id, draw.id, uuid.uuid4().hex)
        checkin.check_in(member.id)
        rnd = treasure.open_rounds()[0]
        treasure.buy_shares(member.id, rnd.id, 1, uuid.uuid4().hex)
        order = shop.list_orders(member.id)[0][0]
        ids = {"member": member.id, "draw": draw.id, "round": rnd.id, "order": order.id,
               "product": db.session.execute(select(Product.id).where(Product.is_active.is_(True))).scalars().first(),
               "code": member.invite_code, "address": address.id}
        db.session.remove()
    return ids


def member_pages(ids):
    return [
        "/", "/products", "/products?sort=points_asc", "/products?limited=1", f"/products/{ids['product']}",
        "/checkin", "/tasks", "/promotions", "/invite", "/me", "/me/points", "/me/level", "/me/profile",
        "/me/phone", "/me/messages", "/me/code", "/me/addresses", "/me/addresses/new", "/me/vouchers",
        "/me/coupons", "/me/data", "/me/delete", "/me/password", "/orders", "/orders?tab=to_ship",
        f"/orders/{ids['order']}", f"/orders/{ids['order']}/aftersale", "/draws", f"/draw/{ids['draw']}",
        f"/draw/{ids['draw']}/odds", f"/draw/{ids['draw']}/history", "/treasure", f"/treasure/{ids['round']}",
    ]


ANONYMOUS_PAGES = ["/", "/products", "/login", "/register", "/password-help", "/draws", "/treasure"]


def anonymous_pages(ids):
    return ANONYMOUS_PAGES + [f"/products/{ids['product']}", f"/draw/{ids['draw']}", f"/r/{ids['code']}"]


def _statements(app, client, path):
    client.get(path)  # warm the shared cache
    with counted(app) as statements:
        response = client.get(path)
    return response, statements


def _over_budget(app, client, pages):
    over = {}
    for path in pages:
        response, statements = _statements(app, client, path)
        assert response.status_code in (200, 302, 303), (path, response.status_code)
        if len(statements) > BUDGET:
            over[path] = [" ".join(re.findall(r"\b(?:FROM|UPDATE|INTO) (\w+)", s)) for s in statements]
    return over


def _report(over):
    return "over budget:\n" + "\n".join(f"{path} ({len(tables)}): {', '.join(tables)}" for path, tables in over.items())


def test_every_member_page_stays_within_the_query_budget(app, client, shop_floor):
    login_as(client, shop_floor["member"])
    over = _over_budget(app, client, member_pages(shop_floor))
    assert not over, _report(over)


def test_anonymous_pages_stay_within_the_query_budget(app, client, shop_floor):
    over = _over_budget(app, client, anonymous_pages(shop_floor))
    assert not over, _report(over)


def test_the_count_does_not_grow_with_what_a_page_shows(app, client, shop_floor, make_member):
    login_as(client, shop_floor["member"])
    pages = ["/", "/products", "/orders", f"/draw/{shop_floor['draw']}/history", "/me/points", "/treasure",
             f"/treasure/{shop_floor['round']}"]
    buyers = [make_member(points=1000) for _ in range(4)]
    before = {path: len(_statements(app, client, path)[1]) for path in pages}
    with app.app_context():
        member_id = shop_floor["member"]
        for n in range(12):
            product = catalog.create_product(name=f"加量商品 {n}", kind="physical", points_price=10 + n, stock=50)
            shop.redeem_product(member_id, product.id, 1, uuid.uuid4().hex, address_id=shop_floor["address"])
            draws.play_draw(member_id, shop_floor["draw"], uuid.uuid4().hex) if n < 3 else None
        for buyer in buyers:  # other members' purchases listed on the round's page, each with a name
            treasure.buy_shares(buyer, shop_floor["round"], 1, uuid.uuid4().hex)
        db.session.remove()
    after = {path: len(_statements(app, client, path)[1]) for path in pages}
    # Twelve more products, orders and plays: no query per item. A page may add one lookup that only
    # some items need (the history's orders of product prizes, once one was won), within the budget.
    for path in pages:
        assert before[path] <= after[path] <= min(before[path] + 1, BUDGET), (path, before[path], after[path])


def test_every_member_route_is_budgeted(app, shop_floor):
    listed = {path.split("?")[0] for path in member_pages(shop_floor) + anonymous_pages(shop_floor)}
    missing = []
    for rule in app.url_map.iter_rules():
        if "GET" not in rule.methods or rule.endpoint.split(".")[0] not in MEMBER_BLUEPRINTS:
            continue
        if rule.endpoint in NOT_PAGES:
            continue
        with app.test_request_context():
            matched = [p for p in listed if _matches(app, rule, p)]
        if not matched:
            missing.append(rule.rule)
    assert missing == []


def _matches(app, rule, path):
    adapter = app.url_map.bind("localhost")
    try:
        endpoint, _args = adapter.match(path, method="GET")
    except Exception:  # noqa: BLE001 - redirects and 404s are simply not this rule
        return False
    return endpoint == rule.endpoint


def test_a_logged_in_member_reads_nothing_on_a_page_shared_whole(app, client, shop_floor):
    """Home and the shelf are shared whole, the member's own panels (a product page's, the check-in
    page's, /me's, a draw page's) are kept for them, and the member's account is this process's
    copy of its row until a write touches it: a warm visit runs no statement at all. After the
    member's points change, the next visit reads the account again (and shows the new balance)."""
    login_as(client, shop_floor["member"])
    with app.app_context():
        pool = db.engine.pool
    checkouts = []

    def checked_out(*_args):
        checkouts.append(1)
    for path in ("/", "/products", f"/products/{shop_floor['product']}", "/checkin", "/me",
                 f"/draw/{shop_floor['draw']}"):
        client.get(path)  # warm
        event.listen(pool, "checkout", checked_out)
        try:
            assert _statements(app, client, path)[1] == [], path
        finally:
            event.remove(pool, "checkout", checked_out)
        assert checkouts == [], f"{path}: a connection taken (not even a COMMIT is needed)"
    with app.app_context():
        with write_transaction():
            ledger.earn(shop_floor["member"], 7, "adjust", key="budget-more", growth=False)
        balance = db.session.get(User, shop_floor["member"]).points_balance
        db.session.remove()
    with counted(app) as statements:
        response = client.get("/me")
    assert any("FROM users" in s for s in statements)
    assert f"{balance:,}" in response.get_data(as_text=True) or str(balance) in response.get_data(as_text=True)


def _redeem_counted(app, client, shop_floor, **product):
    """The member redeems the shop floor's product, changed first by `product`: (answer, statements)."""
    with app.app_context():
        with write_transaction() as session:
            row = session.get(Product, shop_floor["product"])
            for name, value in product.items():
                setattr(row, name, value)
        db.session.remove()
    login_as(client, shop_floor["member"])
    page = client.get(f"/products/{shop_floor['product']}").get_data(as_text=True)
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page).group(1)
    with counted(app) as statements:
        answer = client.post(f"/products/{shop_floor['product']}/redeem",
                             data={"csrf_token": token, "request_key": uuid.uuid4().hex, "quantity": "1",
                                   "confirmed": "1", "address_id": str(shop_floor["address"])})
    return answer, statements


def test_a_refused_redemption_shows_the_page_again_without_reading_the_account_twice(app, client, shop_floor):
    """A refusal rolls its transaction back, which changed nothing: the answer shows the page with
    the member's account as it was read (the member's lock), not read once more after the rollback."""
    answer, statements = _redeem_counted(app, client, shop_floor, points_price=10**8, limit_day=None,  # refused
                                         limit_month=None, limit_total=None,  # under the lock: too few points
                                         sale_starts_at=None, sale_ends_at=None)
    assert answer.status_code == 422 and "积分不足" in answer.get_data(as_text=True)
    assert len([s for s in statements if re.search(r"\bFROM users\b", s)]) == 1, statements


def test_a_sold_out_product_is_refused_by_reads_alone(app, client, shop_floor):
    """Once a hot product sells out, the rest of a storm is refused before anything is written: no
    write transaction to roll back (which would also make psycopg forget its prepared statements)."""
    # On sale, without limits (the member redeemed it before): only sold out.
    answer, statements = _redeem_counted(app, client, shop_floor, stock=0, limit_day=None, limit_month=None,
                                         limit_total=None, sale_starts_at=None, sale_ends_at=None)
    assert answer.status_code == 422 and "该商品已兑完" in answer.get_data(as_text=True)
    writes = [s for s in statements if re.match(r"\s*(INSERT|UPDATE|DELETE)\b", s, re.IGNORECASE)]
    assert writes == [] and len(statements) <= 4, statements


@pytest.mark.parametrize("kind", ["voucher", "coupon", "physical"])
def test_a_redemption_writes_its_order_once(app, make_member, make_product, make_merchant, make_address, kind):
    """An order row has many indexes: it is inserted whole (number, charge, delivery), never updated
    in the transaction that makes it."""
    with app.app_context():
        with write_transaction():
            put_setting("earn.invite", {"enabled": True, "points": 100, "pay_on": "first_redeem", "per_ip_daily": 5})
        db.session.remove()
    user_id = make_member(points=5000)
    extra = {"merchant_id": make_merchant(), "face_value_fen": 1000} if kind == "voucher" else {}
    product_id = make_product(kind=kind, points_price=100, **extra)
    address_id = make_address(user_id) if kind == "physical" else None
    with counted(app) as statements, app.app_context():
        order = shop.redeem_product(user_id, product_id, 1, uuid.uuid4().hex, address_id=address_id)
        number, status = order.number, order.status
        db.session.remove()
    # Referrals pay on a first redemption here, but nobody invited this member: none is looked for.
    assert not [s for s in statements if "referrals.invitee_id" in s]
    on_orders = [s for s in statements if re.match(r"\s*(INSERT INTO|UPDATE)\s+orders\b", s)]
    assert len(on_orders) == 1 and on_orders[0].lstrip().startswith("INSERT"), on_orders
    assert number.endswith(f"{order.id:06d}") and status == ("paid" if kind == "physical" else "completed")
