"""The points ledger: lots, soonest-expiring-first spends, refunds, expiry, reconciliation."""
from datetime import timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from app.models import PointAllocation, PointEntry, PointLot, User
from app.services import ledger
from app.services.clock import utcnow
from app.services.errors import InsufficientPoints
from app.services.settings import put_setting
from app.services.tx import write_transaction
from tests.conftest import balance_of


def _sums(session, user_id):
    entries = session.execute(select(func.sum(PointEntry.amount)).where(PointEntry.user_id == user_id)).scalar()
    lots = session.execute(select(func.sum(PointLot.remaining)).where(PointLot.user_id == user_id)).scalar()
    return balance_of(user_id), entries or 0, lots or 0


def test_registration_gift_is_a_ledger_entry_in_a_lot(db, make_member):
    user_id = make_member()
    assert _sums(db.session, user_id) == (500, 500, 500)
    entry = db.session.execute(select(PointEntry).where(PointEntry.user_id == user_id)).scalar_one()
    assert (entry.kind, entry.amount, entry.balance_after) == ("register", 500, 500)


def test_spend_draws_soonest_expiring_lots_first(db, make_member):
    user_id = make_member()  # 500 expiring in 12 months
    now = utcnow()
    with write_transaction():
        soon = ledger.earn(user_id, 100, "packet", expires_at=now + timedelta(days=7))
        later = ledger.earn(user_id, 100, "checkin", expires_at=now + timedelta(days=30))
        spent = ledger.spend(user_id, 150, "redeem")
    allocations = db.session.execute(
        select(PointAllocation.lot_id, PointAllocation.amount).where(PointAllocation.entry_id == spent.id)
        .order_by(PointAllocation.id)
    ).all()
    lot_of = {e: db.session.execute(select(PointLot.id).where(PointLot.entry_id == e)).scalar_one()
              for e in (soon.id, later.id)}
    assert allocations == [(lot_of[soon.id], 100), (lot_of[later.id], 50)]
    assert _sums(db.session, user_id) == (550, 550, 550)


def test_spend_refuses_more_than_the_balance_and_changes_nothing(db, make_member):
    user_id = make_member()
    with pytest.raises(InsufficientPoints):
        with write_transaction():
            ledger.spend(user_id, 501, "redeem")
    assert _sums(db.session, user_id) == (500, 500, 500)
    assert db.session.execute(select(func.count(PointEntry.id))).scalar() == 1


def test_a_key_makes_earning_and_spending_happen_once(db, make_member):
    user_id = make_member()
    with write_transaction():
        first = ledger.earn(user_id, 10, "checkin", key="checkin:2026-11-22")
    with write_transaction():
        again = ledger.earn(user_id, 10, "checkin", key="checkin:2026-11-22")
    assert first is not None and again is None
    with write_transaction():
        a = ledger.spend(user_id, 50, "redeem", key="order:1")
    with write_transaction():
        b = ledger.spend(user_id, 50, "redeem", key="order:1")
    assert a.id == b.id
    assert balance_of(user_id) == 460
    # A caller that says its key is new skips the lookup; were it wrong, the entries' unique key
    # still refuses the second charge, and the transaction changes nothing.
    with pytest.raises(IntegrityError):
        with write_transaction():
            ledger.spend(user_id, 50, "redeem", key="order:1", new_key=True)
    assert balance_of(user_id) == 460


def test_refund_returns_points_to_their_lots_or_a_fresh_lot_if_expired(db, make_member):
    user_id = make_member()
    now = utcnow()
    with write_transaction():
        ledger.earn(user_id, 100, "packet", expires_at=now + timedelta(days=1))
        spent = ledger.spend(user_id, 300, "redeem")  # 100 from the packet lot, 200 from the gift
    later = now + timedelta(days=2)  # the packet lot has expired meanwhile
    with write_transaction():
        back = ledger.refund(spent.id, now=later)
    with write_transaction():
        assert ledger.refund(spent.id, now=later) is None  # never refunded twice
    assert back.amount == 300
    gift_lot, packet_lot = db.session.execute(
        select(PointLot).where(PointLot.user_id == user_id).order_by(PointLot.id)
    ).scalars().all()[:2]
    assert packet_lot.remaining == 0  # expired lot not revived
    assert gift_lot.remaining == 500
    fresh = db.session.execute(select(PointLot).where(PointLot.entry_id == back.id)).scalar_one()
    assert fresh.amount == 100 and fresh.expires_at > later + timedelta(days=300)
    assert _sums(db.session, user_id) == (600, 600, 600)


