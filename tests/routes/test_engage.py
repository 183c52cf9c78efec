"""The earning pages through HTTP: htmx fragments with the balance out of band, messages by the field,
double taps, referral links and cookies."""
import re
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from app.extensions import db as _db
from app.models import CheckIn, PointsPacket, Referral, User
from app.services import packets, tasks
from app.services.clock import shanghai_today, utcnow
from app.services.settings import put_setting
from app.services.tx import write_transaction
from tests.conftest import balance_of, login_as, next_phone
from tests.shop_factories import make_product  # noqa: F401  (fixture)

HX = {"HX-Request": "true"}


def _count(app, model):
    with app.app_context():
        return _db.session.execute(select(func.count()).select_from(model)).scalar()


def _setting(app, key, value):
    with app.app_context():
        with write_transaction():
            put_setting(key, value)


def _balance(app, user_id):
    with app.app_context():
        return balance_of(user_id)


@pytest.mark.parametrize("path", ["/checkin", "/tasks", "/invite", "/me/profile", "/me/phone", "/me/level"])
def test_member_pages_need_login(client, path):
    response = client.get(path)
    assert response.status_code == 302 and "/login?next=" in response.headers["Location"]


def test_the_check_in_page_shows_the_calendar_and_the_button(member_client):
    html = member_client.get("/checkin").get_data(as_text=True)
    today = shanghai_today()
    assert f'data-day="{today.isoformat()}"' in html and 'aria-current="date"' in html
    assert "签到领 5 积分" in html and f"{today.year}年{today.month}月" in html
    assert "签到" in html.split('class="tabbar"')[1]  # the tab bar now has the check-in tab


def test_checking_in_with_htmx_returns_the_panel_and_the_balance_out_of_band(member_client, app):
    response = member_client.submit("/checkin", page="/checkin", htmx=True)
    body = response.get_data(as_text=True)
    assert response.status_code == 200 and "HX-Request" in response.headers["Vary"]
    assert "<html" not in body and body.count('id="checkin-panel"') == 1
    assert '<span id="points-balance" hx-swap-oob="true">505</span>' in body
    today = shanghai_today().isoformat()
    assert re.search(rf'class="eg-day is-checked is-today" data-day="{today}"', body)
    assert "签到成功，获得 5 积分" in body and "今日已签到" in body
    assert _count(app, CheckIn) == 1


def test_a_double_tap_checks_in_once(member_client, app):
    token, key = member_client.form_tokens("/checkin")
    data = {"csrf_token": token, "request_key": key}
    first = member_client.post("/checkin", data=data, headers={**HX, "X-CSRFToken": token})
    second = member_client.post("/checkin", data=data, headers={**HX, "X-CSRFToken": token})
    assert first.status_code == second.status_code == 200
    assert "今天已经签到过了" in second.get_data(as_text=True)
    assert "hx-swap-oob" not in second.get_data(as_text=True)
    assert _count(app, CheckIn) == 1 and _balance(app, member_client.user_id) == 505


def test_a_post_without_its_request_key_is_refused_not_taken_as_new(member_client, app):
    # A key made up on the server would turn each retry of such a POST into another action.
    token, _key = member_client.form_tokens("/checkin")
    response = member_client.post("/checkin", data={"csrf_token": token}, headers={"X-CSRFToken": token})
    assert "页面已过期" in member_client.get(response.headers["Location"]).get_data(as_text=True)
    assert _count(app, CheckIn) == 0 and _balance(app, member_client.user_id) == 500


def test_without_htmx_check_in_redirects_back_with_a_message(member_client):
    response = member_client.submit("/checkin", {"month": shanghai_today().strftime("%Y-%m")}, page="/checkin")
    assert response.status_code == 303 and "/checkin" in response.headers["Location"]
    assert "签到成功" in member_client.get(response.headers["Location"]).get_data(as_text=True)


def test_check_in_without_a_csrf_token_is_refused(member_client, app):
    response = member_client.post("/checkin", data={}, headers=HX)
    assert response.status_code == 400 and _count(app, CheckIn) == 0


