"""Earning under truly concurrent requests: one check-in, capped make-ups, packets and referral caps hold."""
from datetime import date, datetime, timedelta, timezone

from sqlalchemy import func, select

from app.extensions import db
from app.models import CheckIn, PacketClaim, PointEntry, PointsPacket, Referral
from app.services import accounts, checkin, ledger, packets
from app.services.clock import utcnow
from app.services.errors import AlreadyDone, DomainError
from tests.concurrency import run_concurrently
from tests.conftest import balance_of, next_phone

JOINED = datetime(2025, 1, 1, 4, tzinfo=timezone.utc)


def test_a_hundred_concurrent_check_ins_of_one_member_make_exactly_one(app, make_member):
    user_id = make_member()
    outcome = run_concurrently(app, lambda _i: checkin.check_in(user_id).points, 100, expected=(DomainError,))
    assert outcome.errors == []
    assert outcome.results == [5] and [type(r) for r in outcome.refusals] == [AlreadyDone] * 99
    with app.app_context():
        assert db.session.execute(select(func.count()).select_from(CheckIn)).scalar() == 1
        assert db.session.execute(
            select(func.count()).select_from(PointEntry).where(PointEntry.kind == "checkin")).scalar() == 1
        assert balance_of(user_id) == 505
        assert ledger.reconcile() == []


def test_concurrent_make_ups_stop_at_the_monthly_limit(app, make_member):
    user_id = make_member(created_at=JOINED)
    today = date(2026, 3, 10)
    days = [today - timedelta(days=i) for i in range(1, 8)]  # seven missed days, two make-ups allowed

    def make_up(i):
        checkin.make_up(user_id, days[i % 7], today=today)
        return "ok"

    outcome = run_concurrently(app, make_up, 40, expected=(DomainError,))
    assert outcome.errors == []
    assert outcome.results == ["ok", "ok"] and len(outcome.refusals) == 38
    with app.app_context():
        assert db.session.execute(select(func.count()).select_from(CheckIn)).scalar() == 2
        assert balance_of(user_id) == 460
        assert ledger.reconcile() == []


def test_a_packet_is_claimed_at_most_total_times_by_concurrent_members(app, make_member):
    members = [make_member() for _ in range(40)]
    with app.app_context():
        now = utcnow()
        packet_id = packets.create_packet("限量红包", 30, now - timedelta(minutes=1), now + timedelta(days=1), total=25).id

    def claim(i):
        return packets.claim_packet(members[i], packet_id).points

    outcome = run_concurrently(app, claim, 40, expected=(DomainError,))
    assert outcome.errors == []
    assert outcome.results == [30] * 25 and [type(r) for r in outcome.refusals] == [DomainError] * 15
    with app.app_context():
        assert db.session.get(PointsPacket, packet_id).claimed == 25
        assert db.session.execute(select(func.count()).select_from(PacketClaim)).scalar() == 25
        assert sum(balance_of(m) for m in members) == 40 * 500 + 25 * 30
        assert ledger.reconcile() == []


def test_one_member_tapping_a_packet_concurrently_gets_it_once(app, make_member):
    user_id = make_member()
    with app.app_context():
        now = utcnow()
        packet_id = packets.create_packet("不限量红包", 20, now - timedelta(minutes=1), now + timedelta(days=1)).id

    outcome = run_concurrently(app, lambda _i: packets.claim_packet(user_id, packet_id).points, 50,
                               expected=(DomainError,))
    assert outcome.errors == []
    assert outcome.results == [20] and [type(r) for r in outcome.refusals] == [AlreadyDone] * 49
    with app.app_context():
        assert db.session.get(PointsPacket, packet_id).claimed == 1
        assert balance_of(user_id) == 520


def test_concurrent_referral_sign_ups_from_one_ip_pay_at_most_the_cap(app, make_member):
    inviter = make_member()
    with app.app_context():
        from app.models import User

        code = db.session.get(User, inviter).invite_code
    phones = [next_phone() for _ in range(12)]

    def register(i):
        accounts.register_member(phones[i], "secret123", ip="10.1.2.3", inviter_code=code)
        return "ok"

    outcome = run_concurrently(app, register, 12)
    assert outcome.errors == [] and outcome.results == ["ok"] * 12
    with app.app_context():
        statuses = db.session.execute(select(Referral.status)).scalars().all()
        assert sorted(statuses) == ["capped"] * 7 + ["paid"] * 5
        assert balance_of(inviter) == 500 + 5 * 100
        assert ledger.reconcile() == []
