"""How a request's transactions end: reads with a COMMIT (psycopg keeps its prepared statements
then), anything written outside write_transaction() with a ROLLBACK, as before."""
from contextlib import contextmanager

from sqlalchemy import event, select, update

from app.extensions import db
from app.models import User
from app.services.tx import discard_session, write_transaction


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
