"""What member pages share, cached between requests and workers, and forgotten when it changes.

A cached value names the tables it was read from. Every committed write to a table (any INSERT,
UPDATE or DELETE the engine runs: console edits, stock changes, jobs, raw SQL alike) gives that
table a new generation, and a value built under older generations is built again. Values that
depend on the clock (a sale window opening or closing) also say until when they hold.

The store is Flask-Caching's (config CACHE_TYPE): Redis in production when CACHE_REDIS_URL is
set, a directory shared by the workers of one machine otherwise, in-process in development and
tests. Values are pickled snapshots: ORM objects come back detached, with what was loaded.
"""
import functools
import hashlib
import logging
import os
import pickle
import re
import secrets
import threading
import zlib
from collections import OrderedDict
from datetime import timedelta

from flask import current_app, g, has_app_context
from sqlalchemy import Column, event
from sqlalchemy.orm import Mapper, Session
from sqlalchemy.sql import operators
from sqlalchemy.sql.elements import BinaryExpression, BindParameter, BooleanClauseList

from app.extensions import cache, db
from app.services.clock import utcnow

logger = logging.getLogger(__name__)
_WRITE = re.compile(r'^\s*(?:INSERT\s+(?:OR\s+\w+\s+)?INTO|UPDATE|DELETE\s+FROM)\s+"?(\w+)', re.IGNORECASE)
_WRITTEN = "cache_written_tables"
_WROTE = "transaction_wrote"  # the connection's transaction has written something (any table)
_committed = threading.local()
_WATCHED = set()
_ROWS = {}  # table -> the column naming its groups of rows (watch_rows)
_ROW_BUCKETS = 256


def watch(*tables):
    """Declare, at import, tables whose values are shared: only writes to these give new generations
    (a write to any other table - ledger entries, plays, sessions - costs the cache nothing)."""
    if _ROWS.keys() & set(tables):
        raise RuntimeError(f"{_ROWS.keys() & set(tables)} kept by rows; a table is kept whole or by rows, not both")
    _WATCHED.update(tables)
    return tables


def watch_rows(table, key="id"):
    """Declare, at import, a table whose rows are kept in groups named by its `key` column: one row
    at a time by "id" (kept_row), or a member's rows by "user_id" (a value built from them names
    rows_of(table, member) among its tables). A write that says which groups it changes renews only
    theirs: an UPDATE or DELETE naming "WHERE <table>.<key> = :x [AND ...]" (as a service's guarded
    UPDATE does), an INSERT giving the key (a new row by id: nobody has kept it), and an ORM flush
    (its rows' keys are read from them). Any other write to the table (raw SQL, "IN ...") renews all."""
    if table in _WATCHED:
        raise RuntimeError(f"{table} is watched whole; a table is kept whole or by rows, not both")
    _ROWS[table] = key
    return table


def rows_of(table, value):
    """The name, among a shared value's tables, of `table`'s rows whose key (watch_rows) is `value`."""
    if table not in _ROWS:
        raise RuntimeError(f"cache.watch_rows({table!r}) at import before naming its rows")
    return _row_name(table, value)


def _row_name(table, value):
    # Rows share a bucket's generation: a bounded number of keys in the store, however many members.
    # A key given as digits ("42", as a counter's subject) is the number 42.
    if isinstance(value, str) and not value.isdigit():
        bucket = zlib.crc32(value.encode())
    else:
        bucket = int(value)
    return f"{table}#{bucket % _ROW_BUCKETS}"


