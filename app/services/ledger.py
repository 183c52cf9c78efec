"""The points ledger: the one way points move.

Primitives here (`earn`, `spend`, `refund`, `expire_member_lots`) run inside the caller's
`write_transaction()` and never commit: the use case that calls them owns the
transaction, so an order and its charge, or a check-in and its reward, land together.

Every primitive first locks the member's row (FOR UPDATE on PostgreSQL; SQLite's
BEGIN IMMEDIATE already serialises writers), so all of one member's ledger work is
serialised; balances and lots then change through guarded UPDATEs that the CHECK
constraints back up. Invariant, checked by `reconcile()`:
    users.points_balance == SUM(point_entries.amount) == SUM(point_lots.remaining)
"""
from dataclasses import dataclass

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import bindparam, func, insert, select, text, update

from app.extensions import db
from app.models import PointAllocation, PointEntry, PointLot, User
from app.services.clock import add_months, shanghai_today, utcnow
from app.services.errors import InsufficientPoints, NotFound
from app.services.ids import is_db_id
from app.services import cache as shared_cache
from app.services import messages
from app.services.levels import level_for
from app.services.members import (hold_member_lock, holds_member_lock, known_growth, lock_member, note_growth,
                                  outside_savepoint, transaction_memo)
from app.services.phrases import phrase_text, split_text
from app.services.settings import get_setting
from app.services.tx import add_row, execute_rows, in_write_transaction, write_transaction

# What each kind of entry is called on the member's statement. Add new kinds here.
KIND_LABELS = {
    "register": _l("注册礼"),
    "checkin": _l("每日签到"),
    "makeup": _l("补签"),
    "task": _l("任务奖励"),
    "invite": _l("邀请奖励"),
    "consume": _l("消费积分"),
    "packet": _l("领取积分"),
    "birthday": _l("生日礼"),
    "prize": _l("抽奖中奖"),
    "treasure": _l("积分夺宝"),
    "treasure_win": _l("夺宝中奖"),
    "adjust": _l("系统调整"),
    "redeem": _l("积分兑换"),
    "draw": _l("积分抽奖"),
    "expire": _l("积分过期"),
    "refund": _l("积分退回"),
}


def kind_label(kind):
    """The member-facing name of an entry kind."""
    label = KIND_LABELS.get(kind)
    return str(label) if label is not None else kind


def _note(note):
    """An entry's note: free text (a product or prize name, an operator's reason) as given,
    a Phrase (e.g. a task's title) by its id, so the statement shows it in the reader's language."""
    text, phrase_id = split_text(note)
    return {"note": text, "note_id": phrase_id}


def entry_note(entry):
    """The note shown on the member's statement, in the reader's language."""
    return phrase_text(entry.note_id, entry.note)


class LedgerError(RuntimeError):
    """The ledger found its own invariant broken; the transaction must not commit."""


def _require_tx():
    if not in_write_transaction():
        raise RuntimeError("ledger primitives must run inside write_transaction()")


def _entry_by_key(user_id, key):
    return db.session.execute(_ENTRY_BY_KEY, {"p_user": user_id, "p_key": key}).scalar_one_or_none()


def _key_used(user_id, key):
    return execute_rows(_KEY_USED, {"p_user": user_id, "p_key": key}).first() is not None


# The statements every points use case runs, built once with their values bound per call
# (building a statement costs more Python than running it). Bound names avoid the columns'.
_GROWTH = select(User.growth).where(User.id == bindparam("p_user"))
_BY_KEY = (PointEntry.user_id == bindparam("p_user"), PointEntry.key == bindparam("p_key"))
_ENTRY_BY_KEY = select(PointEntry).where(*_BY_KEY)
_KEY_USED = select(PointEntry.id).where(*_BY_KEY)
_BALANCE_CHANGE = (update(User).where(User.id == bindparam("p_user"))
                   .values(points_balance=User.points_balance + bindparam("p_delta"),
                           growth=User.growth + bindparam("p_growth"))
                   .returning(User.points_balance, User.growth).execution_options(synchronize_session=False))
_BALANCE_DEBIT = _BALANCE_CHANGE.where(User.points_balance >= -bindparam("p_delta"))
shared_cache.watch_rows("point_lots", key="user_id")  # a member's lots, kept apart from everyone else's (/me)
_OPEN_LOTS = (PointLot.user_id == bindparam("p_user"), PointLot.remaining > 0)
_NEW_LOT = insert(PointLot.__table__)  # a row, no object: nothing reads a new lot back in its transaction
_LIVE_LOTS = (*_OPEN_LOTS, PointLot.expires_at > bindparam("p_now"))
_LIVE_LOTS_IN_ORDER = (select(PointLot.id, PointLot.remaining).where(*_LIVE_LOTS)
                       .order_by(PointLot.expires_at, PointLot.id))
