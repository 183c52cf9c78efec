"""An operator creates a product with an image in the console at 1280x800; a member then redeems it on a
phone (390x844) and sees the order with that image."""

import pytest
from PIL import Image
from sqlalchemy import select

from app.extensions import db
from app.models import Category, Product
from app.services import images
from tests.browser.conftest import DESKTOP, log_in
from tests.conftest import next_phone
from tests.shop_factories import make_address, make_product, no_newbie_bonus  # noqa: F401

pytestmark = pytest.mark.usefixtures("no_newbie_bonus")


@pytest.fixture()
def desk(browser, live_server):
    context = browser.new_context(viewport=DESKTOP, locale="zh-CN", base_url=live_server)
    page = context.new_page()
    page.set_default_timeout(15000)
    yield page
    context.close()


def _png(path):
    image = Image.new("RGB", (1200, 900), (30, 110, 200))
    for x in range(300, 900):
        for y in range(250, 650, 40):
            image.putpixel((x, y), (255, 255, 255))
    image.save(path, "PNG")
    return path


def test_an_operator_creates_a_product_with_an_image_and_a_member_redeems_it(
        desk, page, app, make_account, make_member, make_address, tmp_path, screenshot_dir):
    with app.app_context():
        db.session.add(Category(name="家居", symbol="🏠"))
        db.session.commit()
        db.session.remove()
    operator_phone = next_phone()
    make_account("operator", phone=operator_phone)
    desk.goto("/login")
    desk.fill("input[name=phone]", operator_phone)
    desk.fill("input[name=password]", "secret123")
    desk.click("form button[type=submit]")
    desk.wait_for_url("**/admin/")

    desk.click("nav.console-nav >> text=商品")
    desk.wait_for_url("**/admin/products")
    desk.click("[data-testid=new-product]")
    desk.wait_for_url("**/admin/products/new")
    desk.fill("#name", "北欧风陶瓷马克杯")
    desk.fill("#subtitle", "350ml · 哑光釉面")
    desk.select_option("#category_id", label="家居")
    desk.fill("#points_price", "0")
    desk.fill("#stock", "12")
    desk.fill("#description", "<p>手工上釉，<strong>可进洗碗机</strong></p><script>alert(1)</script>")
    desk.click("[data-testid=product-save]")
    # A price of nothing is refused at the field; the rest of the form stays filled in.
    assert desk.inner_text("#points_price-error") == "积分和现金不能都为 0"
    assert desk.input_value("#name") == "北欧风陶瓷马克杯"
    desk.fill("#points_price", "260")
    desk.click("[data-testid=product-save]")
    desk.wait_for_url("**/admin/products/*")
    assert "商品已创建" in desk.inner_text(".flashes")
    desk.set_input_files("#image", str(_png(tmp_path / "mug.png")))
    desk.click("[data-testid=image-upload]")
    desk.wait_for_selector(".console-images img")
    assert "已上传 1 张图片" in desk.inner_text(".flashes")
    assert desk.inner_text("[data-testid=description-preview]") == "手工上釉，可进洗碗机"
    if screenshot_dir:
        desk.screenshot(path=f"{screenshot_dir}/admin-product-edit.png", full_page=True)
    with app.app_context():
        product = db.session.execute(select(Product).where(Product.name == "北欧风陶瓷马克杯")).unique().scalar_one()
        product_id, cover = product.id, product.cover
        assert (product.points_price, product.stock, product.category.name) == (260, 12, "家居")
        with Image.open(images.upload_dir() / cover) as detail:
            assert detail.size == (750, 563)
        db.session.remove()

    phone = next_phone()
    member = make_member(phone=phone, points=1000)
    make_address(member, name="小周")
    log_in(page, phone)
    page.goto(f"/products/{product_id}")
    assert page.inner_text("[data-testid=product-name]") == "北欧风陶瓷马克杯"
    assert cover in page.get_attribute(".gallery img", "src")
    assert page.locator(".rich script").count() == 0
    page.click("[data-testid=redeem-submit]")
    page.click("[data-testid=redeem-confirm]")          # the confirmation sheet: product, points, address
    page.wait_for_selector("[data-testid=redeem-ok]")
    assert page.inner_text("[data-testid=stock-left]") == "11"
    page.click("[data-testid=redeem-ok] a")
    page.wait_for_url("**/orders/*")
    assert page.inner_text("[data-testid=order-status]") == "待发货"
    body = page.inner_text("main")
    assert "北欧风陶瓷马克杯" in body and "小周" in body
    assert images.rendition_path(cover, "thumb") in page.get_attribute(".orow-img img", "src")  # the small one
    if screenshot_dir:
        page.screenshot(path=f"{screenshot_dir}/shop-order-from-console.png", full_page=True)


