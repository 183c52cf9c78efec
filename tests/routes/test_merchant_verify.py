"""/merchant/verify at the counter: staff scan or type a voucher code, see the voucher, confirm once.

Every outcome has its own message; typed codes are forgiving; staff of another merchant, members
and anonymous visitors get nothing; every attempt is audited; many phones confirming at once and
a double tap both end in exactly one redemption (SQLite and PostgreSQL via DATABASE_URL).
"""
import re
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from app.extensions import db
from app.models import AuditLog, Voucher
from app.services import order_admin, shop, vouchers
from app.services.clock import utcnow
from app.services.fulfilment import revert_order
from app.services.tx import write_transaction
from tests.concurrency import run_concurrently
from tests.conftest import login_as, next_phone
from tests.routes.test_shop_storm import CSRF_RE, KEY_RE, signed_in_session
from tests.shop_factories import make_merchant, make_product, new_key  # noqa: F401

VERIFY, CONFIRM = "/merchant/verify", "/merchant/verify/confirm"
OUTCOME_RE = re.compile(r'data-outcome="([a-z_]+)"')


@pytest.fixture()
def counter(app, make_member, make_account, make_merchant, make_product):
    """Merchant A's voucher (¥200 meal) held by a member with a known phone; staff of A and of B."""
    merchant_a, merchant_b = make_merchant("老街面馆"), make_merchant("晨光咖啡")
    phone = next_phone()
    member = make_member(phone=phone)
    product_id = make_product(name="200元套餐券", kind="voucher", merchant_id=merchant_a, face_value_fen=20000,
                              valid_days=30, points_price=100)
    with app.app_context():
        order = shop.redeem_product(member, product_id, 1, new_key())
        code, order_id, voucher_id = order.vouchers[0].code, order.id, order.vouchers[0].id
        db.session.remove()
    return {"code": code, "voucher_id": voucher_id, "order_id": order_id, "phone": phone, "member": member,
            "merchant": merchant_a, "other_merchant": merchant_b,
            "staff": make_account("staff", merchant_id=merchant_a, nickname="小王"),
            "other_staff": make_account("staff", merchant_id=merchant_b, nickname="小李"),
            "operator": make_account("operator")}


def voucher_row(app, voucher_id):
    with app.app_context():
        row = db.session.get(Voucher, voucher_id)
        values = {"status": row.status, "redeemed_by": row.redeemed_by, "redeemed_at": row.redeemed_at}
        db.session.remove()
    return values


def audit_rows(app):
    with app.app_context():
        rows = [(r.action, r.actor_id, r.target, r.detail) for r in
                db.session.execute(select(AuditLog).order_by(AuditLog.id)).scalars()]
        db.session.remove()
    return rows


def outcome_of(response):
    match = OUTCOME_RE.search(response.get_data(as_text=True))
    return match.group(1) if match else None


def staff_client(client, user_id):
    login_as(client, user_id)
    return client


def confirm(client, code, **kwargs):
    """Look the code up, then press 确认核销 as that page would."""
    return client.submit(CONFIRM, {"code": code}, page=f"{VERIFY}?code={code}", **kwargs)


def test_typed_code_shows_the_voucher_and_confirm_redeems_it(app, client, counter):
    staff_client(client, counter["staff"])
    page = client.get(f"{VERIFY}?code={vouchers.grouped(counter['code']).lower()}")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and outcome_of(page) == "found"
    masked = f"{counter['phone'][:3]}****{counter['phone'][-4:]}"
    assert "200元套餐券" in html and "¥200.00" in html and masked in html and counter["phone"] not in html
    assert "确认核销" in html and 'name="request_key"' in html
    assert voucher_row(app, counter["voucher_id"])["status"] == "active"  # looking is not redeeming

    done = confirm(client, counter["code"])
    assert done.status_code == 303
    assert done.headers["Location"].endswith(f"/merchant/verify?done={counter['voucher_id']}")
    receipt = client.get(done.headers["Location"])
    assert outcome_of(receipt) == "redeemed" and "核销成功" in receipt.get_data(as_text=True)
    assert "核销时间" in receipt.get_data(as_text=True)
    row = voucher_row(app, counter["voucher_id"])
    assert row["status"] == "redeemed" and row["redeemed_by"] == counter["staff"]
    assert [(a, actor, target) for a, actor, target, _d in audit_rows(app)] == [
        ("voucher.redeem", counter["staff"], f"voucher:{counter['voucher_id']}")]


