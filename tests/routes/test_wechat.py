"""WeChat (issue 11): web authorization login and binding, the shared access token and JS-SDK
ticket, driven through the real client code against tests/fake_wechat.py on 127.0.0.1."""
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from sqlalchemy import func, select

from app.extensions import db
from app.models import PointEntry, User, UserIdentity
from app.services import wechat
from tests.concurrency import run_concurrently
from tests.conftest import login_as
from tests.fake_wechat import APP_ID, APP_SECRET, FakeWeChat

WX_UA = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) Mobile/15E148 MicroMessenger/8.0.50 NetType/WIFI"
BROWSER_UA = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) Mobile/15E148 Safari/604.1"


@pytest.fixture(scope="session")
def fake_server():
    server = FakeWeChat().start()
    yield server
    server.stop()


@pytest.fixture()
def fake(app, fake_server):
    """WeChat configured against a fresh fake for this test only."""
    fake_server.reset()
    saved = {key: app.config[key] for key in ("WECHAT_APP_ID", "WECHAT_APP_SECRET", "WECHAT_API_BASE",
                                              "WECHAT_OPEN_BASE", "WECHAT_TEMPLATES")}
    app.config.update(WECHAT_APP_ID=APP_ID, WECHAT_APP_SECRET=APP_SECRET, WECHAT_API_BASE=fake_server.url,
                      WECHAT_OPEN_BASE=fake_server.url)
    yield fake_server.state
    app.config.update(saved)


def wx_get(client, url, **kwargs):
    return client.get(url, headers={"User-Agent": WX_UA}, **kwargs)


def through_wechat(client, response, max_rounds=4):
    """Follow redirects through the fake's authorize page and back, as the WeChat browser would;
    returns the first response that does not go to WeChat (the app's answer)."""
    for _ in range(max_rounds):
        location = response.headers.get("Location", "")
        if "/auth/wechat" in location and "callback" not in location:
            response = wx_get(client, location)
            continue
        if not location.startswith("http://127.0.0.1"):
            return response
        back = requests.get(location, allow_redirects=False, timeout=5).headers["Location"]
        parts = urlsplit(back)
        response = wx_get(client, f"{parts.path}?{parts.query}")
    return response


def scopes_seen(client, response):
    """The scope of each trip to WeChat's authorize page until the app answers."""
    scopes = []
    for _ in range(4):
        location = response.headers.get("Location", "")
        if "/auth/wechat" in location and "callback" not in location:
            response = wx_get(client, location)
            continue
        if not location.startswith("http://127.0.0.1"):
            return scopes, response
        scopes.append(parse_qs(urlsplit(location).query)["scope"][0])
        back = requests.get(location, allow_redirects=False, timeout=5).headers["Location"]
        parts = urlsplit(back)
        response = wx_get(client, f"{parts.path}?{parts.query}")
    return scopes, response


def members_with_openid(openid):
    return db.session.execute(select(func.count(UserIdentity.id)).where(UserIdentity.openid == openid)).scalar_one()


# ---- login -------------------------------------------------------------------------------------

def test_a_newcomer_in_wechat_is_registered_with_nickname_and_avatar_and_returns_to_the_page(app, client, fake):
    fake.add_user("o-new", nickname="阿福", headimgurl="https://wx.qlogo.cn/afu.png")
    fake.next_openid = "o-new"
    first = wx_get(client, "/me/points")
    assert first.status_code == 302 and "/auth/wechat?next=" in first.headers["Location"]
    scopes, landed = scopes_seen(client, first)
    assert scopes == ["snsapi_base", "snsapi_userinfo"]            # silent first, the profile for a newcomer
    assert landed.status_code == 303 and landed.headers["Location"] == "/me/points"
    assert wx_get(client, "/me/points").status_code == 200
    with app.app_context():
        identity = db.session.execute(select(UserIdentity).where(UserIdentity.openid == "o-new")).scalar_one()
        member = db.session.get(User, identity.user_id)
        assert (member.nickname, member.avatar_url, member.phone, member.password_hash) == (
            "阿福", "https://wx.qlogo.cn/afu.png", None, None)
        assert identity.app_id == APP_ID and member.points_balance > 0  # the registration gift
        db.session.remove()


def test_a_known_member_logs_in_silently(app, client, fake):
    fake.next_openid = "o-known"
    through_wechat(client, wx_get(client, "/me"))
    client = app.test_client()  # another day, a new session
    scopes, landed = scopes_seen(client, wx_get(client, "/me"))
    assert scopes == ["snsapi_base"] and landed.headers["Location"] == "/me"
    with app.app_context():
        assert members_with_openid("o-known") == 1
        db.session.remove()


