"""The merchant console's landing, award (积分奖励) and settlement (结算) pages, and the member code on /me."""
import csv
import io
import re
from datetime import timedelta

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import AuditLog, Merchant, User, Voucher
from app.services import consumption, shop, vouchers
from app.services.clock import day_bounds_utc, shanghai_today, utcnow
from app.services.settings import put_setting
from app.services.tx import write_transaction
from tests.conftest import balance_of, login_as
from tests.shop_factories import make_merchant, make_product, new_key  # noqa: F401  (fixtures)


@pytest.fixture()
def counter(app, make_merchant, make_account, make_member, make_product):
    """Merchant A (1 point a yuan) with a staff member and a redeemable voucher product; merchant B's staff;
    a member with points."""
    merchant_a, merchant_b = make_merchant("老街面馆"), make_merchant("乙店")
    voucher_product = make_product(name="面馆代金券", kind="voucher", merchant_id=merchant_a, points_price=10,
                                   stock=50, face_value_fen=2000)
    return {"merchant": merchant_a, "other": merchant_b, "product": voucher_product,
            "staff": make_account("staff", merchant_id=merchant_a, nickname="小王"),
            "other_staff": make_account("staff", merchant_id=merchant_b),
            "member": make_member(points=1000, phone="13912345678")}


def code_for(app, user_id):
    with app.app_context():
        return consumption.member_code(user_id)


def redeem_a_voucher(app, counter, staff=None):
    """The member redeems a voucher product and staff of A redeem the voucher at the counter."""
    with app.app_context():
        order = shop.redeem_product(counter["member"], counter["product"], 1, new_key())
        code = db.session.execute(select(Voucher.code).where(Voucher.order_id == order.id)).scalar_one()
        vouchers.redeem_voucher(code, staff or counter["staff"])
        db.session.remove()


def award(app, counter, amount="88", receipt="R1", staff=None):
    with app.app_context():
        result = consumption.award_consumption_points(staff or counter["staff"],
                                                      consumption.member_code(counter["member"]), amount, receipt)
        db.session.remove()
    return result


def post_award(client, data):
    return client.submit("/merchant/award", data, page="/merchant/award")


# ---- landing ------------------------------------------------------------------------------------

def test_the_landing_shows_todays_figures_the_last_actions_and_the_big_buttons(app, client, counter):
    redeem_a_voucher(app, counter)
    award(app, counter, amount="88.50", receipt="R-77")
    login_as(client, counter["staff"])
    html = client.get("/merchant/").get_data(as_text=True)
    assert "老街面馆" in html
    today = re.search(r'data-testid="merchant-today">(.*?)</dl>', html, re.S).group(1)
    assert re.findall(r"<dd>(.*?)</dd>", today) == ["1", "¥20.00", "88", "1"]
    log = re.search(r'data-testid="merchant-log">(.*?)</ul>', html, re.S).group(1)
    kinds = re.findall(r'data-kind="(\w+)"', log)
    assert kinds == ["award", "voucher"]  # newest first
    assert "小票 R-77" in log and "面馆代金券" in log and "小王" in log and "139****5678" in log
    assert re.search(r'class="merchant-action" href="/merchant/award">积分奖励<', html)
    assert re.search(r'class="merchant-action" href="/merchant/settlement">结算<', html)
    tabbar = re.search(r'class="merchant-tabbar".*?</nav>', html, re.S).group(0)
    assert "/merchant/award" in tabbar and "/merchant/settlement" in tabbar


def test_staff_of_another_merchant_see_nothing_of_it_on_their_landing(app, client, counter):
    redeem_a_voucher(app, counter)
    award(app, counter, receipt="R-77")
    login_as(client, counter["other_staff"])
    html = client.get("/merchant/").get_data(as_text=True)
    assert "老街面馆" not in html and "R-77" not in html and "面馆代金券" not in html
    today = re.search(r'data-testid="merchant-today">(.*?)</dl>', html, re.S).group(1)
    assert re.findall(r"<dd>(.*?)</dd>", today) == ["0", "¥0.00", "0", "0"]
    assert "还没有核销或积分奖励记录" in html


def test_the_landing_keeps_only_the_last_20_actions(app, client, counter):
    for i in range(22):
        award(app, counter, amount="1", receipt=f"R{i:02d}")
    login_as(client, counter["staff"])
    log = re.search(r'data-testid="merchant-log">(.*?)</ul>', client.get("/merchant/").get_data(as_text=True), re.S)
    receipts = re.findall(r"小票 (R\d+)", log.group(1))
    assert receipts == [f"R{i:02d}" for i in range(21, 1, -1)]


