"""Daily check-in (签到): one per member per Shanghai day, streak rewards, make-up, the month calendar.

The streak is read off the calendar (the `checkins` rows) on the server: the run of
consecutive checked-in days ending today. A missed day ends the run; nothing a client
sends can extend it. Rewards come from the operator's table, cycling after its last day.
"""
import re
from dataclasses import dataclass, field
from datetime import date, timedelta

from flask_babel import gettext as _
from flask_babel import ngettext
from sqlalchemy import bindparam, select
from sqlalchemy.exc import IntegrityError

from app.extensions import db
from app.models import CheckIn, User
from app.services import cache as shared_cache
from app.services import ledger, spend_quotes
from app.services.clock import add_months, next_midnight, shanghai_today, utcnow
from app.services.earning import quota_used, rule, take_quota
from app.services.errors import AlreadyDone, DomainError, InsufficientPoints
from app.services.members import lock_member
from app.services.tx import execute_rows, keep_loaded, write_transaction

_CHUNK = 64  # days read per query while walking a streak back
shared_cache.watch_rows("checkins", key="user_id")  # a member's check-ins, kept apart from everyone else's
DEFAULT_REWARDS = (5, 5, 10, 10, 15, 15, 30)


def reward_table():
    """The operator's reward per streak day (day 1, day 2, ...), positive whole points."""
    table = [int(n) for n in (rule("earn.checkin").get("rewards") or []) if int(n) > 0]
    return table or list(DEFAULT_REWARDS)


def reward_for(streak):
    """Points for the `streak`-th consecutive day (1-based), before level and double-day boosts."""
    table = reward_table()
    return table[(max(streak, 1) - 1) % len(table)]


def streak_through(user_id, day):
    """Consecutive checked-in days ending at `day` (0 when `day` itself is not checked in)."""
    return _run(user_id, day)[0]


def current_streak(user_id, today):
    """(streak, checked_in_today): the run through today, or through yesterday if not yet in."""
    return _run(user_id, today, or_day_before=True)


def _recent(user_id, through):
    """The member's latest check-ins up to `through`, newest first, as (day, kind, points) rows:
    one chunk of the calendar (what a streak walks first and a recent month shows)."""
    return execute_rows(_RECENT, {"p_user": user_id, "p_through": through}).all()


_RECENT = (select(CheckIn.day, CheckIn.kind, CheckIn.points)  # built once: every view and check-in reads it
           .where(CheckIn.user_id == bindparam("p_user"), CheckIn.day <= bindparam("p_through"))
           .order_by(CheckIn.day.desc()).limit(_CHUNK))


def _run(user_id, day, *, or_day_before=False, first_chunk=None):
    """(length of the run of check-ins ending at `day`, whether `day` is in it); with or_day_before,
    a `day` not checked in counts the run ending the day before instead (one query per 64 days;
    `first_chunk`, the _recent() rows through `day`, saves the first)."""
    count, expected, on_day = 0, day, True
    while True:
        days = [row.day for row in (first_chunk if first_chunk is not None else _recent(user_id, expected))]
        first_chunk = None
        for checked in days:
            if count == 0 and on_day and checked != expected and or_day_before:
                on_day, expected = False, expected - timedelta(days=1)
            if checked != expected:
                return count, on_day and count > 0
            count += 1
            expected -= timedelta(days=1)
        if len(days) < _CHUNK:
            return count, on_day and count > 0


def _insert_day(user_id, day, kind, message):
    """Insert the day's row; the unique (user_id, day) turns a second attempt into AlreadyDone."""
    session = db.session
    row = CheckIn(user_id=user_id, day=day, kind=kind)
    try:
        with session.begin_nested():
            session.add(row)
    except IntegrityError as exc:
        raise AlreadyDone(message) from exc
    return row


def check_in(user_id, *, today=None, now=None):
    """Check the member in for today (Shanghai) and pay the streak reward. Returns the CheckIn.

    Raises AlreadyDone on a second check-in the same day, however the requests arrive.
    """
    now = now or utcnow()
    today = today or shanghai_today(now)
    if not rule("earn.checkin").get("enabled"):
        raise DomainError(_("签到活动暂未开放"))
    with write_transaction():
        lock_member(user_id)
        row = _insert_day(user_id, today, "normal", _("今天已经签到过了，明天再来吧"))
        row.streak_day = streak_through(user_id, today)
        entry = ledger.earn(user_id, reward_for(row.streak_day), "checkin", key=f"checkin:{today.isoformat()}",
                            ref=f"checkin:{today.isoformat()}", boost=True, now=now)
        row.points = entry.amount if entry is not None else 0
        keep_loaded(row)
    return row


