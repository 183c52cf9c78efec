"""On a phone at the counter: staff award consumption points by typing the member's phone; the member
shows a member code that staff could scan instead."""
import pytest

from app.extensions import db
from app.models import Merchant
from app.services import consumption
from app.services.tx import write_transaction
from tests.browser.conftest import CHROMIUM, PHONE
from tests.browser.test_merchant_verify import qr_video, watch_csp
from tests.conftest import balance_of, next_phone
from tests.shop_factories import make_merchant  # noqa: F401  (fixture)


def _log_in(page, phone, landing):
    page.goto("/login")
    page.fill("input[name=phone]", phone)
    page.fill("input[name=password]", "secret123")
    page.click("form button[type=submit]")
    page.wait_for_url(f"**{landing}")


def test_staff_award_points_by_typed_phone_and_the_member_sees_them(app, page, make_merchant, make_account,
                                                                    make_member, screenshot_dir):
    merchant_id = make_merchant("老街面馆")
    with app.app_context():
        with write_transaction() as session:
            session.get(Merchant, merchant_id).points_ratio_pct = 200  # 2 points a yuan
        db.session.remove()
    staff_phone, member_phone = next_phone(), next_phone()
    make_account("staff", phone=staff_phone, merchant_id=merchant_id)
    member_id = make_member(phone=member_phone)
    with app.app_context():
        start = balance_of(member_id)
        db.session.remove()

    _log_in(page, staff_phone, "/merchant/")
    page.click(".merchant-action >> text=积分奖励")
    page.fill("#member-code", member_phone)
    page.click("[data-testid=member-lookup]")
    page.wait_for_selector("[data-testid=award-member]")
    assert f"{member_phone[:3]}****{member_phone[-4:]}" in page.inner_text("[data-testid=award-member]")
    page.fill("input[name=amount]", "12.5")
    page.fill("input[name=receipt_no]", "r-1")
    page.click("form.award-form button[type=submit]")
    page.wait_for_selector(".flash-success")
    assert "奖励 25 积分（小票 R-1）" in page.inner_text(".flash-success")
    assert page.viewport_size == {"width": 390, "height": 844}
    if screenshot_dir:
        page.screenshot(path=f"{screenshot_dir}/merchant-award.png")
    with app.app_context():
        assert balance_of(member_id) == start + 25
        db.session.remove()

    page.context.clear_cookies()
    _log_in(page, member_phone, "/me")
    page.click("[data-testid=member-code-entry]")
    page.wait_for_selector("[data-testid=member-code] svg")
    assert page.get_attribute("#member-code", "hx-trigger") == "every 60s"


@pytest.fixture()
def scanning_counter(app, browser, live_server, tmp_path, make_merchant, make_account, make_member):
    """Staff of 老街面馆 on a second Chromium whose (fake) rear camera films a member's fresh member code."""
    merchant_id = make_merchant("老街面馆")
    staff_phone, member_phone = next_phone(), next_phone()
    make_account("staff", phone=staff_phone, merchant_id=merchant_id)
    member_id = make_member(phone=member_phone)
    with app.app_context():
        start, code = balance_of(member_id), consumption.member_code(member_id)
        db.session.remove()
    video = qr_video(str(tmp_path / "member-code.y4m"), code)
    camera = browser.browser_type.launch(
        executable_path=CHROMIUM,
        args=["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run",
              "--disable-component-update", "--disable-sync", "--use-fake-device-for-media-stream",
              f"--use-file-for-fake-video-capture={video}", "--use-fake-ui-for-media-stream"],
    )
    context = camera.new_context(viewport=PHONE, locale="zh-CN", base_url=live_server)
    page = context.new_page()
    page.set_default_timeout(20000)
    yield {"page": page, "staff_phone": staff_phone, "member_phone": member_phone, "member": member_id,
           "start": start, "code": code}
    context.close()
    camera.close()


def test_staff_scan_the_member_code_with_the_camera_and_award_points(app, scanning_counter):
    page, counter = scanning_counter["page"], scanning_counter
    violations = watch_csp(page)
    _log_in(page, counter["staff_phone"], "/merchant/")
    page.goto("/merchant/award")
    page.click("[data-scan-into='#member-code']")
    page.wait_for_selector("[data-testid=award-member]")
    phone = counter["member_phone"]
    assert f"{phone[:3]}****{phone[-4:]}" in page.inner_text("[data-testid=award-member]")
    page.fill("input[name=amount]", "66")
    page.fill("input[name=receipt_no]", "CAM-1")
    page.click("form.award-form button[type=submit]")
    page.wait_for_selector(".flash-success")
    with app.app_context():
        assert balance_of(counter["member"]) == counter["start"] + 66
        db.session.remove()
    assert violations() == []