def test_the_page_works_without_javascript(client, counter):
    """The scan button stays hidden for scripts to reveal; the typed-code form is a plain GET form."""
    staff_client(client, counter["staff"])
    html = client.get(VERIFY).get_data(as_text=True)
    assert re.search(r'<button type="button"[^>]*data-scan-into="#voucher-code"[^>]*hidden', html, re.S)
    assert re.search(r'<form class="verify-lookup" method="get" action="/merchant/verify"', html)
    assert 'id="voucher-code" name="code"' in html
    assert re.search(r"js/scanner\.[0-9a-f]{10}\.js", html) and re.search(r"vendor/jsQR-1\.4\.0\.[0-9a-f]{10}\.js", html)  # the decoder: a data attribute, loaded on demand
    assert "<script>" not in html
    assert all(src.startswith("/static/") for src in re.findall(r'<script src="([^"]+)"', html))  # never a CDN


def _set_window(app, voucher_id, **values):
    with app.app_context():
        with write_transaction() as session:
            session.execute(update(Voucher).where(Voucher.id == voucher_id).values(**values))
        db.session.remove()


def _redeem_as(app, code, staff_id):
    with app.app_context():
        vouchers.redeem_voucher(code, staff_id)
        db.session.remove()


def _cancel(app, order_id):
    with app.app_context():
        with write_transaction():
            revert_order(order_id, ("completed", "paid"), "cancelled", "test")
        db.session.remove()


def _refund(app, order_id, operator):
    with app.app_context():
        order_admin.refund_order(order_id, operator, "顾客退款")
        db.session.remove()


OUTCOMES = {
    "used": (lambda app, c: _redeem_as(app, c["code"], c["staff"]), "该券刚刚", "小王"),
    "expired": (lambda app, c: _set_window(app, c["voucher_id"], valid_from=utcnow() - timedelta(days=40),
                                           valid_until=utcnow() - timedelta(days=1)), "该券已过期", "到期"),
    "not_yet_valid": (lambda app, c: _set_window(app, c["voucher_id"], valid_from=utcnow() + timedelta(days=1),
                                                 valid_until=utcnow() + timedelta(days=30)),
                      "未到使用时间", "起可用"),
    "cancelled": (lambda app, c: _cancel(app, c["order_id"]), "订单已取消", "券已作废"),
    "refunded": (lambda app, c: _refund(app, c["order_id"], c["operator"]), "订单已退款", "券已作废"),
}
REASONS = {"used": "just_used", "cancelled": "void", "refunded": "void"}


@pytest.mark.parametrize("name", sorted(OUTCOMES))
def test_each_outcome_has_its_own_message_on_lookup_and_on_confirm(app, client, counter, name):
    make_it_so, *words = OUTCOMES[name]
    make_it_so(app, counter)
    before = voucher_row(app, counter["voucher_id"])
    staff_client(client, counter["staff"])
    looked = client.get(f"{VERIFY}?code={counter['code']}")
    reason = REASONS.get(name, name)
    assert looked.status_code == 200 and outcome_of(looked) == reason
    assert all(word in looked.get_data(as_text=True) for word in words)
    assert "确认核销" not in looked.get_data(as_text=True)

    # A confirm form left open on another phone meets the same refusal, and nothing changes.
    token, _key = client.form_tokens(VERIFY)
    pressed = client.post(CONFIRM, data={"csrf_token": token, "request_key": new_key(), "code": counter["code"]})
    assert pressed.status_code in (400, 409) and outcome_of(pressed) == reason
    assert all(word in pressed.get_data(as_text=True) for word in words)
    assert voucher_row(app, counter["voucher_id"]) == before
    refusals = [detail for action, _a, _t, detail in audit_rows(app) if action == "voucher.refused"]
    assert [(d["reason"], d["stage"]) for d in refusals] == [(reason, "check"), (reason, "redeem")]


