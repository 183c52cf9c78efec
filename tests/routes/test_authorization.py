"""The authorization matrix: every route of the app, for every kind of visitor.

Generated from `app.url_map`: a route with no row below fails the test, so a new route
is never added without deciding who may use it. Visitors, in the order of each row:
    anon   nobody logged in
    A      member A, on A's own objects
    B      member B, on A's objects (A's order, A's address)
    SA     staff of merchant A
    SB     staff of merchant B
    OP     an operator
Statuses: 200 page; 302 a redirect (anonymous: to the login page; staff and operators on
member pages: to their console); 303 an action done or refused with a redirect back;
403 refused; 404 not found (another member's object does not exist for B).
POSTs carry empty forms but for a fresh request key (CSRF is tested elsewhere): a member's
action then gets the refusal a form with missing fields gets, which proves the request got
past the access checks (and, for B, past the ownership check).
"""
import uuid
from datetime import timedelta

import pytest
from flask import url_for

from app.extensions import db
from app.models import Category, Draw, ProductImage, User
from app.services import packets, referrals, shop
from app.services.clock import utcnow
from tests.aftersale_factories import aftersale_row
from tests.conftest import login_as
from tests.games_factories import make_draw, make_item
from tests.shop_factories import make_address, make_merchant, make_product  # noqa: F401  (fixtures)

VISITORS = ("anon", "A", "B", "SA", "SB", "OP")

# Who may open what. Shorthands for the common rows:
PUBLIC = (200, 200, 200, 200, 200, 200)
MEMBER_PAGE = (302, 200, 200, 302, 302, 302)            # anonymous to login, staff/operators to their console
MEMBER_OWN_PAGE = (302, 200, 404, 302, 302, 302)        # ... and B gets 404 on A's object
MEMBER_ACTION = (302, 303, 303, 403, 403, 403)          # anonymous to login, staff/operators refused
MEMBER_OWN_ACTION = (302, 303, 404, 403, 403, 403)
OPERATOR_ONLY = (302, 403, 403, 403, 403, 200)
OPERATOR_ACTION = (302, 403, 403, 403, 403, 303)        # an operator's empty form: refused back to the page
STAFF_ONLY = (302, 403, 403, 200, 200, 403)