def _log_in_operator(desk, make_account):
    phone = next_phone()
    make_account("operator", phone=phone)
    desk.goto("/login")
    desk.fill("input[name=phone]", phone)
    desk.fill("input[name=password]", "secret123")
    desk.click("form button[type=submit]")
    desk.wait_for_url("**/admin/")


def test_an_operator_imports_a_gb18030_csv_and_reads_the_error_report(desk, app, make_account, make_product,
                                                                        tmp_path, screenshot_dir):
    from app.services.product_admin import HEADERS

    with app.app_context():
        db.session.add_all([Category(name="美食", symbol="🍜", position=10), Category(name="数码", symbol="📱", position=20),
                            Category(name="出行", symbol="🚗", position=30, is_active=False)])
        db.session.commit()
        db.session.remove()
    for i, (name, kind, stock) in enumerate([("保温杯", "physical", 40), ("咖啡满减券", "coupon", 6),
                                             ("视频会员月卡", "virtual", 0), ("蓝牙耳机", "physical", 3)]):
        make_product(name=name, kind=kind, stock=stock, points_price=100 * (i + 1), face_value_fen=500,
                     is_hot=i == 0, is_active=i != 3)
    _log_in_operator(desk, make_account)
    desk.goto("/admin/products")
    assert desk.locator(".console-table tbody tr").count() == 4
    if screenshot_dir:
        desk.screenshot(path=f"{screenshot_dir}/admin-products.png", full_page=True)
    desk.check("input[name=low]")
    desk.click(".console-filters button[type=submit]")
    desk.wait_for_url("**low=1**")
    assert desk.locator(".console-table tbody tr").count() == 3  # stock 6, 0 and 3

    desk.goto("/admin/categories")
    assert [t.strip() for t in desk.locator(".console-table tbody td:nth-child(2)").all_inner_texts()] == ["美食", "数码", "出行"]
    if screenshot_dir:
        desk.screenshot(path=f"{screenshot_dir}/admin-categories.png", full_page=True)

    rows = [["台灯", "", "实物", "数码", "", "300", "", "", "", "10", "", "", "", "", "", "30", "", "", "", "0", "否", "是", ""],
            ["坏价格", "", "实物", "", "", "免费", "", "", "", "5", "", "", "", "", "", "30", "", "", "", "0", "否", "是", ""],
            ["无主券", "", "商户券", "", "", "100", "", "20", "", "-1", "", "", "", "", "", "30", "", "", "", "0", "否", "是", ""]]
    text = ",".join(HEADERS) + "\r\n" + "\r\n".join(",".join(r) for r in rows) + "\r\n"
    path = tmp_path / "商品.csv"
    path.write_bytes(text.encode("gb18030"))
    desk.goto("/admin/products/import")
    desk.set_input_files("#file", str(path))
    desk.click("[data-testid=import-form] button[type=submit]")
    desk.wait_for_selector("[data-testid=import-report]")
    report = desk.inner_text("[data-testid=import-report]")
    assert "共 3 行：1 行无误，2 行有误。" in report and "未导入任何商品" in report
    assert "积分：积分须为整数" in report and "商户：商户券须选择核销商户" in report
    if screenshot_dir:
        desk.screenshot(path=f"{screenshot_dir}/admin-import-report.png", full_page=True)
    desk.set_input_files("#file", str(path))
    desk.check("#valid_only")
    desk.click("[data-testid=import-form] button[type=submit]")
    desk.wait_for_selector("[data-testid=import-report]")
    assert "已导入 1 个商品" in desk.inner_text("[data-testid=import-report]")
    with app.app_context():
        assert db.session.execute(select(Product.name).where(Product.name == "台灯")).scalar_one() == "台灯"
        db.session.remove()

    desk.goto("/admin/products/new")
    desk.fill("#name", "")
    desk.fill("#stock", "-5")
    desk.fill("#sale_starts_at", "2026-12-02T10:00")
    desk.fill("#sale_ends_at", "2026-12-01T10:00")
    desk.click("[data-testid=product-save]")
    assert desk.inner_text("#name-error") == "请填写商品名称"
    assert desk.inner_text("#stock-error") == "库存须在 0 到 1000000 之间"
    if screenshot_dir:
        desk.screenshot(path=f"{screenshot_dir}/admin-product-form-errors.png", full_page=True)
