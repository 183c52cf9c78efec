"""Check-in: streaks read off the calendar, rewards cycling after day 7, make-up limits."""
from datetime import date, datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.models import CheckIn, PointEntry, User
from app.services import checkin, ledger
from app.services.clock import shanghai_today
from app.services.errors import AlreadyDone, DomainError, InsufficientPoints
from app.services.settings import put_setting
from app.services.tx import write_transaction
from tests.conftest import balance_of

JOINED = datetime(2025, 1, 1, 4, tzinfo=timezone.utc)  # registered long before the dates used below


@pytest.fixture()
def member(db, make_member):
    user_id = make_member(created_at=JOINED)
    return user_id


def _check_in_days(user_id, *days):
    return [checkin.check_in(user_id, today=day) for day in days]


def _days(start, n):
    return [start + timedelta(days=i) for i in range(n)]


def test_rewards_follow_the_table_and_cycle_after_day_seven(member):
    rows = _check_in_days(member, *_days(date(2026, 3, 1), 9))
    assert [r.points for r in rows] == [5, 5, 10, 10, 15, 15, 30, 5, 5]
    assert [r.streak_day for r in rows] == [1, 2, 3, 4, 5, 6, 7, 8, 9]
    assert balance_of(member) == 500 + 100


def test_a_missed_day_resets_the_streak(member):
    _check_in_days(member, date(2026, 3, 1), date(2026, 3, 2), date(2026, 3, 3))
    row = checkin.check_in(member, today=date(2026, 3, 5))  # the 4th was missed
    assert row.streak_day == 1 and row.points == 5
    assert checkin.current_streak(member, date(2026, 3, 5)) == (1, True)
    assert checkin.current_streak(member, date(2026, 3, 6)) == (1, False)
    assert checkin.current_streak(member, date(2026, 3, 7)) == (0, False)


@pytest.mark.parametrize("start", [
    date(2026, 1, 28),   # across January's end
    date(2026, 2, 25),   # across a 28-day February
    date(2028, 2, 26),   # across a leap-year February 29
    date(2025, 12, 29),  # across the year end
])
def test_streaks_run_across_month_and_year_ends(member, start):
    rows = _check_in_days(member, *_days(start, 7))
    assert [r.streak_day for r in rows] == list(range(1, 8))
    assert rows[-1].points == 30
    assert checkin.streak_through(member, start + timedelta(days=6)) == 7


def test_a_day_missed_at_the_month_end_resets_the_streak(member):
    _check_in_days(member, date(2026, 1, 29), date(2026, 1, 30))  # 31 January missed
    row = checkin.check_in(member, today=date(2026, 2, 1))
    assert row.streak_day == 1 and row.points == 5
    assert checkin.current_streak(member, date(2026, 2, 2)) == (1, False)


def test_the_day_is_the_shanghai_calendar_day(member):
    late = datetime(2026, 3, 1, 15, 59, tzinfo=timezone.utc)   # 23:59 on 1 March in Shanghai
    early = datetime(2026, 3, 1, 16, 1, tzinfo=timezone.utc)   # 00:01 on 2 March in Shanghai
    first, second = checkin.check_in(member, now=late), checkin.check_in(member, now=early)
    assert (first.day, second.day) == (date(2026, 3, 1), date(2026, 3, 2))
    assert second.streak_day == 2
    with pytest.raises(AlreadyDone):  # 00:30 UTC on 2 March is still 2 March in Shanghai
        checkin.check_in(member, now=datetime(2026, 3, 2, 0, 30, tzinfo=timezone.utc))


def test_make_up_reaches_back_across_the_month_end(member):
    today = date(2026, 3, 2)
    _check_in_days(member, date(2026, 2, 25), date(2026, 2, 26), date(2026, 2, 28), date(2026, 3, 1))
    assert checkin.current_streak(member, today) == (2, False)  # 27 February was missed
    with pytest.raises(DomainError, match="最近7天"):
        checkin.make_up(member, date(2026, 2, 22), today=today)  # 8 days back
    checkin.make_up(member, date(2026, 2, 27), today=today)
    assert checkin.current_streak(member, today) == (5, False)
    assert checkin.check_in(member, today=today).streak_day == 6
    assert checkin.makeups_left(member, today) == 1  # counted in March, the month it was used
    assert checkin.makeups_left(member, date(2026, 2, 28)) == 2


def test_a_long_streak_is_read_past_one_query_chunk(member):
    start = date(2025, 6, 1)
    with write_transaction() as session:
        for i in range(150):
            session.add(CheckIn(user_id=member, day=start + timedelta(days=i), points=5, streak_day=i + 1))
    row = checkin.check_in(member, today=start + timedelta(days=150))
    assert row.streak_day == 151 and row.points == checkin.reward_for(151) == 10  # 151 = 21 weeks + 4


