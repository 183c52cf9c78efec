"""Links we hand out (invite link and QR code, later share cards and callbacks) are built on
SITE_URL, never on the Host header a client sends; behind nginx, ProxyFix trusts only the
configured number of proxies."""
import re

import pytest
from werkzeug.middleware.proxy_fix import ProxyFix

from app import create_app
from app.config import TestConfig
from app.extensions import db
from app.models import User
from app.routes.web import absolute_url
from app.services import referrals


def _invite_link(html):
    match = re.search(r'id="invite-link"[^>]*value="([^"]+)"', html)
    assert match, "no invite link on the page"
    return match.group(1)


def _code(app, user_id):
    with app.app_context():
        code = db.session.get(User, user_id).invite_code
        db.session.remove()
    return code


@pytest.mark.parametrize("headers", [
    {"Host": "evil.example"},
    {"Host": "evil.example", "X-Forwarded-Host": "evil.example", "X-Forwarded-Proto": "http"},
])
def test_the_invite_link_and_qr_ignore_the_host_header(app, member_client, monkeypatch, headers):
    encoded = []
    real_qr = referrals.qr_svg
    monkeypatch.setattr(referrals, "qr_svg", lambda url: encoded.append(url) or real_qr(url))
    # A cookie-less client, so the member's session cookie goes to whatever host the request names.
    browser = app.test_client(use_cookies=False)
    cookie = f"session={member_client.get_cookie('session').value}"
    response = browser.get("/invite", headers={**headers, "Cookie": cookie})
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "evil.example" not in html
    expected = f"https://mall.test/r/{_code(app, member_client.user_id)}"
    assert _invite_link(html) == expected
    assert encoded == [expected]  # the QR code holds the same link


def test_absolute_url_follows_site_url_with_a_path_and_works_outside_a_request(app, monkeypatch):
    monkeypatch.setitem(app.config, "SITE_URL", "https://shop.example.com/mall/")
    with app.app_context():
        assert absolute_url("engage.referral_link", code="abc") == "https://shop.example.com/mall/r/abc"
    with app.test_request_context("/", headers={"Host": "evil.example"}):
        assert absolute_url("main.home") == "https://shop.example.com/mall/"


def _app_with(tmp_path, proxies):
    class Config(TestConfig):
        SQLALCHEMY_DATABASE_URI = f"sqlite:///{tmp_path}/proxy.db"
        TRUSTED_PROXIES = proxies

    return create_app(Config)


def test_no_proxy_is_trusted_by_default(tmp_path):
    app = _app_with(tmp_path, 0)
    assert not isinstance(app.wsgi_app, ProxyFix)
    with app.app_context():
        db.engine.dispose()


def test_behind_nginx_the_configured_number_of_proxies_is_trusted(tmp_path):
    app = _app_with(tmp_path, 1)
    assert isinstance(app.wsgi_app, ProxyFix)
    seen = {}

    @app.get("/_whoami")
    def _whoami():
        from flask import request

        seen.update(addr=request.remote_addr, scheme=request.scheme, host=request.host)
        return ""

    app.test_client().get("/_whoami", headers={"X-Forwarded-For": "203.0.113.9, 198.51.100.7",
                                                "X-Forwarded-Proto": "https", "X-Forwarded-Host": "mall.example.com"})
    # One trusted hop: the address nginx saw, not the one the client claimed before it.
    assert seen == {"addr": "198.51.100.7", "scheme": "https", "host": "mall.example.com"}
    with app.app_context():
        db.engine.dispose()
