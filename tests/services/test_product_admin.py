"""Operator stock adjustments racing a redemption storm; CSV import (error report, encodings,
"valid rows only") and an export that imports again."""
import csv
import io
import itertools

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.models import AuditLog, Category, Order, Product, StockAdjustment, User
from app.services import ledger, shop
from app.services import product_admin as admin
from app.services.accounts import hash_password
from app.services.errors import DomainError
from app.services.tx import write_transaction
from tests.concurrency import run_concurrently
from tests.conftest import login_as
from tests.shop_factories import make_merchant, make_product, new_key, no_newbie_bonus  # noqa: F401

_phones = itertools.count(1)


def _members(app, n, points=1000):
    """n members with `points` each, in one transaction (one password hash for all)."""
    with app.app_context():
        password_hash = hash_password("secret123")
        with write_transaction() as session:
            users = [User(phone=f"178{next(_phones):08d}", password_hash=password_hash, role="member")
                     for _ in range(n)]
            session.add_all(users)
            session.flush()
            for user in users:
                ledger.earn(user.id, points, "adjust", key="race-points", growth=False)
            ids = [u.id for u in users]
        db.session.remove()
    return ids


@pytest.mark.usefixtures("no_newbie_bonus")
def test_stock_adjustments_racing_a_redemption_storm_lose_nothing_and_never_oversell(app, make_product,
                                                                                    make_account):
    operator = make_account("operator")
    product_id = make_product(points_price=10, stock=8)
    members = _members(app, 24)
    # 24 redemptions and 16 adjustments (+3 and -2 alternately) start together.
    deltas = [3 if i % 2 else -2 for i in range(16)]

    def work(i):
        if i < len(members):
            return ("order", shop.redeem_product(members[i], product_id, 1, new_key()).id)
        delta = deltas[i - len(members)]
        return ("adjust", admin.adjust_stock(operator, product_id, delta, f"盘点 {i}", new_key()).delta)

    outcome = run_concurrently(app, work, len(members) + len(deltas), expected=(DomainError,))
    assert outcome.errors == []
    with app.app_context():
        product = db.session.get(Product, product_id)
        orders = db.session.execute(select(func.count(Order.id)).where(Order.product_id == product_id)).scalar_one()
        entries = db.session.execute(select(StockAdjustment).where(StockAdjustment.product_id == product_id)
                                     .order_by(StockAdjustment.id)).scalars().all()
        audits = db.session.execute(select(func.count(AuditLog.id)).where(AuditLog.action == "product.stock")
                                    ).scalar_one()
        applied = sum(entry.delta for entry in entries)
        # No lost update: what is left is the start, plus every recorded adjustment, minus what was sold.
        assert product.stock == 8 + applied - product.sold
        assert product.sold == orders == len([r for r in outcome.results if r[0] == "order"])
        assert product.stock >= 0 and all(entry.stock_after >= 0 for entry in entries)
        assert len(entries) == audits == len([r for r in outcome.results if r[0] == "adjust"])
        assert len(outcome.results) + len(outcome.refusals) == len(members) + len(deltas)
        assert ledger.reconcile() == []
        db.session.remove()


# ---- CSV -----------------------------------------------------------------------------------------

def _csv(rows, encoding="utf-8", bom=False, headers=admin.HEADERS):
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(headers)
    for row in rows:
        writer.writerow([row.get(h, "") for h in headers])
    data = out.getvalue().encode(encoding)
    return (b"\xef\xbb\xbf" + data) if bom else data


GOOD = {"名称": "保温杯", "类型": "实物", "积分": "500", "库存": "20", "有效天数": "30", "排序": "0", "上架": "是"}


@pytest.fixture()
def operator_client(client, make_account):
    client.user_id = make_account("operator")
    login_as(client, client.user_id)
    return client


def _import(client, data, valid_only=False):
    token, key = client.form_tokens("/admin/products/import")
    form = {"csrf_token": token, "request_key": key, "file": (io.BytesIO(data), "products.csv")}
    if valid_only:
        form["valid_only"] = "y"
    return client.post("/admin/products/import", data=form, content_type="multipart/form-data")


def _names(app):
    with app.app_context():
        names = db.session.execute(select(Product.name).order_by(Product.id)).scalars().all()
        db.session.remove()
    return names


@pytest.mark.parametrize("encoding, bom", [("utf-8", False), ("utf-8", True), ("gb18030", False)])
def test_a_clean_file_imports_in_utf8_with_or_without_bom_and_in_gb18030(app, operator_client, encoding, bom):
    with app.app_context():
        db.session.add(Category(name="生活"))
        db.session.commit()
        db.session.remove()
    data = _csv([GOOD, dict(GOOD, 名称="咖啡券", 类型="优惠券", 分类="生活", **{"面值(元)": "15.5", "热门": "是"})],
                encoding=encoding, bom=bom)
    response = _import(operator_client, data)
    assert response.status_code == 303
    assert _names(app) == ["保温杯", "咖啡券"]
    with app.app_context():
        coupon = db.session.execute(select(Product).where(Product.name == "咖啡券")).unique().scalar_one()
        assert (coupon.kind, coupon.face_value_fen, coupon.is_hot, coupon.category.name) == ("coupon", 1550, True, "生活")
        db.session.remove()