def test_outside_wechat_members_log_in_with_their_phone_as_before(client, fake):
    response = client.get("/me", headers={"User-Agent": BROWSER_UA})
    assert response.status_code == 302 and response.headers["Location"].startswith("/login")
    assert 'data-testid="wechat-login"' not in client.get("/login", headers={"User-Agent": BROWSER_UA}).get_data(
        as_text=True)
    assert 'data-testid="wechat-login"' in wx_get(client, "/login").get_data(as_text=True)


def test_the_same_person_from_another_app_of_ours_is_the_same_member(app, client, fake, make_member):
    member = make_member()
    with app.app_context():
        with db.session.begin():
            db.session.add(UserIdentity(user_id=member, provider="wechat", app_id="wx-mini-program",
                                        openid="o-mini", unionid="u-same"))
        db.session.remove()
    fake.add_user("o-mp", unionid="u-same")
    fake.next_openid = "o-mp"
    landed = through_wechat(client, wx_get(client, "/me"))
    assert landed.headers["Location"] == "/me"
    with app.app_context():
        owners = db.session.execute(select(UserIdentity.user_id).where(UserIdentity.unionid == "u-same")).scalars()
        assert set(owners) == {member}                                # never split into two members
        db.session.remove()


def test_the_invite_code_survives_the_round_trip(app, client, fake, make_member):
    inviter = make_member()
    with app.app_context():
        code = db.session.get(User, inviter).invite_code
        db.session.remove()
    fake.next_openid = "o-invited"
    assert wx_get(client, f"/r/{code}").status_code == 200             # the invite link sets its cookie
    through_wechat(client, wx_get(client, "/me"))
    with app.app_context():
        invitee = db.session.execute(select(UserIdentity.user_id).where(UserIdentity.openid == "o-invited")).scalar()
        assert db.session.get(User, invitee).inviter_id == inviter
        db.session.remove()


def _callback_url(client, fake, openid):
    """Start a login and return the callback URL WeChat sends the member back to (not yet visited)."""
    fake.next_openid = openid
    start = wx_get(client, "/auth/wechat?next=/me")
    return urlsplit(requests.get(start.headers["Location"], allow_redirects=False, timeout=5).headers["Location"])


@pytest.mark.parametrize("tamper", ["other-state", ""])
def test_a_bad_state_is_refused(app, client, fake, tamper):
    back = _callback_url(client, fake, "o-x")
    query = parse_qs(back.query)
    response = wx_get(client, f"{back.path}?code={query['code'][0]}&state={tamper}")
    assert response.status_code == 303 and response.headers["Location"] == "/login"
    assert "登录链接已失效" in client.get("/login").get_data(as_text=True)
    with app.app_context():
        assert members_with_openid("o-x") == 0
        db.session.remove()


def test_a_replayed_callback_is_refused(app, client, fake):
    back = _callback_url(client, fake, "o-y")
    fake.add_user("o-y")
    first = wx_get(client, f"{back.path}?{back.query}")
    assert "snsapi_userinfo" in first.headers["Location"]             # newcomer: round two begins
    replay = wx_get(client, f"{back.path}?{back.query}")               # the same state again
    assert replay.headers["Location"] == "/login"


def test_an_expired_state_is_refused(app, client, fake, monkeypatch):
    monkeypatch.setattr(wechat, "STATE_TTL", -1)
    back = _callback_url(client, fake, "o-z")
    response = wx_get(client, f"{back.path}?{back.query}")
    assert response.headers["Location"] == "/login"
    assert "登录已超时" in client.get("/login").get_data(as_text=True)


def test_an_expired_or_used_code_is_refused_with_a_way_out(app, client, fake):
    back = _callback_url(client, fake, "o-code")
    query = parse_qs(back.query)
    fake.used_codes.add(query["code"][0])                               # WeChat codes work once, for 5 minutes
    response = wx_get(client, f"{back.path}?{back.query}")
    assert response.headers["Location"] == "/login"
    assert "微信授权已失效" in client.get("/login").get_data(as_text=True)