def test_month_navigation_returns_the_panel_for_htmx(member_client):
    last = shanghai_today().replace(day=1) - timedelta(days=1)
    month = last.strftime("%Y-%m")
    response = member_client.get(f"/checkin?month={month}", headers=HX)
    body = response.get_data(as_text=True)
    assert response.status_code == 200 and "<html" not in body
    assert f"{last.year}年{last.month}月" in body and "hx-swap-oob" not in body
    assert 'data-testid="next-month"' in body
    full = member_client.get(f"/checkin?month={month}").get_data(as_text=True)
    assert "<html" in full and f"{last.year}年{last.month}月" in full


@pytest.mark.parametrize("month", ["2026-13", "abc", "1999-01", "9999-01", "2026-1"])
def test_a_bad_month_is_a_404(member_client, month):
    assert member_client.get(f"/checkin?month={month}").status_code == 404


def _old_member_client(client, make_member, app):
    user_id = make_member(created_at=utcnow() - timedelta(days=40))
    login_as(client, user_id)
    client.user_id = user_id
    return client


def test_make_up_through_htmx(client, make_member, app):
    member = _old_member_client(client, make_member, app)
    yesterday = shanghai_today() - timedelta(days=1)
    html = member.get(f"/checkin?month={yesterday.strftime('%Y-%m')}").get_data(as_text=True)
    assert f'data-testid="makeup-{yesterday.isoformat()}"' in html
    response = member.submit("/checkin/makeup", {"day": yesterday.isoformat(), "month": yesterday.strftime("%Y-%m")},
                             page="/checkin", htmx=True)
    body = response.get_data(as_text=True)
    assert response.status_code == 200 and "补签成功" in body
    assert '<span id="points-balance" hx-swap-oob="true">480</span>' in body
    assert re.search(rf'class="eg-day is-makeup" data-day="{yesterday.isoformat()}"', body)


@pytest.mark.parametrize("day, message", [
    ("", "请选择要补签的日期"),
    ("not-a-date", "请选择要补签的日期"),
    ("2020-01-01", "最近7天"),
    ("today", "最近7天"),
])
def test_bad_make_up_days_get_a_message_in_the_panel(client, make_member, app, day, message):
    member = _old_member_client(client, make_member, app)
    if day == "today":
        day = shanghai_today().isoformat()
    response = member.submit("/checkin/makeup", {"day": day}, page="/checkin", htmx=True)
    body = response.get_data(as_text=True)
    assert response.status_code == 200 and message in body and 'data-testid="checkin-notice"' in body
    assert "hx-swap-oob" not in body
    assert _count(app, CheckIn) == 0 and _balance(app, member.user_id) == 500


def test_the_double_points_banner(member_client, app):
    html = member_client.get("/checkin").get_data(as_text=True)
    assert 'data-testid="double-banner"' not in html
    _setting(app, "double_points.days", [shanghai_today().isoformat()])
    for path in ("/checkin", "/tasks"):
        assert "今日积分翻倍" in member_client.get(path).get_data(as_text=True), path
    assert "签到领 10 积分" in member_client.get("/checkin").get_data(as_text=True)


# ---- tasks and packets -----------------------------------------------------------------------

@pytest.fixture()
def packet_id(app):
    with app.app_context():
        now = utcnow()
        return packets.create_packet("周末红包", 66, now - timedelta(hours=1), now + timedelta(days=1), total=10).id


def test_the_tasks_page_lists_packets_daily_and_newbie_tasks_and_the_level(member_client, packet_id):
    html = member_client.get("/tasks").get_data(as_text=True)
    for text in ("周末红包", "每日任务", "分享商品", "逛逛活动专区", "新手任务", "完善个人资料", "绑定手机号",
                 "首次兑换商品", "首次参与抽奖", "普通会员", 'data-testid="claim-phone"'):
        assert text in html, text
    assert 'data-testid="games-entry"' in html and 'href="/draws"' in html  # the games are one tap away
    assert 'data-testid="treasure-entry"' in html and 'href="/treasure"' in html