def makeup_rules():
    """Make-up rules with whole numbers: enabled, cost, per_month, window_days."""
    rules = rule("earn.makeup")
    return {
        "enabled": bool(rules.get("enabled")) and bool(rule("earn.checkin").get("enabled")),
        "cost": max(int(rules.get("cost") or 0), 0),
        "per_month": max(int(rules.get("per_month") or 0), 0),
        "window_days": max(int(rules.get("window_days") or 0), 0),
    }


def _month_key(day):
    return day.strftime("%Y-%m")


def makeups_left(user_id, today):
    """Make-ups the member may still use in today's month."""
    return max(makeup_rules()["per_month"] - quota_used("makeup", user_id, _month_key(today)), 0)


def can_make_up(day, today, joined):
    """Whether `day` lies inside the make-up window: after joining, within the last N days."""
    window = makeup_rules()["window_days"]
    return joined <= day < today and (today - day).days <= window


def quote_make_up(user_id, day, *, today=None):
    """Check what make_up would check and price it, changing nothing (for the confirmation sheet)."""
    today = today or shanghai_today()
    rules = makeup_rules()
    if not rules["enabled"]:
        raise DomainError(_("补签暂未开放"))
    member = db.session.get(User, user_id)
    if not can_make_up(day, today, shanghai_today(member.created_at)):
        raise DomainError(ngettext("只能补签注册以来、最近%(num)d天内漏签的日子", "只能补签注册以来、最近%(num)d天内漏签的日子",
                                   rules["window_days"]), field="day")
    if db.session.execute(select(CheckIn.id).where(CheckIn.user_id == user_id, CheckIn.day == day)).first():
        raise DomainError(_("这一天已经签到过了"))
    if makeups_left(user_id, today) <= 0:
        raise DomainError(_("本月补签次数已用完（每月%(n)d次）", n=rules["per_month"]))
    return spend_quotes.quote(user_id, _("补签 %(day)s", day=day.strftime("%m-%d")), rules["cost"],
                              ngettext("补签需要%(num)d积分，积分不足", "补签需要%(num)d积分，积分不足", rules["cost"]))


def make_up(user_id, day, *, today=None, now=None):
    """Fill a missed day within the window for points (补签), within the monthly limit.

    The day's row, the monthly counter and the charge land together or not at all.
    """
    now = now or utcnow()
    today = today or shanghai_today(now)
    rules = makeup_rules()
    if not rules["enabled"]:
        raise DomainError(_("补签暂未开放"))
    with write_transaction():
        member = lock_member(user_id)
        if not can_make_up(day, today, shanghai_today(member.created_at)):
            raise DomainError(ngettext("只能补签注册以来、最近%(num)d天内漏签的日子", "只能补签注册以来、最近%(num)d天内漏签的日子",
                                       rules["window_days"]), field="day")
        row = _insert_day(user_id, day, "makeup", _("这一天已经签到过了"))
        if not take_quota("makeup", user_id, _month_key(today), rules["per_month"]):
            raise DomainError(_("本月补签次数已用完（每月%(n)d次）", n=rules["per_month"]))
        if rules["cost"]:
            try:
                ledger.spend(user_id, rules["cost"], "makeup", key=f"makeup:{day.isoformat()}",
                             ref=f"checkin:{day.isoformat()}", now=now)
            except InsufficientPoints as exc:
                raise InsufficientPoints(ngettext("补签需要%(num)d积分，积分不足", "补签需要%(num)d积分，积分不足", rules["cost"])) from exc
        row.streak_day = streak_through(user_id, day)
    return row


@dataclass
class Cell:
    day: date
    state: str  # checked | makeup | today | can_makeup | missed | future | before_join
    points: int = 0


@dataclass
class MonthView:
    first: date
    weeks: list
    prev_month: date | None
    next_month: date | None
    checked_days: int = 0


@dataclass
class Status:
    today: date
    checked_today: bool
    streak: int
    today_points: int
    next_reward: int  # what the next check-in pays, with the member's level and today's double points
    cycle: list = field(default_factory=list)  # (day_no, points, state) for the reward strip
    makeups_left: int = 0
    makeup_cost: int = 0
    makeup_enabled: bool = False
    enabled: bool = True
    recent: list = field(default_factory=list, repr=False)  # the latest check-ins read (see _recent)


