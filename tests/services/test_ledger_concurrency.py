"""Hundreds of truly concurrent spends at one member: no negative balance, no lost update."""
from sqlalchemy import func, select

from app.extensions import db
from app.models import PointEntry, PointLot
from app.services import ledger
from app.services.errors import InsufficientPoints
from app.services.tx import write_transaction
from tests.concurrency import run_concurrently
from tests.conftest import balance_of

THREADS = 220


def test_concurrent_spends_never_overdraw_and_the_ledger_adds_up(app, make_member):
    user_id = make_member(points=1500)  # 2,000 with the registration gift

    def spend_ten(i):
        with write_transaction():
            ledger.spend(user_id, 10, "redeem", key=f"storm:{i}")
        return "ok"

    outcome = run_concurrently(app, spend_ten, THREADS, expected=(InsufficientPoints,))
    assert outcome.errors == []
    assert len(outcome.results) == 200 and len(outcome.refusals) == THREADS - 200
    with app.app_context():
        entries = db.session.execute(select(func.sum(PointEntry.amount)).where(PointEntry.user_id == user_id)).scalar()
        lots = db.session.execute(select(func.sum(PointLot.remaining)).where(PointLot.user_id == user_id)).scalar()
        assert balance_of(user_id) == entries == lots == 0
        assert ledger.reconcile() == []


def test_concurrent_earns_and_spends_lose_no_update(app, make_member):
    user_id = make_member()  # 500

    def mixed(i):
        with write_transaction():
            if i % 2:
                ledger.earn(user_id, 7, "checkin", key=f"earn:{i}")
            else:
                ledger.spend(user_id, 3, "redeem", key=f"spend:{i}")
        return "ok"

    outcome = run_concurrently(app, mixed, THREADS)
    assert outcome.errors == [] and len(outcome.results) == THREADS
    with app.app_context():
        assert balance_of(user_id) == 500 + 7 * (THREADS // 2) - 3 * (THREADS // 2)
        assert ledger.reconcile() == []


def test_the_same_key_sent_concurrently_charges_once(app, make_member):
    user_id = make_member()

    def same_key(_i):
        with write_transaction():
            return ledger.spend(user_id, 100, "redeem", key="double-tap").id

    outcome = run_concurrently(app, same_key, 50)
    assert outcome.errors == [] and len(outcome.results) == 50 and len(set(outcome.results)) == 1
    with app.app_context():
        assert balance_of(user_id) == 400
