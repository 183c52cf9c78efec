"""Dashboard rollups and figures against a hand-computed multi-day scenario; points liability and breakage
against a scenario spanning several months with expiries."""
from datetime import date, datetime, timedelta

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import CheckIn, Draw, DrawPlay, DrawPrize, Order, PointEntry, User
from app.models.stats import DailyStat
from app.services import ledger, liability, overview, stats
from app.services.clock import SHANGHAI
from app.services.settings import put_setting
from app.services.tx import write_transaction
from tests.shop_factories import make_product  # noqa: F401


def sh(day, hour, minute=0):
    """An aware instant given in Shanghai wall-clock time."""
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=SHANGHAI)


D1, D2, D3, TODAY = date(2026, 3, 7), date(2026, 3, 8), date(2026, 3, 9), date(2026, 3, 10)
NOW = sh(TODAY, 12)


@pytest.fixture()
def no_register_gift(app):
    with app.app_context():
        with write_transaction():
            put_setting("earn.register", {"enabled": False, "points": 500})
        db.session.remove()


@pytest.fixture()
def scenario(app, no_register_gift, make_member, make_product):
    """Three members over three past days and today (Shanghai), hand-countable."""
    a, b, c = make_member(), make_member(), make_member()
    cup, phone = make_product(name="保温杯"), make_product(name="蓝牙耳机")
    with app.app_context():
        with write_transaction() as session:
            session.get(User, a).created_at = sh(D1, 10)
            # 00:30 in Shanghai is still the previous day in UTC: it counts for D3
            session.get(User, b).created_at = sh(D3, 0, 30)
            session.get(User, c).created_at = sh(TODAY, 9)
            for user, day, kind in ((a, D1, "normal"), (a, D2, "normal"), (b, D3, "normal"), (c, TODAY, "normal"),
                                    (a, date(2026, 3, 5), "makeup")):
                session.add(CheckIn(user_id=user, day=day, kind=kind, points=5, created_at=sh(day, 8)))
            session.add_all([
                Order(user_id=a, product_id=cup, kind="physical", product_name="保温杯", quantity=1,
                      points_unit=100, points_total=100, status="paid", created_at=sh(D2, 14)),
                Order(user_id=b, product_id=phone, kind="physical", product_name="蓝牙耳机", quantity=2,
                      points_unit=100, points_total=200, cash_total_fen=3900, status="cancelled",
                      created_at=sh(D3, 1)),
                Order(user_id=b, product_id=cup, kind="physical", product_name="保温杯", quantity=1,
                      status="paid", source="draw", ref="play:1", created_at=sh(D3, 2)),  # a prize: not a redemption
                Order(user_id=c, product_id=cup, kind="physical", product_name="保温杯", quantity=1,
                      points_unit=50, points_total=50, status="paid", created_at=sh(TODAY, 9, 30)),
            ])
        with write_transaction():
            ledger.earn(a, 500, "register", now=sh(D1, 10, 5))
            ledger.earn(a, 5, "checkin", now=sh(D1, 10, 10))
            ledger.earn(a, 20, "task", now=sh(D1, 10, 20), expires_at=sh(D2, 12))
            ledger.earn(a, 10, "checkin", now=sh(D2, 9))
            ledger.spend(a, 100, "redeem", now=sh(D2, 14))  # expires the task's 20 first
            draw_spend = ledger.spend(a, 10, "draw", now=sh(D3, 15))
            ledger.earn(b, 500, "register", now=sh(D3, 0, 40))
            spent = ledger.spend(b, 200, "redeem", now=sh(D3, 1))
            ledger.refund(spent.id, now=sh(D3, 3))
            ledger.earn(c, 500, "register", now=sh(TODAY, 9, 5))
            ledger.spend(c, 50, "redeem", now=sh(TODAY, 9, 30))
        with write_transaction() as session:
            wheel = Draw(name="大转盘")
            session.add(wheel)
            session.flush()
            thanks = DrawPrize(draw_id=wheel.id, position=0, name="谢谢参与", kind="thanks")
            coins = DrawPrize(draw_id=wheel.id, position=1, name="5积分", kind="points", points=5)
            session.add_all([thanks, coins])
            session.flush()
            # plays are counted by their Shanghai day; the spend they point at does not matter here
            for day, seq, prize in ((D2, 1, coins), (D3, 1, thanks), (D3, 2, coins)):
                session.add(DrawPlay(draw_id=wheel.id, user_id=a, prize_id=prize.id, day=day, day_seq=seq, cost=10,
                                     spend_entry_id=draw_spend.id, created_at=sh(day, 15)))
        db.session.remove()
    return {"a": a, "b": b, "c": c, "cup": str(cup), "phone": str(phone)}


