"""Playwright driving Debian's Chromium at a phone viewport against the live server."""
import os
import shutil

import pytest

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 800}  # the operator console's viewport


def pytest_collection_modifyitems(items):
    for item in items:
        if "tests/browser/" in str(item.fspath).replace(os.sep, "/"):
            item.add_marker(pytest.mark.browser)


@pytest.fixture(scope="session")
def browser():
    if not shutil.which(CHROMIUM) and not os.path.exists(CHROMIUM):
        if os.environ.get("CI"):
            pytest.fail(f"Chromium not found at {CHROMIUM}; CI must install Debian's chromium")
        pytest.skip(f"Chromium not found at {CHROMIUM} (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-quic",
                  "--no-first-run", "--disable-component-update", "--disable-sync"],
        )
        yield browser
        browser.close()


@pytest.fixture()
def page(browser, live_server):
    """A fresh phone-sized page in Simplified Chinese; `page.url_for(path)` is absolute."""
    context = browser.new_context(viewport=PHONE, locale="zh-CN", base_url=live_server,
                                  user_agent="Mozilla/5.0 (Linux; Android 13) Mobile MicroMessenger/8.0")
    page = context.new_page()
    page.set_default_timeout(15000)
    yield page
    context.close()


@pytest.fixture()
def screenshot_dir():
    path = os.environ.get("SCREENSHOT_DIR")
    if path:
        os.makedirs(path, exist_ok=True)
    return path


def log_in(page, phone, password="secret123", landing="/me"):
    """Sign in through the real login form and land on `landing` (a member's /me by default)."""
    page.goto("/login")
    page.fill("input[name=phone]", phone)
    page.fill("input[name=password]", password)
    page.click("form button[type=submit]")
    page.wait_for_url(f"**{landing}")


def console_page(browser, live_server, phone, landing="/admin/", viewport=DESKTOP, **options):
    """A new browser context at a console's viewport (the operator's by default), signed in through
    the login form as the account with `phone`; returns (context, page), the page on `landing`."""
    context = browser.new_context(viewport=viewport, locale="zh-CN", base_url=live_server, **options)
    page = context.new_page()
    page.set_default_timeout(15000)
    log_in(page, phone, landing=landing)
    return context, page