MATRIX = {
    ("main.home", "GET"): PUBLIC,
    ("health.healthz", "GET"): PUBLIC,
    ("static", "GET"): PUBLIC,
    ("shop.upload", "GET"): (404,) * 6,                 # no such upload; served to everybody when it exists
    ("auth.login", "GET"): (200, 302, 302, 302, 302, 302),
    ("auth.login", "POST"): (422, 302, 302, 302, 302, 302),
    ("auth.register", "GET"): (200, 302, 302, 302, 302, 302),
    ("auth.register", "POST"): (422, 302, 302, 302, 302, 302),
    ("auth.password_help", "GET"): PUBLIC,
    ("admin.reset_member_password", "POST"): OPERATOR_ACTION,
    ("auth.wechat_start", "GET"): (404,) * 6,          # WeChat is not configured here (tests/routes/test_wechat.py)
    ("auth.wechat_callback", "GET"): (404,) * 6,
    ("auth.logout", "POST"): (302, 303, 303, 303, 303, 303),
    ("auth.change_password", "GET"): (302, 200, 200, 200, 200, 200),  # every account has a password
    ("auth.change_password", "POST"): (302, 422, 422, 422, 422, 422),
    # the shop
    ("shop.products", "GET"): PUBLIC,
    ("shop.product", "GET"): PUBLIC,
    ("shop.redeem", "POST"): (302, 422, 422, 403, 403, 403),
    ("shop.orders", "GET"): MEMBER_PAGE,
    ("shop.order", "GET"): MEMBER_OWN_PAGE,
    ("shop.cancel", "POST"): MEMBER_OWN_ACTION,
    ("shop.receive", "POST"): MEMBER_OWN_ACTION,
    ("shop.order_address", "POST"): MEMBER_OWN_ACTION,
    ("shop.sandbox_pay", "POST"): MEMBER_OWN_ACTION,
    ("pay.wechat_return", "GET"): (302, 303, 404, 302, 302, 302),
    ("pay.wechat_notify", "POST"): (401,) * 6,          # unsigned: refused for everyone (tests/routes/test_wechat_pay.py)
    ("aftersales.new", "GET"): MEMBER_OWN_PAGE,
    ("aftersales.new", "POST"): (302, 422, 404, 403, 403, 403),
    ("aftersales.cancel", "POST"): MEMBER_OWN_ACTION,
    ("shop.my_vouchers", "GET"): MEMBER_PAGE,
    ("shop.my_coupons", "GET"): MEMBER_PAGE,
    ("shop.addresses", "GET"): MEMBER_PAGE,
    ("shop.new_address", "GET"): MEMBER_PAGE,
    ("shop.new_address", "POST"): (302, 422, 422, 403, 403, 403),
    ("shop.delete_address", "POST"): MEMBER_OWN_ACTION,
    # the personal centre
    ("me.index", "GET"): MEMBER_PAGE,
    ("me.points", "GET"): MEMBER_PAGE,
    ("me.messages_page", "GET"): MEMBER_PAGE,
    ("me.messages_read", "POST"): MEMBER_ACTION,
    ("me.data", "GET"): MEMBER_PAGE,
    ("me.data_download", "GET"): MEMBER_PAGE,
    ("me.delete_account", "GET"): MEMBER_PAGE,
    ("me.delete_account", "POST"): (302, 422, 422, 403, 403, 403),  # no confirmation word sent
    ("engage.profile", "GET"): MEMBER_PAGE,
    ("engage.profile", "POST"): (302, 422, 422, 403, 403, 403),
    ("engage.bind_phone", "GET"): MEMBER_PAGE,
    ("engage.bind_phone", "POST"): (302, 200, 200, 403, 403, 403),  # members here already have a phone
    ("engage.level", "GET"): MEMBER_PAGE,
    # earning
    ("engage.checkin", "GET"): MEMBER_PAGE,
    ("engage.do_checkin", "POST"): MEMBER_ACTION,
    ("engage.makeup", "POST"): MEMBER_ACTION,
    ("engage.tasks", "GET"): MEMBER_PAGE,
    ("engage.claim_task", "POST"): MEMBER_ACTION,
    ("engage.claim_birthday", "POST"): MEMBER_ACTION,
    ("engage.claim_packet", "POST"): MEMBER_ACTION,
    ("engage.share", "POST"): (302, 404, 404, 403, 403, 403),       # an empty share names no product
    ("engage.promotions", "GET"): PUBLIC,
    ("engage.browsed", "POST"): MEMBER_ACTION,
    ("engage.invite", "GET"): MEMBER_PAGE,
    ("engage.referral_link", "GET"): (200, 302, 302, 302, 302, 302),  # newcomers see who invites them
    # games
    ("games.index", "GET"): PUBLIC,
    ("games.draw", "GET"): PUBLIC,
    ("games.odds", "GET"): PUBLIC,
    ("games.history", "GET"): MEMBER_PAGE,
    ("games.play", "POST"): MEMBER_ACTION,
    ("games.dismiss_newbie_gift", "POST"): MEMBER_ACTION,
    ("games.treasure_index", "GET"): PUBLIC,
    ("games.treasure_round", "GET"): PUBLIC,
    ("games.treasure_records", "GET"): (404,) * 6,     # before the draw, for everybody
    ("games.treasure_buy", "POST"): (302, 422, 422, 403, 403, 403),
    # the consoles
    ("admin.index", "GET"): OPERATOR_ONLY,
    ("admin.dashboard_export", "GET"): OPERATOR_ONLY,
    ("admin.liability", "GET"): OPERATOR_ONLY,
    ("admin.liability_export", "GET"): OPERATOR_ONLY,
    # console: orders (empty forms: the operator's action is refused at its fields)
    ("admin.orders", "GET"): OPERATOR_ONLY,
    ("admin.orders_export", "GET"): OPERATOR_ONLY,
    ("admin.order", "GET"): OPERATOR_ONLY,
    ("admin.order_ship", "POST"): (302, 403, 403, 403, 403, 422),
    ("admin.order_cancel", "POST"): (302, 403, 403, 403, 403, 422),
    ("admin.order_refund", "POST"): (302, 403, 403, 403, 403, 422),
    ("admin.order_refund_cash", "POST"): (302, 403, 403, 403, 403, 422),
    ("admin.orders_ship_import", "GET"): OPERATOR_ONLY,
    ("admin.orders_ship_import", "POST"): (302, 403, 403, 403, 403, 422),
    # console: after-sales
    ("admin.aftersales", "GET"): OPERATOR_ONLY,
    ("admin.aftersale", "GET"): OPERATOR_ONLY,
    ("admin.aftersale_approve", "POST"): (302, 403, 403, 403, 403, 422),  # a return needs the instructions
    ("admin.aftersale_receive", "POST"): OPERATOR_ACTION,
    ("admin.aftersale_complete", "POST"): OPERATOR_ACTION,
    ("admin.aftersale_reject", "POST"): (302, 403, 403, 403, 403, 422),   # a rejection needs its reason
    # console: risk review (A's order is not held: approving it is a 404; empty forms are refused)
    ("admin.review", "GET"): OPERATOR_ONLY,
    ("admin.review_approve", "POST"): (302, 403, 403, 403, 403, 404),
    ("admin.review_reject", "POST"): (302, 403, 403, 403, 403, 422),   # a rejection needs its reason
    ("admin.review_rules", "POST"): (302, 403, 403, 403, 403, 422),    # every threshold is required
    ("merchant.index", "GET"): STAFF_ONLY,
    ("merchant.verify", "GET"): STAFF_ONLY,
    ("merchant.verify_confirm", "POST"): (302, 403, 403, 422, 422, 403),  # staff: an empty form is refused
    # operator console: members, merchants and staff, operators, the audit log (empty forms are refused)
    ("admin.members", "GET"): OPERATOR_ONLY,
    ("admin.member", "GET"): OPERATOR_ONLY,
    ("admin.adjust_points", "POST"): (302, 403, 403, 403, 403, 422),
    ("admin.disable_member", "POST"): (302, 403, 403, 403, 403, 303),
    ("admin.enable_member", "POST"): (302, 403, 403, 403, 403, 303),
    ("admin.merchants", "GET"): OPERATOR_ONLY,
    ("admin.merchant", "GET"): OPERATOR_ONLY,
    ("admin.new_merchant", "GET"): OPERATOR_ONLY,
    ("admin.new_merchant", "POST"): (302, 403, 403, 403, 403, 422),
    ("admin.edit_merchant", "GET"): OPERATOR_ONLY,
    ("admin.edit_merchant", "POST"): (302, 403, 403, 403, 403, 422),
    ("admin.merchant_settlement", "GET"): OPERATOR_ONLY,
    ("admin.merchant_settlement_csv", "GET"): OPERATOR_ONLY,
    ("admin.add_staff", "POST"): (302, 403, 403, 403, 403, 422),
    ("admin.disable_staff", "POST"): (302, 403, 403, 403, 403, 303),
    ("admin.enable_staff", "POST"): (302, 403, 403, 403, 403, 303),
    ("admin.reset_staff_password", "POST"): (302, 403, 403, 403, 403, 303),
    ("admin.operators", "GET"): OPERATOR_ONLY,
    ("admin.add_operator", "POST"): (302, 403, 403, 403, 403, 422),
    ("admin.disable_operator", "POST"): (302, 403, 403, 403, 403, 303),
    ("admin.enable_operator", "POST"): (302, 403, 403, 403, 403, 303),
    ("admin.reset_operator_password", "POST"): (302, 403, 403, 403, 403, 303),
    ("admin.audit", "GET"): OPERATOR_ONLY,
    ("admin.reconcile", "GET"): OPERATOR_ONLY,
    ("merchant.award", "GET"): STAFF_ONLY,
    ("merchant.award", "POST"): (302, 403, 403, 422, 422, 403),  # an empty form: refused next to its fields
    ("merchant.settlement", "GET"): STAFF_ONLY,                  # always the staff member's own merchant
    ("merchant.settlement_csv", "GET"): STAFF_ONLY,
    ("me.member_code", "GET"): MEMBER_PAGE,
    # the console: game and rule settings (empty POSTs: refused at the fields, or a flash and back)
    ("admin.rules", "GET"): OPERATOR_ONLY,
    ("admin.rule_settings", "GET"): OPERATOR_ONLY,
    ("admin.rule_settings", "POST"): (302, 403, 403, 403, 403, 422),
    ("admin.rule_packets", "GET"): OPERATOR_ONLY,
    ("admin.rule_new_packet", "GET"): OPERATOR_ONLY,
    ("admin.rule_new_packet", "POST"): (302, 403, 403, 403, 403, 422),
    ("admin.rule_edit_packet", "GET"): OPERATOR_ONLY,
    ("admin.rule_edit_packet", "POST"): (302, 403, 403, 403, 403, 422),
    ("admin.rule_switch_packet", "POST"): (302, 403, 403, 403, 403, 303),
    ("admin.rule_draws", "GET"): OPERATOR_ONLY,
    ("admin.rule_new_draw", "GET"): OPERATOR_ONLY,
    ("admin.rule_new_draw", "POST"): (302, 403, 403, 403, 403, 422),
    ("admin.rule_edit_draw", "GET"): OPERATOR_ONLY,
    ("admin.rule_edit_draw", "POST"): (302, 403, 403, 403, 403, 422),
    ("admin.rule_draw_prizes", "POST"): (302, 403, 403, 403, 403, 422),
    ("admin.rule_add_prize", "POST"): (302, 403, 403, 403, 403, 303),
    ("admin.rule_remove_prize", "POST"): (302, 403, 403, 403, 403, 303),
    ("admin.rule_treasure", "GET"): OPERATOR_ONLY,
    ("admin.rule_new_item", "GET"): OPERATOR_ONLY,
    ("admin.rule_new_item", "POST"): (302, 403, 403, 403, 403, 422),
    ("admin.rule_edit_item", "GET"): OPERATOR_ONLY,
    ("admin.rule_edit_item", "POST"): (302, 403, 403, 403, 403, 422),
    ("admin.rule_open_round", "POST"): (302, 403, 403, 403, 403, 303),
    # the operator console: products and categories (empty forms are refused: 400 or 422)
    ("admin.products", "GET"): OPERATOR_ONLY,
    ("admin.export_products", "GET"): OPERATOR_ONLY,
    ("admin.new_product", "GET"): OPERATOR_ONLY,
    ("admin.new_product", "POST"): (302, 403, 403, 403, 403, 422),
    ("admin.product", "GET"): OPERATOR_ONLY,
    ("admin.product", "POST"): (302, 403, 403, 403, 403, 422),
    ("admin.product_shelf", "POST"): (302, 403, 403, 403, 403, 400),
    ("admin.product_stock", "POST"): (302, 403, 403, 403, 403, 422),
    ("admin.product_images", "POST"): (302, 403, 403, 403, 403, 422),
    ("admin.move_product_image", "POST"): (302, 403, 403, 403, 403, 400),
    ("admin.delete_product_image", "POST"): (302, 403, 403, 403, 403, 303),  # a body-less POST is a bare button
    ("admin.import_products", "GET"): OPERATOR_ONLY,
    ("admin.import_products", "POST"): (302, 403, 403, 403, 403, 422),
    ("admin.categories", "GET"): OPERATOR_ONLY,
    ("admin.new_category", "GET"): OPERATOR_ONLY,
    ("admin.new_category", "POST"): (302, 403, 403, 403, 403, 422),
    ("admin.category", "GET"): OPERATOR_ONLY,
    ("admin.category", "POST"): (302, 403, 403, 403, 403, 303),  # no body: the stored values, saved unchanged
    ("admin.move_category", "POST"): (302, 403, 403, 403, 403, 400),
}