def expected_days(s):
    return {
        D1: {("new_members", ""): 1, ("active_members", ""): 1, ("checkins", ""): 1, ("newbie_converted", ""): 1,
             ("points_issued", "register"): 500, ("points_issued", "checkin"): 5, ("points_issued", "task"): 20},
        D2: {("active_members", ""): 1, ("checkins", ""): 1, ("points_issued", "checkin"): 10,
             ("points_spent", "redeem"): 100, ("points_expired", ""): 20,
             ("orders", ""): 1, ("orders_points", ""): 100, ("product_units", s["cup"]): 1,
             ("draws", ""): 1, ("prizes_won", ""): 1},
        D3: {("new_members", ""): 1, ("active_members", ""): 2, ("checkins", ""): 1, ("newbie_converted", ""): 1,
             ("points_issued", "register"): 500, ("points_spent", "draw"): 10, ("points_spent", "redeem"): 200,
             ("points_refunded", ""): 200, ("orders", ""): 1, ("orders_points", ""): 200,
             ("orders_cash_fen", ""): 3900, ("product_units", s["phone"]): 2,
             ("draws", ""): 2, ("prizes_won", ""): 1},
    }


def stored(day):
    return {(r.metric, r.dimension): r.value
            for r in db.session.execute(select(DailyStat).where(DailyStat.day == day)).scalars()}


def test_rollups_equal_the_hand_counted_figures_and_a_recount_of_the_raw_rows(app, scenario):
    with app.app_context():
        assert stats.rollup(days=3, now=NOW) == [D1, D2, D3]
        for day, figures in expected_days(scenario).items():
            assert stored(day) == figures, day
            assert stats.compute_day(day) == figures, day
        assert stored(TODAY) == {}, "today is computed live, never stored"
        assert stats.compute_day(TODAY) == {
            ("new_members", ""): 1, ("active_members", ""): 1, ("checkins", ""): 1, ("newbie_converted", ""): 1,
            ("points_issued", "register"): 500, ("points_spent", "redeem"): 50,
            ("orders", ""): 1, ("orders_points", ""): 50, ("product_units", scenario["cup"]): 1}


def test_a_second_rollup_changes_nothing_and_a_rerun_picks_up_late_changes(app, scenario):
    with app.app_context():
        stats.rollup(days=3, now=NOW)
        count = len(db.session.execute(select(DailyStat)).all())
        stats.rollup(days=3, now=NOW)
        assert len(db.session.execute(select(DailyStat)).all()) == count
        assert stored(D2) == expected_days(scenario)[D2]
        with write_transaction():
            ledger.earn(scenario["a"], 7, "checkin", now=sh(D2, 23, 59))
        stats.rollup(days=2, now=NOW)
        assert stored(D2)[("points_issued", "checkin")] == 17
        assert stored(D1) == expected_days(scenario)[D1], "days outside --days are left alone"


def test_dashboard_sums_the_rollups_and_today_live_against_the_previous_period(app, scenario):
    with app.app_context():
        stats.rollup(days=3, now=NOW)
        board = overview.dashboard(overview.resolve_range("7d", now=NOW), now=NOW)
        assert (board.range.first, board.range.last) == (date(2026, 3, 4), TODAY)
        assert board.range.previous == (date(2026, 2, 25), date(2026, 3, 3))
        figures = {str(f.label): (f.current, f.previous) for f in board.figures}
        assert figures == {
            "新会员": (3, 0), "活跃会员": (3, 0), "签到次数": (4, 0), "发放积分": (1535, 0), "消耗积分": (360, 0),
            "退回积分": (200, 0), "过期积分": (20, 0), "兑换订单": (3, 0), "订单积分": (350, 0),
            "订单现金": (3900, 0), "抽奖次数": (3, 0), "中奖次数": (2, 0), "夺宝开奖期数": (0, 0),
            "新人7日消费转化率": (1000, 0)}
        assert {str(f.label): f.current for f in board.issued} == {"注册礼": 1500, "每日签到": 15, "任务奖励": 20}
        assert {str(f.label): f.current for f in board.spent} == {"积分兑换": 350, "积分抽奖": 10}
        assert sorted(board.top_products) == [("保温杯", 2), ("蓝牙耳机", 2)]
        assert dict(board.series["points_issued"])[D1] == 525
        assert dict(board.series["active_members"])[TODAY] == 1


def test_a_custom_range_compares_with_the_days_just_before_it(app, scenario):
    with app.app_context():
        stats.rollup(days=3, now=NOW)
        rng = overview.resolve_range("custom", D2, D3, now=NOW)
        assert rng.previous == (date(2026, 3, 6), D1)
        figures = {str(f.label): f for f in overview.dashboard(rng, now=NOW).figures}
        assert (figures["新会员"].current, figures["新会员"].previous) == (1, 1)
        # member A is active on both D2 and D3: counted once
        assert (figures["活跃会员"].current, figures["活跃会员"].previous) == (2, 1)
        assert (figures["发放积分"].current, figures["发放积分"].previous) == (510, 525)
        assert figures["发放积分"].change_pct == -3


@pytest.mark.parametrize("start, end", [(None, D2), (D3, D2), (D2, date(2026, 3, 11)), (date(2025, 1, 1), D3)])
def test_an_impossible_custom_range_falls_back_to_seven_days_with_a_reason(app, start, end):
    with app.test_request_context():
        rng = overview.resolve_range("custom", start, end, now=NOW)
        assert rng.key == "7d" and rng.error
        assert (rng.first, rng.last) == (date(2026, 3, 4), TODAY)


