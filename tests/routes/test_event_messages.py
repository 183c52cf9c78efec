"""Every event a message (issue 10, item 5): each event tells the member exactly once, in the
reader's language, with a link to the object; repeated job runs and double-submits add nothing."""
import re
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.models import CheckIn, Message, User
from app.services import accounts, ledger, messages, payments, shop
from app.services.clock import to_shanghai, utcnow
from app.services.tx import write_transaction
from tests.concurrency import run_concurrently
from tests.conftest import login_as, next_phone
from tests.shop_factories import make_address, make_product, new_key, no_newbie_bonus  # noqa: F401

pytestmark = pytest.mark.usefixtures("no_newbie_bonus")

SHANGHAI = timezone(timedelta(hours=8))


def _count(app, user_id, msgid):
    with app.app_context():
        n = db.session.execute(select(func.count(Message.id))
                               .where(Message.user_id == user_id, Message.msgid == msgid)).scalar_one()
        db.session.remove()
    return n


def _inbox(client, lang=None):
    return client.get("/me/messages" + (f"?lang={lang}" if lang else "")).get_data(as_text=True)


def _reader(app, user_id):
    reader = app.test_client()
    login_as(reader, user_id)
    return reader


# ---- redemption confirmed -------------------------------------------------------------------

def test_a_double_submitted_redemption_confirms_once_with_its_code_and_links_to_the_order(
        app, member_client, make_product):
    product_id = make_product(kind="virtual", name="视频会员月卡", points_price=100, codes=["VIP-0001", "VIP-0002"])
    page = f"/products/{product_id}"
    form = {"quantity": "1", "request_key": new_key(), "confirmed": "1"}
    first = member_client.submit(f"{page}/redeem", form, page=page)
    member_client.submit(f"{page}/redeem", form, page=page)
    order_id = int(re.search(r"/orders/(\d+)$", first.headers["Location"]).group(1))
    assert _count(app, member_client.user_id, "order.redeemed") == 1

    chinese = _inbox(member_client)
    assert "兑换已确认" in chinese and "「视频会员月卡」兑换成功，兑换码：VIP-0001" in chinese
    assert f'href="/orders/{order_id}"' in chinese
    english = _inbox(member_client, "en")
    assert "Redemption confirmed" in english and "Your code: VIP-0001" in english and "兑换" not in english


def test_a_coupon_redemption_names_the_coupon_code(app, member_client, make_product):
    product_id = make_product(kind="coupon", name="满50减10券", points_price=100)
    page = f"/products/{product_id}"
    member_client.submit(f"{page}/redeem", {"confirmed": "1", "quantity": "1"}, page=page)
    with app.app_context():
        notice = db.session.execute(select(Message).where(Message.msgid == "order.redeemed")).scalar_one()
        from app.models import Coupon
        code = db.session.execute(select(Coupon.code)).scalar_one()
        db.session.remove()
    assert notice.params["codes"] == code
    assert f"优惠券已放入你的券包：{code}" in _inbox(member_client)


def test_a_paid_order_is_confirmed_when_the_payment_arrives_not_before(app, make_member, make_product, make_address):
    user_id = make_member()
    product_id = make_product(points_price=199, cash_fen=3900)
    with app.app_context():
        order = shop.redeem_product(user_id, product_id, 1, new_key(), address_id=make_address(user_id))
        assert _count(app, user_id, "order.redeemed") == 0  # waiting for the cash: not confirmed yet
        out_trade_no = order.payment.out_trade_no
        for _ in range(2):  # the provider may notify twice
            payments.complete_payment(out_trade_no, amount_fen=3900, provider_txn_id="T1")
        db.session.remove()
    assert _count(app, user_id, "order.redeemed") == 1
    assert "我们会尽快为你发货" in _inbox(_reader(app, user_id))


def test_a_prize_order_is_told_by_its_game_not_as_a_redemption(app, make_member, make_product):
    from app.services import fulfilment

    user_id = make_member()
    product_id = make_product(kind="coupon")
    with app.app_context():
        with write_transaction():
            fulfilment.grant_product(user_id, product_id, source="draw", ref="play:1")
        db.session.remove()
    assert _count(app, user_id, "order.redeemed") == 0


