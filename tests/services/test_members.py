"""The member row lock: taken once per transaction, remembered only while it is really held."""
import pytest

from app.extensions import db
from app.services.errors import Forbidden, NotFound
from app.services.members import hold_member_lock, holds_member_lock, lock_member
from app.services.tx import write_transaction


def test_a_lock_is_remembered_for_its_transaction_only(app_ctx, make_member):
    user_id = make_member()
    with write_transaction():
        assert not holds_member_lock(user_id)
        lock_member(user_id)
        assert holds_member_lock(user_id)
    with write_transaction():
        assert not holds_member_lock(user_id)  # a new transaction holds nothing yet
        hold_member_lock(user_id)
        assert holds_member_lock(user_id)


def test_a_lock_taken_in_a_savepoint_that_rolled_back_is_taken_again(app_ctx, make_member):
    user_id = make_member()
    with write_transaction() as session:
        with pytest.raises(RuntimeError):
            with session.begin_nested():
                lock_member(user_id)
                raise RuntimeError("undo the savepoint")
        assert not holds_member_lock(user_id)  # PostgreSQL released it with the savepoint
        hold_member_lock(user_id)
        assert holds_member_lock(user_id)


def test_holding_refuses_what_locking_refuses(app_ctx, make_member):
    user_id = make_member()
    with pytest.raises(NotFound):
        with write_transaction():
            hold_member_lock(10**9)
    with write_transaction():
        lock_member(user_id, acting=False)
        db.session.execute(db.text("UPDATE users SET is_disabled = :yes WHERE id = :id"), {"yes": True, "id": user_id})
        hold_member_lock(user_id)  # the mall acting on the member: held already
        with pytest.raises(Forbidden):
            hold_member_lock(user_id, acting=True)  # the member acting: checked now, and refused