def test_already_used_long_ago_says_when_and_by_whom(app, client, counter):
    _redeem_as(app, counter["code"], counter["staff"])
    _set_window(app, counter["voucher_id"], redeemed_at=utcnow() - timedelta(days=2))
    staff_client(client, counter["staff"])
    page = client.get(f"{VERIFY}?code={counter['code']}")
    html = page.get_data(as_text=True)
    assert outcome_of(page) == "used" and "由店员 小王 核销" in html and "刚刚" not in html
    assert (utcnow() - timedelta(days=2) + timedelta(hours=8)).strftime("%Y-%m-%d") in html


@pytest.mark.parametrize("mangle, reason, message", [
    (lambda c: c[:-1] + ("A" if c[-1] != "A" else "B"), "invalid", "券码无效"),     # a typo / a forged code
    (lambda c: c + "A", "invalid", "券码无效"),
    (lambda c: "hello", "invalid", "券码无效"),
    (lambda c: vouchers.new_code(), "not_found", "券码不存在"),                       # well signed, never issued
])
def test_unknown_or_tampered_codes(app, client, counter, mangle, reason, message):
    staff_client(client, counter["staff"])
    with app.app_context():
        typed = mangle(counter["code"])
    page = client.get(VERIFY, query_string={"code": typed})
    assert outcome_of(page) == reason and message in page.get_data(as_text=True)
    pressed = client.submit(CONFIRM, {"code": typed}, page=VERIFY)
    assert outcome_of(pressed) == reason and pressed.status_code in (400, 404)
    assert voucher_row(app, counter["voucher_id"])["status"] == "active"
    refused = [d for action, _a, _t, d in audit_rows(app) if action == "voucher.refused"]
    assert len(refused) == 2 and all(len(d["code_prefix"]) <= 4 for d in refused)


def _full_width(text):
    return "".join(chr(ord(ch) + 0xFEE0) for ch in text)


NORMALISED = {
    "spaces": lambda c: "  " + vouchers.grouped(c) + " ",
    "dashes": lambda c: "-".join(c[i:i + 4] for i in range(0, 24, 4)),
    "lowercase": lambda c: c.lower(),
    "full-width": lambda c: _full_width(c),
    "full-width grouped, ideographic spaces":
        lambda c: "\u3000".join(_full_width(c[i:i + 4]) for i in range(0, 24, 4)),
    "pasted URL": lambda c: f"https://mall.example.com/me/vouchers?code={c.lower()}&from=wechat",
    "pasted sentence": lambda c: f"券码：{vouchers.grouped(c)}，请到店使用",
    "English sentence": lambda c: f"Voucher code {vouchers.grouped(c)} thanks",
}


@pytest.mark.parametrize("name", sorted(NORMALISED))
def test_typed_codes_are_normalised(app, client, counter, name):
    typed = NORMALISED[name](counter["code"])
    with app.app_context():
        assert vouchers.normalize_code(typed) == counter["code"]
    staff_client(client, counter["staff"])
    page = client.get(VERIFY, query_string={"code": typed})
    assert outcome_of(page) == "found"
    done = client.submit(CONFIRM, {"code": typed}, page=VERIFY)  # the hidden field may carry it as typed, too
    assert done.status_code == 303
    assert voucher_row(app, counter["voucher_id"])["status"] == "redeemed"


def test_the_members_qr_content_is_the_bare_code(app, counter):
    with app.app_context():
        svg = vouchers.qr_svg(counter["code"])
        db.session.remove()
    assert "<svg" in svg and vouchers.normalize_code(counter["code"]) == counter["code"]


