"""After-sales pages: the member's form and timeline on the order page, the console's queue
and request page, each step seen by the member."""
import io
from datetime import timedelta

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import AfterSale, Message
from app.services import aftersales
from app.services.clock import utcnow
from app.services.tx import write_transaction
from tests.aftersale_factories import delivered_order, jpeg_bytes
from tests.conftest import balance_of, login_as
from tests.shop_factories import make_product, no_newbie_bonus  # noqa: F401  (fixtures)

pytestmark = pytest.mark.usefixtures("no_newbie_bonus")


@pytest.fixture()
def setup(app, client, make_member, make_account, make_product):
    member, operator = make_member(points=1000), make_account("operator")
    product = make_product(name="蓝牙耳机", points_price=300, stock=10)
    return {"member": member, "operator": operator, "product": product,
            "order": delivered_order(app, member, product, operator)}


def photo(data=None, name="photo.jpg"):
    return (io.BytesIO(data if data is not None else jpeg_bytes()), name)


def ask(client, order_id, **data):
    values = {"kind": "return", "reason": "耳机左侧没有声音"}
    values.update(data)
    return client.submit(f"/orders/{order_id}/aftersale", values, content_type="multipart/form-data")


def page_text(client, path):
    response = client.get(path)
    assert response.status_code == 200
    return response.get_data(as_text=True)


def only_request(app):
    with app.app_context():
        row = db.session.execute(select(AfterSale)).unique().scalar_one()
        db.session.remove()
    return row


def test_the_member_asks_and_follows_every_step_to_the_refund(app, client, setup):
    member, operator, order_id = setup["member"], setup["operator"], setup["order"]
    login_as(client, member)
    assert "申请售后" in page_text(client, f"/orders/{order_id}")
    response = ask(client, order_id, photos=[photo(), photo()])
    assert response.status_code == 303 and response.headers["Location"] == f"/orders/{order_id}"
    request_id = only_request(app).id
    html = page_text(client, f"/orders/{order_id}")
    assert "待审核" in html and "提交申请" in html and "耳机左侧没有声音" in html
    assert html.count('alt="售后照片"') == 2
    assert 'data-testid="aftersale-entry"' not in html  # one open request per order

    def operator_does(step, data=None):
        login_as(client, operator)
        page = f"/admin/aftersales/{request_id}"
        response = client.submit(f"{page}/{step}", data or {}, page=page)
        assert response.status_code == 303, response.get_data(as_text=True)
        login_as(client, member)
        return page_text(client, f"/orders/{order_id}")

    html = operator_does("approve", {"instructions": "请寄回 上海市黄浦区南京东路100号 售后部"})
    assert "已同意" in html and "南京东路100号 售后部" in html
    html = operator_does("receive")
    assert "已收到退回商品" in html
    html = operator_does("complete", {"restock": "y"})
    assert "已退款" in html and "退回 300 积分" in html and "已完成" in html
    assert balance_of_member(app, member) == 1500

    messages = page_text(client, "/me/messages")
    for title in ("售后申请已提交", "售后申请已同意", "退回商品已收到", "售后退款已完成"):
        assert title in messages


def balance_of_member(app, member):
    with app.app_context():
        value = balance_of(member)
        db.session.remove()
    return value


def test_a_rejection_shows_its_reason_to_the_member(app, client, setup):
    login_as(client, setup["member"])
    ask(client, setup["order"], kind="refund", reason="不喜欢")
    request_id = only_request(app).id
    login_as(client, setup["operator"])
    page = f"/admin/aftersales/{request_id}"
    response = client.submit(f"{page}/reject", {"reason": ""}, page=page)
    assert response.status_code == 422 and "请填写拒绝原因" in response.get_data(as_text=True)
    assert client.submit(f"{page}/reject", {"reason": "商品无质量问题"}, page=page).status_code == 303
    login_as(client, setup["member"])
    html = page_text(client, f"/orders/{setup['order']}")
    assert "已拒绝" in html and "商品无质量问题" in html
    assert 'data-testid="aftersale-entry"' in html  # closed: the member may ask again in the window


def test_the_console_asks_for_return_instructions_at_the_field(app, client, setup):
    login_as(client, setup["member"])
    ask(client, setup["order"])
    request_id = only_request(app).id
    login_as(client, setup["operator"])
    page = f"/admin/aftersales/{request_id}"
    response = client.submit(f"{page}/approve", {"instructions": ""}, page=page)
    assert response.status_code == 422
    assert 'id="instructions-error"' in response.get_data(as_text=True)
    assert only_request(app).status == "requested"


@pytest.mark.parametrize("data, message", [
    ({"photos": lambda: [photo(b"hello, I am a text file", "notes.txt")]}, "无法识别的图片文件"),
    ({"photos": lambda: [photo() for _ in range(4)]}, "最多上传3张照片"),
    ({"reason": ""}, "请填写售后原因"),
    ({"reason": "坏" * 201}, "原因最多200个字"),
    ({"kind": "money"}, "请选择售后类型"),
])
def test_bad_input_is_refused_at_its_field(app, client, setup, data, message):
    login_as(client, setup["member"])
    response = ask(client, setup["order"], **{k: v() if callable(v) else v for k, v in data.items()})
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert message in html and 'class="field-error"' in html
    with app.app_context():
        assert db.session.execute(select(AfterSale)).first() is None
        db.session.remove()


