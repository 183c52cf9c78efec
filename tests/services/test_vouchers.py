"""Merchant vouchers: signed codes, redeemed once, by their merchant's staff, inside the window."""
from datetime import timedelta

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import AuditLog, Voucher
from app.services import shop, vouchers
from app.services.clock import utcnow
from app.services.errors import AlreadyDone, Forbidden, NotFound
from app.services.vouchers import VoucherRefused
from tests.concurrency import run_concurrently
from tests.shop_factories import make_merchant, make_product, new_key, no_newbie_bonus  # noqa: F401


@pytest.fixture()
def voucher(db, make_member, make_product, make_merchant, make_account):
    """A member's fresh voucher of merchant A, and staff of merchants A and B."""
    merchant_a, merchant_b = make_merchant("老街面馆"), make_merchant("晨光咖啡")
    member = make_member()
    product_id = make_product(kind="voucher", merchant_id=merchant_a, face_value_fen=20000, valid_days=30)
    order = shop.redeem_product(member, product_id, 1, new_key())
    code = order.vouchers[0].code
    return {"code": code, "member": member, "staff": make_account("staff", merchant_id=merchant_a),
            "other_staff": make_account("staff", merchant_id=merchant_b), "operator": make_account("operator"),
            "merchant": merchant_a}


def status_of(code):
    db.session.rollback()  # a fresh snapshot (SQLite WAL readers keep theirs)
    return db.session.execute(select(Voucher.status).where(Voucher.code == code)).scalar_one()


def test_codes_are_signed_unguessable_and_forgiving_about_spaces(app_ctx):
    codes = {vouchers.new_code() for _ in range(200)}
    assert len(codes) == 200 and all(len(c) == 24 and vouchers.signature_ok(c) for c in codes)
    code = codes.pop()
    assert vouchers.signature_ok(vouchers.normalize_code(" " + vouchers.grouped(code).lower() + " "))
    assert not vouchers.signature_ok(vouchers.new_code("coupon"))  # another purpose, another key


def test_redeem_once_at_the_right_counter(voucher):
    redeemed = vouchers.redeem_voucher(vouchers.grouped(voucher["code"]).lower(), voucher["staff"])
    assert redeemed.status == "redeemed" and redeemed.redeemed_by == voucher["staff"]
    audit = db.session.execute(select(AuditLog)).scalar_one()
    assert (audit.action, audit.actor_id) == ("voucher.redeem", voucher["staff"])
    with pytest.raises(AlreadyDone, match="核销，不能重复使用"):
        vouchers.redeem_voucher(voucher["code"], voucher["staff"])


def test_only_the_vouchers_merchant_may_redeem_it(voucher):
    with pytest.raises(Forbidden, match="该券不属于本店"):
        vouchers.redeem_voucher(voucher["code"], voucher["other_staff"])
    for who in ("member", "operator"):
        with pytest.raises(Forbidden, match="只有商户店员"):
            vouchers.redeem_voucher(voucher["code"], voucher[who])
    assert status_of(voucher["code"]) == "active"


def _flip(code, at):
    replacement = "A" if code[at] != "A" else "B"
    return code[:at] + replacement + code[at + 1:]


@pytest.mark.parametrize("tamper", [
    lambda c: _flip(c, 0), lambda c: _flip(c, 12), lambda c: _flip(c, 23), lambda c: c[:-1], lambda c: c + "A",
    lambda c: "", lambda c: "' OR 1=1 --", lambda c: c.replace(c[5], "1"), lambda c: "８" * 24,
])
def test_tampered_codes_are_refused_before_the_database(voucher, tamper):
    with pytest.raises(VoucherRefused, match="券码无效") as caught:
        vouchers.redeem_voucher(tamper(voucher["code"]), voucher["staff"])
    assert caught.value.field == "code"
    assert status_of(voucher["code"]) == "active"
    refused = db.session.execute(select(AuditLog)).scalar_one()  # the attempt is audited, nothing else
    assert (refused.action, refused.target, refused.detail["reason"]) == ("voucher.refused", None, "invalid")


