"""The shelf (/products) is rendered once per language and member level and shared whole; each
visitor's own spots - the CSRF token, the balance, the unread badge - are filled in per request.
One member must never see another's, and a change to the shelf shows at once."""
import re

from sqlalchemy import update

from app.extensions import db
from app.models import Product
from app.routes import shop as shop_routes
from app.services import messages
from app.services.tx import write_transaction
from tests.conftest import balance_of, login_as
from tests.shop_factories import make_product  # noqa: F401  (fixture)

TOKEN_RE = re.compile(r'hx-headers=\'\{"X-CSRFToken": "([^"]+)"\}\'')


def _notify(app, user_id, n):
    with app.app_context():
        with write_transaction():
            for i in range(n):
                messages.notify(user_id, "order.shipped", {"order_id": i + 1, "name": f"包裹{i}", "carrier": "顺丰速运",
                                                           "no": f"SF{i}"})
        db.session.remove()


def _balance(app, user_id):
    with app.app_context():
        value = balance_of(user_id)
        db.session.remove()
    return value


def _renders(monkeypatch):
    calls = []
    real = shop_routes.render_page

    def counting(*args, **kwargs):
        calls.append(args[0])
        return real(*args, **kwargs)
    monkeypatch.setattr(shop_routes, "render_page", counting)
    return calls


def test_each_member_sees_their_own_balance_badge_and_token_on_the_shared_shelf(app, make_member, make_product,
                                                                                 monkeypatch):
    make_product(name="共享货架上的耳机")
    rich, poor = make_member(points=4321), make_member(points=17)
    _notify(app, rich, 3)
    renders = _renders(monkeypatch)
    pages, balances = {}, {member: _balance(app, member) for member in (rich, poor)}
    for member in (rich, poor):
        client = app.test_client()
        login_as(client, member)
        html = client.get("/products").get_data(as_text=True)
        token = TOKEN_RE.search(html).group(1)
        checkin = client.post("/checkin", headers={"HX-Request": "true", "X-CSRFToken": token},
                              data={"request_key": "a" * 32})
        assert checkin.status_code == 200  # the token filled in is this visitor's own
        pages[member] = html
    assert renders == ["shop/products.html"]  # rendered once, shared by both members of the level
    assert f'<span id="points-balance">{balances[rich]}</span>' in pages[rich]
    assert f'<span id="points-balance">{balances[poor]}</span>' in pages[poor]
    assert 'aria-label="3条未读消息">3</b>' in pages[rich] and 'id="unread-badge"' not in pages[poor]
    assert "共享货架上的耳机" in pages[poor] and "<!--slot:" not in pages[rich] + pages[poor]
    assert TOKEN_RE.search(pages[rich]).group(1) != TOKEN_RE.search(pages[poor]).group(1)


def test_visitors_and_members_get_their_own_kind_of_page(app, client, make_member, make_product):
    make_product(name="访客也能看的纸巾")
    anonymous = client.get("/products").get_data(as_text=True)
    assert "login-link" in anonymous and 'id="points-balance"' not in anonymous
    member = app.test_client()
    member_id = make_member(points=99)
    login_as(member, member_id)
    html = member.get("/products").get_data(as_text=True)
    assert f'<span id="points-balance">{_balance(app, member_id)}</span>' in html and "login-link" not in html
    assert "访客也能看的纸巾" in html


def test_a_change_to_the_shelf_shows_at_once(app, member_client, make_product):
    product = make_product(name="旧名字")
    assert "旧名字" in member_client.get("/products").get_data(as_text=True)
    with app.app_context():
        with write_transaction() as session:
            session.execute(update(Product).where(Product.id == product).values(name="新名字"))
        db.session.remove()
    html = member_client.get("/products").get_data(as_text=True)
    assert "新名字" in html and "旧名字" not in html


def test_a_flashed_message_and_odd_arguments_get_a_page_of_their_own(app, member_client, make_product,
                                                                     monkeypatch):
    make_product(name="货架商品")
    member_client.get("/products")  # the shared page exists
    renders = _renders(monkeypatch)
    with member_client.session_transaction() as session:
        session["_flashes"] = [("success", "只给这一位看的消息")]
    flashed = member_client.get("/products").get_data(as_text=True)
    assert "只给这一位看的消息" in flashed
    assert "只给这一位看的消息" not in member_client.get("/products").get_data(as_text=True)
    member_client.get("/products?utm_source=wechat")  # an argument the shelf does not read: not shared
    assert renders == ["shop/products.html", "shop/products.html"]


def test_a_page_carrying_a_token_of_its_own_is_never_shared(app):
    from flask import make_response
    from flask_wtf.csrf import generate_csrf

    from app.routes.web import shared_page

    renders, answers = [], []

    def render():  # a form that printed its CSRF token itself, not through member_slot
        renders.append(1)
        return make_response(f'<input name="csrf_token" value="{generate_csrf()}">'), None

    for _ in range(2):
        with app.test_request_context("/products"):
            answers.append((shared_page("t-token", ("products",), render).get_data(as_text=True), generate_csrf()))
    assert len(renders) == 2  # rendered for each visitor
    assert all(token in html for html, token in answers)
