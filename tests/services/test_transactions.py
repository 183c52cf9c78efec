"""How a request's transactions end: reads with a COMMIT (psycopg keeps its prepared statements
then), anything written outside write_transaction() with a ROLLBACK, as before; and the rows that
use cases write by one INSERT each, past the unit of work (add_row, insert_object)."""
from contextlib import contextmanager

from sqlalchemy import event, select, update

from app.extensions import db
from app.models import Message, User
from app.services.tx import add_row, discard_session, insert_object, write_transaction
from tests.conftest import statements_sent


@contextmanager
def _endings():
    """The COMMITs and ROLLBACKs the engine sends while inside, in order."""
    ends = []

    def on_commit(_conn):
        ends.append("commit")

    def on_rollback(_conn):
        ends.append("rollback")

    event.listen(db.engine, "commit", on_commit)
    event.listen(db.engine, "rollback", on_rollback)
    try:
        yield ends
    finally:
        event.remove(db.engine, "commit", on_commit)
        event.remove(db.engine, "rollback", on_rollback)


def test_pages_and_a_check_in_end_their_transactions_with_commits(app, member_client):
    with app.app_context(), _endings() as ends:
        assert member_client.get("/products").status_code == 200
        assert member_client.get("/me").status_code == 200
        answer = member_client.submit("/checkin", page="/checkin")
        assert answer.status_code in (200, 303)
    assert ends and set(ends) == {"commit"}, ends


def test_a_refused_write_still_rolls_back(app_ctx, make_member):
    user_id = make_member()
    with _endings() as ends:
        try:
            with write_transaction():
                db.session.execute(update(User).where(User.id == user_id).values(nickname="半途"))
                raise RuntimeError("refused midway")
        except RuntimeError:
            pass
    assert ends == ["rollback"]
    assert db.session.get(User, user_id).nickname != "半途"


def test_a_write_outside_write_transaction_is_rolled_back_at_the_end_of_the_request(app_ctx, make_member):
    user_id = make_member()
    db.session.execute(update(User).where(User.id == user_id).values(nickname="未提交"))
    with _endings() as ends:
        discard_session()
    assert ends == ["rollback"]
    assert db.session.execute(select(User.nickname).where(User.id == user_id)).scalar_one() != "未提交"


def test_a_change_left_unflushed_is_rolled_back_at_the_end_of_the_request(app_ctx, make_member):
    user_id = make_member()
    db.session.get(User, user_id).nickname = "未写入"
    with _endings() as ends:
        discard_session()
    assert ends == ["rollback"]
    assert db.session.execute(select(User.nickname).where(User.id == user_id)).scalar_one() != "未写入"


@contextmanager
def _statements():
    """The first word of every statement sent while inside (INSERT, SELECT ...), once it is over."""
    words = []
    with statements_sent(db.engine) as sent:
        yield words
    words.extend(statement.split(None, 1)[0].upper() for statement in sent)


def test_add_row_writes_one_insert_and_gives_the_row_whole_as_if_just_read(app_ctx, make_member):
    user_id = make_member()
    with write_transaction() as session:
        with _statements() as sent:
            message = add_row(Message, user_id=user_id, kind="system", msgid="level.up")
            # The defaults the INSERT applied come back with it: reading them asks nothing more.
            shown = (message.id, message.params, message.read_at, message.created_at is not None)
            session.flush()  # nothing is left for the unit of work to write
        assert sent == ["INSERT"]
        assert message in session and not session.new and not session.dirty
    assert shown[1:] == ({}, None, True)
    assert db.session.get(Message, shown[0]).user_id == user_id


def test_insert_object_writes_an_object_built_before_once_with_everything_it_was_given(app_ctx, make_member):
    user_id = make_member()
    with write_transaction() as session:
        message = Message(user_id=user_id, kind="system", msgid="level.up", params={"name": "金卡"})
        message.key = "built-up"
        with _statements() as sent:
            assert insert_object(message) is message
            assert (message.key, message.params, message.read_at) == ("built-up", {"name": "金卡"}, None)
            session.flush()
        assert sent == ["INSERT"]
        message_id = message.id
    row = db.session.get(Message, message_id)
    assert (row.user_id, row.key, row.params) == (user_id, "built-up", {"name": "金卡"})


def test_a_row_added_inside_a_refused_write_is_gone_with_it(app_ctx, make_member):
    user_id = make_member()
    try:
        with write_transaction():
            message_id = add_row(Message, user_id=user_id, kind="system", msgid="level.up").id
            raise RuntimeError("refused midway")
    except RuntimeError:
        pass
    assert db.session.get(Message, message_id) is None
