"""Operator console, merchants and staff (issue 9, item 5) and operator accounts (item 8):
merchant create/edit with validation at the field, staff and operators added with a one-time
password that must be changed at first login, disable/enable rules, all audited."""
import re
import uuid

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.models import AuditLog, Merchant, User
from app.services import accounts, console_accounts
from app.services.accounts import AccountError
from app.services.errors import DomainError, Forbidden
from tests.concurrency import run_concurrently
from tests.conftest import login_as, next_phone
from tests.shop_factories import make_merchant  # noqa: F401  (fixture)

XSS = '"><img src=x onerror=alert(1)><script>alert(1)</script>'
VALID = {"name": "老街面馆", "address": "黄浦区南京东路 1 号", "phone": "021-63211234", "is_active": "y",
         "points_per_yuan": "1.5", "daily_cap_points": "3000", "max_amount_yuan": "800.5"}


@pytest.fixture()
def operator(client, make_account):
    client.user_id = make_account("operator")
    login_as(client, client.user_id)
    return client


def _text(response):
    return response.get_data(as_text=True)


def _merchants(app):
    with app.app_context():
        rows = db.session.execute(select(Merchant).order_by(Merchant.id)).scalars().all()
        values = [{name: getattr(m, name) for name in ("id", "name", "address", "phone", "is_active",
                                                       "points_ratio_pct", "daily_cap_points", "max_amount_fen")}
                  for m in rows]
        db.session.remove()
    return values


def _audit(app, action=None):
    with app.app_context():
        stmt = select(AuditLog).order_by(AuditLog.id)
        if action:
            stmt = stmt.where(AuditLog.action == action)
        rows = [(row.action, row.target, row.detail) for row in db.session.execute(stmt).scalars()]
        db.session.remove()
    return rows


def _user(app, user_id):
    with app.app_context():
        user = db.session.get(User, user_id)
        values = {"role": user.role, "is_disabled": user.is_disabled, "must_change_password": user.must_change_password,
                  "merchant_id": user.merchant_id, "phone": user.phone, "nickname": user.nickname}
        db.session.remove()
    return values


def _password_on(response):
    match = re.search(r'id="one-time-password">([^<]+)<', _text(response))
    assert match, _text(response)[:2000]
    return match.group(1)


# ---- merchants ------------------------------------------------------------------------------

def test_an_operator_creates_a_merchant_with_its_consumption_terms(operator, app):
    response = operator.submit("/admin/merchants/new", VALID)
    assert response.status_code == 303
    merchant, = _merchants(app)
    assert response.headers["Location"] == f"/admin/merchants/{merchant['id']}"
    assert merchant == {"id": merchant["id"], "name": "老街面馆", "address": "黄浦区南京东路 1 号", "phone": "021-63211234",
                        "is_active": True, "points_ratio_pct": 150, "daily_cap_points": 3000, "max_amount_fen": 80050}
    (action, target, detail), = _audit(app)
    assert (action, target, detail["before"]) == ("merchant.create", f"merchant:{merchant['id']}", {})
    assert detail["after"]["points_ratio_pct"] == 150
    page = _text(operator.get(f"/admin/merchants/{merchant['id']}"))
    assert "1.50" in page and "800.50" in page and "3,000" in page


def test_a_double_submitted_merchant_is_one_merchant(operator, app):
    token, key = operator.form_tokens("/admin/merchants/new")
    form = {**VALID, "csrf_token": token, "request_key": key}
    first, second = (operator.post("/admin/merchants/new", data=form) for _ in range(2))
    assert first.status_code == second.status_code == 303
    assert first.headers["Location"] == second.headers["Location"]
    assert len(_merchants(app)) == 1 and len(_audit(app)) == 1