# ---- award page ---------------------------------------------------------------------------------

def test_the_award_page_takes_a_typed_member_or_the_shared_scanner(app, client, counter):
    login_as(client, counter["staff"])
    html = client.get("/merchant/award").get_data(as_text=True)
    form = re.search(r'<form method="get" action="/merchant/award" novalidate>(.*?)</form>', html, re.S).group(1)
    assert 'id="member-code" name="member"' in form  # works by typing, without JS
    # the scanner module's contract: a hidden button it shows once it finds a camera, filling #member-code
    assert re.search(r'<button type="button" class="btn btn-block btn-big scan-button" data-scan-into="#member-code"'
                     r' data-scan-status="#scan-status"[^>]* hidden>', html)
    assert re.search(r'<script src="/static/js/scanner\.[0-9a-f]{10}\.js" data-decoder="[^"]+" defer>', html)


def test_a_scanned_member_code_shows_the_member_masked_with_their_level(app, client, counter):
    login_as(client, counter["staff"])
    html = client.get("/merchant/award", query_string={"member": code_for(app, counter["member"])}).get_data(
        as_text=True)
    assert "139****5678" in html and "13912345678" not in html
    assert "普通会员" in html and "今日在本店还可获得 2000 积分" in html
    assert 'name="amount"' in html and 'name="receipt_no"' in html


@pytest.mark.parametrize("member, message", [
    ("13900000000", "没有找到该手机号的会员"),
    ("PMC1.AAAAAA.forged", "会员码无效"),
    ("", "请扫描会员码或输入会员手机号"),
])
def test_an_unknown_member_is_refused_next_to_the_field(app, client, counter, member, message):
    login_as(client, counter["staff"])
    response = client.get("/merchant/award", query_string={"member": member})
    assert response.status_code == 422
    assert re.search(r'id="member-error" role="alert">[^<]*' + message, response.get_data(as_text=True))


def test_an_expired_member_code_is_refused(app, client, counter):
    with app.app_context():
        old = consumption.member_code(counter["member"], utcnow() - timedelta(minutes=10))
    login_as(client, counter["staff"])
    response = client.get("/merchant/award", query_string={"member": old})
    assert response.status_code == 422 and "会员码已过期" in response.get_data(as_text=True)
    response = post_award(client, {"member": old, "amount": "10", "receipt_no": "R1"})
    assert response.status_code == 422 and "会员码已过期" in response.get_data(as_text=True)


def test_staff_and_operator_phones_get_no_points(app, client, counter, make_account):
    make_account("operator", phone="13800000001")
    login_as(client, counter["staff"])
    for phone in ("13800000001", db_phone(app, counter["other_staff"])):
        response = client.get("/merchant/award", query_string={"member": phone})
        assert response.status_code == 422 and "该账号不是会员" in response.get_data(as_text=True)


def db_phone(app, user_id):
    with app.app_context():
        return db.session.get(User, user_id).phone


def test_confirming_an_award_pays_the_member_who_sees_it_in_points_and_messages(app, client, counter):
    login_as(client, counter["staff"])
    with app.app_context():
        start = balance_of(counter["member"])
    response = post_award(client, {"member": "13912345678", "amount": "128.80", "receipt_no": "no-5521"})
    assert response.status_code == 303 and response.headers["Location"] == "/merchant/award"
    assert "已为会员 139****5678 奖励 128 积分（小票 NO-5521）" in client.get("/merchant/award").get_data(as_text=True)
    with app.app_context():
        assert balance_of(counter["member"]) == start + 128
    login_as(client, counter["member"])
    points = client.get("/me/points").get_data(as_text=True)
    assert re.search(r'data-kind="consume">.*?消费积分 · <span class="muted">老街面馆 · NO-5521</span>.*?\+128',
                     points, re.S)
    inbox = client.get("/me/messages").get_data(as_text=True)
    assert "消费积分到账" in inbox and "你在「老街面馆」消费 ¥128.80（小票 NO-5521），获得 128 积分。" in inbox


def test_sending_the_same_award_twice_pays_once_and_says_so(app, client, counter):
    login_as(client, counter["staff"])
    code = code_for(app, counter["member"])
    with app.app_context():
        start = balance_of(counter["member"])
    first = post_award(client, {"member": code, "amount": "50", "receipt_no": "R-1"})
    client.get("/merchant/award")  # the first flash is shown
    again = post_award(client, {"member": code, "amount": "50", "receipt_no": "R-1"})
    assert first.status_code == again.status_code == 303
    html = client.get("/merchant/award").get_data(as_text=True)
    assert "小票 R-1 已于" in html and "奖励过 50 积分，未重复发放" in html
    with app.app_context():
        assert balance_of(counter["member"]) == start + 50


