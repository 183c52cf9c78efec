"""The shared concurrency runner: threads start together, each in its own app context, and a
run is bounded - and the test app stays within a stock PostgreSQL's connection limit."""
import threading

from flask import current_app, has_app_context
from sqlalchemy import event

from app.extensions import db
from app.services import ledger
from app.services.errors import AlreadyDone, InsufficientPoints
from app.services.tx import write_transaction
from tests.concurrency import run_concurrently
from tests.conftest import MAX_CONNECTIONS


def test_no_thread_starts_its_work_before_every_thread_is_ready(app):
    ready = []

    def prepare(i):
        ready.append(i)
        return i * 10

    outcome = run_concurrently(app, lambda i, prepared: (prepared, len(ready)), 50, prepare=prepare)
    assert outcome.errors == [] and outcome.refusals == []
    assert sorted(outcome.results) == [(i * 10, 50) for i in range(50)]


def test_each_thread_has_its_own_app_context_and_session(app):
    all_alive = threading.Barrier(20, timeout=60)  # every session exists at once, so ids cannot be reused

    def work(_i):
        session = db.session()
        all_alive.wait()
        return current_app._get_current_object() is app, id(session)

    outcome = run_concurrently(app, work, 20)
    assert outcome.errors == []
    assert all(same_app for same_app, _ in outcome.results)
    assert len({session for _, session in outcome.results}) == 20


def test_over_http_no_app_context_is_pushed():
    outcome = run_concurrently(None, lambda _i: has_app_context(), 3)
    assert outcome.errors == [] and outcome.results == [False] * 3


def test_expected_refusals_and_unexpected_errors_are_told_apart(app):
    def work(i):
        if i % 3 == 0:
            raise AlreadyDone("已经领取过了")
        if i % 3 == 1:
            raise KeyError("bug")
        return i

    outcome = run_concurrently(app, work, 9, expected=(AlreadyDone,))
    assert sorted(outcome.results) == [2, 5, 8]
    assert outcome.messages == ["已经领取过了"] * 3 and all(isinstance(r, AlreadyDone) for r in outcome.refusals)
    assert sorted(outcome.errors) == [f"thread {i}: KeyError('bug')" for i in (1, 4, 7)]


def test_a_failing_preparation_breaks_the_barrier_instead_of_hanging(app):
    def prepare(i):
        if i == 3:
            raise ConnectionError("no form")
        return i

    outcome = run_concurrently(app, lambda i, prepared: prepared, 8, prepare=prepare)
    assert outcome.results == []
    assert "thread 3: ConnectionError('no form')" in outcome.errors and len(outcome.errors) == 8


def test_a_thread_still_running_at_the_deadline_is_reported(app):
    release = threading.Event()

    def work(i):
        if i == 0:
            release.wait(60)
        return i

    outcome = run_concurrently(app, work, 4, timeout=0.5)
    release.set()
    assert sorted(outcome.results) == [1, 2, 3]
    assert outcome.errors == ["1 of 4 threads still running after 0.5s: ['concurrent-0']"]


def test_the_test_app_never_holds_more_connections_than_a_stock_postgresql_allows(app, make_member):
    """220 threads spending at once overlap on several connections, never more than the cap
    (max_connections is 100 on a stock PostgreSQL; the tests once opened up to 200)."""
    options = app.config["SQLALCHEMY_ENGINE_OPTIONS"]
    assert options["pool_size"] + options["max_overflow"] == MAX_CONNECTIONS <= 80
    user_id = make_member(points=1500)
    held, peak, lock = [0], [0], threading.Lock()

    def checked_out(*_args):
        with lock:
            held[0] += 1
            peak[0] = max(peak[0], held[0])

    def checked_in(*_args):
        with lock:
            held[0] -= 1

    with app.app_context():
        engine = db.engine
    event.listen(engine, "checkout", checked_out)
    event.listen(engine, "checkin", checked_in)
    try:
        def spend(i):
            with write_transaction():
                ledger.spend(user_id, 10, "redeem", key=f"cap:{i}")

        outcome = run_concurrently(app, spend, 220, expected=(InsufficientPoints,))
    finally:
        event.remove(engine, "checkout", checked_out)
        event.remove(engine, "checkin", checked_in)
    assert outcome.errors == [] and len(outcome.results) == 200
    assert 1 < peak[0] <= MAX_CONNECTIONS
