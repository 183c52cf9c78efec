"""Risk review in the browser: an operator at 1280x800 sees a held order with its reason,
rejects it with a reason, and the queue empties."""
from datetime import timedelta

from app.extensions import db
from app.services import shop
from app.services.clock import utcnow
from tests.browser.conftest import console_page
from tests.conftest import next_phone
from tests.shop_factories import make_product, new_key, no_newbie_bonus  # noqa: F401  (fixtures)


def test_an_operator_rejects_a_held_order_with_a_reason(app, browser, live_server, make_member, make_account,
                                                        make_product, no_newbie_bonus, screenshot_dir):
    member = make_member(points=30000, nickname="小周", created_at=utcnow() - timedelta(days=2))
    operator_phone = next_phone()
    make_account("operator", phone=operator_phone)
    with app.app_context():
        order = shop.redeem_product(member, make_product(kind="coupon", name="星巴克100元券", points_price=25000),
                                    1, new_key())
        assert order.status == "review"
        db.session.remove()
    context, page = console_page(browser, live_server, operator_phone)
    page.goto("/admin/review")
    row = page.locator("[data-testid=review-row]")
    assert "大额订单" in row.inner_text()
    if screenshot_dir:
        page.screenshot(path=f"{screenshot_dir}/admin-review.png", full_page=True)
    row.locator("textarea").fill("疑似批量注册")
    row.get_by_role("button", name="拒绝并退回").click()
    page.locator("[data-testid=no-reviews]").wait_for()
    context.close()