@pytest.mark.parametrize("field, value, message", [
    ("name", "", "请填写商户名称"),
    ("name", "   ", "请填写商户名称"),
    ("name", "店" * 81, "商户名称最多80个字"),
    ("address", "址" * 201, "地址最多200个字"),
    ("phone", "call me", "请输入正确的联系电话，如 021-12345678 或 13812345678"),
    ("phone", "1" * 30, "请输入正确的联系电话，如 021-12345678 或 13812345678"),
    ("points_per_yuan", "0", "每元积分需在0.01到100之间，最多两位小数"),
    ("points_per_yuan", "-1", "每元积分需在0.01到100之间，最多两位小数"),
    ("points_per_yuan", "100.01", "每元积分需在0.01到100之间，最多两位小数"),
    ("points_per_yuan", "1.234", "每元积分需在0.01到100之间，最多两位小数"),
    ("points_per_yuan", "NaN", "每元积分需在0.01到100之间，最多两位小数"),
    ("points_per_yuan", "1e2", "每元积分需在0.01到100之间，最多两位小数"),
    ("points_per_yuan", "", "请填写每元积分"),
    ("daily_cap_points", "0", "每日上限需为1到1,000,000之间的整数"),
    ("daily_cap_points", "-5", "每日上限需为1到1,000,000之间的整数"),
    ("daily_cap_points", "1000001", "每日上限需为1到1,000,000之间的整数"),
    ("daily_cap_points", "99999999999999999999", "每日上限需为1到1,000,000之间的整数"),
    ("daily_cap_points", "2.5", "每日上限需为1到1,000,000之间的整数"),
    ("max_amount_yuan", "0", "单笔最高金额需在0.01到1,000,000元之间，最多两位小数"),
    ("max_amount_yuan", "1000000.01", "单笔最高金额需在0.01到1,000,000元之间，最多两位小数"),
    ("max_amount_yuan", "Infinity", "单笔最高金额需在0.01到1,000,000元之间，最多两位小数"),
    ("max_amount_yuan", "１００", "单笔最高金额需在0.01到1,000,000元之间，最多两位小数"),
])
def test_bad_merchant_values_are_refused_at_the_field(operator, app, make_merchant, field, value, message):
    response = operator.submit("/admin/merchants/new", {**VALID, field: value})
    assert response.status_code == 422
    assert re.search(rf'id="{field}-error"[^>]*>{re.escape(message)}<', _text(response)), _text(response)[-3000:]
    assert _merchants(app) == []
    merchant_id = make_merchant("原来的店")
    response = operator.submit(f"/admin/merchants/{merchant_id}/edit", {**VALID, field: value})
    assert response.status_code == 422
    assert _merchants(app)[0]["name"] == "原来的店" and _audit(app) == []


def test_an_edit_saves_and_audits_only_the_changed_fields(operator, app, make_merchant):
    merchant_id = make_merchant("老街面馆")
    form = _text(operator.get(f"/admin/merchants/{merchant_id}/edit"))
    assert 'value="老街面馆"' in form and 'value="1"' in form and 'value="5000"' in form  # stored values, in yuan
    response = operator.submit(f"/admin/merchants/{merchant_id}/edit",
                               {"name": "老街面馆", "points_per_yuan": "2", "daily_cap_points": "2000",
                                "max_amount_yuan": "5000"})  # is_active unticked
    assert response.status_code == 303
    merchant, = _merchants(app)
    assert (merchant["points_ratio_pct"], merchant["is_active"], merchant["max_amount_fen"]) == (200, False, 500000)
    (action, target, detail), = _audit(app)
    assert (action, target) == ("merchant.update", f"merchant:{merchant_id}")
    assert detail == {"before": {"is_active": True, "points_ratio_pct": 100},
                      "after": {"is_active": False, "points_ratio_pct": 200}}
    # the same edit again changes nothing and writes nothing
    operator.submit(f"/admin/merchants/{merchant_id}/edit", {"name": "老街面馆", "points_per_yuan": "2",
                                                              "daily_cap_points": "2000", "max_amount_yuan": "5000"})
    assert len(_audit(app)) == 1
    html = _text(operator.get(f"/admin/merchants/{merchant_id}"))
    assert "merchant.update" in html and "积分比例（%）" in html  # the merchant's own audit history, fields named


