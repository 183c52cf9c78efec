"""After-sales in the browser: a member asks for a return with a photo on a phone; an operator
approves it in the console at 1280x800; the member sees the step on the order page."""
from app.extensions import db
from app.models import ProductImage
from app.services import images
from app.services.tx import write_transaction
from tests.aftersale_factories import delivered_order
from tests.browser.conftest import DESKTOP, log_in
from tests.conftest import next_phone
from tests.shop_factories import make_product, no_newbie_bonus  # noqa: F401  (fixtures)


def _snapshot():
    """A stand-in for the member's photo: a soft two-colour picture, as a JPEG."""
    import io

    from PIL import Image

    gradient = Image.linear_gradient("L").resize((800, 600))
    picture = Image.merge("RGB", (gradient.point(lambda v: 90 + v // 3), gradient.point(lambda v: 140 + v // 4),
                                  Image.new("L", (800, 600), 200)))
    out = io.BytesIO()
    picture.save(out, "JPEG")
    return out.getvalue()


def test_a_member_asks_for_a_return_and_follows_the_operators_step(app, browser, live_server, page, tmp_path,
                                                                  make_member, make_account, make_product,
                                                                  no_newbie_bonus, screenshot_dir):
    member_phone, operator_phone = next_phone(), next_phone()
    member = make_member(phone=member_phone, points=2000, nickname="小林")
    operator = make_account("operator", phone=operator_phone)
    product = make_product(name="无线蓝牙耳机", points_price=1200, stock=20)
    with app.app_context():
        with write_transaction() as session:
            path = images.draw_picture("aftersale-earbuds", "耳机", "降噪 长续航", ("#4f7cff", "#8e6cff"))
            session.add(ProductImage(product_id=product, path=path, position=0))
        db.session.remove()
    order_id = delivered_order(app, member, product, operator)
    photo = tmp_path / "broken.jpg"
    photo.write_bytes(_snapshot())

    log_in(page, member_phone)
    page.goto(f"/orders/{order_id}")
    page.click("[data-testid=aftersale-entry]")
    page.check("input[name=kind][value=return]")
    page.fill("textarea[name=reason]", "左耳没有声音，充电盒指示灯不亮")
    page.set_input_files("input[name=photos]", str(photo))
    if screenshot_dir:
        page.screenshot(path=f"{screenshot_dir}/aftersale-form.png", full_page=True)
    page.click("[data-testid=aftersale-submit]")
    page.wait_for_url(f"**/orders/{order_id}")
    assert page.inner_text("[data-testid=aftersale-status]") == "待审核"
    assert page.locator(".as-thumbs img").count() == 1

    console = browser.new_context(viewport=DESKTOP, locale="zh-CN", base_url=live_server)
    admin = console.new_page()
    log_in(admin, operator_phone, landing="/admin/")
    admin.click(".console-nav >> text=售后")
    admin.click("[data-testid=aftersale-queue] >> text=无线蓝牙耳机")
    if screenshot_dir:
        admin.screenshot(path=f"{screenshot_dir}/admin-aftersale-request.png", full_page=True)
    admin.fill("textarea[name=instructions]", "请寄回：上海市黄浦区南京东路100号 积分商城售后部 收，电话 021-12345678，包裹内注明订单号")
    admin.click("[data-testid=approve]")
    admin.wait_for_selector(".flash-success")
    assert admin.inner_text("[data-testid=aftersale-status]") == "已同意"
    admin.goto("/admin/aftersales")
    if screenshot_dir:
        admin.screenshot(path=f"{screenshot_dir}/admin-aftersales.png", full_page=True)
    console.close()

    page.goto(f"/orders/{order_id}")
    assert page.inner_text("[data-testid=aftersale-status]") == "已同意"
    assert "南京东路100号" in page.inner_text("[data-testid=aftersale]")
    assert page.viewport_size == {"width": 390, "height": 844}
    if screenshot_dir:
        page.locator("[data-testid=aftersale]").scroll_into_view_if_needed()
        page.screenshot(path=f"{screenshot_dir}/aftersale-order.png", full_page=True)
