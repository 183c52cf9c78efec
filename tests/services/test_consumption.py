"""Consumption points (消费积分): the member code, the award formula and every rule of an award."""
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from app.models import AuditLog, ConsumptionAward, Merchant, Message, PointEntry, User
from app.services import consumption, ledger, messages
from app.services.clock import shanghai_today, utcnow
from app.services.consumption import AwardRefused
from app.services.errors import DomainError
from app.services.settings import put_setting
from app.services.tx import write_transaction
from tests.conftest import balance_of
from tests.shop_factories import make_merchant  # noqa: F401  (fixture)


@pytest.fixture()
def shop(app, make_merchant, make_account, make_member):
    """A merchant (1 point a yuan, cap 2000 a day, at most 5,000 yuan at once), its staff and a member."""
    merchant_id = make_merchant("老街面馆")
    other_id = make_merchant("乙店")
    member_id = make_member(phone="13900000001")
    with app.app_context():
        member_balance = balance_of(member_id)
    return {"merchant": merchant_id, "other": other_id, "staff": make_account("staff", merchant_id=merchant_id),
            "other_staff": make_account("staff", merchant_id=other_id), "member": member_id,
            "start_balance": member_balance}


def set_terms(merchant_id, **terms):
    with write_transaction() as session:
        merchant = session.get(Merchant, merchant_id)
        for name, value in terms.items():
            setattr(merchant, name, value)


def award(shop, amount="100", receipt="R1", member=None, staff=None, now=None):
    ref = member if member is not None else consumption.member_code(shop["member"], now)
    return consumption.award_consumption_points(staff or shop["staff"], ref, amount, receipt, now=now)


def refusals(db):
    return db.session.execute(select(AuditLog).where(AuditLog.action == "consumption.refused")
                              .order_by(AuditLog.id)).scalars().all()


# ---- the member code -------------------------------------------------------------------------

def test_a_fresh_member_code_names_the_member(db, shop):
    code = consumption.member_code(shop["member"])
    assert consumption.find_member(code).id == shop["member"]


def test_a_member_code_expires_after_a_few_minutes(db, shop):
    now = utcnow()
    code = consumption.member_code(shop["member"], now - timedelta(seconds=consumption.MEMBER_CODE_TTL + 1))
    with pytest.raises(AwardRefused, match="会员码已过期") as refused:
        consumption.find_member(code, now)
    assert refused.value.field == "member"
    yesterday = consumption.member_code(shop["member"], now - timedelta(days=1))
    with pytest.raises(AwardRefused, match="会员码已过期"):
        award(shop, member=yesterday)
    assert balance_of(shop["member"]) == shop["start_balance"]


@pytest.mark.parametrize("tamper", [
    lambda code: code.replace("PMC", "PMC1", 1),                 # another member's id under this signature
    lambda code: code[:-2] + ("AA" if not code.endswith("AA") else "BB"),  # signature changed
    lambda code: "PMC1.AAAAAA.forged",
    lambda code: "hello world",
])
def test_a_forged_or_tampered_member_code_is_refused(db, shop, tamper):
    with pytest.raises(AwardRefused, match="会员码无效"):
        consumption.find_member(tamper(consumption.member_code(shop["member"])))


def test_a_code_signed_with_another_secret_is_refused(app, db, shop, monkeypatch):
    monkeypatch.setitem(app.config, "SECRET_KEY", "another-secret")
    code = consumption.member_code(shop["member"])
    monkeypatch.undo()
    with pytest.raises(AwardRefused, match="会员码无效"):
        consumption.find_member(code)


@pytest.mark.parametrize("typed, message", [
    ("139 0000 0001", None),
    ("+8613900000001", None),
    ("13900000009", "没有找到该手机号的会员"),
    ("1390000", "请输入正确的11位手机号"),
    ("", "请扫描会员码或输入会员手机号"),
])
def test_staff_may_type_the_members_phone(db, shop, typed, message):
    if message is None:
        assert consumption.find_member(typed).id == shop["member"]
    else:
        with pytest.raises(AwardRefused, match=message):
            consumption.find_member(typed)


def test_staff_and_operator_phones_are_not_members(db, shop, make_account):
    operator = make_account("operator", phone="13900000002")
    assert operator
    staff_phone = db.session.get(User, shop["staff"]).phone
    for phone in (staff_phone, "13900000002"):
        with pytest.raises(AwardRefused, match="该账号不是会员"):
            consumption.find_member(phone)
    with pytest.raises(AwardRefused, match="该账号不是会员"):
        award(shop, member=staff_phone)


def test_a_disabled_member_gets_nothing(db, shop):
    with write_transaction() as session:
        session.get(User, shop["member"]).is_disabled = True
    with pytest.raises(AwardRefused, match="已停用"):
        award(shop)


# ---- the amount and the receipt ----------------------------------------------------------------