@pytest.mark.parametrize("amount, message", [
    ("0", "消费金额必须大于0"), ("-3", "消费金额必须大于0"), ("abc", "请输入正确的金额"),
    ("1.234", "金额最多两位小数"), ("5000.01", "单笔金额不能超过 ¥5000.00"), ("", "请输入消费金额"),
])
def test_a_bad_amount_is_refused_next_to_the_amount_field(app, client, counter, amount, message):
    login_as(client, counter["staff"])
    response = post_award(client, {"member": "13912345678", "amount": amount, "receipt_no": "R1"})
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert re.search(r'id="amount-error" role="alert">[^<]*' + re.escape(message), html)
    assert 'value="R1"' in html and "139****5678" in html  # the member and the receipt stay on the form


def test_a_receipt_reused_for_another_amount_is_refused_next_to_the_receipt(app, client, counter):
    award(app, counter, amount="20", receipt="R-9")
    login_as(client, counter["staff"])
    response = post_award(client, {"member": "13912345678", "amount": "21", "receipt_no": "R-9"})
    assert response.status_code == 422
    assert re.search(r'id="receipt_no-error" role="alert">该小票号已用于另一笔奖励', response.get_data(as_text=True))


def test_an_award_over_the_daily_cap_is_trimmed_and_the_staff_are_told(app, client, counter):
    with app.app_context():
        with write_transaction() as session:
            session.get(Merchant, counter["merchant"]).daily_cap_points = 100
        db.session.remove()
    award(app, counter, amount="60", receipt="A")
    login_as(client, counter["staff"])
    post_award(client, {"member": "13912345678", "amount": "60", "receipt_no": "B"})
    html = client.get("/merchant/award").get_data(as_text=True)
    assert "奖励 40 积分（小票 B）" in html and "已达今日上限：按规则应得 60 积分，实际奖励 40 积分" in html
    response = post_award(client, {"member": "13912345678", "amount": "1", "receipt_no": "C"})
    assert response.status_code == 422
    assert "该会员今日在本店的消费积分已达上限（100 积分），不能再奖励" in response.get_data(as_text=True)


def test_with_consumption_points_switched_off_the_page_says_so_and_awards_nothing(app, client, counter):
    with app.app_context():
        with write_transaction():
            put_setting("earn.consumption", {"enabled": False})
        db.session.remove()
    login_as(client, counter["staff"])
    assert "消费积分功能已关闭" in client.get("/merchant/award").get_data(as_text=True)
    response = post_award(client, {"member": "13912345678", "amount": "10", "receipt_no": "R1"})
    assert response.status_code == 422 and "消费积分功能已关闭，暂不能奖励积分" in response.get_data(as_text=True)
    with app.app_context():
        log = db.session.execute(select(AuditLog).where(AuditLog.action == "consumption.refused")).scalar_one()
        assert log.actor_id == counter["staff"] and "消费积分功能已关闭" in log.detail["reason"]


def test_an_award_form_without_its_csrf_token_is_refused(app, client, counter):
    login_as(client, counter["staff"])
    response = client.post("/merchant/award", data={"member": "13912345678", "amount": "10", "receipt_no": "R1"})
    assert response.status_code == 400
    with app.app_context():
        assert db.session.execute(select(AuditLog)).scalars().all() == []


# ---- settlement ---------------------------------------------------------------------------------

def _at(day, hour):
    """A UTC instant `hour` hours into Shanghai day `day`."""
    return day_bounds_utc(day)[0] + timedelta(hours=hour)


