"""Operator console, products and categories: forms refuse bad input at the field, changes are audited,
XSS in names and descriptions is neutralised, images are checked and resized, CSV goes out and back in."""
import io
import re
from html.parser import HTMLParser

import pytest
from PIL import Image
from sqlalchemy import func, select

from app.extensions import db
from app.models import AuditLog, Category, Product, ProductImage, StockAdjustment
from app.services import images
from tests.conftest import login_as
from tests.shop_factories import make_merchant, make_product  # noqa: F401  (fixtures)

XSS_NAME = '<script>alert("n")</script><img src=x onerror=alert(1)>'
XSS_DESCRIPTION = ('<p>好物<script>alert("d")</script></p><img src="x" onerror="alert(2)">'
                   '<a href="javascript:alert(3)">点我</a><p style="color:red" onclick="alert(4)">ok</p>')


@pytest.fixture()
def operator(client, make_account):
    user_id = make_account("operator")
    login_as(client, user_id)
    return user_id


def _png(size=(900, 600), color=(200, 30, 30)):
    out = io.BytesIO()
    Image.new("RGB", size, color).save(out, "PNG")
    return out.getvalue()


def _form(**changes):
    data = {"name": "保温杯", "kind": "physical", "points_price": "500", "stock": "20", "valid_days": "30",
            "position": "0", "is_active": "y"}
    data.update(changes)
    return {k: v for k, v in data.items() if v is not None}


def _product(app, product_id):
    with app.app_context():
        product = db.session.get(Product, product_id)
        db.session.expunge(product)
        db.session.remove()
    return product


def _audits(app, action):
    with app.app_context():
        rows = db.session.execute(select(AuditLog).where(AuditLog.action == action).order_by(AuditLog.id)).scalars().all()
        result = [(row.actor_id, row.target, row.detail) for row in rows]
        db.session.remove()
    return result


def _count(app, model):
    with app.app_context():
        n = db.session.execute(select(func.count()).select_from(model)).scalar_one()
        db.session.remove()
    return n


# ---- create and edit ---------------------------------------------------------------------------

def test_an_operator_creates_a_product_with_every_field_and_it_is_audited(app, client, operator, make_merchant):
    merchant_id = make_merchant("老街面馆")
    with app.app_context():
        db.session.add(Category(name="美食", symbol="🍜"))
        db.session.commit()
        category_id = db.session.execute(select(Category.id)).scalar_one()
        db.session.remove()
    response = client.submit("/admin/products/new", _form(
        name="面馆 20 元代金券", subtitle="堂食可用", kind="voucher", category_id=str(category_id),
        merchant_id=str(merchant_id), points_price="800", cash_yuan="1.5", face_value_yuan="20",
        min_spend_yuan="", stock="50", limit_day="1", limit_month="3", limit_total="5",
        sale_starts_at="2026-12-01T10:00", sale_ends_at="2026-12-02T10:00", valid_days="15",
        min_level="silver", position="7", is_hot="y", description="<p>周一至周五可用</p>"))
    assert response.status_code == 303
    product_id = int(re.search(r"/admin/products/(\d+)$", response.headers["Location"]).group(1))
    product = _product(app, product_id)
    assert (product.kind, product.merchant_id, product.category_id) == ("voucher", merchant_id, category_id)
    assert (product.points_price, product.cash_fen, product.face_value_fen, product.stock) == (800, 150, 2000, 50)
    assert (product.limit_day, product.limit_month, product.limit_total) == (1, 3, 5)
    assert product.sale_starts_at.isoformat() == "2026-12-01T02:00:00+00:00"  # Shanghai 10:00 is 02:00 UTC
    assert (product.min_level, product.position, product.is_hot, product.valid_days) == ("silver", 7, True, 15)
    [(actor, target, detail)] = _audits(app, "product.create")
    assert (actor, target, detail["before"]) == (operator, f"product:{product_id}", {})
    assert detail["after"]["name"] == "面馆 20 元代金券" and detail["after"]["stock"] == 50