def test_staff_of_another_merchant_are_refused_and_nothing_changes(app, client, counter):
    staff_client(client, counter["other_staff"])
    page = client.get(f"{VERIFY}?code={counter['code']}")
    html = page.get_data(as_text=True)
    assert outcome_of(page) == "other_merchant" and "该券不属于本店" in html
    assert "200元套餐券" not in html and counter["phone"][-4:] not in html  # nothing about the voucher leaks
    pressed = client.submit(CONFIRM, {"code": counter["code"]}, page=VERIFY)
    assert pressed.status_code == 403 and outcome_of(pressed) == "other_merchant"
    assert voucher_row(app, counter["voucher_id"]) == {"status": "active", "redeemed_by": None, "redeemed_at": None}
    refused = [(actor, target, d) for action, actor, target, d in audit_rows(app) if action == "voucher.refused"]
    assert len(refused) == 2
    for actor, target, detail in refused:
        assert actor == counter["other_staff"] and target == f"voucher:{counter['voucher_id']}"
        assert detail["merchant_id"] == counter["other_merchant"] and detail["reason"] == "other_merchant"
        assert detail["code_prefix"] == counter["code"][:4]  # never the whole bearer code


@pytest.mark.parametrize("who, status", [("member", 403), ("operator", 403)])
def test_members_and_operators_cannot_verify(app, client, counter, who, status, monkeypatch):
    monkeypatch.setitem(app.config, "WTF_CSRF_ENABLED", False)
    login_as(client, counter[who])
    assert client.get(f"{VERIFY}?code={counter['code']}").status_code == status
    assert client.post(CONFIRM, data={"code": counter["code"], "request_key": new_key()}).status_code == status
    assert voucher_row(app, counter["voucher_id"])["status"] == "active"
    assert audit_rows(app) == []


def test_anonymous_visitors_go_to_login(app, client, counter, monkeypatch):
    monkeypatch.setitem(app.config, "WTF_CSRF_ENABLED", False)  # with it, a stale form is refused first
    for response in (client.get(VERIFY), client.post(CONFIRM, data={"code": counter["code"]})):
        assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_a_double_tap_with_the_same_request_key_is_one_redemption(app, client, counter):
    staff_client(client, counter["staff"])
    html = client.get(f"{VERIFY}?code={counter['code']}").get_data(as_text=True)
    form = {"csrf_token": CSRF_RE.search(html).group(1), "request_key": KEY_RE.search(html).group(1),
            "code": counter["code"]}
    first, second = client.post(CONFIRM, data=form), client.post(CONFIRM, data=form)
    assert first.status_code == second.status_code == 303
    assert first.headers["Location"] == second.headers["Location"]  # the retry sees the same success
    assert [a for a, *_rest in audit_rows(app)] == ["voucher.redeem"]
    # A fresh key (another confirm page) for the same voucher is refused: it was just used.
    third = client.post(CONFIRM, data={**form, "request_key": new_key()})
    assert third.status_code == 409 and outcome_of(third) == "just_used"


def test_htmx_swaps_only_the_result_panel(app, client, counter):
    staff_client(client, counter["staff"])
    looked = client.get(f"{VERIFY}?code={counter['code']}", headers={"HX-Request": "true"})
    html = looked.get_data(as_text=True)
    assert "HX-Request" in looked.headers["Vary"]
    assert html.lstrip().startswith('<section id="verify-result"') and "<html" not in html
    assert outcome_of(looked) == "found" and 'hx-post="/merchant/verify/confirm"' in html
    done = client.submit(CONFIRM, {"code": counter["code"]}, page=f"{VERIFY}?code={counter['code']}", htmx=True)
    assert done.status_code == 200 and outcome_of(done) == "redeemed"
    assert done.get_data(as_text=True).lstrip().startswith('<section id="verify-result"')
    again = client.submit(CONFIRM, {"code": counter["code"]}, page=VERIFY, htmx=True)
    assert again.status_code == 200 and outcome_of(again) == "just_used"  # swapped in, not dropped as an error
    assert voucher_row(app, counter["voucher_id"])["status"] == "redeemed"