def test_two_callbacks_for_one_new_openid_at_once_create_one_member(app, fake):
    wx_user = wechat.WeChatUser("o-race", None, "并发", None)
    outcome = run_concurrently(app, lambda i: wechat.log_in_member(wx_user)[0].id, 8)
    assert outcome.errors == [] and len(set(outcome.results)) == 1
    with app.app_context():
        assert members_with_openid("o-race") == 1
        member = outcome.results[0]
        gifts = db.session.execute(select(func.count(PointEntry.id)).where(PointEntry.user_id == member,
                                                                          PointEntry.kind == "register")).scalar()
        assert gifts == 1
        assert db.session.execute(select(func.count(User.id)).where(User.nickname == "并发")).scalar() == 1
        db.session.remove()


# ---- binding ----------------------------------------------------------------------------------

def test_a_phone_member_binds_wechat_and_then_logs_in_through_it(app, client, fake, make_member):
    member = make_member()
    login_as(client, member)
    assert 'data-testid="bind-wechat"' in client.get("/me/profile").get_data(as_text=True)
    fake.next_openid = "o-bind"
    landed = through_wechat(client, wx_get(client, "/auth/wechat?bind=1"))
    assert landed.headers["Location"] == "/me/profile"
    profile = client.get("/me/profile").get_data(as_text=True)
    assert "微信绑定成功" in profile and 'data-testid="bind-wechat"' not in profile
    client = app.test_client()                                          # later, inside WeChat, logged out
    assert through_wechat(client, wx_get(client, "/me")).headers["Location"] == "/me"
    assert wx_get(client, "/me").status_code == 200
    with app.app_context():
        assert db.session.execute(select(UserIdentity.user_id).where(UserIdentity.openid == "o-bind")).scalar() \
            == member
        db.session.remove()


def test_binding_a_wechat_that_belongs_to_another_member_is_refused_not_merged(app, client, fake, make_member):
    fake.next_openid = "o-taken"
    through_wechat(client, wx_get(client, "/me"))                       # o-taken registers by WeChat
    client = app.test_client()
    phone_member = make_member()
    login_as(client, phone_member)
    landed = through_wechat(client, wx_get(client, "/auth/wechat?bind=1"))
    assert landed.headers["Location"] == "/me/profile"
    page = client.get("/me/profile").get_data(as_text=True)
    assert "这个微信已绑定另一个会员账号" in page
    with app.app_context():
        assert db.session.execute(select(func.count(UserIdentity.id))
                                  .where(UserIdentity.user_id == phone_member)).scalar() == 0
        assert members_with_openid("o-taken") == 1
        db.session.remove()


def test_a_wechat_member_binds_a_phone(app, client, fake):
    fake.next_openid = "o-phone"
    through_wechat(client, wx_get(client, "/me"))
    response = client.submit("/me/phone", {"phone": "13766667777"}, headers={"User-Agent": WX_UA})
    assert response.status_code == 303
    with app.app_context():
        member = db.session.execute(select(User).join(UserIdentity, UserIdentity.user_id == User.id)
                                    .where(UserIdentity.openid == "o-phone")).scalar_one()
        assert member.phone == "13766667777"
        db.session.remove()


# ---- access token and JS-SDK ticket ------------------------------------------------------------

def test_the_signature_matches_wechats_documented_example():
    # From WeChat's JS-SDK documentation (附录1-JS-SDK使用权限签名算法).
    assert wechat.jsapi_signature(
        "sM4AOVdWfPE4DxkXGEs8VMCPGGVi4C3VM0P37wVUCFvkVAy_90u5h9nbSlYy3-Sl-HhTdfl2fzFy1AOcHKP7qg",
        "Wm3WZYTPz0wzccnW", 1414587457, "http://mp.weixin.qq.com?params=value",
    ) == "0f9de62fce790f9a083d5c99e95740ceb90c27ed"


def test_workers_asking_for_the_token_at_once_fetch_it_once(app, fake):
    outcome = run_concurrently(app, lambda i: wechat.credential("access_token"), 8)
    assert outcome.errors == [] and len(set(outcome.results)) == 1
    assert fake.tokens_issued == 1
    with app.app_context():
        assert wechat.jsapi_ticket() == wechat.jsapi_ticket()
        db.session.remove()
    assert fake.tickets_issued == 1 and fake.tokens_issued == 1


def test_a_token_wechat_rejects_mid_request_is_refreshed_once_and_the_call_retried(app, fake):
    with app.app_context():
        wechat.credential("access_token")
        fake.revoke_tokens()                                           # e.g. refreshed by a forgotten script
        ticket = wechat.jsapi_ticket()
        assert ticket.startswith("jsapi-ticket-") and fake.tokens_issued == 2
        fake.revoke_tokens()
        answer = wechat.send_template("o-1", "tpl", {"first": {"value": "x"}}, "https://mall.test/")
        assert answer["errcode"] == 0 and fake.tokens_issued == 3 and len(fake.templates_sent) == 1
        db.session.remove()