def test_expiry_job_writes_one_expire_entry_and_is_idempotent(db, make_member):
    user_id = make_member()
    now = utcnow()
    with write_transaction():
        ledger.earn(user_id, 80, "packet", expires_at=now + timedelta(days=7))
        ledger.spend(user_id, 30, "redeem")  # drawn from the packet lot first
    later = now + timedelta(days=8)
    assert ledger.run_expiry(now=later) == (1, 50)
    assert ledger.run_expiry(now=later) == (0, 0)
    kinds = db.session.execute(
        select(PointEntry.kind, PointEntry.amount).where(PointEntry.user_id == user_id).order_by(PointEntry.id)
    ).all()
    assert kinds[-1] == ("expire", -50)
    assert _sums(db.session, user_id) == (500, 500, 500)
    assert ledger.reconcile() == []


def test_spend_expires_due_lots_before_drawing(db, make_member):
    user_id = make_member(points=0)
    now = utcnow()
    with write_transaction():
        ledger.earn(user_id, 100, "packet", expires_at=now + timedelta(seconds=1))
    later = now + timedelta(days=1)
    with pytest.raises(InsufficientPoints):
        with write_transaction():
            ledger.spend(user_id, 550, "redeem", now=later)
    with write_transaction():
        ledger.spend(user_id, 500, "redeem", now=later)
    assert _sums(db.session, user_id) == (0, 0, 0)


def test_a_spend_after_expiry_in_the_same_transaction_draws_from_lots_written_or_refunded_since(db, make_member):
    # Expiry reads the member's open lots once and a spend draws from what it read - unless a lot
    # of theirs changed in between: an earning's new lot, a refund's points back.
    user_id = make_member()  # 500 in one lot
    now = utcnow()
    with write_transaction():
        first = ledger.spend(user_id, 200, "redeem", now=now)
    with write_transaction():
        ledger.expire_member_lots(user_id, now)
        ledger.refund(first.id, now=now)  # the 200 go back to the lot: 500 in it again
        refunded = ledger.spend(user_id, 450, "redeem", now=now)
    with write_transaction():
        ledger.expire_member_lots(user_id, now)
        packet = ledger.earn(user_id, 100, "packet", expires_at=now + timedelta(days=7), now=now)
        earned = ledger.spend(user_id, 120, "redeem", now=now)  # the packet's 100, then 20 of the 50 left
    packet_lot = db.session.execute(select(PointLot.id).where(PointLot.entry_id == packet.id)).scalar_one()
    gift_lot = db.session.execute(select(PointLot.id).where(PointLot.user_id == user_id, PointLot.id != packet_lot)
                                  ).scalar_one()
    taken = {entry_id: db.session.execute(
        select(PointAllocation.lot_id, PointAllocation.amount).where(PointAllocation.entry_id == entry_id)
        .order_by(PointAllocation.id)).all() for entry_id in (refunded.id, earned.id)}
    assert taken == {refunded.id: [(gift_lot, 450)], earned.id: [(packet_lot, 100), (gift_lot, 20)]}
    assert _sums(db.session, user_id) == (30, 30, 30)
    assert ledger.reconcile() == []


def test_an_earning_that_lifts_the_level_boosts_the_next_one_in_the_same_transaction(db, make_member):
    user_id = make_member(growth=9950)  # silver (110%) until 50 more
    with write_transaction():
        assert ledger.earn(user_id, 10, "checkin", boost=True).amount == 11  # silver
        assert ledger.earn(user_id, 100, "adjust").amount == 100  # growth 10061: gold
        assert ledger.earn(user_id, 10, "checkin", boost=True).amount == 12  # gold (120%)
    assert db.session.get(User, user_id).growth == 9950 + 11 + 100 + 12


def test_boost_applies_level_multiplier_and_double_points_days(db, make_member):
    user_id = make_member()
    with write_transaction() as session:
        session.get(User, user_id).growth = 10000  # gold: 120%
    with write_transaction():
        assert ledger.earn(user_id, 10, "checkin", boost=True).amount == 12
    today = utcnow().astimezone(__import__("zoneinfo").ZoneInfo("Asia/Shanghai")).date().isoformat()
    with write_transaction():
        put_setting("double_points.days", [today])
    with write_transaction():
        assert ledger.earn(user_id, 10, "checkin", boost=True).amount == 24


def test_reconcile_reports_a_tampered_balance(db, make_member):
    user_id = make_member()
    with write_transaction() as session:
        session.get(User, user_id).points_balance = 499
    [mismatch] = ledger.reconcile()
    assert (mismatch.user_id, mismatch.balance, mismatch.entries_sum, mismatch.lots_sum) == (user_id, 499, 500, 500)


def test_balance_cannot_go_negative_even_bypassing_the_service(db, make_member):
    user_id = make_member()
    from sqlalchemy.exc import IntegrityError

    with pytest.raises(IntegrityError):
        with write_transaction() as session:
            session.get(User, user_id).points_balance = -1
            session.flush()


def test_ledger_primitives_refuse_to_run_outside_a_transaction(db, make_member):
    user_id = make_member()
    with pytest.raises(RuntimeError):
        ledger.earn(user_id, 5, "checkin")
