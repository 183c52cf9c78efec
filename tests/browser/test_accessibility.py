"""WCAG 2.1 AA on the member pages (issue 12): axe-core finds no serious or critical violation on
any member page or state visited, every page has one <h1>, and every visible control is a tap
target of at least 44x44 px (documented exception: links inside running text)."""
import pytest

from app.extensions import db
from app.models import User
from app.services import checkin, order_admin, shop
from tests.browser.a11y import audit, findings
from tests.browser.conftest import log_in
from tests.conftest import next_phone
from tests.games_factories import make_draw, make_item
from tests.shop_factories import make_address, make_product, new_key, no_newbie_bonus  # noqa: F401  (fixtures)


@pytest.fixture()
def shop_scene(app, make_member, make_product, make_address, make_account, no_newbie_bonus):
    """A member with points, a shipped order, a coupon, messages, a check-in; a draw and a treasure round."""
    phone = next_phone()
    member = make_member(points=5000, phone=phone, nickname="小安")
    goods = make_product(name="保温杯", points_price=300, stock=20)
    coupon = make_product(name="咖啡券", kind="coupon", points_price=100, stock=20)
    draw = make_draw(app)
    _item, round_id = make_item(app)
    with app.app_context():
        order = shop.redeem_product(member, goods, 1, new_key(), address_id=make_address(member))
        order_admin.ship_order(order.id, "顺丰", "SF1234567890", make_account("operator"))
        shop.redeem_product(member, coupon, 1, new_key())
        checkin.check_in(member)
        order_id = order.id
        invite = db.session.get(User, member).invite_code
        db.session.remove()
    return {"phone": phone, "goods": goods, "draw": draw, "round": round_id, "order": order_id, "invite": invite}


def _member_pages(scene):
    return ["/", "/products", f"/products/{scene['goods']}", "/checkin", "/tasks", "/promotions", "/me",
            "/me/points", "/me/profile", "/me/phone", "/me/level", "/me/addresses", "/me/addresses/new",
            "/me/vouchers", "/me/coupons", "/me/messages", "/me/code", "/me/data", "/me/delete", "/orders",
            "/orders?tab=shipped", f"/orders/{scene['order']}", "/draws", f"/draw/{scene['draw']}",
            f"/draw/{scene['draw']}/odds", f"/draw/{scene['draw']}/history", "/treasure",
            f"/treasure/{scene['round']}", "/invite", "/no-such-page"]


def _visitor_pages(scene):
    return ["/", "/products", f"/products/{scene['goods']}", "/login", "/register", "/password-help", "/draws",
            f"/draw/{scene['draw']}", "/treasure", f"/r/{scene['invite']}", "/no-such-page"]


def test_member_pages_pass_axe_and_have_large_tap_targets(page, app, shop_scene, screenshot_dir):
    log_in(page, shop_scene["phone"])
    found = audit(page, _member_pages(shop_scene))
    assert found == {}, "\n".join(f"{path}: {items}" for path, items in found.items())


def test_confirmation_sheets_pass_axe_and_have_large_tap_targets(page, app, shop_scene):
    log_in(page, shop_scene["phone"])
    page.goto(f"/treasure/{shop_scene['round']}")
    page.fill("input[name=quantity]", "10")  # 10 shares of 10 points: at the 100-point threshold
    page.click("[data-testid=buy-submit]")
    page.wait_for_selector("[data-testid=confirm-sheet]")
    assert findings(page) == []
    costly = make_draw(app, cost=150)
    page.goto(f"/draw/{costly}")
    page.click("[data-testid=draw-go]")
    page.wait_for_selector("[data-testid=confirm-sheet]")
    assert findings(page) == []


def test_pages_for_visitors_pass_axe_and_have_large_tap_targets(page, app, shop_scene):
    found = audit(page, _visitor_pages(shop_scene))
    assert found == {}, "\n".join(f"{path}: {items}" for path, items in found.items())