def kept_row(model, row_id, *, options=()):
    """`model`'s row `row_id` (None if there is none), in the request's session: read from the database
    only when this process holds no copy as new as the last committed write to it (watch_rows).

    The copy is merged into the session without a query (load=False): the row acts as if just read,
    and is expired and read again like any other when the request's transaction ends. Only the row's
    own columns are kept: `options` must leave out the rows of other tables (lazyload), which a write
    to this row would not renew; they load when used, per request."""
    table = model.__table__.name
    gens = _generations((table, _row_name(table, row_id)))  # before the row: no later write is missed
    name = ("row", table, row_id)
    session = db.session()
    near = _rows.get(name)
    if near is not None and near[0] == gens:
        return session.merge(near[1], load=False)
    row = session.get(model, row_id, options=options)
    if row is not None and not _written_here((table,)):
        _keep(_rows, _ROWS_LIMIT, name, (gens, pickle.loads(pickle.dumps(row, pickle.HIGHEST_PROTOCOL))))
    return row


# Execution options for a write that changes only columns no shared value shows (a counter only
# the consoles read, uncached): it gives its table no new generation. Say it only where that is true.
UNSHOWN = {"shared_cache_unshown": True}


def shared(name, tables, build, *, until=None, timeout=None, in_process=False):
    """build()'s value, shared by every request until a write to one of `tables` commits, or
    until the datetime until(value) returns (None: no clock limit), or `timeout` seconds.

    in_process=True keeps the value in this process only (checked against the same generations),
    for values one member reads (their unread count, their addresses, their own panels): the shared
    store then holds what many read, and thousands of members do not crowd the shared pages out of
    it (nor out of this process's copies: those are kept apart)."""
    unwatched = {t for t in tables if t not in _WATCHED and t.partition("#")[0] not in _ROWS}
    if unwatched:
        raise RuntimeError(f"cache.watch() these tables at import before sharing values read from them: {unwatched}")
    # Read before the data: a write committed after this is never missed. Rows (rows_of) are renewed
    # by a write naming them, and by any write to their table that names no rows.
    gens = _generations(tuple(dict.fromkeys((*tables, *(t.partition("#")[0] for t in tables)))))
    now = utcnow()
    kept, room = (_own, _OWN_LIMIT) if in_process else (_near, _NEAR_LIMIT)
    near = kept.get(name)
    if _current(near, gens, now):
        return near[2]
    stored = None if in_process else f"{code_version(current_app.root_path)}:{name}"  # a release reads its own
    if stored and (near is None or near[0] != gens):  # the store may have a newer one
        hit = cache.get(stored)
        if _current(hit, gens, now):
            _keep(kept, room, name, hit)
            return hit[2]
    value = build()
    if not _written_here(tables):  # never share what this transaction has changed but not committed
        expires = until(value) if until else None
        if timeout:
            limit = now + timedelta(seconds=timeout)
            expires = min(expires, limit) if expires else limit
        if stored:
            cache.set(stored, (gens, expires, value), timeout=timeout)
        # The process keeps a copy, as the store does: the rows just built belong to this request's
        # session, which may yet commit (expiring them) or end, and other threads read them.
        _keep(kept, room, name, (gens, expires, pickle.loads(pickle.dumps(value, pickle.HIGHEST_PROTOCOL))))
    return value


# This process's copy of the values it last read or built, with the generations they were built
# under: checked against the shared generations like the shared copy, but with no unpickling.
# The values (rows detached from any session) are shared by this process's requests and threads,
# so they are read, never changed or added to a session.
_near = OrderedDict()
_NEAR_LIMIT = 2048  # entries (whole shared pages are ~15 KB): a few tens of MB per process at most
# Values one member reads (in_process: their unread count, their own panels, ~2 KB each), apart
# from the shared pages, so that many members never crowd the pages out.
_own = OrderedDict()
_OWN_LIMIT = 8192
# Rows kept one by one (kept_row: the accounts of the members using the mall), apart from the pages so
# that many members never crowd the pages out; a kept account is ~2 KB.
_rows = OrderedDict()
_ROWS_LIMIT = 8192


def _current(entry, gens, now):
    """A kept (generations, expires, value) that may still be served."""
    return entry is not None and entry[0] == gens and (entry[1] is None or now < entry[1])


