"""Issue 10 in the browser: an operator reads the dashboard (charts, tables, range, CSV) at
1280x800; a member downloads their data and deletes the account at 390x844."""
import io
import zipfile

from app.extensions import db
from app.models import User
from app.services import checkin
from tests.browser.conftest import console_page, log_in
from tests.conftest import next_phone


def test_an_operator_reads_the_dashboard_switches_range_and_exports_it(app, browser, live_server, make_member,
                                                                      make_account, screenshot_dir):
    for _ in range(3):
        with app.app_context():
            checkin.check_in(make_member(points=200))
            db.session.remove()
    operator_phone = next_phone()
    make_account("operator", phone=operator_phone)
    context, page = console_page(browser, live_server, operator_phone, accept_downloads=True)
    assert page.locator("svg.chart-svg").count() >= 2               # charts, not only tables
    figures = page.locator("[data-testid=dashboard-figures-row]").all_inner_texts()
    assert any(row.split()[0] == "签到次数" and row.split()[1] == "3" for row in figures), figures
    page.get_by_role("link", name="近7天").click()
    page.wait_for_url("**range=7d**")
    assert "本期" in page.locator("[data-testid=range-label]").inner_text()
    if screenshot_dir:
        page.screenshot(path=f"{screenshot_dir}/admin-dashboard.png", full_page=True)
    with page.expect_download() as download:
        page.locator("[data-testid=export-dashboard]").click()
    with open(download.value.path(), encoding="utf-8-sig") as exported:
        text = exported.read()
    assert "签到" in text and text.count("\n") > 10
    context.close()


def test_a_member_downloads_their_data_then_deletes_the_account(app, browser, live_server, make_member,
                                                               screenshot_dir):
    phone = next_phone()
    member = make_member(points=300, phone=phone)
    context = browser.new_context(viewport={"width": 390, "height": 844}, locale="zh-CN", base_url=live_server,
                                  accept_downloads=True)
    page = context.new_page()
    page.set_default_timeout(15000)
    log_in(page, phone)
    page.goto("/me/profile")
    page.get_by_role("link", name="我的数据与注销账号").click()
    with page.expect_download() as download:
        page.get_by_role("link", name="下载我的数据").click()
    with open(download.value.path(), "rb") as downloaded:
        archive = zipfile.ZipFile(io.BytesIO(downloaded.read()))
    assert "points.csv" in archive.namelist() and phone in archive.read("profile.csv").decode("utf-8-sig")
    page.get_by_role("link", name="申请注销账号").click()
    assert "你当前的 800 积分将全部作废" in page.content()
    page.get_by_role("button", name="永久注销账号").click()          # nothing typed: told at the field
    assert "请输入确认文字" in page.locator("form").inner_text()
    page.fill("input[name=confirm]", "注销")
    page.fill("input[name=password]", "secret123")
    if screenshot_dir:
        page.screenshot(path=f"{screenshot_dir}/me-delete.png", full_page=True)
    page.get_by_role("button", name="永久注销账号").click()
    page.wait_for_url(live_server + "/")
    assert "账号已注销" in page.content()
    page.goto("/me")
    assert "/login" in page.url
    with app.app_context():
        assert db.session.get(User, member).deleted_at is not None
        db.session.remove()
    context.close()