def test_claiming_a_packet_with_htmx(member_client, app, packet_id):
    response = member_client.submit(f"/packets/{packet_id}/claim", page="/tasks", htmx=True)
    body = response.get_data(as_text=True)
    assert response.status_code == 200 and "<html" not in body
    assert f'id="packet-{packet_id}"' in body and "已领取" in body and "领取成功" in body
    assert '<span id="points-balance" hx-swap-oob="true">566</span>' in body
    again = member_client.submit(f"/packets/{packet_id}/claim", page="/tasks", htmx=True).get_data(as_text=True)
    assert "你已经领过" in again and "hx-swap-oob" not in again
    assert _balance(app, member_client.user_id) == 566
    with app.app_context():
        assert _db.session.get(PointsPacket, packet_id).claimed == 1


def test_an_unknown_packet_is_a_404(member_client):
    assert member_client.submit("/packets/999/claim", page="/tasks").status_code == 404


def test_claiming_the_phone_task_with_htmx(member_client, app):
    response = member_client.submit("/tasks/phone/claim", page="/tasks", htmx=True)
    body = response.get_data(as_text=True)
    assert 'id="task-phone"' in body and "已完成" in body and "奖励 50 积分已到账" in body
    assert '<span id="points-balance" hx-swap-oob="true">550</span>' in body
    again = member_client.submit("/tasks/phone/claim", page="/tasks", htmx=True).get_data(as_text=True)
    assert "hx-swap-oob" not in again and _balance(app, member_client.user_id) == 550
    assert member_client.submit("/tasks/nope/claim", page="/tasks").status_code == 404


def test_claiming_the_birthday_gift_with_htmx(client, make_member, app):
    user_id = make_member(birthday=shanghai_today().replace(year=1990, day=1))
    login_as(client, user_id)
    assert 'data-testid="claim-birthday"' in client.get("/tasks").get_data(as_text=True)
    body = client.submit("/tasks/birthday", page="/tasks", htmx=True).get_data(as_text=True)
    assert "生日快乐" in body and '<span id="points-balance" hx-swap-oob="true">700</span>' in body
    again = client.submit("/tasks/birthday", page="/tasks", htmx=True).get_data(as_text=True)
    assert "已经领取过了" in again and _balance(app, user_id) == 700


def test_sharing_a_product_with_htmx(member_client, app, monkeypatch):
    monkeypatch.setattr(tasks, "product_exists", lambda product_id: product_id == 5)
    token, _ = member_client.form_tokens("/tasks")
    headers = {**HX, "X-CSRFToken": token}
    first = member_client.post("/share", data={"product_id": "5"}, headers=headers).get_data(as_text=True)
    assert 'id="share-5"' in first and "分享奖励 50 积分已到账" in first
    assert '<span id="points-balance" hx-swap-oob="true">550</span>' in first
    second = member_client.post("/share", data={"product_id": "5"}, headers=headers).get_data(as_text=True)
    assert "今天的分享奖励已领过" in second and "hx-swap-oob" not in second
    for bad in ("6", "abc", "-1", ""):
        assert member_client.post("/share", data={"product_id": bad}, headers=headers).status_code == 404, bad
    assert member_client.post("/share", data={"product_id": "5"}, headers=HX).status_code == 400  # no CSRF
    assert _balance(app, member_client.user_id) == 550


def test_the_share_button_partial_works_where_a_product_page_includes_it(app, make_member):
    from flask import render_template_string
    from flask_login import login_user

    user_id = make_member()
    with app.test_request_context("/products/5"):
        login_user(_db.session.get(User, user_id))
        html = render_template_string(
            '{% with product_id=5 %}{% include "engage/_share_button.html" %}{% endwith %}')
        _db.session.remove()
    assert 'id="share-5"' in html and 'hx-post="/share"' in html and 'name="product_id" value="5"' in html
    assert 'name="csrf_token"' in html and "<link" not in html  # no stylesheet of its own in the middle of a page
    assert ".eg-share-hint" in (Path(app.static_folder) / "css" / "app.css").read_text()  # styled wherever included
    with app.test_request_context("/products/5"):
        anonymous = render_template_string(
            '{% with product_id=5 %}{% include "engage/_share_button.html" %}{% endwith %}')
    assert anonymous.strip() == ""