def test_a_gb18030_file_with_errors_gets_a_per_row_report_and_nothing_is_imported(app, operator_client):
    rows = [GOOD,
            dict(GOOD, 名称="负库存", 库存="-3"),
            dict(GOOD, 名称="零价格", 积分="0"),
            dict(GOOD, 名称="无商户券", 类型="商户券", **{"面值(元)": "20"}),
            dict(GOOD, 名称="倒挂时间", 开始时间="2026-12-02 10:00", 结束时间="2026-12-01 10:00"),
            dict(GOOD, 名称="未知分类", 分类="不存在的分类")]
    response = _import(operator_client, _csv(rows, encoding="gb18030"))
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "共 6 行：1 行无误，5 行有误。" in html and "未导入任何商品" in html
    for line, column, message in [(3, "库存", "库存须在 0 到 1000000 之间"), (4, "积分", "积分和现金不能都为 0"),
                                  (5, "商户", "商户券须选择核销商户"), (6, "结束时间", "结束时间须晚于开始时间"),
                                  (7, "分类", "分类不存在")]:
        assert f"<strong>{column}</strong>：{message}" in html, (line, column)
    assert _names(app) == []


def test_the_valid_rows_are_imported_only_when_the_operator_says_so(app, operator_client):
    data = _csv([GOOD, dict(GOOD, 名称="坏行", 积分="abc"), dict(GOOD, 名称="第二个")])
    response = _import(operator_client, data, valid_only=True)
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "已导入 2 个商品" in html and "<strong>积分</strong>：积分须为整数" in html
    assert _names(app) == ["保温杯", "第二个"]
    with app.app_context():
        creates = db.session.execute(select(func.count(AuditLog.id)).where(AuditLog.action == "product.create")
                                     ).scalar_one()
        db.session.remove()
    assert creates == 2


@pytest.mark.parametrize("data, message", [
    (_csv([GOOD], headers=("名称", "价格")), "表头不正确"),
    ("名称,积分\n保温杯,100\n".encode("utf-16"), "无法识别文件编码，请另存为 UTF-8 或 GB18030 编码的 CSV"),
    (b"", "请选择 CSV 文件"),
    (_csv([]), "文件中没有商品行"),
])
def test_a_file_with_the_wrong_columns_is_refused_with_the_expected_headers(app, operator_client, data, message):
    response = _import(operator_client, data)
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert message in html
    if message == "表头不正确":
        assert "应为：" + "，".join(admin.HEADERS) in html
    assert _names(app) == []


def test_an_export_of_the_filtered_list_imports_again(app, operator_client, make_product, make_merchant):
    merchant_id = make_merchant("老街面馆")
    make_product(name="面馆代金券", kind="voucher", merchant_id=merchant_id, face_value_fen=2000, points_price=300,
                 cash_fen=150, stock=7, limit_day=1, description_html="<p>详情</p>", is_hot=True)
    make_product(name="下架的杯子", is_active=False)
    make_product(name="=HYPERLINK(\"http://x\")", subtitle="+1 好评")
    response = operator_client.get("/admin/products/export.csv?shelf=on")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    data = response.get_data()
    assert data.startswith(b"\xef\xbb\xbf")
    rows = list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"))))
    assert [r["名称"] for r in rows] == ["'=HYPERLINK(\"http://x\")", "面馆代金券"]  # never a live formula
    assert rows[0]["副标题"] == "'+1 好评"
    rows = rows[1:]
    assert (rows[0]["类型"], rows[0]["商户"], rows[0]["现金(元)"], rows[0]["面值(元)"]) == ("商户券", "老街面馆", "1.50", "20")
    assert _import(operator_client, data).status_code == 303
    with app.app_context():
        copies = db.session.execute(select(Product).where(Product.name == "面馆代金券").order_by(Product.id)
                                    ).unique().scalars().all()
        columns = ("kind", "merchant_id", "face_value_fen", "points_price", "cash_fen", "stock", "limit_day",
                   "description_html", "is_hot", "is_active", "valid_days")
        assert len(copies) == 2
        assert db.session.execute(select(func.count()).where(Product.name == '=HYPERLINK("http://x")')).scalar() == 2
        assert [getattr(copies[1], c) for c in columns] == [getattr(copies[0], c) for c in columns]
        db.session.remove()