_OPEN_LOTS_IN_ORDER = (select(PointLot.id, PointLot.remaining, PointLot.expires_at).where(*_OPEN_LOTS)
                       .order_by(PointLot.expires_at, PointLot.id))
# Names the member too: a member's lots are kept apart from everyone else's (cache.watch_rows).
_TAKE_FROM_LOT = (update(PointLot).where(PointLot.id == bindparam("p_lot"), PointLot.user_id == bindparam("p_user"),
                                         PointLot.remaining >= bindparam("p_take"))
                  .values(remaining=PointLot.remaining - bindparam("p_take"))
                  .execution_options(synchronize_session=False))


def default_expiry(now):
    """When points earned at `now` expire by default."""
    return add_months(now, int(get_setting("points.expiry_months")))


def boosted_amount(amount, growth, now=None):
    """Apply the level's earning multiplier and a double-points day, in whole points."""
    amount = amount * level_for(growth).multiplier_pct // 100
    if shanghai_today(now).isoformat() in (get_setting("double_points.days") or []):
        amount *= int(get_setting("double_points.factor"))
    return amount


def _add_to_balance(user_id, delta, growth_delta=0):
    """Guarded balance change; returns the new balance or None when it would go negative."""
    row = execute_rows(_BALANCE_DEBIT if delta < 0 else _BALANCE_CHANGE,
                       {"p_user": user_id, "p_delta": delta, "p_growth": growth_delta}).first()
    if row is None:
        return None
    if growth_delta:
        note_growth(user_id, row.growth)
    return row.points_balance


def earn(user_id, amount, kind, *, key=None, ref=None, note=None, expires_at=None,
         boost=False, growth=True, now=None, new_key=False):
    """Credit points into a new lot. Returns the entry, or None if `key` was used before.

    boost: apply the level multiplier and double-points days (for earnings such as
    check-ins; not for refunds or operator adjustments). growth: count towards level.
    new_key: as spend's - the caller has just made the row the key names, so it is not looked up.
    """
    _require_tx()
    now = now or utcnow()
    # Under the member's row lock every entry of theirs is written by this transaction alone: a key
    # not found here stays free until it ends (the unique key backs that up).
    growth_before = _locked_growth(user_id)
    if key is not None and not new_key and _key_used(user_id, key):
        return None
    if boost:
        amount = boosted_amount(amount, growth_before, now)
    if amount <= 0:
        raise ValueError("earn needs a positive amount")
    balance = _add_to_balance(user_id, amount, amount if growth else 0)
    entry = add_row(PointEntry, user_id=user_id, amount=amount, balance_after=balance, kind=kind,
                    key=key, ref=ref, **_note(note), created_at=now)
    _lots_changed(user_id)
    execute_rows(_NEW_LOT, {"user_id": user_id, "entry_id": entry.id, "amount": amount, "remaining": amount,
                            "expires_at": expires_at or default_expiry(now), "created_at": now})
    if growth:
        _tell_level_up(user_id, growth_before, growth_before + amount)
    return entry


def _locked_growth(user_id):
    """The member's growth under their row lock (taken now unless this transaction holds it): as
    read with the lock, or as this transaction's last earning left it, else read again."""
    if holds_member_lock(user_id):
        growth = known_growth(user_id)
        return growth if growth is not None else execute_rows(_GROWTH, {"p_user": user_id}).scalar_one()
    return lock_member(user_id, acting=False).growth


def _tell_level_up(user_id, growth_before, growth_after):
    """Message the member when this earning lifts them to a higher level (once per level)."""
    level = level_for(growth_after)
    if level.min_growth > growth_before and level.key != level_for(growth_before).key:
        messages.notify(user_id, "level.up", {"key": level.key, "name": level.name},
                        key=f"level.up:{level.key}")


def spend(user_id, amount, kind, *, key=None, ref=None, note=None, now=None, new_key=False):
    """Debit points from the soonest-expiring lots. Raises InsufficientPoints.

    With a `key` already used, the earlier entry is returned and nothing is charged. new_key=True:
    the caller knows no entry has it (it names a row this transaction just made), so it is not
    looked up; the entries' unique key still refuses a second one.
    """
    _require_tx()
    if amount <= 0:
        raise ValueError("spend needs a positive amount")
    now = now or utcnow()
    hold_member_lock(user_id)
    if key is not None and not new_key:
        existing = _entry_by_key(user_id, key)
        if existing is not None:
            return existing
    _expire_due_lots(user_id, now)
    balance = _add_to_balance(user_id, -amount)
    if balance is None:
        raise InsufficientPoints(_("积分不足"))
    entry = add_row(PointEntry, user_id=user_id, amount=-amount, balance_after=balance, kind=kind,
                    key=key, ref=ref, **_note(note), created_at=now)
    _draw_from_lots(entry, _live_lots(user_id, now), amount)
    return entry