def _keep(kept, limit, name, entry):
    kept.pop(name, None)
    kept[name] = entry  # at the end: the most recently kept
    while len(kept) > limit:  # the least recently kept go first (per-member unread counts, old pages)
        try:
            kept.popitem(last=False)
        except KeyError:  # another thread emptied it meanwhile
            break


def forget_near():
    """Drop this process's copies (the shared store was cleared behind the cache's back: tests)."""
    _near.clear()
    _own.clear()
    _rows.clear()


@functools.cache
def code_version(root):
    """A digest of the code, templates and translations under `root` (the app package, static files
    left out): shared values are stored under it, so a release never reads what another built (a
    shared page holds the slots its own templates knew). The generations are common to all."""
    digest = hashlib.blake2b(digest_size=6)
    for folder, subfolders, files in os.walk(root):
        subfolders[:] = sorted(d for d in subfolders if d not in ("static", "__pycache__"))
        for name in sorted(f for f in files if f.endswith((".py", ".html", ".mo"))):
            path = os.path.join(folder, name)
            digest.update(os.path.relpath(path, root).encode())
            with open(path, "rb") as handle:
                digest.update(handle.read())
    return digest.hexdigest()


def earliest_future(moments, now=None):
    """The first of `moments` (datetimes or None) still ahead: when a window-dependent value expires."""
    now = now or utcnow()
    ahead = [m for m in moments if m is not None and m > now]
    return min(ahead) if ahead else None


def install_invalidation(engine):
    """Note the tables each connection writes; new generations for them when it commits."""
    event.listen(engine, "after_cursor_execute", _note_write)
    event.listen(engine, "commit", _on_commit)
    event.listen(engine, "rollback", _on_rollback)
    # After the commit: a session's connection goes back to the pool when its transaction ends, and
    # so does a raw connection's (engine.begin()), on the thread that committed.
    event.listen(engine.pool, "checkin", lambda *_args: _bump_committed())


def bump(tables):
    """New generations for `tables`: every value read from them is built again."""
    tables = set(tables)
    if tables:
        _generation_store().set_many({t: secrets.token_hex(8) for t in tables})
        if has_app_context():
            g.pop("_cache_gens", None)


def _generations(tables):
    memo = g.setdefault("_cache_gens", {}) if has_app_context() else {}
    missing = [t for t in tables if t not in memo]
    if missing:
        store = _generation_store()
        for table, gen in zip(missing, store.get_many(missing)):
            if gen is None:  # never seen, or evicted: a fresh one, so no older value can match it
                gen = secrets.token_hex(8)
                if not store.add(table, gen):
                    gen = store.get_many([table])[0] or gen
            memo[table] = gen
    return tuple(memo[t] for t in tables)


def _generation_store():
    app = current_app._get_current_object()
    store = app.extensions.get("cache_generations")
    if store is None:
        if app.config.get("CACHE_TYPE") in ("FileSystemCache", "filesystem"):
            prefix = re.sub(r"\W", "_", app.config.get("CACHE_KEY_PREFIX") or "")
            store = GenerationFiles(f"{app.config['CACHE_DIR'].rstrip(os.sep)}-generations{'-' + prefix if prefix else ''}")
        else:
            store = _StoredGenerations()
        app.extensions["cache_generations"] = store
    return store


class _StoredGenerations:
    """Generations in the cache's own store (Redis: one round trip for a request's names)."""

    def get_many(self, names):
        return cache.get_many(*(f"gen:{name}" for name in names))

    def set_many(self, gens):
        cache.set_many({f"gen:{name}": gen for name, gen in gens.items()}, timeout=0)

    def add(self, name, gen):
        return cache.add(f"gen:{name}", gen, timeout=0)