# ---- payment failed -------------------------------------------------------------------------

def test_a_failed_payment_is_told_once_in_both_languages(app, make_member, make_product, make_address):
    user_id = make_member()
    product_id = make_product(name="蓝牙耳机", points_price=199, cash_fen=3900)
    with app.app_context():
        order = shop.redeem_product(user_id, product_id, 1, new_key(), address_id=make_address(user_id))
        order_id, out_trade_no = order.id, order.payment.out_trade_no
        payments.fail_payment(out_trade_no)
        payments.fail_payment(out_trade_no)  # a repeated notice from the provider
        db.session.remove()
    assert _count(app, user_id, "order.payment_failed_retry") == 1
    reader = _reader(app, user_id)
    chinese = _inbox(reader)
    assert "支付未成功" in chinese and "「蓝牙耳机」支付未成功，请在" in chinese and "前重新支付" in chinese
    assert f'href="/orders/{order_id}"' in chinese
    english = _inbox(reader, "en")
    assert "was not paid; pay again before" in english


# ---- referral paid --------------------------------------------------------------------------

def test_the_inviter_is_told_once_when_the_referral_pays(app, make_member):
    from app.services import referrals

    inviter = make_member()
    with app.app_context():
        code = db.session.get(User, inviter).invite_code
        invitee = accounts.register_member(next_phone(), "secret123", ip="10.0.0.9", inviter_code=code).id
        with write_transaction():
            referrals.pay_pending_referral(invitee)  # already paid: nothing more
        db.session.remove()
    assert _count(app, inviter, "referral.paid") == 1 and _count(app, invitee, "referral.paid") == 0
    reader = _reader(app, inviter)
    chinese = _inbox(reader)
    assert "邀请奖励到账" in chinese and "邀请奖励 100 积分已到账" in chinese and 'href="/invite"' in chinese
    assert "your 100-point invite reward has arrived" in _inbox(reader, "en")


# ---- points adjusted by an operator ---------------------------------------------------------

def test_an_operator_adjustment_sent_twice_is_told_once_with_its_reason(app, client, make_account, make_member):
    operator = make_account("operator")
    member = make_member()
    login_as(client, operator)
    form = {"delta": "+300", "reason": "活动补发", "request_key": new_key()}
    for _ in range(2):
        client.submit(f"/admin/members/{member}/adjust", form, page=f"/admin/members/{member}")
    assert _count(app, member, "points.adjusted") == 1
    reader = _reader(app, member)
    chinese = _inbox(reader)
    assert "积分调整" in chinese and "运营为你增加了 300 积分，原因：活动补发" in chinese and 'href="/me/points"' in chinese
    assert "We added 300 points to your account. Reason: 活动补发" in _inbox(reader, "en")


# ---- level up -------------------------------------------------------------------------------

def test_reaching_a_level_is_told_once_per_level(app, make_member):
    user_id = make_member()  # 500 growth from the registration gift
    with app.app_context():
        with write_transaction():
            ledger.earn(user_id, 4400, "packet")  # 4,900: still 普通会员
        assert _count(app, user_id, "level.up") == 0
        with write_transaction():
            ledger.earn(user_id, 200, "packet")  # 5,100: 银卡会员
        with write_transaction():
            ledger.earn(user_id, 100, "packet")  # still silver: nothing new
        with write_transaction():
            ledger.adjust_points(user_id, 9000, "补发", actor_id=None)  # adjustments earn no growth
        db.session.remove()
    assert _count(app, user_id, "level.up") == 1
    reader = _reader(app, user_id)
    chinese = _inbox(reader)
    assert "会员升级" in chinese and "你已升级为「银卡会员」" in chinese and 'href="/me/level"' in chinese
    assert "You are now a Silver" in _inbox(reader, "en")


# ---- points expiring: each lot told once, a member's due lots in one message per run --------

