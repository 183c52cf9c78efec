"""On a phone: check in, see today marked on the calendar and the header balance rise, without a reload."""
from datetime import timedelta

from app.services.clock import shanghai_today, utcnow
from tests.browser.conftest import log_in
from tests.conftest import next_phone


def _log_in(page, make_member, **columns):
    phone = next_phone()
    make_member(phone=phone, password="secret1234", **columns)
    log_in(page, phone, "secret1234")


def test_check_in_marks_today_and_raises_the_balance_in_place(page, make_member, screenshot_dir):
    _log_in(page, make_member)
    page.goto("/checkin")
    today = shanghai_today().isoformat()
    assert page.inner_text("#points-balance") == "500"
    assert "is-checked" not in page.get_attribute(f"[data-day='{today}']", "class")
    page.evaluate("window.__sameDocument = true")

    page.click("[data-testid=checkin-button]")
    page.wait_for_selector("[data-testid=checkin-done]")

    assert page.inner_text("#points-balance") == "505"
    assert "is-checked" in page.get_attribute(f"[data-day='{today}']", "class")
    assert "+5" in page.inner_text(f"[data-day='{today}']")
    assert page.inner_text("[data-testid=streak]") == "1"
    assert page.evaluate("window.__sameDocument") is True  # no reload happened
    assert page.viewport_size == {"width": 390, "height": 844}
    if screenshot_dir:
        page.screenshot(path=f"{screenshot_dir}/checkin.png", full_page=True)


def test_make_up_a_missed_day_after_confirming(page, make_member):
    _log_in(page, make_member, created_at=utcnow() - timedelta(days=30))
    yesterday = shanghai_today() - timedelta(days=1)
    page.goto(f"/checkin?month={yesterday.strftime('%Y-%m')}")
    page.on("dialog", lambda dialog: dialog.accept())
    page.click(f"[data-testid=makeup-{yesterday.isoformat()}]")
    page.wait_for_selector(f"[data-day='{yesterday.isoformat()}'].is-makeup")
    assert page.inner_text("#points-balance") == "480"
    assert "补签成功" in page.inner_text("[data-testid=checkin-notice]")


def test_tasks_invite_and_level_pages_on_a_phone(page, make_member, app, screenshot_dir):
    from app.services import packets

    with app.app_context():
        now = utcnow()
        packet_id = packets.create_packet("周末积分红包", 88, now - timedelta(hours=1), now + timedelta(days=3), total=100).id
    _log_in(page, make_member, growth=6200)
    page.goto("/tasks")
    page.click(f"[data-testid=claim-packet-{packet_id}]")
    page.wait_for_selector(f"[data-testid=packet-{packet_id}].is-claimed")
    assert page.inner_text("#points-balance") == "588"
    page.click("[data-testid=claim-phone]")
    page.wait_for_selector("[data-testid=task-phone].is-done")
    assert page.inner_text("#points-balance") == "643"  # 50 points at silver level: 55
    if screenshot_dir:
        page.screenshot(path=f"{screenshot_dir}/tasks.png", full_page=True)
    page.goto("/invite")
    assert page.locator("[data-testid=invite-qr] svg").is_visible()
    assert "/r/" in page.input_value("[data-testid=invite-link]")
    if screenshot_dir:
        page.screenshot(path=f"{screenshot_dir}/invite.png", full_page=True)
    page.goto("/me/level")
    assert "银卡会员" in page.inner_text("[data-testid=my-level]")
    if screenshot_dir:
        page.screenshot(path=f"{screenshot_dir}/level.png", full_page=True)
    for path, name in (("/promotions", "promotions"), ("/me/profile", "profile")):
        page.goto(path)
        if screenshot_dir:
            page.screenshot(path=f"{screenshot_dir}/{name}.png", full_page=True)