def test_pages_opened_in_wechat_carry_a_signed_config_and_share_card(app, client, fake, make_member):
    from tests.shop_factories import make_product as _unused  # noqa: F401
    member = make_member()
    login_as(client, member)
    page = wx_get(client, "/").get_data(as_text=True)
    assert 'data-wx-config=' in page and "jweixin-1.6.5." in page and "signature" in page
    with app.app_context():
        code = db.session.get(User, member).invite_code
        db.session.remove()
    assert f"invite={code}" in page                                   # the share link carries the invite code
    outside = client.get("/", headers={"User-Agent": BROWSER_UA}).get_data(as_text=True)
    assert "data-wx-config" not in outside and "jweixin" not in outside


def test_without_configuration_nothing_of_wechat_shows(client, make_member):
    login_as(client, make_member())
    page = wx_get(client, "/").get_data(as_text=True)
    assert "data-wx-config" not in page
    assert wx_get(client, "/auth/wechat").status_code == 404


# ---- template messages ------------------------------------------------------------------------

@pytest.fixture()
def templates(app, fake):
    app.config["WECHAT_TEMPLATES"] = {"points.adjusted": "tpl-points", "order.shipped": "tpl-shipped"}
    yield fake
    app.config["WECHAT_TEMPLATES"] = {}


def _wechat_member(app, client, fake, openid):
    fake.next_openid = openid
    through_wechat(client, wx_get(client, "/me"))
    with app.app_context():
        member = db.session.execute(select(UserIdentity.user_id).where(UserIdentity.openid == openid)).scalar()
        db.session.remove()
    return member


@pytest.fixture()
def operator(make_account):
    return make_account("operator")


def _adjust(app, member, delta, reason, operator):
    import uuid

    from app.services import member_admin
    with app.app_context():
        member_admin.adjust_points(operator, member, delta, reason, uuid.uuid4().hex)
        db.session.remove()


def _send(app, now=None):
    from app.services import wechat_templates
    with app.app_context():
        result = wechat_templates.send_due(now=now)
        db.session.remove()
    return result


def test_a_message_with_a_template_goes_to_wechat_once_after_commit(app, client, templates, make_member, operator):
    member = _wechat_member(app, client, templates, "o-tpl")
    phone_only = make_member()
    _adjust(app, member, 100, "活动补偿", operator)
    _adjust(app, phone_only, 100, "活动补偿2", operator)                         # no openid: stays in the message centre
    assert _send(app) == (1, 0)
    sent = templates.templates_sent
    assert len(sent) == 1 and sent[0]["touser"] == "o-tpl" and sent[0]["template_id"] == "tpl-points"
    assert "100" in sent[0]["data"]["keyword1"]["value"] and "活动补偿" in sent[0]["data"]["keyword1"]["value"]
    assert sent[0]["url"].startswith("https://mall.test/")
    assert _send(app) == (0, 0) and len(templates.templates_sent) == 1  # a repeated run sends nothing


def test_a_failed_send_is_retried_with_backoff_and_never_sent_twice(app, client, templates, operator):
    from datetime import timedelta

    from app.models import TemplateMessage
    from app.services.clock import utcnow
    member = _wechat_member(app, client, templates, "o-retry")
    _adjust(app, member, 50, "重试", operator)
    templates.template_failures = 2
    now = utcnow()
    assert _send(app, now) == (0, 1)
    assert _send(app, now) == (0, 0)                                     # backing off: not due yet
    assert _send(app, now + timedelta(minutes=1, seconds=1)) == (0, 1)
    assert _send(app, now + timedelta(minutes=4)) == (1, 0)
    assert _send(app, now + timedelta(hours=2)) == (0, 0)
    assert len(templates.templates_sent) == 1
    with app.app_context():
        row = db.session.execute(select(TemplateMessage)).scalar_one()
        assert (row.status, row.attempts) == ("sent", 3)
        db.session.remove()


def test_two_senders_at_once_send_each_message_once(app, client, templates, operator):
    member = _wechat_member(app, client, templates, "o-two")
    for n in range(5):
        _adjust(app, member, 10, f"批量{n}", operator)
    from app.services import wechat_templates
    outcome = run_concurrently(app, lambda i: wechat_templates.send_due(), 4)
    assert outcome.errors == []
    assert sum(sent for sent, _failed in outcome.results) == 5 and len(templates.templates_sent) == 5
