"""A member registers on a phone and sees the 500-point gift on /me."""
from tests.conftest import next_phone


def test_register_and_see_the_gift_on_me(page, screenshot_dir):
    page.goto("/register")
    page.fill("input[name=phone]", next_phone())
    page.fill("input[name=password]", "secret1234")
    page.click("[data-testid=register-submit]")
    page.wait_for_url("**/me")
    assert page.inner_text("#points-balance") == "500"
    assert page.inner_text("[data-testid=me-balance]") == "500"
    assert "普通会员" in page.inner_text("[data-testid=level]")
    if screenshot_dir:
        page.screenshot(path=f"{screenshot_dir}/me.png", full_page=True)
    page.goto("/me/points")
    assert "注册礼" in page.inner_text(".ledger-list")
    assert "+500" in page.inner_text(".ledger-list")


def test_bad_phone_shows_a_message_by_the_field(page):
    page.goto("/register")
    page.fill("input[name=phone]", "12345")
    page.fill("input[name=password]", "secret1234")
    page.click("[data-testid=register-submit]")
    error = page.locator("#phone-error")
    assert "手机号" in error.inner_text()
    assert page.url.endswith("/register")
