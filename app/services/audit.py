"""The audit log: every operator action, written in the action's own transaction."""
import json
from dataclasses import dataclass

from flask import has_request_context, request
from sqlalchemy import or_, select

from app.extensions import db
from app.models import AuditLog, User
from app.services.clock import day_bounds_utc
from app.services.listing import paginate


def record(actor_id, action, target=None, **detail):
    """Add an audit row to the caller's transaction."""
    ip = request.remote_addr if has_request_context() else None
    db.session.add(AuditLog(actor_id=actor_id, action=action, target=target, detail=detail or None, ip=ip))


def history(target, limit=10):
    """The newest audit rows about one object ("user:12", "merchant:3"), newest first."""
    return db.session.execute(
        select(AuditLog).where(AuditLog.target == target).order_by(AuditLog.id.desc()).limit(limit)
    ).scalars().all()


def search(*, actor_id=None, action=None, target=None, day_from=None, day_to=None, number=1):
    """One page of the log, newest first. action: an exact action or a prefix ending in "."
    ("merchant." for every merchant action); target: an exact object ("user:12") or, without a
    colon, every object of a kind ("merchant"); days: Shanghai calendar days, both included."""
    stmt = select(AuditLog)
    if actor_id is not None:
        stmt = stmt.where(AuditLog.actor_id == actor_id)
    if action:
        stmt = stmt.where(AuditLog.action.startswith(action, autoescape=True) if action.endswith(".")
                          else AuditLog.action == action)
    if target:
        stmt = stmt.where(AuditLog.target == target if ":" in target
                          else AuditLog.target.startswith(f"{target}:", autoescape=True))
    if day_from is not None:
        stmt = stmt.where(AuditLog.created_at >= day_bounds_utc(day_from)[0])
    if day_to is not None:
        stmt = stmt.where(AuditLog.created_at < day_bounds_utc(day_to)[1])
    return paginate(stmt.order_by(AuditLog.id.desc()), number)


def known_actions():
    """Every action the log holds, for the filter's choices."""
    return db.session.execute(select(AuditLog.action).distinct().order_by(AuditLog.action)).scalars().all()


def actors():
    """Every account that has an audit row or is an operator, for the filter's choices."""
    logged = select(AuditLog.actor_id).where(AuditLog.actor_id.is_not(None)).distinct()
    return db.session.execute(
        select(User).where(or_(User.role == "operator", User.id.in_(logged))).order_by(User.id)
    ).scalars().all()


@dataclass(frozen=True)
class Shown:
    """An audit row's detail laid out for the log page: changed fields side by side
    (field, before, after), and every other detail key as (key, value); values as text."""

    changes: list
    extra: list


def _text(value):
    if value is None:
        return "—"
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)


def shown(detail):
    """Lay out any stored detail: {"before": {...}, "after": {...}, ...} as the convention says, and
    whatever else other code wrote (no before/after, one side only, non-dict sides, a list, a string)."""
    if not isinstance(detail, dict):
        return Shown([], [] if detail is None else [("", _text(detail))])
    before, after = detail.get("before"), detail.get("after")
    before_map = before if isinstance(before, dict) else {}
    after_map = after if isinstance(after, dict) else {}
    changes = [(str(key), _text(before_map[key]) if key in before_map else "",
                _text(after_map[key]) if key in after_map else "")
               for key in dict.fromkeys([*before_map, *after_map])]
    # A side that is not a dict (a list, a number, text) is shown whole on its own row.
    loose_before = _text(before) if before is not None and not isinstance(before, dict) else ""
    loose_after = _text(after) if after is not None and not isinstance(after, dict) else ""
    if loose_before or loose_after:
        changes.append(("", loose_before, loose_after))
    extra = [(str(key), _text(value)) for key, value in detail.items() if key not in ("before", "after")]
    return Shown(changes, extra)


@dataclass(frozen=True)
class Row:
    """An audit entry as the console shows it: who (the account, None if gone), and its detail laid out."""

    entry: AuditLog
    actor: User | None
    detail: Shown


def present(entries):
    """Audit entries ready for the console's tables (one query for the accounts named)."""
    actor_ids = {entry.actor_id for entry in entries if entry.actor_id is not None}
    accounts = {user.id: user for user in db.session.execute(
        select(User).where(User.id.in_(actor_ids))).scalars()} if actor_ids else {}
    return [Row(entry, accounts.get(entry.actor_id), shown(entry.detail)) for entry in entries]