@pytest.mark.parametrize("typed, fen", [("88", 8800), ("88.5", 8850), ("88.50", 8850), ("０.０１", 1),
                                        ("¥12", 1200), (" 7.05 ", 705)])
def test_amounts_are_read_as_yuan_into_fen(typed, fen):
    assert consumption.parse_amount(typed) == fen


@pytest.mark.parametrize("typed, message", [
    ("0", "消费金额必须大于0"), ("0.00", "消费金额必须大于0"), ("-5", "消费金额必须大于0"),
    ("abc", "请输入正确的金额"), ("1e3", "请输入正确的金额"), ("12.345", "金额最多两位小数"), ("", "请输入消费金额"),
    ("NaN", "请输入正确的金额"), ("٣", "请输入正确的金额"),
])
def test_bad_amounts_are_refused_on_the_amount_field(typed, message):
    with pytest.raises(AwardRefused, match=message) as refused:
        consumption.parse_amount(typed)
    assert refused.value.field == "amount"


@pytest.mark.parametrize("typed, receipt", [("r-001", "R-001"), ("Ｎｏ12 34", "NO1234")])
def test_receipt_numbers_are_normalised(typed, receipt):
    assert consumption.normalize_receipt(typed) == receipt


@pytest.mark.parametrize("typed", ["", "   ", "收据一", "x" * 33, "<script>"])
def test_bad_receipt_numbers_are_refused(typed):
    with pytest.raises(AwardRefused) as refused:
        consumption.normalize_receipt(typed)
    assert refused.value.field == "receipt_no"


# ---- the formula ---------------------------------------------------------------------------------

def test_points_are_amount_times_ratio_rounded_down(db, shop):
    set_terms(shop["merchant"], points_ratio_pct=150)  # 1.5 points a yuan
    result = award(shop, amount="99.99")
    assert result.created and result.award.points == 149  # 149.985 rounded down
    assert balance_of(shop["member"]) == shop["start_balance"] + 149


def test_the_level_multiplier_and_a_double_points_day_multiply_the_award(db, shop):
    with write_transaction() as session:
        session.get(User, shop["member"]).growth = 10000  # gold: 120%
    set_terms(shop["merchant"], points_ratio_pct=100)
    assert award(shop, amount="100", receipt="A").award.points == 120
    with write_transaction():
        put_setting("double_points.days", [shanghai_today().isoformat()])
    assert award(shop, amount="100", receipt="B").award.points == 240
    assert award(shop, amount="10.99", receipt="C").award.points == 26  # 10.99 × 1.2 × 2 = 26.376


def test_a_double_points_day_is_a_shanghai_day(db, shop):
    now = utcnow()
    with write_transaction():
        put_setting("double_points.days", [(shanghai_today(now) + timedelta(days=1)).isoformat()])
    assert award(shop, amount="100", receipt="A", now=now).award.points == 100


def test_an_amount_worth_less_than_one_point_is_refused(db, shop):
    with pytest.raises(AwardRefused, match="不足1积分"):
        award(shop, amount="0.99")


# ---- the award: ledger, message, entry ----------------------------------------------------------

def test_an_award_goes_through_the_ledger_with_merchant_and_receipt(db, shop):
    result = award(shop, amount="88.50", receipt="no-7781")
    entry = db.session.get(PointEntry, result.award.entry_id)
    assert (entry.user_id, entry.kind, entry.amount) == (shop["member"], "consume", 88)
    assert ledger.entry_note(entry) == "老街面馆 · NO-7781"
    row = db.session.get(ConsumptionAward, result.award.id)
    assert (row.merchant_id, row.staff_id, row.user_id, row.amount_fen, row.points, row.receipt_no) == (
        shop["merchant"], shop["staff"], shop["member"], 8850, 88, "NO-7781")
    assert ledger.reconcile() == []
    [shown], _next = messages.message_page(shop["member"])
    assert shown.title == "消费积分到账"
    assert "老街面馆" in shown.body and "88.50" in shown.body and "88 积分" in shown.body
    assert shown.endpoint == "me.points"


def test_every_award_is_audited_with_staff_merchant_member_amount_points_and_receipt(db, shop):
    result = award(shop, amount="20", receipt="A1")
    log = db.session.execute(select(AuditLog).where(AuditLog.action == "consumption.award")).scalar_one()
    assert log.actor_id == shop["staff"] and log.target == f"consumption_award:{result.award.id}"
    assert {k: log.detail[k] for k in ("merchant_id", "member_id", "amount_fen", "points", "receipt_no")} == {
        "merchant_id": shop["merchant"], "member_id": shop["member"], "amount_fen": 2000, "points": 20,
        "receipt_no": "A1"}


# ---- receipts: a retry pays once ----------------------------------------------------------------

def test_the_same_receipt_again_shows_the_earlier_award_and_pays_nothing(db, shop):
    first = award(shop, amount="50", receipt="R9")
    again = award(shop, amount="50.00", receipt="r9")
    assert first.created and not again.created
    assert again.award.id == first.award.id and again.award.points == 50
    assert balance_of(shop["member"]) == shop["start_balance"] + 50
    assert db.session.execute(select(func.count(Message.id))).scalar_one() == 1


