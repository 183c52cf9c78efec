"""Staff at the counter on a phone (390x844): verify a voucher by typed code, and by holding its QR
code up to the camera (Chromium's fake capture device plays a Y4M file made from a segno QR of a
real voucher code); both end with the voucher redeemed in the database, without a CSP violation."""
import pytest
import segno
from PIL import Image

from app.extensions import db
from app.models import Voucher
from app.services import shop, vouchers
from tests.browser.conftest import CHROMIUM, PHONE
from tests.browser.test_csp import RECORD_VIOLATIONS
from tests.conftest import next_phone
from tests.shop_factories import make_merchant, make_product, new_key  # noqa: F401

FRAME_W, FRAME_H, FRAMES = 640, 480, 4


@pytest.fixture()
def counter(app, make_member, make_account, make_merchant, make_product):
    """A member's ¥200 voucher of 老街面馆, and a staff account of that store with a known phone."""
    merchant = make_merchant("老街面馆")
    member_phone = next_phone()
    member = make_member(phone=member_phone)
    product_id = make_product(name="200元套餐券", kind="voucher", merchant_id=merchant, face_value_fen=20000,
                              valid_days=30, points_price=100)
    with app.app_context():
        order = shop.redeem_product(member, product_id, 1, new_key())
        code, voucher_id = order.vouchers[0].code, order.vouchers[0].id
        db.session.remove()
    staff_phone = next_phone()
    staff = make_account("staff", phone=staff_phone, merchant_id=merchant, nickname="小王")
    return {"code": code, "voucher_id": voucher_id, "staff": staff, "staff_phone": staff_phone,
            "member_phone": member_phone}


def staff_log_in(page, phone, password="secret123"):
    """Sign in through the real login form; staff land on the merchant console."""
    page.goto("/login")
    page.fill("input[name=phone]", phone)
    page.fill("input[name=password]", password)
    page.click("form button[type=submit]")
    page.wait_for_url("**/merchant/")


def voucher_state(app, voucher_id):
    with app.app_context():
        row = db.session.get(Voucher, voucher_id)
        state = (row.status, row.redeemed_by)
        db.session.remove()
    return state


# Screenshots keep the caret: hiding it makes Playwright inject a <style>, which the CSP reports.
def watch_csp(page):
    violations = []
    page.on("console", lambda message: violations.append(message.text)
            if message.type == "error" and "Content Security Policy" in message.text else None)
    page.on("pageerror", lambda error: violations.append(f"page error: {error}"))
    page.add_init_script(RECORD_VIOLATIONS)
    return lambda: violations + page.evaluate("window.__csp || []")


def test_staff_verify_a_voucher_by_typed_code(page, app, counter, screenshot_dir):
    violations = watch_csp(page)
    staff_log_in(page, counter["staff_phone"])
    page.goto("/merchant/verify")
    if screenshot_dir:
        page.screenshot(path=f"{screenshot_dir}/merchant-verify-empty.png", full_page=True, caret="initial")

    # A typo first: a clear refusal, nothing redeemed.
    page.fill("#voucher-code", counter["code"][:-1] + ("A" if counter["code"][-1] != "A" else "B"))
    page.click("[data-testid=lookup-submit]")
    page.wait_for_selector("[data-outcome=invalid]")
    if screenshot_dir:
        page.screenshot(path=f"{screenshot_dir}/merchant-verify-invalid.png", full_page=True, caret="initial")

    # Typed the way people type it: lower case, in groups.
    page.fill("#voucher-code", vouchers.grouped(counter["code"]).lower())
    page.click("[data-testid=lookup-submit]")
    page.wait_for_selector("[data-outcome=found]")
    masked = f"{counter['member_phone'][:3]}****{counter['member_phone'][-4:]}"
    assert page.inner_text("[data-testid=voucher-title]") == "200元套餐券"
    assert page.inner_text("[data-testid=member-phone]") == masked
    assert "¥200.00" in page.inner_text("[data-outcome=found]")
    assert voucher_state(app, counter["voucher_id"]) == ("active", None)
    if screenshot_dir:
        page.screenshot(path=f"{screenshot_dir}/merchant-verify-found.png", full_page=True, caret="initial")

    page.click("[data-testid=confirm-redeem]")
    page.wait_for_selector("[data-outcome=redeemed]")
    assert "核销成功" in page.inner_text("[data-outcome=redeemed]")
    assert page.input_value("#voucher-code") == ""  # ready for the next customer
    assert voucher_state(app, counter["voucher_id"]) == ("redeemed", counter["staff"])
    if screenshot_dir:
        page.screenshot(path=f"{screenshot_dir}/merchant-verify-redeemed.png", full_page=True, caret="initial")

    # The same code again: already used, by whom.
    page.fill("#voucher-code", counter["code"])
    page.click("[data-testid=lookup-submit]")
    page.wait_for_selector("[data-outcome=just_used]")
    assert "小王" in page.inner_text("[data-outcome=just_used]")
    if screenshot_dir:
        page.screenshot(path=f"{screenshot_dir}/merchant-verify-used.png", full_page=True, caret="initial")
    assert violations() == []