def test_a_double_submitted_create_form_makes_one_product(app, client, operator):
    token, key = client.form_tokens("/admin/products/new")
    data = _form(csrf_token=token, request_key=key)
    assert client.post("/admin/products/new", data=data).status_code == 303
    assert client.post("/admin/products/new", data=data).status_code == 303
    assert _count(app, Product) == 1


@pytest.mark.parametrize("changes, field, message", [
    ({"name": ""}, "name", "请填写商品名称"),
    ({"name": "字" * 61}, "name", "商品名称最多60个字"),
    ({"stock": "-1"}, "stock", "库存须在 0 到 1000000 之间"),
    ({"stock": "abc"}, "stock", "库存须为整数"),
    ({"points_price": "-5"}, "points_price", "积分须在 0 到 10000000 之间"),
    ({"points_price": "0"}, "points_price", "积分和现金不能都为 0"),
    ({"cash_yuan": "1.234"}, "cash_yuan", "请输入金额（元），最多两位小数，不能为负"),
    ({"cash_yuan": "-3"}, "cash_yuan", "请输入金额（元），最多两位小数，不能为负"),
    ({"sale_starts_at": "2026-12-02T10:00", "sale_ends_at": "2026-12-01T10:00"}, "sale_ends_at",
     "结束时间须晚于开始时间"),
    ({"sale_starts_at": "2026-02-30T10:00"}, "sale_starts_at", "时间格式应为 2026-01-31 10:00"),
    ({"valid_from": "2026-12-02", "valid_until": "2026-12-02"}, "valid_until", "有效期结束须晚于开始"),
    ({"kind": "voucher", "face_value_yuan": "20"}, "merchant_id", "商户券须选择核销商户"),
    ({"kind": "coupon"}, "face_value_yuan", "优惠券和商户券须填写面值"),
    ({"kind": "gift"}, "kind", "请选择商品类型"),
    ({"limit_day": "0"}, "limit_day", "须为 1 到 100000 之间的整数"),
    ({"limit_day": "5", "limit_month": "2"}, "limit_month", "每月限兑不能少于每日限兑"),
    ({"category_id": "999"}, "category_id", "分类不存在"),
    ({"merchant_id": "999"}, "merchant_id", "商户不存在"),
    ({"min_level": "emperor"}, "min_level", "会员等级不存在"),
    ({"valid_days": "0"}, "valid_days", "有效天数须在 1 到 3650 之间"),
])
def test_the_product_form_refuses_bad_values_at_the_field(app, client, operator, changes, field, message):
    response = client.submit("/admin/products/new", _form(**changes))
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    error = re.search(rf'id="{field}-error"[^>]*>([^<]*)<', html)
    assert error and error.group(1) == message
    assert _count(app, Product) == 0


def test_editing_saves_the_fields_and_audits_before_and_after(app, client, operator, make_product):
    product_id = make_product(name="旧名字", points_price=100, stock=10)
    url = f"/admin/products/{product_id}"
    response = client.submit(url, _form(name="新名字", points_price="150", stock="999"))
    assert response.status_code == 303
    product = _product(app, product_id)
    assert (product.name, product.points_price, product.stock) == ("新名字", 150, 10)  # stock only by adjustment
    [(_actor, _target, detail)] = _audits(app, "product.update")
    assert detail["before"] == {"name": "旧名字", "points_price": 100}
    assert detail["after"] == {"name": "新名字", "points_price": 150}


def test_the_shelf_toggle_takes_a_product_off_and_back(app, client, operator, make_product):
    product_id = make_product()
    assert client.submit(f"/admin/products/{product_id}/shelf", {"on": "0"}, page="/admin/products").status_code == 303
    assert _product(app, product_id).is_active is False
    assert client.get(f"/products/{product_id}").status_code == 404
    assert client.submit(f"/admin/products/{product_id}/shelf", {"on": "1"}, page="/admin/products").status_code == 303
    assert _product(app, product_id).is_active is True
    actions = [(d["before"], d["after"]) for _a, _t, d in _audits(app, "product.shelf")]
    assert actions == [({"is_active": True}, {"is_active": False}), ({"is_active": False}, {"is_active": True})]