def _live_lots(user_id, now):
    """The member's lots with points left and not expired at `now`, soonest to expire first: as
    _expire_due_lots read them in this transaction (with the lots due), unless one has changed
    since; read now otherwise. Taken: the caller draws from them, changing them."""
    read = transaction_memo(_LIVE_READ).pop(user_id, None)
    if read is not None and read[0] >= now:  # lots due by then have been emptied: none is missing
        return read[1]
    return execute_rows(_LIVE_LOTS_IN_ORDER, {"p_user": user_id, "p_now": now}).all()


def _lots_changed(user_id):
    transaction_memo(_LIVE_READ).pop(user_id, None)


_LIVE_READ = "live_lots_read"  # user id -> (moment, the lots live then) as _expire_due_lots read them


def _draw_from_lots(entry, lots, amount):
    left, allocations = amount, []
    for lot_id, remaining in lots:
        if left == 0:
            break
        take = min(remaining, left)
        done = execute_rows(_TAKE_FROM_LOT, {"p_lot": lot_id, "p_user": entry.user_id, "p_take": take}).rowcount
        if done != 1:
            raise LedgerError(f"lot {lot_id} changed under a locked member")
        allocations.append({"entry_id": entry.id, "lot_id": lot_id, "amount": take})
        left -= take
    if left:
        raise LedgerError(f"member {entry.user_id}: lots short by {left} for entry {entry.id}")
    execute_rows(_ALLOCATE, allocations)


_ALLOCATE = insert(PointAllocation.__table__)  # rows, no objects: refunds read them back by query


def refund(entry_id, *, note=None, now=None):
    """Give back a spend: points return to the lots they came from (a fresh expiry if
    those lots have expired meanwhile). Returns the refund entry, or None if done before."""
    _require_tx()
    now = now or utcnow()
    session = db.session
    original = session.get(PointEntry, entry_id)
    if original is None or original.amount >= 0 or original.kind == "expire":
        raise NotFound(_("没有可退回的积分记录"))
    hold_member_lock(original.user_id)
    _lots_changed(original.user_id)
    already = session.execute(
        select(PointEntry.id).where(PointEntry.refund_of_id == entry_id)
    ).scalar_one_or_none()
    if already is not None:
        return None
    total = -original.amount
    balance = _add_to_balance(original.user_id, total)
    entry = add_row(PointEntry, user_id=original.user_id, amount=total, balance_after=balance, kind="refund",
                    ref=original.ref, **_note(note), refund_of_id=entry_id, created_at=now)
    rows = session.execute(
        select(PointAllocation.lot_id, PointAllocation.amount, PointLot.expires_at)
        .join(PointLot, PointLot.id == PointAllocation.lot_id)
        .where(PointAllocation.entry_id == entry_id)
    ).all()
    for lot_id, amount, expires_at in rows:
        if expires_at > now:
            session.execute(
                update(PointLot).where(PointLot.id == lot_id, PointLot.user_id == original.user_id)
                .values(remaining=PointLot.remaining + amount)
                .execution_options(synchronize_session=False)
            )
        else:
            session.add(PointLot(user_id=original.user_id, entry_id=entry.id, amount=amount,
                                 remaining=amount, expires_at=default_expiry(now), created_at=now))
    session.flush()
    return entry


_EXPIRED = "lots_expired_through"


def _expire_due_lots(user_id, now):
    """Write one `expire` entry for what is left in this member's expired lots.

    Once per transaction and moment: the member's row is locked, so no lot of theirs
    changes but by this transaction, whose new lots expire later."""
    expired = transaction_memo(_EXPIRED)
    if user_id in expired and expired[user_id] >= now:
        return None
    lots, live = [], []  # one read of the open lots: those due, and those a spend draws from next
    for lot_id, remaining, expires_at in execute_rows(_OPEN_LOTS_IN_ORDER, {"p_user": user_id}):
        (lots if expires_at <= now else live).append((lot_id, remaining))
    total = sum(remaining for _, remaining in lots)
    if outside_savepoint():
        expired[user_id] = now
        transaction_memo(_LIVE_READ)[user_id] = (now, live)  # the lots expired below are not among them
    if not total:
        return None
    balance = _add_to_balance(user_id, -total)
    if balance is None:
        raise LedgerError(f"member {user_id}: balance below expired lots")
    entry = add_row(PointEntry, user_id=user_id, amount=-total, balance_after=balance, kind="expire", created_at=now)
    _draw_from_lots(entry, lots, total)
    return entry


