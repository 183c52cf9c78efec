"""The one way tests make things happen at the same time: threads released together by a barrier.

Used in-process (services called in an app context of their own per thread, as a
request would have) and over HTTP (threads posting to the live server; no app context).
Everything is bounded: a thread that cannot reach the barrier breaks it for all, and
threads still running at the deadline are reported as errors instead of hanging the suite.
"""
import threading
import time
from typing import NamedTuple

from app.extensions import db

# Seconds the whole run may take before the unfinished threads are reported as errors.
DEFAULT_TIMEOUT = 180


class Outcome(NamedTuple):
    """What the threads did: `results` (return values, in finishing order), `refusals` (the
    expected exceptions themselves) and `errors` (anything else, as text: a bug the test shows)."""

    results: list
    refusals: list
    errors: list

    @property
    def messages(self):
        """The refusals' user messages (DomainError.message), as text."""
        return [str(getattr(refusal, "message", refusal)) for refusal in self.refusals]


def run_concurrently(app, work, n, *, expected=(), prepare=None, timeout=DEFAULT_TIMEOUT):
    """Run `work(i)` for i in range(n) in n threads that start together.

    app       the Flask app: each thread gets its own app context (and so its own database
              session, removed at the end); None for work that needs none (HTTP clients).
    expected  exception types that are a normal outcome (a refusal), collected in `refusals`.
    prepare   optional `prepare(i)` run by each thread before the barrier (e.g. fetch a form);
              then `work(i, prepared)` is called with its result. A failing prepare breaks
              the barrier, so the run ends at once with the failure among the errors.
    timeout   bound on the barrier wait and on the whole run, in seconds.
    """
    barrier = threading.Barrier(n, timeout=timeout)
    results, refusals, errors = [], [], []
    lock = threading.Lock()

    def record(bucket, value):
        with lock:
            bucket.append(value)

    def call(i):
        if prepare is None:
            barrier.wait()
            return work(i)
        try:
            prepared = prepare(i)
        except BaseException:
            barrier.abort()
            raise
        barrier.wait()
        return work(i, prepared)

    def runner(i):
        try:
            if app is None:
                record(results, call(i))
            else:
                with app.app_context():
                    try:
                        record(results, call(i))
                    finally:
                        db.session.remove()
        except threading.BrokenBarrierError:
            record(errors, f"thread {i}: the barrier broke (another thread failed or the run timed out)")
        except expected as refusal:
            record(refusals, refusal)
        except Exception as exc:  # any other failure is a bug the test must show
            record(errors, f"thread {i}: {exc!r}")

    threads = [threading.Thread(target=runner, args=(i,), daemon=True, name=f"concurrent-{i}") for i in range(n)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + timeout
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    stuck = [thread.name for thread in threads if thread.is_alive()]
    if stuck:
        errors.append(f"{len(stuck)} of {n} threads still running after {timeout}s: {stuck[:5]}")
    return Outcome(list(results), list(refusals), list(errors))