class _Scripts(HTMLParser):
    """Markup that would run: script elements, on* handlers, javascript: links."""

    def __init__(self):
        super().__init__()
        self.found = []
        self._in_script = False

    def handle_starttag(self, tag, attrs):
        self._in_script = tag == "script"
        for name, value in attrs:
            if name.startswith("on") or (value or "").strip().lower().startswith("javascript:"):
                self.found.append(f"<{tag} {name}={value}>")

    def handle_data(self, data):
        if self._in_script and "alert" in data:
            self.found.append(f"<script>{data}")

    def handle_endtag(self, tag):
        self._in_script = False


def _live_markup(html):
    parser = _Scripts()
    parser.feed(html)
    return parser.found


# ---- XSS ---------------------------------------------------------------------------------------

def test_xss_in_names_and_descriptions_is_neutralised_in_the_console_and_the_shop(app, client, operator):
    response = client.submit("/admin/products/new", _form(name=XSS_NAME[:60], subtitle=XSS_NAME,
                                                          description=XSS_DESCRIPTION))
    assert response.status_code == 303
    product_id = int(response.headers["Location"].rsplit("/", 1)[1])
    stored = _product(app, product_id).description_html
    assert "script" not in stored and "onerror" not in stored and "javascript:" not in stored
    assert "style=" not in stored and "onclick" not in stored and "<p>好物" in stored
    pages = [client.get("/admin/products").get_data(as_text=True),
             client.get(f"/admin/products/{product_id}").get_data(as_text=True),
             client.get(f"/products/{product_id}").get_data(as_text=True),
             client.get("/products").get_data(as_text=True)]
    for html in pages:
        assert _live_markup(html) == []
    assert "&lt;script&gt;alert" in pages[0] and "&lt;script&gt;alert" in pages[2]


# ---- stock adjustments -------------------------------------------------------------------------

def test_a_stock_adjustment_is_an_entry_and_cannot_go_below_zero(app, client, operator, make_product):
    product_id = make_product(stock=5)
    url = f"/admin/products/{product_id}/stock"
    page = f"/admin/products/{product_id}"
    assert client.submit(url, {"delta": "7", "reason": "到货"}, page=page).status_code == 303
    assert client.submit(url, {"delta": "-3", "reason": "破损"}, page=page).status_code == 303
    response = client.submit(url, {"delta": "-10", "reason": "盘点"}, page=page)
    assert response.status_code == 422
    assert "库存不足：当前 9 件，最多减少 9 件" in response.get_data(as_text=True)
    response = client.submit(url, {"delta": "2", "reason": ""}, page=page)
    assert response.status_code == 422 and "请填写调整原因" in response.get_data(as_text=True)
    assert _product(app, product_id).stock == 9
    with app.app_context():
        rows = db.session.execute(select(StockAdjustment.delta, StockAdjustment.reason, StockAdjustment.stock_after,
                                         StockAdjustment.actor_id).order_by(StockAdjustment.id)).all()
        db.session.remove()
    assert [tuple(r) for r in rows] == [(7, "到货", 12, operator), (-3, "破损", 9, operator)]
    assert [(d["before"], d["after"], d["reason"]) for _a, _t, d in _audits(app, "product.stock")] == [
        ({"stock": 5}, {"stock": 12}, "到货"), ({"stock": 12}, {"stock": 9}, "破损")]


