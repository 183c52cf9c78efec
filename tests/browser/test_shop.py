"""A member redeems on a phone: the header balance and the stock change without a page
reload, the order page shows what was bought; a points + cash order is paid in the sandbox."""
import pytest

from app.extensions import db
from app.models import Product, ProductImage
from app.services.tx import write_transaction
from tests.browser.conftest import log_in
from tests.conftest import balance_of, next_phone
from tests.shop_factories import make_address, make_product, no_newbie_bonus  # noqa: F401

pytestmark = pytest.mark.usefixtures("no_newbie_bonus")


def _stock(app, product_id):
    with app.app_context():
        stock = db.session.get(Product, product_id).stock
        db.session.remove()
    return stock


def test_redeem_a_product_and_open_the_order(page, app, make_member, make_product, screenshot_dir):
    product_id = make_product(name="话费充值卡 10 元", kind="virtual", points_price=120, stock=3,
                              codes=["HF10-0001", "HF10-0002", "HF10-0003"], limit_day=2)
    phone = next_phone()
    user_id = make_member(phone=phone)
    log_in(page, phone)
    page.goto(f"/products/{product_id}")
    assert page.inner_text("#points-balance") == "500"
    assert page.inner_text("[data-testid=stock-left]") == "3"
    page.evaluate("window.__sameDocument = true")

    # A bad quantity: the message sits by the field, nothing changes.
    page.fill("#quantity", "0")
    page.click("[data-testid=redeem-submit]")
    page.wait_for_selector("#quantity-error")
    assert "每单可兑换 1 到 10 件" in page.inner_text("#quantity-error")
    assert page.inner_text("#points-balance") == "500" and page.inner_text("[data-testid=stock-left]") == "3"

    page.fill("#quantity", "1")
    page.click("[data-testid=redeem-submit]")
    sheet = page.locator("[data-testid=confirm-sheet]")     # 120 points: confirmed before anything is spent
    assert "120" in sheet.inner_text() and page.inner_text("#points-balance") == "500"
    if screenshot_dir:
        page.screenshot(path=f"{screenshot_dir}/shop-confirm.png", full_page=True)
    page.click("[data-testid=redeem-confirm]")
    page.wait_for_selector("[data-testid=redeem-ok]")
    assert page.evaluate("window.__sameDocument") is True  # no reload happened
    assert page.inner_text("#points-balance") == "380"
    assert page.inner_text("[data-testid=stock-left]") == "2"
    with app.app_context():
        assert balance_of(user_id) == 380
        db.session.remove()
    assert _stock(app, product_id) == 2
    if screenshot_dir:
        page.screenshot(path=f"{screenshot_dir}/shop-redeemed.png", full_page=True)

    page.click("[data-testid=redeem-ok] a")
    page.wait_for_url("**/orders/*")
    assert page.inner_text("[data-testid=order-status]") == "已完成"
    assert page.inner_text("[data-testid=virtual-code]") == "HF10-0001"
    assert page.inner_text("#points-balance") == "380"
    if screenshot_dir:
        page.screenshot(path=f"{screenshot_dir}/shop-order-virtual.png", full_page=True)


def test_without_javascript_the_confirmation_and_a_refusal_open_in_view(browser, live_server, app, make_member,
                                                                       make_product):
    # The product page reloads at each step: the forms post to the redeem panel's anchor, so what
    # the member must read next (the sheet, the message by the form) is on screen, not below it.
    from tests.browser.conftest import PHONE

    product_id = make_product(name="咖啡券", kind="coupon", points_price=150, stock=5,
                              description_html="<p>" + "门店通用，周末可用。" * 40 + "</p>")
    with app.app_context():
        with write_transaction() as session:  # a photo above the panel, as every product has
            session.add(ProductImage(product_id=product_id, path="products/none.jpg", position=0))
        db.session.remove()
    phone = next_phone()
    make_member(phone=phone)
    context = browser.new_context(viewport=PHONE, locale="zh-CN", base_url=live_server, java_script_enabled=False)
    page = context.new_page()
    try:
        log_in(page, phone)
        page.goto(f"/products/{product_id}")

        def on_screen(selector):
            box = page.locator(selector).bounding_box()
            return box is not None and 52 <= box["y"] and box["y"] + box["height"] <= PHONE["height"] - 60

        page.click("[data-testid=redeem-submit]")
        page.wait_for_selector("[data-testid=confirm-sheet]")
        assert on_screen("[data-testid=redeem-confirm]")
        with app.app_context():
            db.session.get(Product, product_id).stock = 0  # sold out before the tap on "confirm"
            db.session.commit()
            db.session.remove()
        page.click("[data-testid=redeem-confirm]")
        page.wait_for_selector("[data-testid=redeem-error]")
        assert "已兑完" in page.inner_text("[data-testid=redeem-error]") and on_screen("[data-testid=redeem-error]")
    finally:
        context.close()


def test_points_plus_cash_paid_in_the_sandbox(page, app, make_member, make_product, make_address, screenshot_dir):
    product_id = make_product(name="降噪蓝牙耳机", points_price=199, cash_fen=3900, stock=5)
    phone = next_phone()
    user_id = make_member(phone=phone)
    make_address(user_id, name="小李")
    log_in(page, phone)
    page.goto(f"/products/{product_id}")
    assert page.is_checked(".address-option input")
    page.click("[data-testid=redeem-submit]")
    page.click("[data-testid=redeem-confirm]")
    page.wait_for_selector("[data-testid=redeem-ok]")
    assert page.inner_text("#points-balance") == "301" and page.inner_text("[data-testid=stock-left]") == "4"
    if screenshot_dir:
        page.screenshot(path=f"{screenshot_dir}/shop-redeemed-cash.png", full_page=True)
    page.click("[data-testid=redeem-ok] a")
    page.wait_for_url("**/orders/*")
    assert page.inner_text("[data-testid=order-status]") == "待付款"
    sandbox = page.inner_text("[data-testid=sandbox-pay]")
    assert "沙箱支付" in sandbox and "不会真实扣款" in sandbox
    assert page.locator("[data-testid=countdown]").count() == 1
    if screenshot_dir:
        page.screenshot(path=f"{screenshot_dir}/shop-order-pending.png", full_page=True)
    page.click("[data-testid=sandbox-success]")
    page.wait_for_selector("text=支付成功")
    assert page.inner_text("[data-testid=order-status]") == "待发货"
    assert "小李" in page.inner_text(".oship")
    assert page.locator("[data-testid=sandbox-pay]").count() == 0
    assert page.inner_text("#points-balance") == "301"
    assert _stock(app, product_id) == 4


def test_in_english_every_sort_label_fits_its_tab(page, make_product):
    """The shelf's sort tabs at a phone's width in English ("Points: low to high"): the row scrolls;
    no label is squeezed under its text into its neighbour's."""
    make_product(name="Mug", points_price=100, stock=5)
    page.goto("/products?lang=en")
    squeezed = page.evaluate("""() => [...document.querySelectorAll('.sorts a')]
        .filter(a => a.scrollWidth > a.clientWidth + 1).map(a => a.textContent.trim())""")
    assert page.locator(".sorts a").count() >= 5 and squeezed == []