def test_checking_in_twice_the_same_day_is_refused_and_pays_once(member):
    checkin.check_in(member, today=date(2026, 3, 1))
    with pytest.raises(AlreadyDone):
        checkin.check_in(member, today=date(2026, 3, 1))
    assert db.session.execute(select(func.count()).select_from(CheckIn)).scalar() == 1
    assert balance_of(member) == 505


def test_operators_change_the_table_and_can_turn_check_in_off(member):
    with write_transaction():
        put_setting("earn.checkin", {"enabled": True, "rewards": [1, 2, 3]})
    rows = _check_in_days(member, *_days(date(2026, 3, 1), 4))
    assert [r.points for r in rows] == [1, 2, 3, 1]
    with write_transaction():
        put_setting("earn.checkin", {"enabled": False, "rewards": [1, 2, 3]})
    with pytest.raises(DomainError, match="暂未开放"):
        checkin.check_in(member, today=date(2026, 3, 5))


def test_level_multiplier_and_double_points_day_apply(member, db):
    with write_transaction() as session:
        session.get(User, member).growth = 5000  # silver: 110%
    assert checkin.check_in(member, today=date(2026, 3, 1)).points == 5  # 5 * 1.1 rounds down to 5
    with write_transaction():
        put_setting("double_points.days", [shanghai_today().isoformat()])
    # The double day is decided by the real clock of the earning: 10 * 1.1 * 2 on day 3.
    checkin.check_in(member, today=date(2026, 3, 2))
    assert checkin.check_in(member, today=date(2026, 3, 3)).points == 22


def test_make_up_fills_a_missed_day_and_the_streak_continues(member):
    today = date(2026, 3, 10)
    _check_in_days(member, date(2026, 3, 6), date(2026, 3, 7), date(2026, 3, 9))  # the 8th missed
    assert checkin.current_streak(member, today) == (1, False)
    row = checkin.make_up(member, date(2026, 3, 8), today=today)
    assert row.kind == "makeup" and row.streak_day == 3
    assert checkin.current_streak(member, today) == (4, False)
    assert checkin.check_in(member, today=today).streak_day == 5
    spent = db.session.execute(select(PointEntry).where(PointEntry.user_id == member, PointEntry.kind == "makeup")).scalar_one()
    assert spent.amount == -20 and spent.key == "makeup:2026-03-08"


@pytest.mark.parametrize("day, message", [
    (date(2026, 3, 10), "最近7天"),  # today: not a missed day
    (date(2026, 3, 11), "最近7天"),  # the future
    (date(2026, 3, 2), "最近7天"),   # 8 days ago: outside the window
])
def test_make_up_only_inside_the_window(member, day, message):
    with pytest.raises(DomainError, match=message) as caught:
        checkin.make_up(member, day, today=date(2026, 3, 10))
    assert caught.value.field == "day"
    assert balance_of(member) == 500


def test_make_up_before_registration_is_refused(db, make_member):
    user_id = make_member(created_at=datetime(2026, 3, 8, 2, tzinfo=timezone.utc))  # 10:00 Shanghai, 8 March
    with pytest.raises(DomainError, match="注册以来"):
        checkin.make_up(user_id, date(2026, 3, 7), today=date(2026, 3, 10))
    assert checkin.make_up(user_id, date(2026, 3, 8), today=date(2026, 3, 10)).kind == "makeup"


def test_make_up_of_a_checked_day_is_refused(member):
    checkin.check_in(member, today=date(2026, 3, 8))
    with pytest.raises(AlreadyDone):
        checkin.make_up(member, date(2026, 3, 8), today=date(2026, 3, 10))
    assert balance_of(member) == 505


def test_make_ups_are_limited_per_month_and_the_count_restarts_next_month(member):
    checkin.make_up(member, date(2026, 3, 20), today=date(2026, 3, 25))
    checkin.make_up(member, date(2026, 3, 21), today=date(2026, 3, 25))
    assert checkin.makeups_left(member, date(2026, 3, 25)) == 0
    with pytest.raises(DomainError, match="本月补签次数已用完"):
        checkin.make_up(member, date(2026, 3, 22), today=date(2026, 3, 25))
    assert db.session.execute(select(func.count()).select_from(CheckIn)).scalar() == 2  # nothing half-done
    assert balance_of(member) == 460
    # A new month: two more (a day of the previous month inside the window counts for April).
    checkin.make_up(member, date(2026, 3, 30), today=date(2026, 4, 2))
    assert checkin.makeups_left(member, date(2026, 4, 2)) == 1