def qr_video(path, text):
    """A YUV4MPEG2 (C420) file of a few frames showing `text` as a QR code on white, as a camera would."""
    qr = segno.make(text, error="m")
    image = Image.new("L", (FRAME_W, FRAME_H), 255)
    scale = max(1, (FRAME_H - 120) // qr.symbol_size(border=4)[0])
    symbol = Image.new("L", qr.symbol_size(scale=scale, border=4), 255)
    for y, row in enumerate(qr.matrix_iter(scale=scale, border=4)):
        for x, dark in enumerate(row):
            if dark:
                symbol.putpixel((x, y), 0)
    image.paste(symbol, ((FRAME_W - symbol.width) // 2, (FRAME_H - symbol.height) // 2))
    luma = image.tobytes()
    chroma = bytes([128]) * (FRAME_W // 2 * FRAME_H // 2)
    with open(path, "wb") as video:
        video.write(f"YUV4MPEG2 W{FRAME_W} H{FRAME_H} F10:1 Ip A1:1 C420\n".encode())
        for _ in range(FRAMES):
            video.write(b"FRAME\n" + luma + chroma + chroma)
    return path


@pytest.fixture()
def camera_page(browser, counter, live_server, tmp_path):
    """A second Chromium whose (fake) rear camera films the voucher's QR code; camera use allowed.
    Launched through the session's Playwright (a second sync_playwright() may not run beside it)."""
    video = qr_video(str(tmp_path / "voucher-qr.y4m"), counter["code"])
    camera = browser.browser_type.launch(
        executable_path=CHROMIUM,
        args=["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run",
              "--disable-component-update", "--disable-sync", "--use-fake-device-for-media-stream",
              f"--use-file-for-fake-video-capture={video}", "--use-fake-ui-for-media-stream"],
    )
    context = camera.new_context(viewport=PHONE, locale="zh-CN", base_url=live_server,
                                 user_agent="Mozilla/5.0 (Linux; Android 13) Mobile Safari/537.36")
    page = context.new_page()
    page.set_default_timeout(20000)
    yield page
    context.close()
    camera.close()


def test_staff_scan_a_voucher_qr_with_the_camera(camera_page, app, counter, screenshot_dir):
    page = camera_page
    violations = watch_csp(page)
    staff_log_in(page, counter["staff_phone"])
    page.goto("/merchant/verify")
    native_qr = page.evaluate("""async () => !!(window.BarcodeDetector && BarcodeDetector.getSupportedFormats
        && (await BarcodeDetector.getSupportedFormats()).includes('qr_code'))""")
    page.click("[data-scan-into]")
    page.wait_for_selector("[data-outcome=found]")
    # Where Chromium has no native QR detector (Linux), the vendored jsQR is what decoded the frame.
    engine = page.get_attribute("[data-scan-into]", "data-scan-engine")
    assert engine == ("barcode-detector" if native_qr else "jsqr")
    assert page.input_value("#voucher-code") == counter["code"]
    assert page.locator(".scanner-overlay").count() == 0  # the camera view is closed again
    if screenshot_dir:
        page.screenshot(path=f"{screenshot_dir}/merchant-verify-scanned.png", full_page=True, caret="initial")
    page.click("[data-testid=confirm-redeem]")
    page.wait_for_selector("[data-outcome=redeemed]")
    assert voucher_state(app, counter["voucher_id"]) == ("redeemed", counter["staff"])
    assert violations() == []


def test_a_refused_camera_sends_staff_to_the_typed_code(page, counter):
    """No camera permission (Playwright's contexts refuse it unless granted): a message, the field focused."""
    staff_log_in(page, counter["staff_phone"])
    page.goto("/merchant/verify")
    page.click("[data-scan-into]")
    page.wait_for_selector("#scan-status:not([hidden])")
    assert page.inner_text("#scan-status") in ("摄像头权限被拒绝，请在下方输入券码",
                                               "无法打开摄像头，请在下方输入券码")
    assert page.evaluate("document.activeElement.id") == "voucher-code"