def test_merchants_are_listed_searched_and_paginated(operator, app, make_merchant):
    for i in range(21):
        make_merchant(f"分店{i:02d}")
    make_merchant("咖啡馆")
    first = _text(operator.get("/admin/merchants"))
    assert "咖啡馆" in first and "第 1 / 2 页，共 22 条" in first
    found = _text(operator.get("/admin/merchants?q=咖啡"))
    assert "咖啡馆" in found and "分店" not in found
    assert "分店00" in _text(operator.get("/admin/merchants?page=2"))


def test_merchant_names_carrying_markup_are_shown_as_text(operator, app, make_merchant):
    operator.submit("/admin/merchants/new", {**VALID, "name": XSS[:80], "address": XSS})
    merchant_id = _merchants(app)[0]["id"]
    for path in ("/admin/merchants", f"/admin/merchants/{merchant_id}", f"/admin/merchants/{merchant_id}/edit",
                 "/admin/audit"):
        html = _text(operator.get(path))
        assert "<img src=x" not in html and "<script>alert" not in html, path
        assert "&lt;img src=x" in html or "&#34;&gt;&lt;img" in html, path


def test_unknown_merchants_are_404(operator):
    assert operator.get("/admin/merchants/424242").status_code == 404
    assert operator.get("/admin/merchants/424242/edit").status_code == 404


# ---- staff ----------------------------------------------------------------------------------

def test_staff_get_a_one_time_password_and_must_change_it_at_first_login(operator, app, make_merchant):
    merchant_id = make_merchant()
    phone = next_phone()
    response = operator.submit(f"/admin/merchants/{merchant_id}/staff", {"phone": phone, "name": "小王"},
                               page=f"/admin/merchants/{merchant_id}")
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    password = _password_on(response)
    assert len(password) == 12
    with app.app_context():
        staff = db.session.execute(select(User).where(User.phone == phone)).scalar_one()
        staff_id = staff.id
        assert not accounts.check_password(staff, "secret123") and accounts.check_password(staff, password)
        db.session.remove()
    assert _user(app, staff_id) == {"role": "staff", "is_disabled": False, "must_change_password": True,
                                    "merchant_id": merchant_id, "phone": phone, "nickname": "小王"}
    assert "小王" in _text(operator.get(f"/admin/merchants/{merchant_id}"))
    assert password not in _text(operator.get(f"/admin/merchants/{merchant_id}"))  # shown once
    (action, target, detail), = _audit(app)
    assert (action, target) == ("user.create", f"user:{staff_id}") and password not in str(detail)

    staff_client = app.test_client()
    login = staff_client.submit("/login", {"phone": phone, "password": password})
    assert login.status_code == 303 and login.headers["Location"] == "/me/password"
    for path in ("/merchant/", "/me/password?x=1", "/"):
        visit = staff_client.get(path)
        assert visit.status_code == 200 if path.startswith("/me/password") else visit.headers["Location"] == "/me/password"
    assert "一次性密码" in _text(staff_client.get("/me/password"))
    changed = staff_client.submit("/me/password", {"old_password": password, "new_password": "my-own-pass",
                                                   "confirm": "my-own-pass"})
    assert changed.status_code == 303 and changed.headers["Location"] == "/merchant/"
    assert staff_client.get("/merchant/").status_code == 200
    assert _user(app, staff_id)["must_change_password"] is False


@pytest.mark.parametrize("phone, name, field, message", [
    ("12345", "小王", "phone", "请输入正确的11位手机号"),
    ("", "小王", "phone", "请输入手机号"),
    ("1380013800０", "小王", "phone", "请输入正确的11位手机号"),
    ("13900000001", "", "name", "请填写姓名"),
    ("13900000001", "名" * 41, "name", "姓名最多40个字"),
])
def test_bad_staff_details_are_refused_at_the_field(operator, app, make_merchant, phone, name, field, message):
    merchant_id = make_merchant()
    response = operator.submit(f"/admin/merchants/{merchant_id}/staff", {"phone": phone, "name": name},
                               page=f"/admin/merchants/{merchant_id}")
    assert response.status_code == 422
    assert re.search(rf'id="{field}-error"[^>]*>{re.escape(message)}<', _text(response))
    assert _audit(app) == []