def test_a_well_signed_code_we_never_issued_is_not_found(voucher):
    with pytest.raises(NotFound, match="券码不存在"):
        vouchers.redeem_voucher(vouchers.new_code(), voucher["staff"])


def test_only_inside_the_window(voucher):
    row = db.session.execute(select(Voucher).where(Voucher.code == voucher["code"])).scalar_one()
    with pytest.raises(VoucherRefused, match="未到使用时间"):
        vouchers.redeem_voucher(voucher["code"], voucher["staff"], now=row.valid_from - timedelta(minutes=1))
    with pytest.raises(VoucherRefused, match="已过期"):
        vouchers.redeem_voucher(voucher["code"], voucher["staff"], now=row.valid_until)
    assert status_of(voucher["code"]) == "active"
    assert vouchers.redeem_voucher(voucher["code"], voucher["staff"], now=row.valid_until - timedelta(seconds=1))


def test_member_pages_see_states(voucher):
    assert [vouchers.voucher_state(v) for v in vouchers.member_vouchers(voucher["member"])] == ["usable"]
    vouchers.redeem_voucher(voucher["code"], voucher["staff"])
    assert [vouchers.voucher_state(v) for v in vouchers.member_vouchers(voucher["member"])] == ["redeemed"]
    later = utcnow() + timedelta(days=40)
    assert vouchers.voucher_state(vouchers.member_vouchers(voucher["member"])[0], later) == "redeemed"
    assert "<svg" in vouchers.qr_svg(voucher["code"])


def test_two_phones_scanning_at_once_exactly_one_succeeds(app, voucher):
    staff_ids = [voucher["staff"]] * 2
    _race(app, voucher["code"], staff_ids)


def test_many_phones_scanning_at_once_exactly_one_succeeds(app, voucher, make_account):
    staff_ids = [make_account("staff", merchant_id=voucher["merchant"]) for _ in range(3)] * 10
    _race(app, voucher["code"], staff_ids)


def _race(app, code, staff_ids):
    db.session.remove()
    outcome = run_concurrently(app, lambda i: vouchers.redeem_voucher(code, staff_ids[i]), len(staff_ids),
                               expected=(AlreadyDone,))
    assert outcome.errors == []  # any other refusal (wrong merchant, expired) would be a bug here
    assert len(outcome.results) == 1 and len(outcome.refusals) == len(staff_ids) - 1
    assert status_of(code) == "redeemed"
    assert all("刚刚" in message for message in outcome.messages)  # the others: it was just used
    actions = [row.action for row in db.session.execute(select(AuditLog)).scalars()]
    assert actions.count("voucher.redeem") == 1 and actions.count("voucher.refused") == len(staff_ids) - 1


def test_normalising_finds_the_signed_code_in_pasted_text(app_ctx):
    code = vouchers.new_code()
    decoy = "ABCDEFGHIJKLMNOPQRSTUVWX"  # 24 code characters, but not a code we signed
    assert vouchers.normalize_code(f"{decoy} / {code.lower()}") == code
    assert vouchers.normalize_code(f"https://mall.example.com/v/{code}?utm=x") == code
    assert vouchers.normalize_code("－".join(code[i:i + 4] for i in range(0, 24, 4))) == code  # full-width dashes
    assert vouchers.normalize_code(decoy + " hi") == decoy  # unsigned: kept, and refused by the signature check
    assert not vouchers.signature_ok(vouchers.normalize_code(code + "A"))  # one character too many stays wrong
    assert vouchers.normalize_code("x" * 100_000) == "X" * vouchers.MAX_INPUT  # huge input is cut, not scanned


def test_a_refused_attempt_keeps_only_the_codes_first_characters(voucher):
    with pytest.raises(Forbidden):
        vouchers.redeem_voucher(voucher["code"], voucher["other_staff"])
    row = db.session.execute(select(AuditLog)).scalar_one()
    assert row.action == "voucher.refused" and row.actor_id == voucher["other_staff"]
    assert row.detail["code_prefix"] == voucher["code"][:4] and voucher["code"] not in str(row.detail)
    assert row.detail["reason"] == "other_merchant" and row.detail["stage"] == "redeem"