def test_a_double_submitted_adjustment_counts_once(app, client, operator, make_product):
    product_id = make_product(stock=5)
    token, key = client.form_tokens(f"/admin/products/{product_id}")
    data = {"delta": "3", "reason": "到货", "csrf_token": token, "request_key": key}
    client.post(f"/admin/products/{product_id}/stock", data=data)
    client.post(f"/admin/products/{product_id}/stock", data=data)
    assert _product(app, product_id).stock == 8


# ---- images ------------------------------------------------------------------------------------

def _upload(client, product_id, *files):
    token, key = client.form_tokens(f"/admin/products/{product_id}")
    data = {"csrf_token": token, "request_key": key, "image": [(io.BytesIO(b), n) for b, n in files]}
    return client.post(f"/admin/products/{product_id}/images", data=data, content_type="multipart/form-data")


def _image_paths(app, product_id):
    with app.app_context():
        paths = [i.path for i in db.session.get(Product, product_id).images]
        db.session.remove()
    return paths


def test_uploaded_images_are_resized_into_renditions_and_the_first_is_the_cover(app, client, operator, make_product):
    product_id = make_product()
    assert _upload(client, product_id, (_png((1600, 1200)), "big.png"), (_png((100, 80), (0, 0, 255)), "s.png")
                   ).status_code == 303
    paths = _image_paths(app, product_id)
    assert len(paths) == 2
    with app.app_context():
        root = images.upload_dir()
        with Image.open(root / paths[0]) as detail, Image.open(root / images.rendition_path(paths[0], "thumb")) as thumb, \
                Image.open(root / images.rendition_path(paths[0], "card", "webp")) as card:
            assert (detail.format, detail.size, thumb.size) == ("JPEG", (750, 563), (240, 180))
            assert (card.format, card.size) == ("WEBP", (480, 360))  # for 140-180 px slots on 2-3x screens
        with Image.open(root / paths[1]) as small:
            assert small.size == (100, 80)  # never enlarged
        db.session.remove()
    html = client.get(f"/products/{product_id}").get_data(as_text=True)
    assert paths[0] in html
    # Reorder: the second moves up and becomes the cover; then delete it.
    with app.app_context():
        second = db.session.execute(select(ProductImage.id).where(ProductImage.path == paths[1])).scalar_one()
        db.session.remove()
    page = f"/admin/products/{product_id}"
    assert client.submit(f"{page}/images/{second}/move", {"direction": "up"}, page=page).status_code == 303
    assert _image_paths(app, product_id) == [paths[1], paths[0]]
    assert client.submit(f"{page}/images/{second}/delete", {}, page=page).status_code == 303
    assert _image_paths(app, product_id) == [paths[0]]
    with app.app_context():
        assert not (images.upload_dir() / paths[1]).exists()
        db.session.remove()


def test_a_text_file_is_refused_as_an_image(app, client, operator, make_product):
    product_id = make_product()
    response = _upload(client, product_id, (b"hello, not a picture", "photo.png"))
    assert response.status_code == 422
    assert "无法识别的图片文件" in response.get_data(as_text=True)
    assert _image_paths(app, product_id) == []


def test_an_image_over_the_configured_size_is_refused(app, client, operator, make_product, monkeypatch):
    product_id = make_product()
    monkeypatch.setitem(app.config, "MAX_IMAGE_BYTES", 1024)
    response = _upload(client, product_id, (_png((600, 600)) + b"\0" * 2048, "p.png"))
    assert response.status_code == 422
    assert "图片不能超过" in response.get_data(as_text=True)
    assert _image_paths(app, product_id) == []