def test_a_phone_already_in_use_is_refused_at_the_field(operator, app, make_merchant, make_member):
    merchant_id = make_merchant()
    make_member(phone="13900000002")
    response = operator.submit(f"/admin/merchants/{merchant_id}/staff", {"phone": "139-0000-0002", "name": "小李"},
                               page=f"/admin/merchants/{merchant_id}")
    assert response.status_code == 422
    assert re.search(r'id="phone-error"[^>]*>该手机号已被其他账号使用<', _text(response))


def test_a_double_submitted_staff_account_is_one_account(operator, app, make_merchant):
    merchant_id = make_merchant()
    token, key = operator.form_tokens(f"/admin/merchants/{merchant_id}")
    form = {"csrf_token": token, "request_key": key, "phone": "13900000003", "name": "小张"}
    first = operator.post(f"/admin/merchants/{merchant_id}/staff", data=form)
    second = operator.post(f"/admin/merchants/{merchant_id}/staff", data=form)
    assert first.status_code == 200 and second.status_code == 303
    assert "一次性密码只显示一次" in _text(operator.get(second.headers["Location"]))
    with app.app_context():
        assert db.session.execute(select(func.count(User.id)).where(User.role == "staff")).scalar_one() == 1
        db.session.remove()


def test_disabling_staff_ends_their_sessions_and_a_reset_gives_a_new_one_time_password(
        operator, app, make_merchant):
    merchant_id = make_merchant()
    phone = next_phone()
    password = _password_on(operator.submit(f"/admin/merchants/{merchant_id}/staff", {"phone": phone, "name": "小赵"},
                                            page=f"/admin/merchants/{merchant_id}"))
    staff_id = _user_id_by_phone(app, phone)
    staff_client = app.test_client()
    staff_client.submit("/login", {"phone": phone, "password": password})
    staff_client.submit("/me/password", {"old_password": password, "new_password": "counter-pass",
                                         "confirm": "counter-pass"})
    assert staff_client.get("/merchant/").status_code == 200

    page = f"/admin/merchants/{merchant_id}"
    assert operator.submit(f"{page}/staff/{staff_id}/disable", {"confirm": "disable"}, page=page).status_code == 303
    assert staff_client.get("/merchant/").status_code == 302
    assert "该账号已被停用" in _text(staff_client.submit("/login", {"phone": phone, "password": "counter-pass"}))
    assert operator.submit(f"{page}/staff/{staff_id}/enable", {"confirm": "enable"}, page=page).status_code == 303
    assert staff_client.submit("/login", {"phone": phone, "password": "counter-pass"}).status_code == 303

    reset = operator.submit(f"{page}/staff/{staff_id}/reset-password", {"confirm": "reset"}, page=page)
    new_password = _password_on(reset)
    assert staff_client.get("/merchant/").status_code == 302  # the reset ended the session
    assert "手机号或密码错误" in _text(staff_client.submit("/login", {"phone": phone, "password": "counter-pass"}))
    login = staff_client.submit("/login", {"phone": phone, "password": new_password})
    assert login.headers["Location"] == "/me/password"
    actions = [a for a, _t, _d in _audit(app)]
    assert actions == ["user.create", "user.disable", "user.enable", "user.reset_password"]


def test_staff_of_another_merchant_cannot_be_reached_through_this_merchant(operator, app, make_merchant,
                                                                           make_account):
    mine, other = make_merchant("甲"), make_merchant("乙")
    staff_id = make_account("staff", merchant_id=other)
    page = f"/admin/merchants/{mine}"
    assert operator.submit(f"{page}/staff/{staff_id}/disable", {"confirm": "disable"}, page=page).status_code == 404
    assert _user(app, staff_id)["is_disabled"] is False