def test_make_up_without_enough_points_changes_nothing(db, make_member):
    user_id = make_member(created_at=JOINED)
    with write_transaction():
        ledger.spend(user_id, 490, "adjust", note="test")
    with pytest.raises(InsufficientPoints, match="补签需要20积分"):
        checkin.make_up(user_id, date(2026, 3, 8), today=date(2026, 3, 10))
    assert checkin.makeups_left(user_id, date(2026, 3, 10)) == 2
    assert db.session.execute(select(func.count()).select_from(CheckIn)).scalar() == 0
    assert balance_of(user_id) == 10


def test_make_up_can_be_switched_off(member):
    with write_transaction():
        put_setting("earn.makeup", {"enabled": False})
    with pytest.raises(DomainError, match="补签暂未开放"):
        checkin.make_up(member, date(2026, 3, 8), today=date(2026, 3, 10))


def test_month_view_marks_each_day(member):
    today = date(2026, 3, 10)
    _check_in_days(member, date(2026, 3, 1), date(2026, 3, 2))
    checkin.make_up(member, date(2026, 3, 5), today=today)
    view = checkin.month_view(member, date(2026, 3, 1), joined=date(2025, 1, 1), today=today)
    cells = {cell.day.day: cell for week in view.weeks for cell in week if cell}
    assert view.weeks[0][:6] == [None] * 6  # 1 March 2026 is a Sunday; weeks start on Monday
    assert cells[1].state == "checked" and cells[1].points == 5
    assert cells[5].state == "makeup"
    assert cells[3].state == cells[4].state == cells[9].state == "can_makeup"
    assert cells[10].state == "today" and cells[11].state == "future"
    assert len(cells) == 31 and all(len(week) == 7 for week in view.weeks)
    assert view.next_month is None and view.prev_month == date(2026, 2, 1)
    earlier = checkin.month_view(member, date(2026, 2, 1), joined=date(2025, 1, 1), today=today)
    assert {c.state for w in earlier.weeks for c in w if c} == {"missed"}  # outside the window


def test_month_view_stops_at_the_registration_month(db, make_member):
    user_id = make_member(created_at=datetime(2026, 3, 8, 2, tzinfo=timezone.utc))
    view = checkin.month_view(user_id, date(2026, 3, 1), joined=date(2026, 3, 8), today=date(2026, 3, 10))
    cells = {cell.day.day: cell for week in view.weeks for cell in week if cell}
    assert cells[7].state == "before_join" and cells[8].state == "can_makeup"
    assert view.prev_month is None


@pytest.mark.parametrize("text, expected", [
    ("2026-03", date(2026, 3, 1)), ("2025-12", date(2025, 12, 1)),
    ("2026-04", None), ("2026-13", None), ("2026-3", None), ("abc", None), ("1999-01", None), ("", None),
    ("99999999999999999999-01", None), ("2026-99999999999999999999", None),  # int() takes them; date() overflowed
    ("２０２６-０３", None), ("2026-00", None), (None, None),
])
def test_parse_month(text, expected):
    assert checkin.parse_month(text, date(2026, 3, 10)) == expected


def test_status_reports_the_cycle_and_next_reward(member):
    _check_in_days(member, *_days(date(2026, 3, 1), 3))
    state = checkin.status(member, today=date(2026, 3, 3))
    assert state.checked_today and state.streak == 3 and state.today_points == 10
    assert [s for _, _, s in state.cycle] == ["done"] * 3 + ["next"] + ["todo"] * 3
    assert state.next_reward == 10  # day 4
    tomorrow = checkin.status(member, today=date(2026, 3, 4))
    assert not tomorrow.checked_today and tomorrow.streak == 3 and tomorrow.next_reward == 10


def test_the_calendar_read_with_the_status_matches_the_calendar_read_alone(member):
    start, today = date(2026, 1, 1), date(2026, 3, 20)
    with write_transaction() as session:  # 78 days with gaps: more than the status reads at once
        for i in range(79):
            if i % 9:
                session.add(CheckIn(user_id=member, day=start + timedelta(days=i), points=i, streak_day=1))
    state = checkin.status(member, today=today)
    for first in (date(2026, 3, 1), date(2026, 2, 1), date(2026, 1, 1), date(2025, 12, 1)):
        alone = checkin.month_view(member, first, joined=date(2025, 1, 1), today=today)
        shared = checkin.month_view(member, first, joined=date(2025, 1, 1), today=today, recent=state.recent)
        assert shared == alone
        assert shared.checked_days == sum(1 for i in range(79) if i % 9 and (start + timedelta(days=i)).month ==
                                          first.month and first.year == 2026)
