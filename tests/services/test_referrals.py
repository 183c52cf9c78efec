"""Referrals: the inviter is paid once per invitee; abuse cases pay nothing and never block a sign-up."""
from datetime import datetime, timezone

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import PointEntry, Referral, User
from app.services import accounts, events, ledger, referrals
from app.services.settings import put_setting
from app.services.tx import write_transaction
from tests.conftest import balance_of, next_phone


def _code(user_id):
    return db.session.get(User, user_id).invite_code


def _register(code, ip="10.0.0.1"):
    return accounts.register_member(next_phone(), "secret123", ip=ip, inviter_code=code).id


def test_the_inviter_is_paid_when_the_invitee_registers(db, make_member):
    inviter = make_member()
    invitee = _register(_code(inviter))
    member = db.session.get(User, invitee)
    assert member.inviter_id == inviter
    assert balance_of(invitee) == 500  # the normal registration gift
    assert balance_of(inviter) == 600
    entry = db.session.execute(select(PointEntry).where(PointEntry.user_id == inviter, PointEntry.kind == "invite")).scalar_one()
    assert entry.key == f"invite:{invitee}"
    summary = referrals.invite_summary(inviter)
    assert (summary.count, summary.paid, summary.points) == (1, 1, 100)
    assert [r.invitee.id for r in referrals.invitees(inviter)] == [invitee]


@pytest.mark.parametrize("code", ["nosuchcode", "", "   ", "x" * 40, "<script>"])
def test_a_bad_code_is_ignored_and_the_registration_goes_through(db, make_member, code):
    inviter = make_member()
    invitee = _register(code)
    assert db.session.get(User, invitee).inviter_id is None
    assert balance_of(invitee) == 500 and balance_of(inviter) == 500
    assert db.session.execute(select(Referral)).first() is None


def test_no_self_invite(db, make_member):
    user_id = make_member()
    with write_transaction():
        assert referrals.record_referral(user_id, _code(user_id), "10.0.0.1") is None
    assert db.session.get(User, user_id).inviter_id is None and balance_of(user_id) == 500


def test_one_inviter_per_member(db, make_member):
    first, second = make_member(), make_member()
    invitee = _register(_code(first))
    with write_transaction():
        assert referrals.record_referral(invitee, _code(second), "10.0.0.2") is None
    db.session.expire_all()
    assert db.session.get(User, invitee).inviter_id == first
    assert balance_of(first) == 600 and balance_of(second) == 500
    with write_transaction():  # the same registration event delivered twice pays once
        events.member_registered.send(None, user_id=invitee, inviter_code=_code(first), ip="10.0.0.1")
    assert balance_of(first) == 600


def test_staff_and_disabled_accounts_cannot_invite(db, make_member, make_account):
    staff = make_account("staff")
    disabled = make_member(is_disabled=True)
    for code in (_code(staff), _code(disabled)):
        invitee = _register(code)
        assert db.session.get(User, invitee).inviter_id is None
    assert balance_of(disabled) == 500


def test_paid_referrals_per_ip_per_day_are_capped(db, make_member):
    inviter = make_member()
    for _ in range(6):
        _register(_code(inviter), ip="10.9.9.9")
    _register(_code(inviter), ip="10.9.9.10")  # another network still counts
    statuses = db.session.execute(select(Referral.status).order_by(Referral.id)).scalars().all()
    assert statuses == ["paid"] * 5 + ["capped", "paid"]
    assert balance_of(inviter) == 500 + 6 * 100
    assert referrals.invite_summary(inviter).count == 7  # still listed, still linked


def test_operators_may_pay_on_the_first_redemption_instead(db, make_member):
    with write_transaction():
        put_setting("earn.invite", {"enabled": True, "points": 100, "pay_on": "first_redeem", "per_ip_daily": 5})
    inviter = make_member()
    invitee = _register(_code(inviter))
    assert balance_of(inviter) == 500
    assert db.session.execute(select(Referral.status)).scalar_one() == "pending"
    for order_id in (1, 2):
        with write_transaction():
            events.product_redeemed.send(None, user_id=invitee, order_id=order_id)
    assert balance_of(inviter) == 600
    assert db.session.execute(select(Referral.status)).scalar_one() == "paid"
    assert ledger.reconcile() == []


def test_the_referral_source_can_be_switched_off(db, make_member):
    with write_transaction():
        put_setting("earn.invite", {"enabled": False})
    inviter = make_member()
    invitee = _register(_code(inviter))
    assert db.session.get(User, invitee).inviter_id == inviter  # still who invited whom
    assert db.session.execute(select(Referral.status)).scalar_one() == "off"
    assert balance_of(inviter) == 500


def test_referral_rewards_use_the_inviters_level(db, make_member):
    inviter = make_member(growth=10000)  # gold: 120%
    _register(_code(inviter))
    assert balance_of(inviter) == 620


def test_an_account_without_a_code_gets_one(db, make_member):
    user_id = make_member(invite_code=None)
    code = referrals.invite_code_for(user_id)
    assert code and len(code) == 8 and referrals.invite_code_for(user_id) == code
    assert referrals.inviter_by_code(code).id == user_id


def test_the_qr_code_is_inline_svg():
    svg = referrals.qr_svg("http://127.0.0.1/r/abc")
    assert svg.startswith("<svg") and "<script" not in svg and "xmlns" not in svg[:200]


def test_the_ip_cap_counts_the_shanghai_day(db, make_member):
    inviter = make_member()
    late = datetime(2026, 3, 1, 15, 59, tzinfo=timezone.utc)   # 23:59 in Shanghai
    early = datetime(2026, 3, 1, 16, 1, tzinfo=timezone.utc)   # 00:01 the next Shanghai day
    invitees = [make_member() for _ in range(6)]
    with write_transaction():
        for invitee in invitees[:5]:
            referrals.record_referral(invitee, _code(inviter), "10.7.7.7", now=late)
        assert referrals.record_referral(invitees[5], _code(inviter), "10.7.7.7", now=early).status == "paid"
    assert balance_of(inviter) == 1100
