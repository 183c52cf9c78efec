"""Sessions end when they should: logout, a password change and disabling the account make
every session and remember cookie issued before worthless; logging in starts a fresh
session with a new CSRF token; the remember cookie carries safe flags and a stated lifetime."""
from datetime import datetime, timezone

import pytest
from sqlalchemy import func, select

from app.config import ProductionConfig
from app.extensions import db
from app.models import AuditLog, CheckIn, User
from app.services import accounts
from app.services.accounts import AccountError
from app.services.errors import Forbidden
from tests.conftest import CSRF_RE, next_phone
from tests.shop_factories import make_merchant  # noqa: F401  (fixture)

PASSWORD = "secret123"


def _log_in(client, phone, password=PASSWORD):
    response = client.submit("/login", {"phone": phone, "password": password})
    assert response.status_code == 303
    return response


def _member(make_member):
    phone = next_phone()
    return make_member(phone=phone, password=PASSWORD), phone


def _saved_cookies(client):
    """The session and remember cookies as a thief (or a shared phone) would keep them."""
    return {name: client.get_cookie(name).value for name in ("session", "remember_token")}


def _replay(app, cookies):
    """A fresh browser presenting saved cookies."""
    thief = app.test_client()
    for name, value in cookies.items():
        thief.set_cookie(name, value)
    return thief


def _checkins(app, user_id):
    with app.app_context():
        count = db.session.execute(select(func.count(CheckIn.id)).where(CheckIn.user_id == user_id)).scalar()
        db.session.remove()
    return count


def _checkin_form(client):
    html = client.get("/checkin").get_data(as_text=True)
    match = CSRF_RE.search(html)
    return {"csrf_token": match.group(1) or match.group(2)}


@pytest.mark.parametrize("kept", [("session",), ("remember_token",), ("session", "remember_token")])
def test_cookies_saved_before_logout_open_nothing_afterwards(client, app, make_member, kept):
    user_id, phone = _member(make_member)
    _log_in(client, phone)
    form = _checkin_form(client)
    saved = {name: value for name, value in _saved_cookies(client).items() if name in kept}
    assert _replay(app, saved).get("/me").status_code == 200

    client.post("/logout", data={"csrf_token": client.form_tokens("/me")[0]})

    thief = _replay(app, saved)
    response = thief.get("/me")
    assert response.status_code == 302 and "/login" in response.headers["Location"]
    refused = thief.post("/checkin", data=form)
    assert refused.status_code in (302, 400, 401)
    assert _checkins(app, user_id) == 0


def test_logout_ends_the_sessions_on_every_device(client, app, make_member):
    _user_id, phone = _member(make_member)
    _log_in(client, phone)
    second = app.test_client()  # another phone, logged in on its own
    _log_in(second, phone)
    assert second.get("/me").status_code == 200
    client.post("/logout", data={"csrf_token": client.form_tokens("/me")[0]})
    assert second.get("/me").status_code == 302


def test_a_password_change_ends_old_sessions(client, app, make_member):
    user_id, phone = _member(make_member)
    _log_in(client, phone)
    saved, form = _saved_cookies(client), _checkin_form(client)
    with app.app_context():
        accounts.change_password(user_id, PASSWORD, "a-new-password")
        db.session.remove()
    thief = _replay(app, saved)
    assert thief.get("/me").status_code == 302
    assert thief.post("/checkin", data=form).status_code in (302, 400, 401)
    assert _checkins(app, user_id) == 0
    # The new password works, the old one no longer does.
    assert client.submit("/login", {"phone": phone, "password": PASSWORD}).status_code == 422
    _log_in(client, phone, "a-new-password")


def test_a_password_change_needs_the_current_password(app, make_member):
    user_id, _phone = _member(make_member)
    with app.app_context():
        with pytest.raises(AccountError) as refused:
            accounts.change_password(user_id, "not-my-password", "a-new-password")
        assert refused.value.field == "old_password"
        with pytest.raises(AccountError) as short:
            accounts.change_password(user_id, PASSWORD, "short")
        assert short.value.field == "new_password"
        assert accounts.check_password(db.session.get(User, user_id), PASSWORD)
        db.session.remove()


def test_disabling_an_account_ends_its_sessions_even_after_it_is_enabled_again(client, app, make_member,
                                                                              make_account):
    user_id, phone = _member(make_member)
    operator_id = make_account("operator")
    _log_in(client, phone)
    saved, form = _saved_cookies(client), _checkin_form(client)
    with app.app_context():
        accounts.set_disabled(user_id, True, actor_id=operator_id)
        accounts.set_disabled(user_id, False, actor_id=operator_id)
        actions = db.session.execute(select(AuditLog.action, AuditLog.actor_id, AuditLog.target)
                                     .order_by(AuditLog.id)).all()
        db.session.remove()
    assert actions == [("user.disable", operator_id, f"user:{user_id}"), ("user.enable", operator_id, f"user:{user_id}")]
    thief = _replay(app, saved)
    assert thief.get("/me").status_code == 302
    assert thief.post("/checkin", data=form).status_code in (302, 400, 401)
    assert _checkins(app, user_id) == 0
    _log_in(client, phone)  # enabled again, the member simply logs in anew