def status(user_id, *, growth=0, today=None):
    """What the check-in panel shows: today's state, streak, the reward strip, make-ups left."""
    today = today or shanghai_today()
    recent = _recent(user_id, today)
    streak, checked = _run(user_id, today, or_day_before=True, first_chunk=recent)
    table = reward_table()
    done_in_cycle = (streak - 1) % len(table) + 1 if checked else streak % len(table)
    cycle = [(i + 1, points, "done" if i < done_in_cycle else ("next" if i == done_in_cycle else "todo"))
             for i, points in enumerate(table)]
    rules = makeup_rules()
    return Status(
        today=today, checked_today=checked, streak=streak,
        today_points=recent[0].points if checked else 0,
        next_reward=ledger.boosted_amount(reward_for(streak + 1), growth,
                                          utcnow() + timedelta(days=1) if checked else None),
        cycle=cycle,
        makeups_left=makeups_left(user_id, today), makeup_cost=rules["cost"],
        makeup_enabled=rules["enabled"], enabled=bool(rule("earn.checkin").get("enabled")), recent=recent,
    )


def panel_kept(user_id, now=None):
    """What a member's check-in panel is read from, and until when it holds: (tables, until) - the
    rules, their account, check-ins and make-up counter; a new day starts at midnight."""
    return (("settings", shared_cache.rows_of("users", user_id), shared_cache.rows_of("checkins", user_id),
             shared_cache.rows_of("earn_quotas", user_id)), next_midnight(now))


_MONTH_RE = re.compile(r"([0-9]{4})-([0-9]{2})")


def parse_month(text, today):
    """A 'YYYY-MM' query value as the first of that month; None if malformed or in the future."""
    match = _MONTH_RE.fullmatch(text) if isinstance(text, str) else None
    if match is None:  # checked first: int() takes "99999999999999999999", which date() overflows on
        return None
    year, month = int(match.group(1)), int(match.group(2))
    if year < 2000 or not 1 <= month <= 12 or date(year, month, 1) > today.replace(day=1):
        return None
    return date(year, month, 1)


def month_view(user_id, first, *, joined, today=None, makeups_left_now=None, recent=None):
    """The calendar of the month starting `first`, Monday-first weeks, each day's state.
    `recent` (Status.recent, read through today) is used when it holds the whole month."""
    today = today or shanghai_today()
    first = first.replace(day=1)
    following = add_months(first, 1)
    if recent is not None and (len(recent) < _CHUNK or recent[-1].day <= first):
        rows = {r.day: r for r in recent if first <= r.day < following}
    else:
        rows = {r.day: r for r in db.session.execute(
            select(CheckIn.day, CheckIn.kind, CheckIn.points)
            .where(CheckIn.user_id == user_id, CheckIn.day >= first, CheckIn.day < following)
        )}
    if makeups_left_now is None:
        makeups_left_now = makeups_left(user_id, today)
    may_make_up = makeup_rules()["enabled"] and makeups_left_now > 0
    cells = [None] * first.weekday()
    day = first
    while day < following:
        cells.append(_cell(day, rows.get(day), today, joined, may_make_up))
        day += timedelta(days=1)
    cells += [None] * (-len(cells) % 7)
    weeks = [cells[i:i + 7] for i in range(0, len(cells), 7)]
    joined_month = joined.replace(day=1)
    return MonthView(
        first=first, weeks=weeks,
        prev_month=add_months(first, -1) if first > joined_month else None,
        next_month=following if following <= today else None,
        checked_days=len(rows),
    )


def _cell(day, row, today, joined, may_make_up):
    if row is not None:
        return Cell(day, "checked" if row.kind == "normal" else "makeup", row.points)
    if day == today:
        return Cell(day, "today")
    if day > today:
        return Cell(day, "future")
    if day < joined:
        return Cell(day, "before_join")
    if may_make_up and can_make_up(day, today, joined):
        return Cell(day, "can_makeup")
    return Cell(day, "missed")


__all__ = [
    "Cell", "MonthView", "Status", "can_make_up", "check_in", "current_streak", "make_up", "makeup_rules",
    "makeups_left", "month_view", "parse_month", "quote_make_up", "reward_for", "reward_table", "status", "streak_through",
]
