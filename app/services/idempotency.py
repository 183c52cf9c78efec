"""Request keys: the first request with a key does the work; a retry gets its result."""
import functools

from flask_babel import gettext as _
from sqlalchemy import bindparam, select, update
from sqlalchemy.dialects import postgresql, sqlite

from app.extensions import db
from app.models import IdempotencyKey
from app.services.errors import AlreadyDone
from app.services.ids import parse_db_id
from app.services.tx import execute_rows, in_write_transaction, keep_loaded

_INSERTS = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}


def insert_unless_taken(model, **values):
    """INSERT ... ON CONFLICT DO NOTHING RETURNING the row's primary key: None when a unique key
    is taken already. As a savepoint around an INSERT would, but in one statement; on PostgreSQL
    it waits, like the INSERT, for a concurrent transaction holding the key to end."""
    return execute_rows(_insert_unless_taken(db.session.get_bind().dialect.name, model), values).first()


@functools.cache
def _insert_unless_taken(dialect, model):
    """Built once per table (every POST with a request key runs it); the values are bound per call."""
    return _INSERTS[dialect](model).on_conflict_do_nothing().returning(*model.__table__.primary_key.columns)


def claim_request(user_id, scope, key, result=None):
    """Insert the key first thing in a write transaction.

    Returns None when this request is the first (go ahead, then call `remember_result`),
    or the stored result string of the request that already used the key. On PostgreSQL
    a concurrent duplicate blocks on the unique index until the first commits.
    result: what a retry is to be given, when it is known before the work (the id the new row
    will have): stored with the key, which no one sees before the work commits with it, so
    remember_result is not needed.
    """
    assert in_write_transaction(), "claim_request needs write_transaction()"
    values = {} if result is None else {"result": str(result)}
    if insert_unless_taken(IdempotencyKey, user_id=user_id, scope=scope, key=key, **values) is not None:
        return None
    row = db.session.execute(
        select(IdempotencyKey).where(
            IdempotencyKey.user_id == user_id, IdempotencyKey.scope == scope, IdempotencyKey.key == key
        ).execution_options(populate_existing=True)
    ).scalar_one()
    return row.result or ""


def used_before_column():
    """A column "key_used" for another read: true when a request with the key bound as p_key (for
    p_user, p_scope) has committed its work already - read, not claimed. For a refusal decided by
    that read before any write, which must not refuse a retry of a request that was done."""
    return _USED.exists().label("key_used")


def remember_result(user_id, scope, key, result):
    """Store what a retry with this key should be given (an id, usually)."""
    execute_rows(_REMEMBER, {"p_user": user_id, "p_scope": scope, "p_key": key, "p_result": str(result)})


_USED = select(IdempotencyKey.scope).where(IdempotencyKey.user_id == bindparam("p_user"),
                                          IdempotencyKey.scope == bindparam("p_scope"),
                                          IdempotencyKey.key == bindparam("p_key"))
_REMEMBER = (update(IdempotencyKey)
             .where(IdempotencyKey.user_id == bindparam("p_user"), IdempotencyKey.scope == bindparam("p_scope"),
                    IdempotencyKey.key == bindparam("p_key"))
             .values(result=bindparam("p_result")).execution_options(synchronize_session=False))


def stored_result(model, user_id, result):
    """The row the first request with a key created, for a retry of that request.

    `result` is what `remember_result` stored (the row's id); a key whose first request
    did not finish, or a row that is not this member's, is refused as already handled.
    """
    row_id = parse_db_id(result)
    row = db.session.get(model, row_id) if row_id else None
    if row is None or row.user_id != user_id:
        raise AlreadyDone(_("该请求已处理，请刷新页面"))
    return keep_loaded(row)