@pytest.fixture()
def world(app, make_member, make_account, make_merchant, make_product, make_address):
    """Two members (A with an order and an address), staff of two merchants, an operator,
    and one of everything a route can name."""
    a, b = make_member(points=5000), make_member(points=5000)
    merchant_a, merchant_b = make_merchant("甲店"), make_merchant("乙店")
    product_id = make_product(kind="coupon")
    draw_id = make_draw(app)
    item_id, round_id = make_item(app)
    with app.app_context():
        prize_id = db.session.get(Draw, draw_id).prizes[0].id
        order_id = shop.redeem_product(a, product_id, 1, "a" * 32).id
        now = utcnow()
        packet_id = packets.create_packet("红包", 10, now - timedelta(hours=1), now + timedelta(days=1), total=5).id
        code = referrals.invite_code_for(a)
        category = Category(name="分类")
        image = ProductImage(product_id=product_id, path="products/none.jpg", position=0)
        db.session.add_all([category, image])
        db.session.commit()
        category_id, image_id = category.id, image.id
        db.session.remove()
    staff_a, operator = make_account("staff", merchant_id=merchant_a), make_account("operator")
    return {
        "users": {"anon": None, "A": a, "B": b, "SA": staff_a,
                  "SB": make_account("staff", merchant_id=merchant_b), "OP": operator},
        "values": {"order_id": order_id, "address_id": make_address(a), "product_id": product_id,
                   "draw_id": draw_id, "round_id": round_id, "packet_id": packet_id, "key": "profile",
                   "code": code, "filename": "css/app.css",
                   "user_id": a, "merchant_id": merchant_a, "staff_id": staff_a, "operator_id": operator,
                   "group": "checkin", "item_id": item_id, "prize_id": prize_id,
                   "request_id": aftersale_row(app, a, order_id),
                   "category_id": category_id, "image_id": image_id},
    }