def test_a_20_mb_upload_gets_a_friendly_413_page(app, client, operator, make_product):
    product_id = make_product()
    token, key = client.form_tokens(f"/admin/products/{product_id}")
    boundary = "----upload"
    body = b"".join([
        f'--{boundary}\r\nContent-Disposition: form-data; name="csrf_token"\r\n\r\n{token}\r\n'.encode(),
        f'--{boundary}\r\nContent-Disposition: form-data; name="request_key"\r\n\r\n{key}\r\n'.encode(),
        f'--{boundary}\r\nContent-Disposition: form-data; name="image"; filename="huge.jpg"\r\n'
        f'Content-Type: image/jpeg\r\n\r\n'.encode(),
        b"\xff" * (20 * 1024 * 1024), f"\r\n--{boundary}--\r\n".encode()])
    response = client.post(f"/admin/products/{product_id}/images", data=body,
                           content_type=f"multipart/form-data; boundary={boundary}")
    assert response.status_code == 413
    assert "上传的文件太大，一次最多上传 8 MB" in response.get_data(as_text=True)
    assert _image_paths(app, product_id) == []


# ---- categories --------------------------------------------------------------------------------

def test_categories_are_created_edited_and_reordered_with_audit(app, client, operator):
    for name, symbol in (("美食", "🍜"), ("数码", "📱"), ("出行", "🚗")):
        assert client.submit("/admin/categories/new", {"name": name, "symbol": symbol, "is_active": "y"}
                             ).status_code == 303
    response = client.submit("/admin/categories/new", {"name": "美食"})
    assert response.status_code == 422 and "分类名称已存在" in response.get_data(as_text=True)
    response = client.submit("/admin/categories/new", {"name": ""})
    assert response.status_code == 422 and "请填写分类名称" in response.get_data(as_text=True)
    with app.app_context():
        ids = {c.name: c.id for c in db.session.execute(select(Category)).scalars()}
        db.session.remove()
    assert client.submit(f"/admin/categories/{ids['出行']}/move", {"direction": "up"},
                         page="/admin/categories").status_code == 303
    assert client.submit(f"/admin/categories/{ids['数码']}", {"name": "电子数码", "symbol": "💻"}).status_code == 303
    with app.app_context():
        rows = db.session.execute(select(Category).order_by(Category.position)).scalars().all()
        shelf = [(c.name, c.symbol, c.is_active) for c in rows]
        db.session.remove()
    assert shelf == [("美食", "🍜", True), ("出行", "🚗", True), ("电子数码", "💻", False)]
    [(_a, _t, detail)] = _audits(app, "category.update")
    assert detail["before"]["name"] == "数码" and detail["after"]["name"] == "电子数码"
    assert len(_audits(app, "category.create")) == 3 and len(_audits(app, "category.move")) == 1


# ---- list --------------------------------------------------------------------------------------

def test_the_list_searches_filters_and_pages(app, client, operator, make_product):
    for i in range(25):
        make_product(name=f"杯子{i:02d}", stock=i)
    make_product(name="优惠券", kind="coupon", face_value_fen=500, stock=100, is_active=False)
    html = client.get("/admin/products").get_data(as_text=True)
    assert "第 1 / 2 页，共 26 条" in html
    html = client.get("/admin/products?q=杯子0").get_data(as_text=True)
    assert "共 10 条" in html
    html = client.get("/admin/products?kind=coupon&shelf=off").get_data(as_text=True)
    assert "共 1 条" in html and "优惠券" in html
    html = client.get("/admin/products?low=1&q=杯子").get_data(as_text=True)
    assert "共 11 条" in html  # stock 0..10
    html = client.get("/admin/products?low=1&q=杯子&page=2").get_data(as_text=True)
    assert "共 11 条" in html


def test_stock_is_a_column_heading_in_the_console_and_a_label_on_the_product_page_in_english(
        client, operator, app, make_product, make_member):
    product = make_product(name="保温杯", points_price=100, stock=7)
    english = {"Accept-Language": "en"}
    console = client.get("/admin/products", headers=english).get_data(as_text=True)
    assert '<th scope="col" class="num">Stock</th>' in console  # not "Stock:"
    login_as(client, make_member())
    page = client.get(f"/products/{product}", headers=english).get_data(as_text=True)
    assert re.search(r'Stock: <b id="stock-left" data-testid="stock-left">7</b> left', page)