def _expiry_bodies(app, user_id):
    with app.app_context():
        rows = db.session.execute(select(Message).where(Message.user_id == user_id,
                                                        Message.msgid == "points.lots_expiring")
                                  .order_by(Message.id)).scalars().all()
        shown = [messages.show(row).body for row in rows]
        db.session.remove()
    return shown


def test_a_members_lots_due_within_30_days_are_told_in_one_message_each_lot_once(app, make_member):
    user_id = make_member()
    now = utcnow()
    with app.app_context():
        with write_transaction():
            ledger.earn(user_id, 120, "packet", expires_at=now + timedelta(days=6))
            ledger.earn(user_id, 30, "packet", expires_at=now + timedelta(days=20))
            ledger.earn(user_id, 70, "packet", expires_at=now + timedelta(days=45))  # not yet
        assert messages.send_expiry_reminders(now=now) == 1  # both due lots, one message
        assert messages.send_expiry_reminders(now=now) == 0  # a repeated run
        assert messages.send_expiry_reminders(now=now + timedelta(days=1)) == 0  # tomorrow's run
        assert messages.send_expiry_reminders(now=now + timedelta(days=16)) == 1  # the third lot now
        assert messages.send_expiry_reminders(now=now + timedelta(days=16)) == 0
        db.session.remove()
    first, second = _expiry_bodies(app, user_id)
    day = to_shanghai(now + timedelta(days=6)).date()
    assert first.startswith(f"你有 150 积分将在30天内过期（最早 {day.year}年{day.month}月{day.day}日）")
    later = to_shanghai(now + timedelta(days=45)).date()
    assert second.startswith(f"你有 70 积分将在30天内过期（最早 {later.year}年{later.month}月{later.day}日）")
    reader = _reader(app, user_id)
    chinese = _inbox(reader)
    assert "积分即将过期" in chinese and 'href="/me/points"' in chinese
    assert "150 of your points expire within 30 days" in _inbox(reader, "en")


def test_a_member_checking_in_daily_gets_one_reminder_not_one_per_check_in(app, make_member):
    user_id = make_member()
    now = utcnow()
    with app.app_context():
        with write_transaction():
            for day in range(1, 31):  # thirty lots, as thirty check-ins make
                ledger.earn(user_id, 5, "packet", expires_at=now + timedelta(days=day))
        assert messages.send_expiry_reminders(now=now) == 1
        db.session.remove()
    [body] = _expiry_bodies(app, user_id)
    assert body.startswith("你有 150 积分将在30天内过期")


def test_concurrent_reminder_runs_tell_each_lot_once(app, make_member):
    members = [make_member() for _ in range(3)]
    now = utcnow()
    with app.app_context():
        with write_transaction():
            for user_id in members:
                ledger.earn(user_id, 40, "packet", expires_at=now + timedelta(days=5))
                ledger.earn(user_id, 60, "packet", expires_at=now + timedelta(days=25))
        db.session.remove()
    outcome = run_concurrently(app, lambda i: messages.send_expiry_reminders(now=now), 4)
    assert outcome.errors == [] and sum(outcome.results) == len(members)
    for user_id in members:
        [body] = _expiry_bodies(app, user_id)
        assert body.startswith("你有 100 积分将在30天内过期")


def test_expiry_reminders_stored_before_grouping_still_read(member_client, app):
    with app.app_context():
        with write_transaction():
            messages.notify(member_client.user_id, "points.lot_expiring",
                            {"n": 9, "when": utcnow().date(), "lot_id": 1}, key="expiry.lot:1")
            messages.notify(member_client.user_id, "points.expiring", {"n": 8, "when": utcnow().date()})
        db.session.remove()
    inbox = _inbox(member_client)
    assert "你有 9 积分将于" in inbox and "你有 8 积分将在30天内过期" in inbox


# ---- check-in streak at risk ----------------------------------------------------------------

def _evening(day, hour=20, minute=30):
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=SHANGHAI).astimezone(timezone.utc)