def expire_member_lots(user_id, now=None):
    """Expire one member's due lots inside the caller's transaction."""
    _require_tx()
    hold_member_lock(user_id)
    return _expire_due_lots(user_id, now or utcnow())


def run_expiry(now=None):
    """Expire every member's due lots, one short transaction per member (cron-safe,
    idempotent: a second run finds nothing). Returns (members, points) expired."""
    now = now or utcnow()
    user_ids = db.session.execute(
        select(PointLot.user_id).where(PointLot.remaining > 0, PointLot.expires_at <= now).distinct()
    ).scalars().all()
    members = points = 0
    for user_id in user_ids:
        with write_transaction():
            entry = expire_member_lots(user_id, now)
        if entry is not None:
            members += 1
            points += -entry.amount
    return members, points


@dataclass(frozen=True)
class Mismatch:
    user_id: int
    balance: int
    entries_sum: int
    lots_sum: int


def reconcile():
    """Every member whose cached balance, ledger sum and lot remainders disagree."""
    rows = db.session.execute(text("""
        SELECT u.id, u.points_balance, COALESCE(e.total, 0), COALESCE(l.total, 0)
        FROM users u
        LEFT JOIN (SELECT user_id, SUM(amount) AS total FROM point_entries GROUP BY user_id) e
               ON e.user_id = u.id
        LEFT JOIN (SELECT user_id, SUM(remaining) AS total FROM point_lots GROUP BY user_id) l
               ON l.user_id = u.id
        WHERE u.points_balance <> COALESCE(e.total, 0) OR u.points_balance <> COALESCE(l.total, 0)
        ORDER BY u.id
    """)).all()
    return [Mismatch(*row) for row in rows]


def next_expiry(user_id, now=None):
    """(when, points) of the soonest-expiring points the member still has, or None."""
    row = execute_rows(_NEXT_EXPIRY, {"p_user": user_id, "p_now": now or utcnow()}).first()
    return (row[0], int(row[1])) if row else None


def expiring_within(user_id, until, now=None):
    """Points the member will lose between now and `until` unless spent."""
    return int(execute_rows(_EXPIRING, {"p_user": user_id, "p_now": now or utcnow(), "p_until": until}).scalar_one())


def expiry_outlook(user_id, window, now=None):
    """What /me shows of the member's expiring points: (next_expiry(), the points expiring within
    `window`, when either changes by the clock alone - a lot expires, or one enters the window -
    or None)."""
    now = now or utcnow()
    soonest = next_expiry(user_id, now)
    within = expiring_within(user_id, now + window, now)
    entering = execute_rows(_NEXT_AFTER, {"p_user": user_id, "p_now": now, "p_until": now + window}
                            ).scalar_one_or_none()
    moments = [m for m in (soonest[0] if soonest else None, entering - window if entering else None) if m]
    return soonest, within, min(moments) if moments else None


# Built once, their values bound per call: /me shows them.
_NEXT_EXPIRY = (select(PointLot.expires_at, func.sum(PointLot.remaining)).where(*_LIVE_LOTS)
                .group_by(PointLot.expires_at).order_by(PointLot.expires_at).limit(1))
_EXPIRING = select(func.coalesce(func.sum(PointLot.remaining), 0)).where(
    *_LIVE_LOTS, PointLot.expires_at <= bindparam("p_until"))
_NEXT_AFTER = select(func.min(PointLot.expires_at)).where(*_LIVE_LOTS, PointLot.expires_at > bindparam("p_until"))


def ledger_page(user_id, before_id=None, limit=20):
    """One page of a member's entries, newest first; pass the last id to get the next."""
    stmt = select(PointEntry).where(PointEntry.user_id == user_id)
    if is_db_id(before_id):  # anything else (-5, 10**20) is the first page
        stmt = stmt.where(PointEntry.id < before_id)
    rows = db.session.execute(stmt.order_by(PointEntry.id.desc()).limit(limit + 1)).scalars().all()
    return rows[:limit], (rows[limit - 1].id if len(rows) > limit else None)


def adjust_points(user_id, delta, reason, *, actor_id, key=None):
    """Operator adjustment inside the caller's transaction: + earns, - spends (never below 0)."""
    if delta > 0:
        return earn(user_id, delta, "adjust", key=key, note=reason, ref=f"operator:{actor_id}", growth=False)
    return spend(user_id, -delta, "adjust", key=key, note=reason, ref=f"operator:{actor_id}")


__all__ = [
    "KIND_LABELS", "LedgerError", "Mismatch", "adjust_points", "boosted_amount", "default_expiry",
    "earn", "entry_note", "expire_member_lots", "expiring_within", "kind_label", "ledger_page", "next_expiry",
    "reconcile", "refund", "run_expiry", "spend",
]