def test_newbie_conversion_counts_new_members_who_spent_within_seven_days(app, no_register_gift, make_member):
    quick, late, never, expired_only = (make_member() for _ in range(4))
    with app.app_context():
        with write_transaction() as session:
            for user in (quick, late, never, expired_only):
                session.get(User, user).created_at = sh(D1, 10)
        with write_transaction():
            ledger.earn(quick, 100, "task", now=sh(D1, 10, 1))
            ledger.earn(late, 100, "task", now=sh(D1, 10, 1))
            ledger.earn(expired_only, 100, "task", now=sh(D1, 10, 1), expires_at=sh(D2, 10))
            ledger.spend(quick, 10, "redeem", now=sh(D1 + timedelta(days=6), 10))
            ledger.spend(late, 10, "draw", now=sh(D1 + timedelta(days=8), 10))
        ledger.run_expiry(now=sh(D2, 11))  # losing points is not spending them
        assert stats.newbie_conversion(D1, D1) == (4, 1)
        assert stats.newbie_conversion(D2, D3) == (0, 0)


def test_level_distribution_counts_members_by_growth_now(app, make_member):
    for growth in (0, 4999, 5000, 25000):
        make_member(growth=growth)
    with app.app_context():
        assert [(level.key, n) for level, n in stats.level_distribution()] == [
            ("normal", 2), ("silver", 1), ("gold", 0), ("diamond", 1)]


# --- liability and breakage ---

LNOW = sh(date(2026, 6, 15), 12)


@pytest.fixture()
def months(app, no_register_gift, make_member):
    """Lots earned January to June 2026 with spends and two expiry runs (see each line)."""
    m = make_member()
    with app.app_context():
        steps = [
            lambda: ledger.earn(m, 300, "task", now=sh(date(2026, 1, 10), 12), expires_at=sh(date(2026, 3, 1), 12)),
            lambda: ledger.spend(m, 100, "redeem", now=sh(date(2026, 2, 1), 12)),  # from the January lot
            lambda: ledger.earn(m, 400, "checkin", now=sh(date(2026, 2, 10), 12), expires_at=sh(date(2026, 5, 20), 12)),
            lambda: ledger.earn(m, 1000, "consume", now=sh(date(2026, 3, 5), 12), expires_at=sh(date(2027, 3, 5), 12)),
            lambda: ledger.spend(m, 150, "draw", now=sh(date(2026, 4, 1), 12)),  # from the February lot
            lambda: ledger.earn(m, 250, "packet", now=sh(date(2026, 5, 1), 12), expires_at=sh(date(2026, 8, 10), 12)),
            lambda: ledger.earn(m, 100, "task", now=sh(date(2026, 6, 1), 12), expires_at=sh(date(2026, 6, 10), 12)),
        ]
        for step in steps[:4]:
            with write_transaction():
                step()
        ledger.run_expiry(now=sh(date(2026, 3, 2), 12))  # January lot: 200 left, expired
        for step in steps[4:6]:
            with write_transaction():
                step()
        ledger.run_expiry(now=sh(date(2026, 5, 21), 12))  # February lot: 250 left, expired
        with write_transaction():
            steps[6]()  # June lot: expired on 10 June, not swept yet
            put_setting("points.fen_per_point", 2)
        stats.rollup(days=200, now=LNOW)
        db.session.remove()
    return m


def test_outstanding_points_by_expiry_month_and_their_value_at_the_set_rate(app, months):
    with app.app_context():
        report = liability.liability(now=LNOW)
        assert report.outstanding == ((date(2026, 8, 1), 250), (date(2027, 3, 1), 1000))
        assert report.outstanding_total == 1250
        assert report.fen_per_point == 2 and report.outstanding_value_fen == 2500


def test_issued_redeemed_and_expired_per_month(app, months):
    with app.app_context():
        flows = {f.month: (f.issued, f.redeemed, f.expired) for f in liability.liability(now=LNOW).flows}
        assert len(flows) == 12 and min(flows) == date(2025, 7, 1) and max(flows) == date(2026, 6, 1)
        assert {m: v for m, v in flows.items() if v != (0, 0, 0)} == {
            date(2026, 1, 1): (300, 0, 0), date(2026, 2, 1): (400, 100, 0), date(2026, 3, 1): (1000, 0, 200),
            date(2026, 4, 1): (0, 150, 0), date(2026, 5, 1): (250, 0, 250), date(2026, 6, 1): (100, 0, 0)}


def test_breakage_is_what_lots_past_their_expiry_lost_over_what_they_held(app, months):
    with app.app_context():
        report = liability.liability(now=LNOW)
        # lots past expiry: 300 + 400 + 100 = 800; lost: 200 + 250 expired, 100 not yet swept
        assert (report.lots_run_out_points, report.lots_run_out_expired) == (800, 550)
        assert report.breakage_permille == 687


def test_no_lots_no_breakage(app):
    with app.app_context():
        report = liability.liability(now=LNOW)
        assert report.outstanding == () and report.breakage_permille is None
        assert db.session.execute(select(PointEntry)).first() is None
