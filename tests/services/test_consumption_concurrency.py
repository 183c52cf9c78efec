"""Consumption points under concurrency: a receipt pays once, the daily cap holds (SQLite and PostgreSQL)."""
from sqlalchemy import func, select

from app.extensions import db
from app.models import ConsumptionAward, Merchant, PointEntry
from app.services import consumption, ledger
from app.services.consumption import AwardRefused
from app.services.tx import write_transaction
from tests.concurrency import run_concurrently
from tests.conftest import balance_of
from tests.shop_factories import make_merchant  # noqa: F401  (fixture)


def _counter(app, make_merchant, make_account, make_member, cap=2000):
    merchant_id = make_merchant()
    with app.app_context():
        with write_transaction() as session:
            session.get(Merchant, merchant_id).daily_cap_points = cap
        db.session.remove()
    member_id = make_member()
    with app.app_context():
        start = balance_of(member_id)
        code = consumption.member_code(member_id)
        db.session.remove()
    return make_account("staff", merchant_id=merchant_id), member_id, start, code


def test_the_same_receipt_sent_by_many_requests_at_once_pays_once(app, make_merchant, make_account, make_member):
    staff_id, member_id, start, code = _counter(app, make_merchant, make_account, make_member)

    def confirm(_i):
        result = consumption.award_consumption_points(staff_id, code, "88.00", "R-1001")
        return result.award.id, result.created

    outcome = run_concurrently(app, confirm, 20, expected=(AwardRefused,))
    assert outcome.errors == [] and outcome.refusals == []
    assert sorted(created for _id, created in outcome.results) == [False] * 19 + [True]
    assert len({award_id for award_id, _created in outcome.results}) == 1
    with app.app_context():
        assert db.session.execute(select(func.count(ConsumptionAward.id))).scalar_one() == 1
        assert db.session.execute(select(func.count(PointEntry.id)).where(PointEntry.kind == "consume")).scalar_one() == 1
        assert balance_of(member_id) == start + 88
        assert ledger.reconcile() == []


def test_one_receipt_for_many_members_at_once_pays_one_of_them(app, make_merchant, make_account, make_member):
    staff_id, member_id, _start, code = _counter(app, make_merchant, make_account, make_member)
    others = [make_member() for _ in range(5)]
    with app.app_context():
        codes = [code] + [consumption.member_code(other) for other in others]
        db.session.remove()

    def confirm(i):
        return consumption.award_consumption_points(staff_id, codes[i % len(codes)], "10", "SHARED").award.id

    outcome = run_concurrently(app, confirm, 12, expected=(AwardRefused,))
    assert outcome.errors == []
    assert len(set(outcome.results)) == 1  # the winner, and its own retries replayed
    assert all("该小票号已用于另一笔奖励" in message for message in outcome.messages)
    assert len(outcome.results) + len(outcome.refusals) == 12
    with app.app_context():
        assert db.session.execute(select(func.count(ConsumptionAward.id))).scalar_one() == 1
        assert db.session.execute(select(func.count(PointEntry.id)).where(PointEntry.kind == "consume")).scalar_one() == 1
        assert ledger.reconcile() == []


def test_many_receipts_for_one_member_at_once_never_exceed_the_daily_cap(app, make_merchant, make_account,
                                                                         make_member):
    staff_id, member_id, start, code = _counter(app, make_merchant, make_account, make_member, cap=250)

    def confirm(i):
        return consumption.award_consumption_points(staff_id, code, "30", f"R{i}").award.points

    outcome = run_concurrently(app, confirm, 20, expected=(AwardRefused,))
    assert outcome.errors == []
    # 8 awards of 30 and one trimmed to 10 reach the cap; everyone later is refused.
    assert sorted(outcome.results) == [10] + [30] * 8
    assert len(outcome.refusals) == 11 and all("已达上限" in m for m in outcome.messages)
    with app.app_context():
        awarded = db.session.execute(select(func.sum(ConsumptionAward.points))).scalar_one()
        assert awarded == 250
        assert balance_of(member_id) == start + 250
        assert ledger.reconcile() == []
