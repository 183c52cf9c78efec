"""Write transactions that are safe under concurrency on SQLite and PostgreSQL.

SQLite: a write transaction starts with BEGIN IMMEDIATE, taking the write lock up front,
so two writers never both read a snapshot and then fail to upgrade (SQLAlchemy's
documented pysqlite recipe). PostgreSQL: an ordinary transaction; services use guarded
UPDATE ... WHERE ... RETURNING and row locks, which re-check under READ COMMITTED.
"""
from contextlib import contextmanager
from contextvars import ContextVar

from sqlalchemy import event

from app.extensions import db

_in_write = ContextVar("in_write_transaction", default=False)


def install_sqlite_hooks(engine, busy_timeout_ms=30000):
    """Make pysqlite leave BEGIN to us, turn on WAL, foreign keys and a busy timeout."""

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record):
        dbapi_connection.isolation_level = None  # no implicit BEGIN from pysqlite
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection):
        connection.exec_driver_sql("BEGIN IMMEDIATE" if _in_write.get() else "BEGIN")


@contextmanager
def write_transaction():
    """One use case, one transaction: commit on success, roll back on any exception.

    Nested calls join the outer transaction, so a use case may call another's helpers.
    Any read transaction the request already holds is ended first: on SQLite a stale
    read snapshot cannot be upgraded to a write lock.
    """
    session = db.session()  # the request's real Session behind the scoped proxy
    if _in_write.get():
        yield session
        return
    if session.in_transaction():
        session.rollback()
    token = _in_write.set(True)
    try:
        with session.begin():
            yield session
    finally:
        _in_write.reset(token)


def in_write_transaction():
    """True inside write_transaction(); ledger primitives insist on it."""
    return _in_write.get()