def test_only_an_operator_may_disable_an_account(client, app, make_member):
    user_id, phone = _member(make_member)
    other_id, _other_phone = _member(make_member)
    _log_in(client, phone)
    with app.app_context():
        with pytest.raises(Forbidden):
            accounts.set_disabled(user_id, True, actor_id=other_id)
        assert db.session.get(User, user_id).is_disabled is False
        assert db.session.execute(select(func.count(AuditLog.id))).scalar() == 0
        db.session.remove()
    assert client.get("/me").status_code == 200


def test_a_disabled_account_is_logged_out_at_once(client, app, make_member, make_account):
    user_id, phone = _member(make_member)
    _log_in(client, phone)
    with app.app_context():
        accounts.set_disabled(user_id, True, actor_id=make_account("operator"))
        db.session.remove()
    assert client.get("/me").status_code == 302
    assert "该账号已被停用" in client.submit("/login", {"phone": phone, "password": PASSWORD}).get_data(as_text=True)


def test_logging_in_starts_a_new_session_with_a_new_csrf_token(client, make_member):
    _user_id, phone = _member(make_member)
    before_token, _ = client.form_tokens("/login")
    before_cookie = client.get_cookie("session").value
    _log_in(client, phone)
    after_token, _ = client.form_tokens("/me")
    assert client.get_cookie("session").value != before_cookie
    assert after_token != before_token
    # A token known before the login (e.g. planted by someone else) is no good afterwards.
    assert client.post("/logout", data={"csrf_token": before_token}).status_code == 400
    assert client.get("/me").status_code == 200


def test_the_remember_cookie_is_httponly_lax_and_lasts_30_days(client, make_member):
    _user_id, phone = _member(make_member)
    response = _log_in(client, phone)
    header = next(h for h in response.headers.getlist("Set-Cookie") if h.startswith("remember_token="))
    assert "HttpOnly" in header and "SameSite=Lax" in header
    cookie = client.get_cookie("remember_token")
    days = (cookie.expires - datetime.now(timezone.utc)).days
    assert 29 <= days <= 30


def test_the_remember_cookie_is_secure_in_production(client, app, make_member, monkeypatch):
    assert ProductionConfig.REMEMBER_COOKIE_SECURE is True
    monkeypatch.setitem(app.config, "REMEMBER_COOKIE_SECURE", ProductionConfig.REMEMBER_COOKIE_SECURE)
    _user_id, phone = _member(make_member)
    response = _log_in(client, phone)
    header = next(h for h in response.headers.getlist("Set-Cookie") if h.startswith("remember_token="))
    assert "Secure" in header


# ---- the password page ----------------------------------------------------------------------

def test_the_password_page_changes_the_password_and_keeps_this_device_in(client, app, make_member):
    user_id, phone = _member(make_member)
    _log_in(client, phone)
    other = _replay(app, _saved_cookies(client))
    response = client.submit("/me/password", {"old_password": PASSWORD, "new_password": "a-new-password",
                                              "confirm": "a-new-password"})
    assert response.status_code == 303 and response.headers["Location"].endswith("/me")
    assert client.get("/me").status_code == 200
    assert other.get("/me").status_code == 302
    with app.app_context():
        assert accounts.check_password(db.session.get(User, user_id), "a-new-password")
        db.session.remove()


@pytest.mark.parametrize("data, field, message", [
    ({"old_password": "wrong-password", "new_password": "a-new-password", "confirm": "a-new-password"},
     "old_password", "当前密码不正确"),
    ({"old_password": PASSWORD, "new_password": "short", "confirm": "short"}, "new_password", "密码长度需为8到128位"),
    ({"old_password": PASSWORD, "new_password": "a-new-password", "confirm": "another-one"},
     "confirm", "两次输入的新密码不一致"),
    ({"old_password": PASSWORD, "new_password": PASSWORD, "confirm": PASSWORD}, "new_password", "新密码不能与当前密码相同"),
    ({"old_password": "", "new_password": "a-new-password", "confirm": "a-new-password"},
     "old_password", "请输入当前密码"),
])
def test_a_bad_password_change_gets_a_message_by_the_field_and_changes_nothing(client, app, make_member,
                                                                              data, field, message):
    user_id, phone = _member(make_member)
    _log_in(client, phone)
    response = client.submit("/me/password", data)
    html = response.get_data(as_text=True)
    assert response.status_code == 422 and f'id="{field}-error"' in html and message in html
    with app.app_context():
        assert accounts.check_password(db.session.get(User, user_id), PASSWORD)
        db.session.remove()
    assert client.get("/me").status_code == 200


def test_the_password_page_needs_a_login(client):
    response = client.get("/me/password")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_the_password_page_in_english(client, make_member):
    _user_id, phone = _member(make_member)
    _log_in(client, phone)
    html = client.get("/me/password?lang=en").get_data(as_text=True)
    assert "Change password" in html and "Current password" in html


@pytest.mark.parametrize("role, home", [("staff", "/merchant/"), ("operator", "/admin/")])
def test_staff_and_operators_change_their_password_in_their_own_layout(client, app, make_account, make_merchant,
                                                                      role, home):
    phone = next_phone()
    make_account(role, phone=phone, password=PASSWORD,
                 **({"merchant_id": make_merchant()} if role == "staff" else {}))
    _log_in(client, phone)
    html = client.get("/me/password").get_data(as_text=True)
    assert "console" in html and 'id="points-balance"' not in html
    response = client.submit("/me/password", {"old_password": PASSWORD, "new_password": "a-new-password",
                                              "confirm": "a-new-password"})
    assert response.status_code == 303 and response.headers["Location"] == home
    assert client.get(home).status_code == 200
