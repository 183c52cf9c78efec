"""Under the Content-Security-Policy the member pages load without a single violation in real
Chromium, and htmx interactions (check-in, a draw, the copy button) still work."""
import pytest

from tests.browser.conftest import log_in
from tests.conftest import next_phone
from tests.games_factories import make_draw, make_item, prize
from tests.shop_factories import make_product  # noqa: F401  (fixture)

# Collected inside the page: every violation the browser reports, whatever the console says.
RECORD_VIOLATIONS = """
window.__csp = [];
document.addEventListener("securitypolicyviolation", function (e) {
  window.__csp.push(e.violatedDirective + " " + (e.blockedURI || "inline") + " " + (e.sample || ""));
});
"""


@pytest.fixture()
def watched(page):
    """The page, with console CSP messages and securitypolicyviolation events collected."""
    console = []
    page.on("console", lambda message: console.append(message.text)
            if message.type in ("error", "warning") and "Content Security Policy" in message.text else None)
    page.on("pageerror", lambda error: console.append(f"page error: {error}"))
    page.add_init_script(RECORD_VIOLATIONS)

    def violations():
        return console + page.evaluate("window.__csp || []")

    page.violations = violations
    return page


def _visit(page, path):
    response = page.goto(path)
    assert response.status < 500, path
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"], path
    page.wait_for_load_state("load")
    return page.violations()


def test_member_pages_load_without_csp_violations(watched, app, make_member, make_product, screenshot_dir):
    page = watched
    wheel = make_draw(app, skin="wheel", name="幸运大转盘")
    grid = make_draw(app, [prize(f"{n}积分", 10, points=n, tier=1 if n == 34 else None)
                           for n in (1, 2, 3, 5, 8, 13, 21, 34)], skin="grid", name="九宫格")
    _item, round_id = make_item(app)
    product_id = make_product()
    phone = next_phone()
    make_member(phone=phone, growth=6200)
    for path in ("/", "/login", "/register", "/no-such-page"):
        assert _visit(page, path) == [], path
    log_in(page, phone)
    for path in ("/me", "/me/points", "/me/messages", "/me/level", "/me/password", "/me/vouchers", "/me/coupons",
                 "/me/addresses", "/me/addresses/new", "/me/profile", "/me/phone", "/products",
                 f"/products/{product_id}", "/orders", "/checkin", "/tasks", "/promotions", "/invite", "/draws",
                 f"/draw/{wheel}", f"/draw/{wheel}/odds", f"/draw/{grid}", "/treasure", f"/treasure/{round_id}"):
        assert _visit(page, path) == [], path
    if screenshot_dir:
        page.goto(f"/draw/{wheel}")
        page.screenshot(path=f"{screenshot_dir}/csp-wheel.png", full_page=True)


def test_htmx_interactions_work_under_the_policy(watched, app, make_member):
    page = watched
    wheel = make_draw(app, skin="wheel", name="幸运大转盘")
    phone = next_phone()
    make_member(phone=phone)
    log_in(page, phone)

    page.goto("/checkin")
    page.evaluate("window.__sameDocument = true")
    page.click("[data-testid=checkin-button]")
    page.wait_for_selector("[data-testid=checkin-done]")
    assert page.inner_text("#points-balance") == "505"
    assert page.evaluate("window.__sameDocument") is True
    assert page.violations() == []

    page.goto(f"/draw/{wheel}")
    page.click("[data-testid=draw-go]")
    page.wait_for_selector("[data-testid=draw-result].is-revealed", timeout=15000)
    assert page.violations() == []

    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    page.goto("/invite")
    page.click("[data-copy]")
    page.wait_for_function("document.querySelector('[data-copy]').textContent.trim() === '已复制'")
    assert page.violations() == []


def test_a_blocked_inline_script_would_be_caught(watched):
    """The watch itself works: an inline script injected into one of our pages is reported."""
    page = watched
    page.goto("/login")
    page.evaluate("""() => { const s = document.createElement('script'); s.textContent = 'window.__ran = 1';
                             document.body.appendChild(s); }""")
    page.wait_for_function("window.__csp.length > 0")
    assert page.evaluate("window.__ran") is None
    assert any("script-src" in v for v in page.violations())
