"""Registration and login through the real pages: messages by the field, nothing half-done."""
import pytest
from sqlalchemy import func, select

from app.models import PointEntry, User
from tests.conftest import next_phone


def _count_users(app):
    from app.extensions import db

    with app.app_context():
        return db.session.execute(select(func.count(User.id))).scalar()


def test_register_pays_the_gift_and_logs_in(client, app):
    phone = next_phone()
    response = client.submit("/register", {"phone": phone, "password": "secret1234"})
    assert response.status_code == 303 and response.headers["Location"].endswith("/me")
    page = client.get("/me").get_data(as_text=True)
    assert 'id="points-balance">500<' in page
    from app.extensions import db

    with app.app_context():
        user = db.session.execute(select(User).where(User.phone == phone)).scalar_one()
        assert user.password_hash != "secret1234" and user.password_hash.startswith("$argon2")
        assert db.session.execute(select(PointEntry.kind).where(PointEntry.user_id == user.id)).scalars().all() == ["register"]


@pytest.mark.parametrize("phone, password, field, message", [
    ("12345", "secret1234", "phone", "请输入正确的11位手机号"),
    ("23800000000", "secret1234", "phone", "请输入正确的11位手机号"),
    ("1380000000a", "secret1234", "phone", "请输入正确的11位手机号"),
    ("", "secret1234", "phone", "请输入手机号"),
    ("13812345678", "short", "password", "密码长度需为8到128位"),
    ("13812345678", "", "password", "请输入密码"),
])
def test_bad_registration_input_gets_a_message_by_the_field(client, app, phone, password, field, message):
    response = client.submit("/register", {"phone": phone, "password": password})
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert f'id="{field}-error"' in html and message in html
    assert _count_users(app) == 0


def test_duplicate_phone_is_refused_by_the_field(client, app, make_member):
    make_member(phone="13912345678")
    response = client.submit("/register", {"phone": "139 1234 5678", "password": "secret1234"})
    html = response.get_data(as_text=True)
    assert response.status_code == 422 and "该手机号已注册" in html and 'id="phone-error"' in html
    assert _count_users(app) == 1


def test_double_submitted_registration_creates_one_account(client, app):
    token, _ = client.form_tokens("/register")
    data = {"csrf_token": token, "phone": "13612345678", "password": "secret1234"}
    before = client.get_cookie("session").value
    first = client.post("/register", data=data)
    # A double tap: the second request left the phone before the first answer (and its new
    # cookies) arrived, so it carries the session from before.
    client.set_cookie("session", before)
    client.delete_cookie("remember_token")
    second = client.post("/register", data=data)
    assert first.status_code == 303 and second.status_code == 422
    assert _count_users(app) == 1


def test_registration_without_csrf_is_refused(client, app):
    response = client.post("/register", data={"phone": "13612345678", "password": "secret1234"})
    assert response.status_code == 400 and "页面已过期" in response.get_data(as_text=True)
    assert _count_users(app) == 0


def test_login_with_the_right_password(client, make_member):
    make_member(phone="13712345678", password="right-password")
    response = client.submit("/login", {"phone": "13712345678", "password": "right-password"})
    assert response.status_code == 303 and response.headers["Location"].endswith("/me")
    assert client.get("/me").status_code == 200


def test_wrong_password_gets_a_message_and_no_session(client, make_member):
    make_member(phone="13712345678", password="right-password")
    response = client.submit("/login", {"phone": "13712345678", "password": "wrong-password"})
    assert response.status_code == 422 and "手机号或密码错误" in response.get_data(as_text=True)
    assert client.get("/me").status_code == 302


def test_unknown_phone_gets_the_same_message(client):
    response = client.submit("/login", {"phone": "13712345670", "password": "whatever1"})
    assert "手机号或密码错误" in response.get_data(as_text=True)


def test_disabled_account_is_refused(client, make_member):
    make_member(phone="13712345678", password="right-password", is_disabled=True)
    response = client.submit("/login", {"phone": "13712345678", "password": "right-password"})
    assert "该账号已被停用" in response.get_data(as_text=True)
    assert client.get("/me").status_code == 302


def test_a_disabled_member_loses_an_open_session(client, make_member, app):
    from app.extensions import db
    from app.services.tx import write_transaction
    from tests.conftest import login_as

    user_id = make_member()
    login_as(client, user_id)
    assert client.get("/me").status_code == 200
    with app.app_context():
        with write_transaction() as session:
            session.get(User, user_id).is_disabled = True
        db.session.remove()
    assert client.get("/me").status_code == 302


def test_next_is_followed_only_to_our_own_host(client, make_member):
    make_member(phone="13712345678", password="right-password")
    response = client.submit("/login?next=https://evil.example/x", {"phone": "13712345678", "password": "right-password",
                                                                      "next": "https://evil.example/x"})
    assert response.headers["Location"].endswith("/me")
    client.post("/logout", data={"csrf_token": client.form_tokens("/me")[0]})
    response = client.submit("/login", {"phone": "13712345678", "password": "right-password", "next": "/me/points"})
    assert response.headers["Location"].endswith("/me/points")


def test_login_is_rate_limited(client, make_member):
    make_member(phone="13712345678", password="right-password")
    token, _ = client.form_tokens("/login")
    statuses = [client.post("/login", data={"csrf_token": token, "phone": "13712345678", "password": "bad-pass"}).status_code
                for _ in range(12)]
    assert statuses[:10] == [422] * 10
    assert statuses[10] == 429
    limited = client.post("/login", data={"csrf_token": token, "phone": "13712345678", "password": "right-password"})
    assert limited.status_code == 429 and "操作太频繁" in limited.get_data(as_text=True)


def test_logout_needs_a_post_with_csrf(member_client):
    assert member_client.get("/logout").status_code == 405
    assert member_client.post("/logout").status_code == 400
    token, _ = member_client.form_tokens("/me")
    assert member_client.post("/logout", data={"csrf_token": token}).status_code == 303
    assert member_client.get("/me").status_code == 302


def test_accounts_registered_from_one_browser_share_its_device_id(app):
    """The `did` cookie outlives logouts, so a phone registering account after account is one device."""
    from app.extensions import db
    from tests.conftest import MallClient

    app.test_client_class = MallClient
    phone_browser, other_browser = app.test_client(), app.test_client()
    for client, number in ((phone_browser, "13900000101"), (phone_browser, "13900000102"),
                           (other_browser, "13900000103")):
        assert client.submit("/register", {"phone": number, "password": "secret1234"}).status_code == 303
        client.submit("/logout", page="/me")
    with app.app_context():
        devices = dict(db.session.execute(select(User.phone, User.register_device)).all())
        db.session.remove()
    assert len(devices["13900000101"]) == 32
    assert devices["13900000101"] == devices["13900000102"] != devices["13900000103"]
    cookie = phone_browser.get_cookie("did")
    assert cookie.http_only and cookie.same_site == "Lax"