def _routes(app):
    return sorted((rule.endpoint, method, rule) for rule in app.url_map.iter_rules()
                  for method in rule.methods - {"HEAD", "OPTIONS"})


def test_every_route_has_a_row_in_the_matrix(app):
    routes = {(endpoint, method) for endpoint, method, _rule in _routes(app)}
    assert sorted(routes - MATRIX.keys()) == [], "add these routes to MATRIX: who may use them?"
    assert sorted(MATRIX.keys() - routes) == [], "these rows name routes that no longer exist"


def test_each_visitor_gets_the_expected_answer_on_every_route(app, client, world, monkeypatch):
    monkeypatch.setitem(app.config, "WTF_CSRF_ENABLED", False)
    monkeypatch.setitem(app.config, "RATELIMIT_ENABLED", False)
    wrong = []
    for endpoint, method, rule in _routes(app):
        values = {arg: world["values"][arg] for arg in rule.arguments}
        with app.test_request_context():
            path = url_for(endpoint, **values)
        for visitor, expected in zip(VISITORS, MATRIX[(endpoint, method)]):
            client.delete_cookie("session")
            client.delete_cookie("remember_token")
            if world["users"][visitor]:
                login_as(client, world["users"][visitor])
            response = client.open(path, method=method,
                                   data={"request_key": uuid.uuid4().hex} if method == "POST" else None)
            response.close()
            if response.status_code != expected:
                wrong.append(f"{method} {path} as {visitor}: {response.status_code}, expected {expected}")
    assert not wrong, "\n".join(wrong)


@pytest.mark.parametrize("visitor, console", [("SA", "/merchant/"), ("OP", "/admin/")])
def test_staff_and_operators_on_member_pages_land_in_their_own_console(client, world, visitor, console):
    login_as(client, world["users"][visitor])
    for path in ("/checkin", "/tasks", "/me", "/me/points", "/orders"):
        assert client.get(path).headers["Location"] == console


@pytest.mark.parametrize("visitor, console", [("A", "/me"), ("SA", "/merchant/"), ("OP", "/admin/")])
def test_after_login_each_account_lands_where_it_belongs(client, world, visitor, console):
    with client.application.app_context():
        phone = db.session.get(User, world["users"][visitor]).phone
        db.session.remove()
    response = client.submit("/login", {"phone": phone, "password": "secret123"})
    assert response.status_code == 303
    assert response.headers["Location"] == console


def test_anonymous_visitors_are_sent_to_log_in_first(client, world):
    for path in ("/me", "/admin/", "/merchant/", "/checkin"):
        response = client.get(path)
        assert response.status_code == 302
        assert "/login" in response.headers["Location"]