def test_sharing_from_a_product_page_pays_the_daily_task_once(member_client, app, make_product):
    product_id = make_product(name="晨光咖啡豆")
    page = member_client.get(f"/products/{product_id}").get_data(as_text=True)
    assert f'id="share-{product_id}"' in page and 'data-testid="share-button"' in page
    first = member_client.submit("/share", {"product_id": str(product_id)}, page=f"/products/{product_id}", htmx=True)
    assert "分享奖励 50 积分已到账" in first.get_data(as_text=True)
    again = member_client.submit("/share", {"product_id": str(product_id)}, page=f"/products/{product_id}", htmx=True)
    assert "今天的分享奖励已领过" in again.get_data(as_text=True)
    assert _balance(app, member_client.user_id) == 550
    assert 'id="task-share" class="eg-task is-done"' in member_client.get("/tasks").get_data(as_text=True)


def test_browsing_promotions_pays_once_a_day(member_client, app):
    _setting(app, "earn.daily", {"enabled": True, "share": 50, "browse": 10, "browse_seconds": 0})
    html = member_client.get("/promotions").get_data(as_text=True)
    assert 'hx-trigger="load delay:0s"' in html
    response = member_client.submit("/promotions/browsed", page="/promotions", htmx=True)
    body = response.get_data(as_text=True)
    assert "浏览奖励 10 积分已到账" in body and '<span id="points-balance" hx-swap-oob="true">510</span>' in body
    assert "今日浏览奖励已领取" in member_client.get("/promotions").get_data(as_text=True)
    again = member_client.submit("/promotions/browsed", page="/promotions", htmx=True).get_data(as_text=True)
    assert "已经领过" in again and _balance(app, member_client.user_id) == 510


def test_browsing_too_briefly_pays_nothing(member_client, app):
    member_client.get("/promotions")
    body = member_client.submit("/promotions/browsed", page="/promotions", htmx=True).get_data(as_text=True)
    assert "再逛一会儿" in body and _balance(app, member_client.user_id) == 500


def test_promotions_are_public(client):
    html = client.get("/promotions").get_data(as_text=True)
    assert "活动专区" in html and "登录后" in html and "hx-post" not in html


# ---- profile, phone, level -------------------------------------------------------------------

def test_completing_the_profile_pays_the_task(member_client, app):
    response = member_client.submit("/me/profile", {"nickname": "小王", "birthday": "1990-05-17"})
    assert response.status_code == 303
    html = member_client.get(response.headers["Location"]).get_data(as_text=True)
    assert "完善资料奖励 50 积分已到账" in html and 'data-testid="birthday-set"' in html
    assert _balance(app, member_client.user_id) == 550


@pytest.mark.parametrize("data, field, message", [
    ({"nickname": "", "birthday": ""}, "nickname", "请填写昵称"),
    ({"nickname": "名" * 21, "birthday": ""}, "nickname", "最多20个字"),
    ({"nickname": "小王", "birthday": "1990-13-45"}, "birthday", "请选择正确的生日"),
    ({"nickname": "小王", "birthday": "2999-01-01"}, "birthday", "请选择正确的生日"),
])
def test_bad_profile_input_gets_a_message_by_the_field(member_client, app, data, field, message):
    response = member_client.submit("/me/profile", data)
    html = response.get_data(as_text=True)
    assert response.status_code == 422 and f'id="{field}-error"' in html and message in html
    with app.app_context():
        assert _db.session.get(User, member_client.user_id).nickname is None


def _wechat_client(client, make_member, app):
    user_id = make_member()
    with app.app_context():
        with write_transaction() as session:
            session.get(User, user_id).phone = None
    login_as(client, user_id)
    client.user_id = user_id
    return client


def test_binding_a_phone(client, make_member, app):
    member = _wechat_client(client, make_member, app)
    assert 'name="phone"' in member.get("/me/phone").get_data(as_text=True)
    response = member.submit("/me/phone", {"phone": "139 0000 1234"})
    assert response.status_code == 303 and response.headers["Location"].endswith("/tasks")
    assert _balance(app, member.user_id) == 550
    assert "已绑定手机号 139****1234" in member.get("/me/phone").get_data(as_text=True)


