"""Fixtures: the app on SQLite (default) or PostgreSQL (DATABASE_URL), clients, factories.

Tables are created once per session with create_all (migrations are checked separately
in test_migrations.py) and emptied after every test.
"""
import itertools
import os
import re
import threading
import uuid
from contextlib import contextmanager
from pathlib import Path

import pytest
from flask.testing import FlaskClient
from sqlalchemy import event, text
from werkzeug.serving import make_server

from app import create_app
from app.config import TestConfig, _database_url
from app.extensions import db as _db
from app.extensions import cache, limiter
from app.services import cache as shared_cache
from app.models import User
from app.services import accounts, ledger
from app.services.tx import write_transaction

CSRF_RE = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"|"X-CSRFToken": "([^"]+)"')
KEY_RE = re.compile(r'name="request_key"[^>]*value="([0-9a-f]{32})"')
# Database connections the test app may hold at once: well inside a default PostgreSQL's
# max_connections = 100, with room for psql and the few apps some tests build for themselves.
MAX_CONNECTIONS = 70


def _test_database_url(tmp_dir):
    if os.environ.get("DATABASE_URL"):
        return _database_url()
    return f"sqlite:///{tmp_dir}/test.db"


def pytest_sessionstart(session):
    """Pages in English read the compiled catalogues (.mo, built by `make test`, not in git): without
    them, or older than their .po, English pages show Chinese and tests fail far from the cause."""
    translations = Path(__file__).resolve().parent.parent / "app" / "translations"
    stale = [po.relative_to(translations.parent.parent) for po in translations.glob("*/LC_MESSAGES/*.po")
             if not po.with_suffix(".mo").exists() or po.with_suffix(".mo").stat().st_mtime < po.stat().st_mtime]
    if stale:
        pytest.exit(f"translations not compiled: {', '.join(map(str, stale))}. Run the tests with `make test`, "
                    "or compile first: .venv/bin/pybabel compile -f -d app/translations", returncode=4)



_CONTROL = ("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE")


@contextmanager
def statements_sent(engine):
    """The statements `engine` sends while inside, in order, but those that begin or end a
    transaction or savepoint (SQLite's BEGIN IMMEDIATE comes with a write's first statement)."""
    sent = []

    def note(_conn, _cursor, statement, *_args):
        if not statement.lstrip().upper().startswith(_CONTROL):
            sent.append(statement)

    event.listen(engine, "before_cursor_execute", note)
    try:
        yield sent
    finally:
        event.remove(engine, "before_cursor_execute", note)

@pytest.fixture(scope="session")
def app(tmp_path_factory):
    class Config(TestConfig):
        SQLALCHEMY_DATABASE_URI = _test_database_url(tmp_path_factory.mktemp("db"))
        # The concurrency tests' hundreds of threads overlap on up to MAX_CONNECTIONS connections
        # (the rest wait for one), so a stock PostgreSQL (max_connections = 100) is enough.
        SQLALCHEMY_ENGINE_OPTIONS = {"pool_size": 10, "max_overflow": MAX_CONNECTIONS - 10, "pool_timeout": 120}
        UPLOAD_DIR = str(tmp_path_factory.mktemp("uploads"))

    application = create_app(Config)
    with application.app_context():
        _db.drop_all()
        _db.create_all()
    yield application
    with application.app_context():
        _db.session.remove()
        _db.engine.dispose()


@pytest.fixture(autouse=True)
def _clean_database(app):
    """Each test starts with empty tables, fresh rate-limit counters and an empty page cache."""
    limiter.reset()
    yield
    with app.app_context():
        _db.session.remove()
        tables = [t.name for t in reversed(_db.metadata.sorted_tables)]
        with _db.engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                conn.execute(text("TRUNCATE " + ", ".join(f'"{t}"' for t in tables) + " RESTART IDENTITY CASCADE"))
            else:
                for table in tables:
                    conn.execute(text(f'DELETE FROM "{table}"'))
        cache.clear()
        shared_cache.forget_near()


@pytest.fixture()
def app_ctx(app):
    with app.app_context():
        yield
        _db.session.remove()


@pytest.fixture()
def db(app_ctx):
    return _db


class MallClient(FlaskClient):
    """A test client that fills in the CSRF token and request key the page would carry."""

    def form_tokens(self, page):
        html = self.get(page).get_data(as_text=True)
        match = CSRF_RE.search(html)
        assert match, f"no CSRF token on {page}"
        key = KEY_RE.search(html)
        return match.group(1) or match.group(2), (key.group(1) if key else None)

    def submit(self, url, data=None, page=None, htmx=False, **kwargs):
        """POST as the page at `page` (default: `url`) would, with its CSRF token."""
        token, key = self.form_tokens(page or url)
        data = dict(data or {})
        data.setdefault("csrf_token", token)
        # The page's request key, or a fresh one when the page has no such form (a hand-made request).
        data.setdefault("request_key", key or uuid.uuid4().hex)
        headers = kwargs.pop("headers", {})
        if htmx:
            headers = {"HX-Request": "true", "X-CSRFToken": token, **headers}
        return self.post(url, data=data, headers=headers, **kwargs)


@pytest.fixture()
def client(app):
    app.test_client_class = MallClient
    return app.test_client()


_phones = itertools.count(1)


def next_phone():
    return f"135{next(_phones):08d}"


@pytest.fixture()
def make_member(app):
    """Register a member through the real service; optional extra points earned."""

    def make(points=0, phone=None, password="secret123", **extra):
        with app.app_context():
            user = accounts.register_member(phone or next_phone(), password)
            if points:
                with write_transaction():
                    ledger.earn(user.id, points, "adjust", key="test-points", growth=False)
            if extra:
                with write_transaction() as session:
                    row = session.get(User, user.id)
                    for name, value in extra.items():
                        setattr(row, name, value)
            user_id = user.id
            _db.session.remove()
        return user_id

    return make


@pytest.fixture()
def make_account(app):
    def make(role, phone=None, password="secret123", **kwargs):
        with app.app_context():
            user_id = accounts.create_account(phone or next_phone(), password, role, **kwargs).id
            _db.session.remove()
        return user_id

    return make


def session_id_of(user_id):
    """The id Flask-Login keeps in the session for this user ("<id>:<session token>")."""
    return _db.session.get(User, user_id).get_id()


def login_as(client, user_id):
    """Log a test client in as a user without going through the form."""
    with client.application.app_context():
        session_id = session_id_of(user_id)
        _db.session.remove()
    with client.session_transaction() as session:
        session["_user_id"] = session_id
        session["_fresh"] = True


@pytest.fixture()
def member_client(client, make_member):
    """A client logged in as a fresh member (registration gift only)."""
    user_id = make_member()
    login_as(client, user_id)
    client.user_id = user_id
    return client


@pytest.fixture(scope="session")
def live_server(app):
    """The real app served over HTTP on 127.0.0.1, threaded, for browser and storm tests."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


def balance_of(user_id):
    """The cached balance, read fresh."""
    return _db.session.execute(text("SELECT points_balance FROM users WHERE id = :id"), {"id": user_id}).scalar_one()


def count_rows(app, model, **where):
    """Rows of `model` (with columns equal to `where`), counted outside any request."""
    from sqlalchemy import func, select

    with app.app_context():
        stmt = select(func.count()).select_from(model)
        for name, value in where.items():
            stmt = stmt.where(getattr(model, name) == value)
        n = _db.session.execute(stmt).scalar_one()
        _db.session.remove()
    return n


def balance_now(app, user_id):
    """balance_of() outside any request."""
    with app.app_context():
        value = balance_of(user_id)
        _db.session.remove()
    return value