def test_a_receipt_reused_for_another_member_or_amount_is_refused(db, shop, make_member):
    award(shop, amount="50", receipt="R9")
    other = make_member()
    other_balance = balance_of(other)
    with pytest.raises(AwardRefused, match="该小票号已用于另一笔奖励") as refused:
        award(shop, amount="50", receipt="R9", member=consumption.member_code(other))
    assert refused.value.field == "receipt_no"
    with pytest.raises(AwardRefused, match="该小票号已用于另一笔奖励"):
        award(shop, amount="51", receipt="R9")
    assert balance_of(other) == other_balance
    assert db.session.execute(select(func.count(ConsumptionAward.id))).scalar_one() == 1


def test_receipt_numbers_are_per_merchant(db, shop):
    award(shop, amount="10", receipt="R1")
    assert award(shop, amount="10", receipt="R1", staff=shop["other_staff"]).created


# ---- the daily cap and the maximum amount ------------------------------------------------------

def test_an_award_over_the_daily_cap_is_trimmed_and_then_refused(db, shop):
    set_terms(shop["merchant"], daily_cap_points=150)
    assert award(shop, amount="100", receipt="A").award.points == 100
    trimmed = award(shop, amount="100", receipt="B")
    assert trimmed.created and trimmed.trimmed and (trimmed.award.points, trimmed.uncapped_points) == (50, 100)
    with pytest.raises(AwardRefused, match="今日在本店的消费积分已达上限（150 积分）"):
        award(shop, amount="1", receipt="C")
    assert balance_of(shop["member"]) == shop["start_balance"] + 150
    assert consumption.cap_left(shop["member"], db.session.get(Merchant, shop["merchant"])) == 0


def test_the_daily_cap_is_per_merchant_and_per_shanghai_day(db, shop):
    set_terms(shop["merchant"], daily_cap_points=100)
    set_terms(shop["other"], daily_cap_points=100)
    now = utcnow()
    assert award(shop, amount="100", receipt="A", now=now).award.points == 100
    assert award(shop, amount="100", receipt="A", staff=shop["other_staff"], now=now).award.points == 100
    tomorrow = now + timedelta(days=1)
    assert award(shop, amount="100", receipt="B", now=tomorrow).award.points == 100


def test_a_single_amount_above_the_merchants_maximum_is_refused(db, shop):
    set_terms(shop["merchant"], max_amount_fen=100000)
    with pytest.raises(AwardRefused, match="单笔金额不能超过 ¥1000.00") as refused:
        award(shop, amount="1000.01")
    assert refused.value.field == "amount"
    assert award(shop, amount="1000", receipt="OK").award.points == 1000


def test_consumption_points_switched_off_are_refused_with_a_clear_message(db, shop):
    with write_transaction():
        put_setting("earn.consumption", {"enabled": False})
    with pytest.raises(AwardRefused, match="消费积分功能已关闭"):
        award(shop)
    assert balance_of(shop["member"]) == shop["start_balance"]
    assert db.session.execute(select(func.count(ConsumptionAward.id))).scalar_one() == 0


def test_only_staff_award_points(db, shop):
    with pytest.raises(DomainError):
        award(shop, staff=shop["member"])


# ---- refusals are audited, nothing half-done ------------------------------------------------------

def test_every_refusal_is_audited_with_its_reason_and_nothing_else_is_written(db, shop):
    set_terms(shop["merchant"], daily_cap_points=10, max_amount_fen=5000)
    award(shop, amount="10", receipt="FULL")
    before = (balance_of(shop["member"]), db.session.execute(select(func.count(PointEntry.id))).scalar_one())
    attempts = [dict(amount="abc"), dict(amount="0"), dict(amount="50.01"), dict(amount="10", receipt=""),
                dict(amount="10", member="13900000009"), dict(amount="20", receipt="NEXT")]
    for attempt in attempts:
        with pytest.raises(AwardRefused):
            award(shop, **attempt)
    logs = refusals(db)
    assert [log.detail["reason"] for log in logs] == [
        "请输入正确的金额，例如 88 或 88.50", "消费金额必须大于0", "单笔金额不能超过 ¥50.00", "请输入小票号",
        "没有找到该手机号的会员", "该会员今日在本店的消费积分已达上限（10 积分），不能再奖励"]
    assert all(log.actor_id == shop["staff"] and log.detail["merchant_id"] == shop["merchant"] for log in logs)
    assert logs[-1].detail["receipt_no"] == "NEXT" and logs[-1].detail["amount_fen"] == 2000
    after = (balance_of(shop["member"]), db.session.execute(select(func.count(PointEntry.id))).scalar_one())
    assert after == before
    assert db.session.execute(select(func.count(ConsumptionAward.id))).scalar_one() == 1
