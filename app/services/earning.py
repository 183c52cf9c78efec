"""Pieces every earning source shares: its rule from settings, the member lock, capped counters."""
from sqlalchemy import bindparam, select, update
from sqlalchemy.exc import IntegrityError

from app.extensions import db
from app.models import EarnQuota
from app.services import cache as shared_cache
from app.services.settings import DEFAULTS, get_setting
from app.services.tx import execute_rows, in_write_transaction


def rule(key):
    """An earning source's settings: the operator's values over the defaults (missing keys filled)."""
    stored = get_setting(key)
    default = DEFAULTS.get(key) or {}
    if isinstance(stored, dict):
        return {**default, **stored}
    return dict(default)


def source_enabled(key):
    """Whether operators have this earning source switched on."""
    return bool(rule(key).get("enabled"))


def take_quota(scope, subject, period, limit):
    """Use one unit of a capped counter; False when `limit` units are already used.

    The row is created if missing (a concurrent creator makes ours a no-op), then taken by
    a guarded UPDATE, so concurrent requests never exceed the limit.
    """
    assert in_write_transaction(), "take_quota needs write_transaction()"
    session = db.session
    subject = str(subject)
    if session.get(EarnQuota, (scope, subject, period)) is None:
        try:
            with session.begin_nested():
                session.add(EarnQuota(scope=scope, subject=subject, period=period, used=0))
        except IntegrityError:
            pass  # a concurrent request created the row first; take it below
    taken = session.execute(
        update(EarnQuota)
        .where(EarnQuota.scope == scope, EarnQuota.subject == subject, EarnQuota.period == period,
               EarnQuota.used < limit)
        .values(used=EarnQuota.used + 1)
        .returning(EarnQuota.used)
        .execution_options(synchronize_session=False)
    ).scalar_one_or_none()
    return taken is not None


# Counters are kept by subject (a member's make-ups: their id), so a member's own page is rendered
# again when their counters move, not at every check-in anyone makes.
shared_cache.watch_rows("earn_quotas", key="subject")


def quota_used(scope, subject, period):
    """How many units of a counter are used (0 if never touched)."""
    used = execute_rows(_USED, {"p_scope": scope, "p_subject": str(subject), "p_period": period}
                        ).scalar_one_or_none()
    return used or 0


_USED = select(EarnQuota.used).where(  # built once: pages read counters on every view
    EarnQuota.scope == bindparam("p_scope"), EarnQuota.subject == bindparam("p_subject"),
    EarnQuota.period == bindparam("p_period"))


def double_points_days():
    """The operator's double-points days as ISO dates (YYYY-MM-DD), sorted."""
    return sorted(str(day) for day in (get_setting("double_points.days") or []))


def is_double_points_day(day):
    """Whether boosted earnings are multiplied on this Shanghai day."""
    return day.isoformat() in double_points_days()


def upcoming_double_points_days(today, limit=5):
    """The next double-points days from today on."""
    return [day for day in double_points_days() if day >= today.isoformat()][:limit]