def test_a_receipt_is_shown_only_to_its_merchant(app, client, counter):
    _redeem_as(app, counter["code"], counter["staff"])
    staff_client(client, counter["other_staff"])
    page = client.get(f"{VERIFY}?done={counter['voucher_id']}")
    assert page.status_code == 200 and outcome_of(page) is None and "200元套餐券" not in page.get_data(as_text=True)


@pytest.mark.parametrize("form", [{}, {"request_key": new_key()}, {"code": "X", "request_key": "short"}])
def test_a_stale_or_broken_confirm_form_changes_nothing(app, client, counter, form):
    staff_client(client, counter["staff"])
    token, _key = client.form_tokens(VERIFY)
    response = client.post(CONFIRM, data={"csrf_token": token, **form})
    assert response.status_code == 422 and outcome_of(response) == "refused"
    assert voucher_row(app, counter["voucher_id"])["status"] == "active"


def test_many_phones_confirming_at_once_redeem_exactly_once(app, live_server, counter, make_account):
    """Twelve phones (three staff of the store) press 确认核销 on the same voucher together."""
    staff_ids = [counter["staff"]] + [make_account("staff", merchant_id=counter["merchant"]) for _ in range(2)]
    phones = [staff_ids[i % 3] for i in range(12)]

    def open_page(i):
        http = signed_in_session(app, live_server, phones[i])
        html = http.get(f"{live_server}{VERIFY}?code={counter['code']}", timeout=60).text
        assert OUTCOME_RE.search(html).group(1) == "found"
        return http, CSRF_RE.search(html).group(1), KEY_RE.search(html).group(1)

    def press(i, prepared):
        http, token, key = prepared
        response = http.post(f"{live_server}{CONFIRM}", allow_redirects=False, timeout=90,
                             data={"csrf_token": token, "request_key": key, "code": counter["code"]})
        match = OUTCOME_RE.search(response.text)
        return response.status_code, match.group(1) if match else None, response.text

    outcome = run_concurrently(None, press, len(phones), prepare=open_page)
    assert outcome.errors == []
    statuses = sorted((status, reason) for status, reason, _text in outcome.results)
    assert statuses == [(303, None)] + [(409, "just_used")] * (len(phones) - 1)
    assert all("该券刚刚" in text for status, _r, text in outcome.results if status == 409)
    assert voucher_row(app, counter["voucher_id"])["status"] == "redeemed"
    actions = [a for a, *_rest in audit_rows(app)]
    assert actions.count("voucher.redeem") == 1 and actions.count("voucher.refused") == len(phones) - 1


def test_a_double_tap_raced_on_two_connections_is_still_one_redemption(app, live_server, counter):
    """The same form (same request key) sent twice at once: one redemption, both told it succeeded."""
    http = signed_in_session(app, live_server, counter["staff"])
    html = http.get(f"{live_server}{VERIFY}?code={counter['code']}", timeout=60).text
    form = {"csrf_token": CSRF_RE.search(html).group(1), "request_key": KEY_RE.search(html).group(1),
            "code": counter["code"]}
    cookies = http.cookies

    def press(_i, session):
        return session.post(f"{live_server}{CONFIRM}", data=form, allow_redirects=False, timeout=90).status_code

    def prepare(_i):
        session = signed_in_session(app, live_server, counter["staff"])
        session.cookies.update(cookies)
        return session

    outcome = run_concurrently(None, press, 6, prepare=prepare)
    assert outcome.errors == [] and outcome.results == [303] * 6
    actions = [a for a, *_rest in audit_rows(app)]
    assert actions == ["voucher.redeem"]


def test_the_counter_speaks_english_too(client, counter):
    staff_client(client, counter["staff"])
    html = client.get(f"{VERIFY}?code={counter['code']}&lang=en").get_data(as_text=True)
    assert "Scan to verify" in html and "Confirm redemption" in html and "确认核销" not in html
    done = client.submit(CONFIRM, {"code": counter["code"]}, page=f"{VERIFY}?code={counter['code']}&lang=en")
    again = client.get(f"{VERIFY}?code={counter['code']}&lang=en").get_data(as_text=True)
    assert done.status_code == 303 and "This voucher was just redeemed" in again and "Already redeemed" in again
