"""The member row lock every points use case takes first."""
from flask_babel import gettext as _
from sqlalchemy import bindparam, select
from sqlalchemy.orm import lazyload

from app.access import check_member
from app.extensions import db
from app.models import User
from app.services.errors import NotFound
from app.services.tx import in_write_transaction

_HELD = "members_locked"


def lock_member(user_id, *, acting=True):
    """Lock the member's row for the rest of the transaction and return the member, fresh.

    Taken first thing in a use case, before rows that reference the member are written:
    a foreign-key share lock taken first would let two of one member's requests deadlock
    on PostgreSQL. Points belong to members only, so any other account is refused here.
    acting: the member is the one acting now (check-in, redeem, draw ...), so a disabled
    member is refused too; False when the mall acts on the member (refunds, expiry, an
    operator's adjustment, a referral bonus), which must work for disabled members as well.
    """
    assert in_write_transaction(), "lock_member needs write_transaction()"
    member = db.session.execute(_LOCK_MEMBER, {"p_user": user_id}).scalar_one_or_none()
    if member is None:
        raise NotFound(_("会员不存在"))
    if acting:
        check_member(member)
    elif member.role != "member":
        check_member(member)  # raises: staff and operators never hold points
    _note_held(user_id, acting)
    note_growth(user_id, member.growth)
    return member


# Built once (every points use case runs it), the id bound per call.
_LOCK_MEMBER = (select(User).where(User.id == bindparam("p_user")).options(lazyload(User.merchant))
                .with_for_update(of=User).execution_options(populate_existing=True))


def hold_member_lock(user_id, *, acting=False):
    """Make sure this transaction holds the member's row lock (checked as lock_member checks),
    without reading the row again when it already does: for helpers that need the lock, not the
    member (the ledger's primitives, task rewards), called inside a use case that locked first."""
    assert in_write_transaction(), "hold_member_lock needs write_transaction()"
    held = transaction_memo(_HELD).get(user_id)
    if held is None or (acting and not held):
        lock_member(user_id, acting=acting)


def holds_member_lock(user_id):
    """True when this transaction has locked the member's row already (outside any savepoint)."""
    return user_id in transaction_memo(_HELD)


def transaction_memo(name):
    """A dict that lives as long as the session's current (outermost) transaction: what this
    transaction has done already (locks held, lots expired), forgotten when it ends either way.

    Only note there what a savepoint cannot undo: see `outside_savepoint`."""
    session = db.session()
    root = session.get_transaction()
    memos = session.info.get("transaction_memos")
    if memos is None or memos[0] is not root:
        memos = session.info["transaction_memos"] = (root, {})
    return memos[1].setdefault(name, {})


def outside_savepoint():
    """True unless a savepoint is open: what is done now stays done until the transaction ends
    (a savepoint rolled back undoes its writes, and PostgreSQL releases the locks taken in it)."""
    return not db.session().in_nested_transaction()


def note_growth(user_id, growth):
    """Remember the member's growth as this transaction read or wrote it under their row lock (the
    ledger's earnings change it, and nothing else does): known_growth then saves a read. Inside a
    savepoint it is forgotten instead, as the savepoint may be rolled back."""
    if outside_savepoint():
        transaction_memo(_GROWTH)[user_id] = growth
    else:
        transaction_memo(_GROWTH).pop(user_id, None)


def known_growth(user_id):
    """The member's growth as note_growth last heard of it in this transaction, or None."""
    return transaction_memo(_GROWTH).get(user_id)


_GROWTH = "members_growth"


def _note_held(user_id, acting):
    if outside_savepoint():
        held = transaction_memo(_HELD)
        held[user_id] = held.get(user_id, False) or acting