def _check_in(app, user_id, days):
    with app.app_context():
        with write_transaction() as session:
            for day in days:
                session.add(CheckIn(user_id=user_id, day=day))
        db.session.remove()


@pytest.fixture()
def streaks(app, make_member):
    """Members by their check-ins before `today`: a 3-day streak, a 2-day one, a 3-day one that
    checked in today, and a 3-day one who opted out."""
    today = to_shanghai(utcnow()).date()
    past = [today - timedelta(days=n) for n in (1, 2, 3)]
    at_risk, short, done, opted_out = (make_member() for _ in range(4))
    _check_in(app, at_risk, past)
    _check_in(app, short, past[:2])
    _check_in(app, done, past + [today])
    _check_in(app, opted_out, past)
    with app.app_context():
        with write_transaction() as session:
            session.get(User, opted_out).streak_reminders = False
        db.session.remove()
    return today, at_risk, short, done, opted_out


def test_a_streak_at_risk_is_told_once_a_day_after_8pm(app, streaks):
    today, at_risk, short, done, opted_out = streaks
    with app.app_context():
        assert messages.send_streak_reminders(now=_evening(today, 19, 59)) == 0  # not yet 20:00 Beijing
        assert messages.send_streak_reminders(now=_evening(today)) == 1
        assert messages.send_streak_reminders(now=_evening(today, 22)) == 0  # a repeated run
        db.session.remove()
    assert [_count(app, u, "checkin.streak_at_risk") for u in (at_risk, short, done, opted_out)] == [1, 0, 0, 0]
    reader = _reader(app, at_risk)
    chinese = _inbox(reader)
    assert "今天还没签到" in chinese and "你已连续签到 3 天" in chinese and 'href="/checkin"' in chinese
    assert "You have checked in 3 days in a row but not yet today" in _inbox(reader, "en")


def test_the_streak_reminder_job_runs_from_the_cli(app, streaks):
    runner = app.test_cli_runner()
    result = runner.invoke(args=["messages", "streak-reminders"])
    assert result.exit_code == 0 and re.fullmatch(r"sent [01] reminders\n", result.output)
    again = runner.invoke(args=["messages", "streak-reminders"])
    assert again.output == "sent 0 reminders\n"


def test_the_profile_turns_streak_reminders_off_and_on(app, member_client):
    page = member_client.get("/me/profile").get_data(as_text=True)
    assert re.search(r'<input[^>]*checked[^>]*name="streak_reminders"|<input[^>]*name="streak_reminders"[^>]*checked',
                     page)
    member_client.submit("/me/profile", {"nickname": "小明"}, page="/me/profile")  # box left unticked

    def stored():
        with app.app_context():
            value = db.session.get(User, member_client.user_id).streak_reminders
            db.session.remove()
        return value

    assert stored() is False
    member_client.submit("/me/profile", {"nickname": "小明", "streak_reminders": "y"}, page="/me/profile")
    assert stored() is True


# ---- an unpaid order cancelled by the job ---------------------------------------------------

def test_an_order_left_unpaid_is_cancelled_and_told_once_with_why(app, make_member, make_product, make_address):
    from app.services import order_jobs

    user_id = make_member()
    product_id = make_product(name="蓝牙耳机", points_price=199, cash_fen=3900)
    with app.app_context():
        order_id = shop.redeem_product(user_id, product_id, 1, new_key(), address_id=make_address(user_id)).id
        later = utcnow() + timedelta(minutes=16)
        assert order_jobs.cancel_unpaid_orders(now=later) == 1
        assert order_jobs.cancel_unpaid_orders(now=later) == 0  # a repeated run
        db.session.remove()
    assert _count(app, user_id, "order.cancelled") == 1
    reader = _reader(app, user_id)
    chinese = _inbox(reader)
    assert "「蓝牙耳机」已被取消：超时未支付，已自动取消。 199 积分已退回。" in chinese
    assert f'href="/orders/{order_id}"' in chinese
    assert "超时未支付" not in _inbox(reader, "en")
