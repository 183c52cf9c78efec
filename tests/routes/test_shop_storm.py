"""Storms over real HTTP: hundreds of members tapping 立即兑换 at once on a product with stock 10.

Members are signed in up front (a signed session cookie each, as a login would leave);
every thread then GETs the product page for its CSRF token and request key, waits at a
barrier, and POSTs. Run on SQLite and on PostgreSQL (DATABASE_URL).
"""
import itertools
import re
import time

import pytest
import requests
from sqlalchemy import func, select

from app.extensions import db
from app.models import Order, Product, User
from app.services import ledger
from app.services.accounts import hash_password
from app.services.tx import write_transaction
from tests.concurrency import run_concurrently
from tests.conftest import session_id_of
from tests.shop_factories import make_product, no_newbie_bonus  # noqa: F401

pytestmark = [pytest.mark.storm, pytest.mark.usefixtures("no_newbie_bonus")]

CSRF_RE = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')
REFUSAL_RE = re.compile(r'class="(?:form-error redeem-error|field-error)"[^>]*>([^<]+)<')
KEY_RE = re.compile(r'name="request_key"[^>]*value="([0-9a-f]{32})"')
_phones = itertools.count(1)
PRICE, START = 100, 1000


def bulk_members(app, n):
    """n members with START points each, in one transaction (one password hash for all: speed)."""
    with app.app_context():
        password_hash = hash_password("secret123")
        with write_transaction() as session:
            users = [User(phone=f"177{next(_phones):08d}", password_hash=password_hash, role="member")
                     for _ in range(n)]
            session.add_all(users)
            session.flush()
            for user in users:
                ledger.earn(user.id, START, "adjust", key="storm-points", growth=False)
            ids = [u.id for u in users]
        db.session.remove()
    return ids


def signed_in_session(app, base, user_id):
    """A requests.Session carrying a signed Flask session for the member."""
    http = requests.Session()
    http.trust_env = False
    with app.app_context():
        session_id = session_id_of(user_id)
        db.session.remove()
    cookie = app.session_interface.get_signing_serializer(app).dumps({"_user_id": session_id, "_fresh": True})
    http.cookies.set(app.config["SESSION_COOKIE_NAME"], cookie, domain="127.0.0.1", path="/")
    return http


def storm(app, base, product_id, user_ids):
    """One thread per entry of user_ids: GET the page, wait for everyone, POST the redeem form."""
    page = f"{base}/products/{product_id}"
    sessions = []

    def open_form(i):
        http = signed_in_session(app, base, user_ids[i])
        sessions.append(http)
        html = http.get(page, timeout=60).text
        return http, CSRF_RE.search(html).group(1), KEY_RE.search(html).group(1)

    def tap(i, form):
        http, token, key = form
        response = http.post(f"{page}/redeem", data={"csrf_token": token, "request_key": key, "quantity": "1", "confirmed": "1"},
                             allow_redirects=False, timeout=90)
        if response.status_code == 303:
            return "ok", user_ids[i]
        if response.status_code == 422:
            message = REFUSAL_RE.search(response.text)
            return "refused", message.group(1) if message else response.text[:200]
        raise AssertionError(f"HTTP {response.status_code}: {response.text[:200]}")

    started = time.monotonic()
    try:
        outcome = run_concurrently(None, tap, len(user_ids), prepare=open_form)
    finally:
        for http in sessions:
            http.close()
    return outcome.results, outcome.errors, time.monotonic() - started


def check_books(app, product_id, user_ids, limit):
    with app.app_context():
        db.session.remove()
        product = db.session.get(Product, product_id)
        per_member = dict(db.session.execute(
            select(Order.user_id, func.count(Order.id)).where(Order.product_id == product_id).group_by(Order.user_id)
        ).all())
        balances = dict(db.session.execute(
            select(User.id, User.points_balance).where(User.id.in_(set(user_ids)))).all())
        reconcile = ledger.reconcile()
    assert sum(per_member.values()) == 10 and (product.stock, product.sold) == (0, 10)
    assert max(per_member.values()) <= limit
    assert all(balances[uid] == START - PRICE * per_member.get(uid, 0) for uid in balances)
    assert min(balances.values()) >= 0
    assert reconcile == []
    return per_member


def test_three_hundred_taps_by_a_hundred_members_sell_exactly_ten(app, live_server, make_product):
    product_id = make_product(kind="coupon", points_price=PRICE, stock=10, limit_total=2)
    members = bulk_members(app, 100)
    taps = [uid for uid in members for _ in range(3)]  # everyone taps three times, over the limit of 2
    outcomes, errors, seconds = storm(app, live_server, product_id, taps)
    assert errors == []
    assert len(outcomes) == 300 and sum(1 for kind, _ in outcomes if kind == "ok") == 10
    refusals = {message for kind, message in outcomes if kind == "refused"}
    assert refusals <= {"该商品已兑完，库存为 0", "该商品每人限兑 2 件，你已兑换 2 件",
                        "该商品每人限兑 2 件，你已兑换 1 件"} | {m for m in refusals if m.startswith("库存不足")}
    check_books(app, product_id, members, limit=2)
    print(f"\nstorm: 300 taps by 100 members in {seconds:.1f}s")


def test_three_hundred_taps_by_one_member_with_a_limit_of_two(app, live_server, make_product):
    product_id = make_product(kind="coupon", points_price=PRICE, stock=10, limit_total=2)
    greedy = bulk_members(app, 1)[0]
    outcomes, errors, seconds = storm(app, live_server, product_id, [greedy] * 300)
    assert errors == []
    assert sum(1 for kind, _ in outcomes if kind == "ok") == 2
    assert {message for kind, message in outcomes if kind == "refused"} == {"该商品每人限兑 2 件，你已兑换 2 件"}
    with app.app_context():
        orders = db.session.execute(select(func.count(Order.id))).scalar_one()
        stock = db.session.get(Product, product_id).stock
        balance = db.session.get(User, greedy).points_balance
        assert ledger.reconcile() == []
    assert (orders, stock, balance) == (2, 8, START - 2 * PRICE)
    print(f"\nstorm: 300 taps by one member in {seconds:.1f}s")


def test_twenty_simultaneous_taps_with_one_request_key_make_one_order(app, live_server, make_product):
    """A double (or twenty-fold) tap of the same page: the same form, the same request key."""
    product_id = make_product(kind="coupon", points_price=PRICE, stock=10)
    member = bulk_members(app, 1)[0]
    page = f"{live_server}/products/{product_id}"
    http = signed_in_session(app, live_server, member)
    html = http.get(page, timeout=60).text
    form = {"csrf_token": CSRF_RE.search(html).group(1), "request_key": KEY_RE.search(html).group(1), "quantity": "1",
            "confirmed": "1"}
    cookies = http.cookies.get_dict()
    http.close()

    def tap(_i):
        with requests.Session() as tapper:
            tapper.trust_env = False
            tapper.cookies.update(cookies)
            response = tapper.post(f"{page}/redeem", data=form, allow_redirects=False, timeout=90)
        assert response.status_code == 303, f"HTTP {response.status_code}: {response.text[:200]}"
        return response.headers["Location"]

    outcome = run_concurrently(None, tap, 20)
    errors, locations = outcome.errors, outcome.results
    assert errors == [] and len(locations) == 20 and len(set(locations)) == 1
    with app.app_context():
        db.session.remove()
        assert db.session.execute(select(func.count(Order.id))).scalar_one() == 1
        assert db.session.get(Product, product_id).stock == 9
        assert db.session.get(User, member).points_balance == START - PRICE
        assert ledger.reconcile() == []