def test_settlement_per_day_week_and_month_with_totals(app, client, counter):
    today = shanghai_today()
    redeem_a_voucher(app, counter)
    redeem_a_voucher(app, counter)
    award(app, counter, amount="88.50", receipt="A")
    with app.app_context():  # one more award two days ago (its own Shanghai day)
        consumption.award_consumption_points(counter["staff"], "13912345678", "10", "OLD",
                                             now=_at(today - timedelta(days=2), 1))
        db.session.remove()
    login_as(client, counter["staff"])
    start = (today - timedelta(days=6)).isoformat()
    html = client.get("/merchant/settlement", query_string={"period": "day", "start": start,
                                                            "end": today.isoformat()}).get_data(as_text=True)
    rows = re.findall(r'<th scope="row">([^<]+)</th><td class="num">(\d+)</td><td class="num">([\d.]+)</td>\s*'
                      r'<td class="num">(\d+)</td><td class="num">([\d.]+)</td>', html)
    assert len(rows) == 8  # 7 days and the total
    assert rows[0] == (today.isoformat(), "2", "40.00", "88", "88.50")
    assert rows[2] == ((today - timedelta(days=2)).isoformat(), "0", "0.00", "10", "10.00")
    assert rows[-1] == ("合计", "2", "40.00", "98", "98.50")
    total = re.search(r'data-testid="settlement-total">(.*?)</dl>', html, re.S).group(1)
    assert re.findall(r"<dd>(.*?)</dd>", total) == ["2", "¥40.00", "98", "¥98.50"]
    month = client.get("/merchant/settlement", query_string={"period": "month", "start": start,
                                                             "end": today.isoformat()}).get_data(as_text=True)
    assert "合计" in month and today.strftime("%Y-%m") in month


def read_csv(response):
    body = response.get_data()
    assert body[:3] == b"\xef\xbb\xbf"  # the UTF-8 BOM Excel needs to read Chinese
    return list(csv.reader(io.StringIO(body[3:].decode("utf-8"))))


def test_the_settlement_csv_opens_in_excel_one_row_per_period_and_a_total(app, client, counter):
    today = shanghai_today()
    redeem_a_voucher(app, counter)
    award(app, counter, amount="88.50", receipt="A")
    login_as(client, counter["staff"])
    start = today - timedelta(days=13)
    response = client.get("/merchant/settlement.csv", query_string={
        "period": "week", "start": start.isoformat(), "end": today.isoformat()})
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert response.headers["Content-Disposition"] == (
        f'attachment; filename="settlement-{start:%Y%m%d}-{today:%Y%m%d}.csv"')
    rows = read_csv(response)
    assert rows[0] == ["期间", "核销张数", "券面价值（元）", "奖励笔数", "奖励积分", "消费金额（元）"]
    periods = rows[1:-1]
    assert 2 <= len(periods) <= 3  # 14 days touch two or three ISO weeks
    assert periods[0][0].startswith(start.isoformat() + " ~ ")
    assert periods[-1][0].endswith(" ~ " + today.isoformat())
    assert periods[-1][1:] == ["1", "20.00", "1", "88", "88.50"]
    assert rows[-1] == ["合计", "1", "20.00", "1", "88", "88.50"]


def test_the_settlement_csv_headers_follow_the_language(app, client, counter):
    login_as(client, counter["staff"])
    client.get("/merchant/?lang=en")
    rows = read_csv(client.get("/merchant/settlement.csv"))
    assert rows[0][0] == "Period" and rows[0][2:] == ["Face value (yuan)", "Awards", "Points awarded",
                                                      "Amount paid (yuan)"]
    assert len(rows) == 7 + 2 and rows[-1][0] == "Total"


def test_staff_of_b_never_see_as_settlement(app, client, counter):
    redeem_a_voucher(app, counter)
    award(app, counter, amount="88.50", receipt="A")
    login_as(client, counter["other_staff"])
    rows = read_csv(client.get("/merchant/settlement.csv"))
    assert rows[-1] == ["合计", "0", "0.00", "0", "0", "0.00"]
    html = client.get("/merchant/settlement").get_data(as_text=True)
    assert "88.50" not in html and "老街面馆" not in html


@pytest.mark.parametrize("query, field, message", [
    ({"start": "2026-13-01"}, "start", "请输入正确的日期"),
    ({"end": "yesterday"}, "end", "请输入正确的日期"),
    ({"start": "2026-05-02", "end": "2026-05-01"}, "end", "结束日期不能早于开始日期"),
    ({"start": "2024-01-01", "end": "2026-01-01"}, "end", "最多查询 366 天"),
])
def test_bad_settlement_dates_are_refused_next_to_their_field(app, client, counter, query, field, message):
    login_as(client, counter["staff"])
    response = client.get("/merchant/settlement", query_string=query)
    assert response.status_code == 422
    assert re.search(rf'id="settle-{field}-error" role="alert">{message}', response.get_data(as_text=True))