def _user_id_by_phone(app, phone):
    with app.app_context():
        user_id = db.session.execute(select(User.id).where(User.phone == phone)).scalar_one()
        db.session.remove()
    return user_id


# ---- operators ------------------------------------------------------------------------------

def test_an_operator_adds_an_operator_who_must_change_the_one_time_password(operator, app):
    phone = next_phone()
    response = operator.submit("/admin/operators", {"phone": phone, "name": "新运营"}, page="/admin/operators")
    password = _password_on(response)
    new_id = _user_id_by_phone(app, phone)
    assert _user(app, new_id)["role"] == "operator" and _user(app, new_id)["must_change_password"] is True
    assert "新运营" in _text(operator.get("/admin/operators"))
    newcomer = app.test_client()
    assert newcomer.submit("/login", {"phone": phone, "password": password}).headers["Location"] == "/me/password"
    assert newcomer.get("/admin/members").headers["Location"] == "/me/password"
    newcomer.submit("/me/password", {"old_password": password, "new_password": "operator-pass", "confirm": "operator-pass"})
    assert newcomer.get("/admin/members").status_code == 200


def test_operators_disable_others_but_never_themselves(operator, app, make_account):
    other = make_account("operator")
    me = operator.user_id
    html = _text(operator.get("/admin/operators"))
    assert f"/admin/operators/{me}/disable" not in html and f"/admin/operators/{other}/disable" in html
    refused = operator.submit(f"/admin/operators/{me}/disable", {"confirm": "disable"}, page="/admin/operators")
    assert refused.status_code == 303
    assert "不能停用自己的账号" in _text(operator.get("/admin/operators"))
    assert _user(app, me)["is_disabled"] is False
    assert operator.submit(f"/admin/operators/{other}/disable", {"confirm": "disable"},
                           page="/admin/operators").status_code == 303
    assert _user(app, other)["is_disabled"] is True
    assert operator.submit(f"/admin/operators/{other}/enable", {"confirm": "enable"},
                           page="/admin/operators").status_code == 303
    assert _user(app, other)["is_disabled"] is False
    assert [a for a, _t, _d in _audit(app)] == ["user.disable", "user.enable"]


def test_the_last_enabled_operator_stays_even_when_two_disable_each_other_at_once(app, make_account):
    first, second = make_account("operator"), make_account("operator")
    pairs = [(first, second), (second, first)]

    def work(i):
        actor, target = pairs[i]
        return accounts.set_disabled(target, True, actor_id=actor, role="operator")

    outcome = run_concurrently(app, work, 2, expected=(DomainError,))
    assert outcome.errors == []
    assert outcome.results == [True] and len(outcome.refusals) == 1
    assert isinstance(outcome.refusals[0], Forbidden)
    assert sorted(_user(app, u)["is_disabled"] for u in (first, second)) == [False, True]


def test_the_service_refuses_to_disable_oneself(app, make_account):
    me = make_account("operator")
    with app.app_context():
        with pytest.raises(AccountError):
            accounts.set_disabled(me, True, actor_id=me)
        with pytest.raises(AccountError):
            console_accounts.reset_password(me, me, "operator", uuid.uuid4().hex)
        db.session.remove()


@pytest.mark.parametrize("phone, name, field, message", [
    ("1234", "甲", "phone", "请输入正确的11位手机号"),
    ("13900000009", " ", "name", "请填写姓名"),
])
def test_bad_operator_details_are_refused_at_the_field(operator, app, phone, name, field, message):
    response = operator.submit("/admin/operators", {"phone": phone, "name": name}, page="/admin/operators")
    assert response.status_code == 422
    assert re.search(rf'id="{field}-error"[^>]*>{re.escape(message)}<', _text(response))


def test_an_operator_phone_already_in_use_is_refused(operator, app):
    with app.app_context():
        phone = db.session.get(User, operator.user_id).phone
        db.session.remove()
    response = operator.submit("/admin/operators", {"phone": phone, "name": "重复"}, page="/admin/operators")
    assert response.status_code == 422 and "该手机号已被其他账号使用" in _text(response)
