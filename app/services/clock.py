"""Time in one place: UTC in the database, Asia/Shanghai for 'today' and for display."""
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

SHANGHAI = ZoneInfo("Asia/Shanghai")


def utcnow():
    """Aware UTC now."""
    return datetime.now(timezone.utc)


def shanghai_today(now=None):
    """The Shanghai calendar day, which decides check-ins and daily limits."""
    return (now or utcnow()).astimezone(SHANGHAI).date()


def day_bounds_utc(day):
    """The UTC instants at which a Shanghai calendar day starts and ends."""
    start = datetime.combine(day, time.min, tzinfo=SHANGHAI)
    return start.astimezone(timezone.utc), (start + timedelta(days=1)).astimezone(timezone.utc)


def next_midnight(now=None):
    """The UTC instant the next Shanghai day starts: when what is counted per day starts again."""
    return day_bounds_utc(shanghai_today(now))[1]


def month_bounds_utc(day):
    """The UTC instants bounding the Shanghai calendar month containing `day`."""
    first = day.replace(day=1)
    nxt = add_months(first, 1)
    return day_bounds_utc(first)[0], day_bounds_utc(nxt)[0]


def add_months(value, months):
    """Calendar month arithmetic for dates and datetimes; the day is clamped (Jan 31 + 1 = Feb 28/29)."""
    month_index = value.month - 1 + months
    year = value.year + month_index // 12
    month = month_index % 12 + 1
    days_in_month = [31, 29 if _leap(year) else 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]
    return value.replace(year=year, month=month, day=min(value.day, days_in_month[month - 1]))


def _leap(year):
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)


def to_shanghai(value):
    """An aware datetime shown in Shanghai time."""
    return value.astimezone(SHANGHAI) if value else value


__all__ = ["SHANGHAI", "add_months", "date", "day_bounds_utc", "month_bounds_utc", "shanghai_today", "to_shanghai", "utcnow"]