def test_after_the_window_the_order_page_offers_nothing_and_the_form_refuses(app, client, setup):
    late = delivered_order(app, setup["member"], setup["product"], setup["operator"],
                           received_at=utcnow() - timedelta(days=8))
    login_as(client, setup["member"])
    assert 'data-testid="aftersale-entry"' not in page_text(client, f"/orders/{late}")
    assert "已超过售后申请期限" in page_text(client, f"/orders/{late}/aftersale")
    response = ask(client, late)
    assert response.status_code == 422 and "已超过售后申请期限" in response.get_data(as_text=True)


def test_the_member_withdraws_a_request(app, client, setup):
    login_as(client, setup["member"])
    ask(client, setup["order"])
    response = client.submit(f"/orders/{setup['order']}/aftersale/cancel", page=f"/orders/{setup['order']}")
    assert response.status_code == 303
    assert only_request(app).status == "cancelled"
    assert "已撤销" in page_text(client, f"/orders/{setup['order']}")


def test_a_double_submitted_form_is_one_request(app, client, setup):
    login_as(client, setup["member"])
    token, key = client.form_tokens(f"/orders/{setup['order']}/aftersale")
    for _ in range(2):
        response = client.post(f"/orders/{setup['order']}/aftersale",
                               data={"csrf_token": token, "request_key": key, "kind": "return", "reason": "坏了"})
        assert response.status_code == 303
    only_request(app)
    with app.app_context():
        assert db.session.execute(select(Message).where(Message.msgid == "aftersale.requested")).scalars().all()
        db.session.remove()


def test_the_queue_filters_by_status_and_pages(app, client, setup):
    with app.app_context():
        with write_transaction() as session:
            for i in range(21):
                session.add(AfterSale(order_id=setup["order"], user_id=setup["member"], kind="return",
                                      reason=f"旧申请 {i}", photos=[], status="rejected", reject_reason="不符合"))
        aftersales.request_aftersale(setup["member"], setup["order"], "exchange", "尺码不对")
        db.session.remove()
    login_as(client, setup["operator"])
    open_queue = page_text(client, "/admin/aftersales")
    assert "尺码不对" in open_queue and "旧申请" not in open_queue
    rejected = page_text(client, "/admin/aftersales?status=rejected")
    assert "旧申请 20" in rejected and "尺码不对" not in rejected and "第 1 / 2 页" in rejected
    assert "旧申请 0" in page_text(client, "/admin/aftersales?status=rejected&page=2")
    assert "尺码不对" in page_text(client, "/admin/aftersales?status=nonsense")  # unknown: the open ones


def test_the_request_page_shows_the_photos_and_the_audit_history(app, client, setup):
    login_as(client, setup["member"])
    ask(client, setup["order"], photos=[photo()])
    request_id = only_request(app).id
    login_as(client, setup["operator"])
    page = f"/admin/aftersales/{request_id}"
    client.submit(f"{page}/approve", {"instructions": "寄回仓库"}, page=page)
    html = page_text(client, page)
    assert "售后照片 1" in html and "aftersale.approve" in html and "寄回仓库" in html


def test_an_oversize_photo_is_refused_at_the_field(app):
    from werkzeug.datastructures import FileStorage, MultiDict

    from app.forms.aftersales import AfterSaleRequestForm

    big = FileStorage(io.BytesIO(b"\xff" * (5 * 1024 * 1024 + 1)), filename="big.jpg")
    with app.test_request_context(method="POST"):
        form = AfterSaleRequestForm(formdata=MultiDict([("kind", "return"), ("reason", "坏了"), ("photos", big)]),
                                    meta={"csrf": False})
        assert not form.validate()
        assert form.photos.errors == ["每张照片不能超过5MB"]


def test_the_level_page_names_each_levels_after_sales_period(member_client):
    html = member_client.get("/me/level").get_data(as_text=True)
    assert "普通会员 7 天 · 银卡会员 10 天 · 金卡会员 15 天 · 钻石会员 30 天" in html


def test_operators_set_each_levels_after_sales_days_in_the_rules_console(app, client, make_account):
    from tests.routes.test_admin_rules import field_error, post_form

    login_as(client, make_account("operator"))
    url = "/admin/rules/settings/levels"
    assert 'name="levels-3-aftersale_days"' in client.get(url).get_data(as_text=True)
    refused = post_form(client, url, {"levels-1-aftersale_days": "0"})
    assert refused.status_code == 422
    assert field_error(refused, "levels-1-aftersale_days") == "售后天数需为 1 到 365 之间的整数"
    assert post_form(client, url, {"levels-0-aftersale_days": "9"}).status_code == 303
    with app.app_context():
        assert [aftersales.window_days(growth) for growth in (0, 5000, 10000, 20000)] == [9, 10, 15, 30]
        db.session.remove()


def test_the_consoles_order_page_links_its_after_sales_requests(app, client, setup):
    login_as(client, setup["member"])
    ask(client, setup["order"], reason="屏幕有划痕")
    request_id = only_request(app).id
    login_as(client, setup["operator"])
    html = page_text(client, f"/admin/orders/{setup['order']}")
    assert f'href="/admin/aftersales/{request_id}"' in html and "屏幕有划痕" in html and "待审核" in html
