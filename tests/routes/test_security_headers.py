"""Every response carries the security headers: a Content-Security-Policy that allows only our
own scripts and styles and no framing, nosniff, and a Referrer-Policy that keeps Flask-WTF's
HTTPS referrer check working. Templates hold nothing the policy would block."""
import re
from pathlib import Path

import pytest

from app.routes.security import content_security_policy

TEMPLATES = Path(__file__).resolve().parents[2] / "app" / "templates"


def _directives(response):
    policy = response.headers["Content-Security-Policy"]
    return {part.split()[0]: part.split()[1:] for part in policy.split(";") if part.strip()}


def _assert_protected(response):
    csp = _directives(response)
    assert csp["default-src"] == ["'self'"]
    assert csp["script-src"] == ["'self'"]  # no 'unsafe-inline', no 'unsafe-eval', no other host
    assert csp["style-src"] == ["'self'"]
    assert csp["frame-ancestors"] == ["'none'"]
    assert csp["object-src"] == ["'none'"]
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    # Same-origin requests keep the Referer that Flask-WTF checks on HTTPS (WTF_CSRF_SSL_STRICT).
    assert response.headers["Referrer-Policy"] in ("same-origin", "strict-origin-when-cross-origin")


def test_a_page_carries_the_headers(client):
    response = client.get("/")
    assert response.status_code == 200
    _assert_protected(response)


def test_a_member_page_carries_the_headers(member_client):
    _assert_protected(member_client.get("/me"))


def test_an_htmx_fragment_carries_the_headers(client):
    response = client.get("/products?page=2", headers={"HX-Request": "true"})
    assert response.status_code == 200 and "<html" not in response.get_data(as_text=True)
    _assert_protected(response)


@pytest.mark.parametrize("htmx", [False, True])
def test_an_error_carries_the_headers(client, htmx):
    response = client.get("/no-such-page", headers={"HX-Request": "true"} if htmx else {})
    assert response.status_code == 404
    _assert_protected(response)


def test_a_refused_post_carries_the_headers(client):
    response = client.post("/login", data={"phone": "13700000000", "password": "x"})  # no CSRF token
    assert response.status_code == 400
    _assert_protected(response)


@pytest.mark.parametrize("path", ["/static/css/app.css", "/static/vendor/htmx-2.0.11.min.js", "/static/js/invite.js"])
def test_a_static_file_carries_the_headers(client, path):
    response = client.get(path)
    assert response.status_code == 200
    _assert_protected(response)
    response.close()


def test_json_carries_the_headers(client):
    _assert_protected(client.get("/healthz"))


def test_the_wechat_js_sdk_host_goes_into_script_src_only_when_configured():
    assert "wx.qq.com" not in content_security_policy({"CSP_SCRIPT_EXTRA": ""})
    policy = content_security_policy({"CSP_SCRIPT_EXTRA": "https://res.wx.qq.com https://res2.wx.qq.com"})
    assert "script-src 'self' https://res.wx.qq.com https://res2.wx.qq.com;" in policy
    assert "style-src 'self';" in policy


def test_htmx_is_told_not_to_inject_styles_or_eval(client):
    html = client.get("/").get_data(as_text=True)
    assert '<meta name="htmx-config" content=\'{"includeIndicatorStyles": false, "allowEval": false}\'>' in html


def _template_files():
    return sorted(TEMPLATES.rglob("*.html"))


@pytest.mark.parametrize("path", _template_files(), ids=lambda p: str(p.relative_to(TEMPLATES)))
def test_no_template_holds_what_the_policy_blocks(path):
    text = re.sub(r"{#.*?#}", "", path.read_text(encoding="utf-8"), flags=re.S)  # comments may name them
    assert not re.search(r"\sstyle\s*=", text), "style=\"...\" attribute (use a class)"
    assert "<style" not in text, "inline <style> (use the area's stylesheet)"
    for tag in re.findall(r"<script\b[^>]*>", text):
        assert "src=" in tag, f"inline script {tag} (move it to app/static/js)"
    assert not re.search(r"\son[a-z]+\s*=", text), "inline event handler attribute"
    assert "javascript:" not in text
    assert "hx-on" not in text, "hx-on needs eval, which the policy and htmx config refuse"
