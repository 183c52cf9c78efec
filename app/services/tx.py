"""Write transactions that are safe under concurrency on SQLite and PostgreSQL.

SQLite: a write transaction starts with BEGIN IMMEDIATE, taking the write lock up front,
so two writers never both read a snapshot and then fail to upgrade (SQLAlchemy's
documented pysqlite recipe). PostgreSQL: an ordinary transaction; services use guarded
UPDATE ... WHERE ... RETURNING and row locks, which re-check under READ COMMITTED.
"""
import functools
from contextlib import contextmanager
from contextvars import ContextVar

from flask import g, has_app_context
from sqlalchemy import event, insert, inspect
from sqlalchemy.orm import make_transient_to_detached
from sqlalchemy.orm.attributes import set_committed_value

from app.extensions import db
from app.services.cache import transaction_connection, wrote

_in_write = ContextVar("in_write_transaction", default=False)
_KEPT = "keep_loaded"


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
    A read transaction the request already holds is ended first on SQLite (a read snapshot
    cannot be upgraded to the write lock). On PostgreSQL it goes on as the write transaction:
    under READ COMMITTED each statement reads what is committed when it runs, as in a new
    transaction, and a COMMIT, a connection's checkout and ping and a BEGIN are saved. Either
    way the rows read before are expired: read again when used inside.
    """
    session = db.session()  # the request's real Session behind the scoped proxy
    if _in_write.get():
        yield session
        return
    # The rows read before it, as read (the member's account): a rollback leaves them as they were.
    before = _loaded([obj for obj in session.identity_map.values() if not inspect(obj).modified])
    going_on = session.in_transaction() and _reads_committed(session) and not wrote(session)
    if going_on:
        session.expire_all()
    else:
        end_reading(session)
    token = _in_write.set(True)
    _note_stage("writing")
    session.info[_KEPT] = []
    committing = False
    try:
        with _open_transaction(session) if going_on else session.begin():
            yield session
            kept = _snapshot(session)
            committing = True
            _note_stage("committing")  # the use case is done; only the COMMIT is left
        _note_stage("committed")
        _restore(kept)
    except BaseException:
        if not committing:  # rolled back for sure: the rows read before it are as they were (the
            # rollback expired them; a refusal showing the page again would read them once more)
            _restore((obj, values) for obj, values in before if inspect(obj).persistent)
        raise
    finally:
        session.info.pop(_KEPT, None)
        _in_write.reset(token)


def _reads_committed(session):
    return session.get_bind().dialect.name == "postgresql"


@contextmanager
def _open_transaction(session):
    """The session's open transaction, as session.begin() would be a new one: committed at the end,
    rolled back on any exception."""
    try:
        yield
    except BaseException:
        session.rollback()
        raise
    session.commit()


def end_reading(session, expire=True):
    """End the session's transaction, if one is open: with a COMMIT when it wrote nothing (a read
    transaction, as every request's is outside write_transaction()), else with a ROLLBACK. Either
    way the rows it loaded are expired (read again when next used), unless expire=False: the
    session is being let go, and its rows keep what they were read with.

    psycopg forgets every statement it has prepared on a connection at each ROLLBACK it sees, so
    read transactions rolled back would have PostgreSQL parse and plan every statement again,
    request after request; committed, the statements a connection runs often stay prepared."""
    if not session.in_transaction():
        return
    if wrote(session):
        session.rollback()
        return
    if transaction_connection(session) is None:
        # It has run nothing: no connection is taken for a COMMIT. Being let go, the session's
        # closing ends it; else it ends here (nothing is sent), its rows expired as a COMMIT would.
        if expire:
            session.rollback()
        return
    expiring, session.expire_on_commit = session.expire_on_commit, expire
    try:
        session.commit()
    finally:
        session.expire_on_commit = expiring


def execute_rows(statement, params=None):
    """Run a Core statement - rows and values, no objects loaded - as session.execute() would (the
    pending objects flushed first, unless autoflush is off), but on the session's connection, past
    the ORM's execution layer: a third to two thirds less Python for each of the guarded UPDATEs,
    INSERTs and small reads every points use case runs. A statement that loads objects (select of
    a model), or must update the objects in the session, goes through session.execute()."""
    session = db.session()
    if session.autoflush:
        session.flush()
    return session.connection().execute(statement, params)


def add_row(model, **values):
    """A new row of `model` (values by column), written and put in the session as insert_object does."""
    return insert_object(model(**values))


def insert_object(obj):
    """Write a new object (not added to the session) by one INSERT of the columns it was given,
    RETURNING them whole, and put it in the session as if just read: no flush of the unit of work,
    which costs about three times the statement's Python. Pending objects are flushed first
    (execute_rows); relationships load when read. Its mapper's insert events do not run: for
    objects whose events would have nothing to do."""
    state = inspect(obj)
    assert state.transient, obj
    row = execute_rows(_insert_returning(type(obj)),
                       {column.key: state.dict[column.key] for column in state.mapper.local_table.columns
                        if column.key in state.dict}).one()
    for key, value in row._mapping.items():
        if key not in state.dict:  # what the INSERT filled in: its id, the columns' defaults
            setattr(obj, key, value)
    make_transient_to_detached(obj)
    db.session.add(obj)
    return obj


@functools.cache
def _insert_returning(model):
    table, mapper = model.__table__, inspect(model)
    assert all(mapper.get_property_by_column(column).key == column.key for column in table.columns), model
    return insert(table).returning(*table.columns)


def discard_session(*_args):
    """End the request's session even when its connection died: closing it rolls back, which
    raises on a killed connection, and an error at teardown would be a bare 500 page."""
    try:
        end_reading(db.session(), expire=False)
        db.session.remove()
    except Exception:  # noqa: BLE001 - any driver's error; the pool drops a broken connection
        db.session.registry.clear()


def keep_loaded(obj):
    """Keep `obj`'s columns loaded after the commit (a commit expires every row it loaded).

    For the result a route shows or redirects to: reading it again would ask the database once
    more, and if the database went away just after the commit, a done action would look failed."""
    db.session().info.setdefault(_KEPT, []).append(obj)
    return obj


def _snapshot(session):
    kept = session.info.get(_KEPT)
    if not kept:
        return []
    session.flush()
    return _loaded(kept)


def _loaded(objs):
    """(obj, its loaded column values) for each of `objs`."""
    return [(obj, {attr.key: state.dict[attr.key] for attr in state.mapper.column_attrs if attr.key in state.dict})
            for obj, state in ((obj, inspect(obj)) for obj in objs)]


def _restore(loaded):
    for obj, values in loaded:
        for key, value in values.items():
            set_committed_value(obj, key, value)


def _note_stage(stage):
    if has_app_context():
        g.write_stage = stage


def write_stage():
    """How far the request's latest write transaction got: None (none began), "writing" (rolled
    back, or will be), "committing" (the COMMIT was sent; its answer may be lost) or "committed".
    The 503 page says what it means for the member."""
    return g.get("write_stage") if has_app_context() else None


def in_write_transaction():
    """True inside write_transaction(); ledger primitives insist on it."""
    return _in_write.get()