def test_the_operator_sees_each_merchants_settlement_as_its_staff_do(app, client, counter, make_account):
    today = shanghai_today()
    redeem_a_voucher(app, counter)
    award(app, counter, amount="88.50", receipt="A")
    login_as(client, make_account("operator"))
    merchant = client.get(f"/admin/merchants/{counter['merchant']}").get_data(as_text=True)
    week = re.search(r'data-testid="settlement-total">(.*?)</dl>', merchant, re.S).group(1)
    assert re.findall(r"<dd>(.*?)</dd>", week) == ["1", "¥20.00", "88", "¥88.50"]  # the last seven days
    assert f'href="/admin/merchants/{counter["merchant"]}/settlement"' in merchant
    listed = client.get("/admin/merchants").get_data(as_text=True)  # every merchant's last seven days
    rows = {name: re.findall(r'<td class="num[^"]*">([^<]*)', row) for name, row in
            re.findall(r'<a href="/admin/merchants/\d+">([^<]+)</a></td>(.*?)</tr>', listed, re.S)}
    assert rows["老街面馆"][-2:] == ["¥20.00", "88"] and rows["乙店"][-2:] == ["¥0.00", "0"]

    start = today - timedelta(days=13)
    query = {"period": "week", "start": start.isoformat(), "end": today.isoformat()}
    html = client.get(f"/admin/merchants/{counter['merchant']}/settlement", query_string=query).get_data(as_text=True)
    assert re.search(r'<th scope="row">合计</th><td class="num">1</td><td class="num">20.00</td>\s*'
                     r'<td class="num">88</td><td class="num">88.50</td>', html)
    response = client.get(f"/admin/merchants/{counter['merchant']}/settlement.csv", query_string=query)
    assert response.headers["Content-Disposition"] == (
        f'attachment; filename="merchant{counter["merchant"]}-settlement-{start:%Y%m%d}-{today:%Y%m%d}.csv"')
    assert read_csv(response)[-1] == ["合计", "1", "20.00", "1", "88", "88.50"]
    # another merchant's settlement holds none of it; a merchant that does not exist is a 404
    assert read_csv(client.get(f"/admin/merchants/{counter['other']}/settlement.csv"))[-1] == [
        "合计", "0", "0.00", "0", "0", "0.00"]
    assert client.get("/admin/merchants/999999/settlement").status_code == 404
    refused = client.get(f"/admin/merchants/{counter['merchant']}/settlement", query_string={"end": "yesterday"})
    assert refused.status_code == 422
    assert re.search(r'id="settle-end-error" role="alert">请输入正确的日期', refused.get_data(as_text=True))


# ---- the member code on /me ------------------------------------------------------------------------

def test_me_links_to_the_member_code_and_keeps_its_balance(client, member_client):
    html = member_client.get("/me").get_data(as_text=True)
    assert 'data-testid="me-balance"' in html
    assert 'href="/me/code"' in html


def test_the_member_code_page_refreshes_itself_every_minute(app, member_client):
    response = member_client.get("/me/code")
    html = response.get_data(as_text=True)
    assert response.headers["Cache-Control"] == "no-store"
    assert re.search(r'<div id="member-code" class="member-code" hx-get="/me/code" hx-trigger="every 60s"', html)
    assert "<svg" in html and "每 60 秒自动刷新" in html and "截图无效" in html
    fragment = member_client.get("/me/code", headers={"HX-Request": "true"})
    body = fragment.get_data(as_text=True)
    assert body.lstrip().startswith('<div id="member-code"') and "<html" not in body
    assert "HX-Request" in fragment.headers["Vary"]


def test_the_member_code_qr_carries_a_fresh_code_for_this_member(app, member_client, monkeypatch):
    shown = []
    monkeypatch.setattr(consumption, "member_code_svg", lambda code: shown.append(code) or "<svg></svg>")
    member_client.get("/me/code")
    with app.app_context():
        assert consumption.find_member(shown[0]).id == member_client.user_id


def test_looking_members_up_by_phone_is_limited_per_staff_account(app, client, counter):
    """Each lookup tells whether a phone belongs to a member: a staff account gets 30 a minute,
    then a friendly 429 in its console; another staff account keeps its own allowance."""
    login_as(client, counter["staff"])
    for n in range(30):
        assert client.get(f"/merchant/award?member=139{n:08d}").status_code in (200, 422)
    refused = client.get("/merchant/award?member=13912345678")
    assert refused.status_code == 429 and "操作太频繁" in refused.get_data(as_text=True)
    assert 'class="merchant-bar"' in refused.get_data(as_text=True)
    assert client.get("/merchant/award").status_code == 200          # the empty page is not a lookup
    login_as(client, counter["other_staff"])
    assert client.get("/merchant/award?member=13912345678").status_code == 200