@pytest.mark.parametrize("phone, message", [("12345", "请输入正确的11位手机号"), ("", "请输入手机号"),
                                            ("taken", "已被其他账号绑定")])
def test_bad_phones_get_a_message_by_the_field(client, make_member, app, phone, message):
    if phone == "taken":
        phone = next_phone()
        make_member(phone=phone)
    member = _wechat_client(client, make_member, app)
    response = member.submit("/me/phone", {"phone": phone})
    html = response.get_data(as_text=True)
    assert response.status_code == 422 and 'id="phone-error"' in html and message in html
    assert _balance(app, member.user_id) == 500


def test_the_level_page_shows_the_table_and_my_progress(client, make_member):
    user_id = make_member(growth=6000)
    login_as(client, user_id)
    html = client.get("/me/level").get_data(as_text=True)
    assert "银卡会员" in html.split('data-testid="my-level"')[1][:40]
    for text in ("普通会员", "金卡会员", "钻石会员", "1.1 倍", "1.5 倍", "9.8折", "无折扣", "20,000", "距金卡会员还差 4000"):
        assert text in html, text


def test_me_links_to_the_earning_pages(member_client):
    html = member_client.get("/me").get_data(as_text=True)
    for path in ("/tasks", "/invite", "/checkin"):
        assert f'href="{path}"' in html, path


# ---- referrals -------------------------------------------------------------------------------

def _code_of(app, user_id):
    with app.app_context():
        return _db.session.get(User, user_id).invite_code


def test_the_invite_page_shows_the_link_and_an_inline_qr(member_client, app):
    code = _code_of(app, member_client.user_id)
    html = member_client.get("/invite").get_data(as_text=True)
    assert f"/r/{code}" in html and '<svg viewBox="' in html.split('data-testid="invite-qr"')[1][:200]
    assert "好友通过你的链接注册，你得 100 积分" in html


def test_the_link_remembers_the_inviter_and_leads_to_register(client, make_member, app):
    inviter = make_member()
    code = _code_of(app, inviter)
    response = client.get(f"/r/{code}")
    page = response.get_data(as_text=True)
    assert response.status_code == 200 and 'data-testid="invite-landing"' in page
    assert "邀请你" in page and "注册即送 500 积分" in page and f'href="/register?invite={code}"' in page
    with app.app_context():
        masked = _db.session.get(User, inviter).display_name
    assert f"好友 {masked} 邀请你" in page and masked.count("*") == 4   # the inviter's phone stays masked
    cookie = response.headers["Set-Cookie"]
    assert f"invite={code}" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie
    # Even when the query string is lost (a WeChat share), the cookie fills the hidden field.
    html = client.get("/register").get_data(as_text=True)
    assert re.search(rf'name="invite" type="hidden" value="{code}"|type="hidden" name="invite" value="{code}"|'
                     rf'id="invite" name="invite" type="hidden" value="{code}"', html)
    # The browser submits the hidden field as the page filled it.
    response = client.submit("/register", {"phone": next_phone(), "password": "secret1234", "invite": code})
    assert response.status_code == 303
    assert _balance(app, inviter) == 600
    with app.app_context():
        referral = _db.session.execute(select(Referral)).scalar_one()
        assert referral.inviter_id == inviter and referral.status == "paid" and referral.ip == "127.0.0.1"
    login_as(client, inviter)
    html = client.get("/invite").get_data(as_text=True)
    assert 'data-testid="invite-count">1<' in html and "+100" in html


def test_a_bad_invite_code_is_a_404(client):
    assert client.get("/r/nosuchcode").status_code == 404


def test_a_member_opening_an_invite_link_is_not_invited_again(member_client, make_member, app):
    code = _code_of(app, make_member())
    response = member_client.get(f"/r/{code}")
    assert response.status_code == 302 and response.headers["Location"].endswith("/invite")
    assert "invite=" not in response.headers.get("Set-Cookie", "")


def test_english_pages_render(member_client, packet_id):
    for path in ("/checkin", "/tasks", "/invite", "/me/level", "/me/profile", "/promotions"):
        assert member_client.get(f"{path}?lang=en").status_code == 200, path
