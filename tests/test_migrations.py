"""The schema comes from migrations: upgrading an empty database gives exactly the models."""
import os

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import downgrade, upgrade
from sqlalchemy import create_engine, text

from app import create_app
from app.config import TestConfig
from app.extensions import db
from app.models import Order, PointEntry
from app.services import messages


def _fresh_sqlite_app(tmp_path):
    """An app on an empty SQLite file, for running the migrations themselves; returns (app, url)."""
    url = f"sqlite:///{tmp_path}/migrated.db"

    class Config(TestConfig):
        SQLALCHEMY_DATABASE_URI = url

    return create_app(Config), url


@pytest.mark.skipif(bool(os.environ.get("DATABASE_URL")), reason="checked once, on a fresh SQLite file")
def test_migrations_build_the_schema_the_models_describe(tmp_path):
    app, url = _fresh_sqlite_app(tmp_path)
    with app.app_context():
        upgrade()
        engine = create_engine(url)
        with engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), db.metadata)
        engine.dispose()
        assert diff == [], f"models and migrations differ; run `flask db migrate`: {diff}"
        downgrade(revision="base")
        db.engine.dispose()


BEFORE_IDS = "2bb7a39103aa"  # the revision before messages and stored labels became ids

_OLD_ROWS = [
    "INSERT INTO users (id, role, points_balance, growth, is_disabled, created_at) "
    "VALUES (1, 'member', 0, 0, false, '2026-11-01 00:00:00')",
    "INSERT INTO products (id, name, kind, points_price, cash_fen, face_value_fen, min_spend_fen, stock, sold, "
    "valid_days, is_active, is_hot, position, created_at, updated_at) "
    "VALUES (1, '耳机', 'physical', 100, 0, 0, 0, 1, 0, 30, true, false, 0, "
    "'2026-11-01 00:00:00', '2026-11-01 00:00:00')",
    "INSERT INTO messages (user_id, kind, title, body, link, created_at) "
    "VALUES (1, 'treasure', '积分夺宝已开奖', '「红包」第 1 期已开奖', '/treasure/1', '2026-11-01 00:00:00')",
    "INSERT INTO orders (id, user_id, product_id, kind, product_name, quantity, points_unit, points_total, "
    "cash_total_fen, status, source, created_at, cancel_reason) VALUES "
    "(1, 1, 1, 'physical', '耳机', 1, 100, 100, 0, 'cancelled', 'redeem', '2026-11-01 00:00:00', 'Cancelled by you'), "
    "(2, 1, 1, 'physical', '耳机', 1, 100, 100, 0, 'refunded', 'redeem', '2026-11-01 00:00:00', '仓库缺货')",
    "INSERT INTO point_entries (id, user_id, amount, balance_after, kind, ref, note, created_at) "
    "VALUES (1, 1, 50, 50, 'task', 'task:phone', '绑定手机号', '2026-11-01 00:00:00')",
]


@pytest.mark.skipif(bool(os.environ.get("DATABASE_URL")), reason="checked once, on a fresh SQLite file")
def test_rows_written_before_messages_became_ids_stay_readable(tmp_path):
    app, url = _fresh_sqlite_app(tmp_path)
    engine = create_engine(url)
    with app.app_context():
        upgrade(revision=BEFORE_IDS)
        with engine.begin() as conn:
            for statement in _OLD_ROWS:
                conn.execute(text(statement))
        upgrade()
        with app.test_request_context("/?lang=en"):
            shown = messages.message_page(1)[0]
            assert [(m.kind, m.title, m.body, m.link) for m in shown] == [
                ("treasure", "积分夺宝已开奖", "「红包」第 1 期已开奖", "/treasure/1")]
            cancelled, refunded = db.session.get(Order, 1), db.session.get(Order, 2)
            assert (cancelled.cancel_reason_id, cancelled.cancel_reason) == ("order.cancelled.member", None)
            assert (refunded.cancel_reason_id, refunded.cancel_reason) == (None, "仓库缺货")  # an operator's words
            entry = db.session.get(PointEntry, 1)
            assert (entry.note_id, entry.note) == ("task.phone", None)
            db.session.remove()
        downgrade(revision=BEFORE_IDS)
        with engine.connect() as conn:
            assert conn.execute(text("SELECT title, body, link FROM messages")).all() == [
                ("积分夺宝已开奖", "「红包」第 1 期已开奖", "/treasure/1")]
            reasons = conn.execute(text("SELECT cancel_reason FROM orders ORDER BY id")).scalars().all()
            assert reasons == ["会员取消", "仓库缺货"]
            assert conn.execute(text("SELECT note FROM point_entries")).scalar_one() == "绑定手机号"
        engine.dispose()
        db.engine.dispose()