class GenerationFiles:
    """Generations as one small file each, in a directory beside the FileSystemCache's (shared by
    the workers of one machine). Every request reads a few and every committed write renews some:
    the cache's own files are made for values (a temporary file, a mode, a size check and a shared
    file count for each), where a generation is 16 characters, written over in place."""

    def __init__(self, path):
        self.path = path
        os.makedirs(path, exist_ok=True)

    def _file(self, name):
        return os.path.join(self.path, name)  # table names, and "table#bucket"

    def get_many(self, names):
        found = []
        for name in names:
            try:
                with open(self._file(name), "rb") as handle:
                    found.append(handle.read().decode("ascii") or None)
            except (FileNotFoundError, UnicodeDecodeError):
                found.append(None)
        return found

    def set_many(self, gens):
        # Written over in place (every generation is 16 characters): a reader in the middle of the
        # write may read a mix of the two, which matches no value - a miss, never a stale hit (the
        # new generation is written after the commit, so no value is built under it from older rows).
        for name, gen in gens.items():
            try:
                handle = os.open(self._file(name), os.O_WRONLY | os.O_CREAT, 0o600)
                try:
                    os.pwrite(handle, gen.encode("ascii"), 0)
                finally:
                    os.close(handle)
            except OSError:  # as the cache's own store does: the write stands; values may outlive it
                logger.exception("could not renew the cache generation of %s", name)

    def add(self, name, gen):
        part = os.path.join(self.path, f".{os.getpid()}.{threading.get_ident()}")
        with open(part, "wb") as handle:
            handle.write(gen.encode("ascii"))
        try:
            os.link(part, self._file(name))  # only if there is none: never an empty or partial file
            return True
        except FileExistsError:
            return False
        finally:
            try:
                os.unlink(part)
            except FileNotFoundError:
                pass


def wrote(session):
    """True when the session's transaction has written anything: an INSERT, UPDATE or DELETE sent,
    or rows changed in the session and not yet flushed."""
    if session.new or session.dirty or session.deleted:
        return True
    connection = transaction_connection(session)
    return connection is not None and bool(connection.info.get(_WROTE))


def transaction_connection(session):
    """The connection the session's transaction runs on, or None while it has run nothing (a page
    served from the cache: nothing to end, no connection to take for it)."""
    began = session.info.get(_BEGAN)
    return began[1] if began is not None and began[0] is session.get_transaction() else None


_BEGAN = "transaction_began_on"


@event.listens_for(Session, "after_begin")
def _note_connection(session, transaction, connection):
    if transaction.parent is None:  # the session's own transaction (not a savepoint)
        session.info[_BEGAN] = (transaction, connection)


def _written_here(tables):
    session = db.session()
    if not session.in_transaction():
        return False
    written = session.connection().info.get(_WRITTEN, ())
    bases = {t.partition("#")[0] for t in tables}
    return any(w.partition("#")[0] in bases for w in written) or bool(session.new or session.dirty or session.deleted)


def _note_write(conn, _cursor, statement, _params, context, _many):
    match = _WRITE.match(statement)
    if match is None:
        return
    conn.info[_WROTE] = True
    if context is not None and context.execution_options.get("shared_cache_unshown"):
        return
    table = match.group(1).lower()
    if table in _WATCHED:
        conn.info.setdefault(_WRITTEN, set()).add(table)
    elif table in _ROWS:
        key = _ROWS[table]
        inserting = statement.lstrip()[:6].upper() == "INSERT"
        if inserting and key == "id":
            return  # a new row: nobody has kept it
        if not inserting and key != "id" and _ORM_FLUSH in context.execution_options:
            # The flush's rows name their keys themselves (_note_flushed_row); counted, so that rows
            # written without the mapper's events (bulk ORM writes) renew the whole table at commit.
            counts = conn.info.setdefault(_FLUSHED, {}).setdefault(table, [0, 0])
            counts[0] += len(context.compiled_parameters or ())
            return
        keys = _written_keys(context, table, key, inserting)
        conn.info.setdefault(_WRITTEN, set()).update({_row_name(table, k) for k in keys} if keys else {table})


# The ORM's flush runs its UPDATEs and DELETEs with its mappers' compiled cache: the rows it writes
# are known to it (mapper events below), where the statement names them only by id.
_ORM_FLUSH = "compiled_cache"
_FLUSHED = "cache_flushed_rows"  # table -> [rows its flushed statements wrote, rows the events named]


@event.listens_for(Mapper, "after_update")
@event.listens_for(Mapper, "after_delete")
def _note_flushed_row(mapper, conn, target):
    table = mapper.local_table.name
    key = _ROWS.get(table)
    if key is not None and key != "id":
        value = getattr(target, mapper.get_property_by_column(mapper.local_table.c[key]).key)
        conn.info.setdefault(_WRITTEN, set()).add(_row_name(table, value) if _is_key(value) else table)
        conn.info.setdefault(_FLUSHED, {}).setdefault(table, [0, 0])[1] += 1


def _is_key(value):
    return isinstance(value, int) and not isinstance(value, bool) or isinstance(value, str)


def _written_keys(context, table, key, inserting):
    """The values of `key` an INSERT gives, or an UPDATE or DELETE names in "WHERE <table>.<key> = :x
    [AND ...]", for every parameter set it ran with; None when it names none (raw SQL, "IN ...")."""
    compiled = getattr(context, "compiled", None)
    statement = getattr(compiled, "statement", None)
    if compiled is None or statement is None:
        return None
    if inserting:
        name = _inserted_bind(compiled, statement, key)
    else:
        bind = _key_bind(getattr(statement, "whereclause", None), table, key)
        name = compiled.bind_names.get(bind) if bind is not None else None
    try:
        keys = {params[name] for params in context.compiled_parameters} if name else None
    except (KeyError, TypeError):
        return None
    return keys if keys and all(_is_key(k) for k in keys) else None


def _inserted_bind(compiled, statement, key):
    """The parameter name an INSERT binds its `key` column to: its own name when the values come with
    the execution (an ORM flush, insert().values() of plain values), else the bound parameter given."""
    values = getattr(statement, "_values", None) or {}
    value = values.get(key)
    if value is None:
        value = next((v for c, v in values.items() if getattr(c, "key", None) == key), None)
    if isinstance(value, BindParameter):
        return compiled.bind_names.get(value, value.key)
    return key if value is None else None


def _key_bind(clause, table, key="id"):
    if isinstance(clause, BooleanClauseList) and clause.operator is operators.and_:
        return next((b for b in (_key_bind(c, table, key) for c in clause.clauses) if b is not None), None)
    if isinstance(clause, BinaryExpression) and clause.operator is operators.eq:
        column, value = clause.left, clause.right
        if isinstance(value, Column):
            column, value = value, column
        if isinstance(column, Column) and isinstance(value, BindParameter) and column.name == key \
                and getattr(column.table, "name", None) == table:
            return value
    return None


def _on_commit(conn):
    # The engine's hook runs before the database commits: remember the tables, and give them new
    # generations after the commit (the session hook below), never while the transaction still
    # holds its locks. A reader reads the generations before the rows, so a value built from rows
    # older than a commit always carries generations older than that commit's bump.
    conn.info.pop(_WROTE, None)
    tables = conn.info.pop(_WRITTEN, None) or set()
    tables |= {table for table, (wrote, named) in conn.info.pop(_FLUSHED, {}).items() if wrote > named}
    if tables:
        _committed.tables = getattr(_committed, "tables", set()) | tables


def _on_rollback(conn):
    conn.info.pop(_WROTE, None)
    conn.info.pop(_WRITTEN, None)
    conn.info.pop(_FLUSHED, None)


def _bump_committed():
    tables = getattr(_committed, "tables", None)
    if tables and has_app_context():  # the cache lives on the app; outside one, the next commit bumps
        _committed.tables = set()
        bump(tables)


@event.listens_for(Session, "after_commit")
def _after_session_commit(_session):
    _bump_committed()


__all__ = ["UNSHOWN", "GenerationFiles", "bump", "code_version", "earliest_future", "forget_near",
           "install_invalidation", "kept_row", "rows_of", "shared", "transaction_connection", "watch", "watch_rows",
           "wrote"]
