"""The shared page cache: a value is kept until a committed write to a table it was read from,
never past the clock limit it names, never shared while its own transaction changed its tables."""
from datetime import timedelta

import pytest
from sqlalchemy import text

from app.extensions import db
from app.models import Category, Setting
from app.services import cache as shared_cache
from app.services import catalog
from app.services.clock import utcnow
from app.services.settings import get_setting, put_setting
from app.services.tx import write_transaction
from tests.shop_factories import make_merchant  # noqa: F401  (fixture)


def _counter():
    calls = []

    def build():
        calls.append(1)
        return len(calls)
    return build, calls


def test_a_value_is_built_once_and_again_after_a_committed_write_to_its_table(app_ctx):
    build, calls = _counter()
    assert shared_cache.shared("t:cat", ("categories",), build) == 1
    assert shared_cache.shared("t:cat", ("categories",), build) == 1
    with write_transaction() as session:
        session.add(Category(name="新分类"))
    assert shared_cache.shared("t:cat", ("categories",), build) == 2


def test_writes_to_other_tables_and_rolled_back_writes_keep_it(app_ctx):
    build, calls = _counter()
    shared_cache.shared("t:cat2", ("categories",), build)
    with write_transaction() as session:
        session.add(Setting(key="x.unrelated", value=1))
    with pytest.raises(RuntimeError):
        with write_transaction() as session:
            session.add(Category(name="不会保存"))
            session.flush()
            raise RuntimeError("undo")
    assert shared_cache.shared("t:cat2", ("categories",), build) == 1 and len(calls) == 1


def test_raw_sql_writes_count_too(app_ctx):
    build, _calls = _counter()
    shared_cache.shared("t:cat3", ("categories",), build)
    with write_transaction() as session:
        session.execute(text("INSERT INTO categories (name, position, is_active) VALUES ('原始', 0, 1)")
                        if db.engine.dialect.name == "sqlite" else
                        text("INSERT INTO categories (name, position, is_active) VALUES ('原始', 0, true)"))
    assert shared_cache.shared("t:cat3", ("categories",), build) == 2


def test_a_transaction_does_not_share_what_it_has_not_committed(app_ctx):
    with write_transaction() as session:
        session.add(Category(name="未提交"))
        session.flush()
        names = shared_cache.shared("t:names", ("categories",),
                                    lambda: [c.name for c in session.query(Category).all()])
        assert names == ["未提交"]
        session.rollback()
    assert shared_cache.shared("t:names", ("categories",), lambda: [c.name for c in db.session.query(Category)]) == []


def test_a_value_expires_when_its_window_changes(app_ctx):
    build, calls = _counter()
    soon = utcnow() - timedelta(seconds=1)  # already passed: the next read builds again
    shared_cache.shared("t:window", ("categories",), build, until=lambda _value: soon)
    assert shared_cache.shared("t:window", ("categories",), build, until=lambda _value: None) == 2


def test_only_watched_tables_may_be_shared(app_ctx):
    with pytest.raises(RuntimeError, match="watch"):
        shared_cache.shared("t:ledger", ("point_entries",), lambda: 0)


def test_a_setting_stored_is_read_back_in_its_own_transaction_and_by_everyone_after(app_ctx):
    assert get_setting("shop.rules")["max_quantity"] == 10
    db.session.remove()
    with app_ctx_fresh():
        with write_transaction():
            rules = dict(get_setting("shop.rules"), max_quantity=3)
            put_setting("shop.rules", rules)
            assert get_setting("shop.rules")["max_quantity"] == 3
    with app_ctx_fresh():
        assert get_setting("shop.rules")["max_quantity"] == 3


def test_the_shelf_shows_an_edit_at_once(app_ctx):
    product = catalog.create_product(name="旧名字", kind="physical", points_price=100, stock=5)
    assert [p.name for p in catalog.search_products(catalog.ProductQuery())[0]] == ["旧名字"]
    with write_transaction() as session:
        session.get(type(product), product.id).name = "新名字"
    assert [p.name for p in catalog.search_products(catalog.ProductQuery())[0]] == ["新名字"]
    assert catalog.shown_product(product.id).name == "新名字"


def app_ctx_fresh():
    from flask import current_app
    return current_app.app_context()


def test_a_shared_row_outlives_the_request_that_built_it(app):
    """The request that reads a row into the cache may then commit (a play after showing the draw),
    which expires every row of its session: the value kept for the next requests is a copy."""
    from app.models import User
    from tests.games_factories import make_draw

    draw_id = make_draw(app, cost=10, name="共享的转盘")
    from app.services import draws

    with app.test_request_context():
        assert draws.shown_draw(draw_id).name == "共享的转盘"
        with write_transaction() as session:  # this request goes on to write something
            session.add(User(phone="13911112222", password_hash="x", role="member"))
        db.session.remove()
    for _ in range(2):  # later requests: this process's copy, however the first one ended
        with app.test_request_context():
            shown = draws.shown_draw(draw_id)
            assert shown.name == "共享的转盘" and len(shown.prizes) >= 4
            db.session.remove()


def test_a_write_declared_unshown_keeps_shared_values(app_ctx):
    """cache.UNSHOWN is for writes to columns no shared value shows (a console-only counter)."""
    build, calls = _counter()
    shared_cache.shared("t:cat-unshown", ("categories",), build)
    with write_transaction() as session:
        session.execute(text("UPDATE categories SET position = position").execution_options(**shared_cache.UNSHOWN))
    assert shared_cache.shared("t:cat-unshown", ("categories",), build) == 1
    with write_transaction() as session:
        session.execute(text("UPDATE categories SET position = position"))
    assert shared_cache.shared("t:cat-unshown", ("categories",), build) == 2


def test_a_value_kept_in_process_stays_out_of_the_store_and_still_follows_writes(app_ctx):
    from flask import current_app

    from app.extensions import cache

    build, calls = _counter()
    assert shared_cache.shared("t:mine", ("categories",), build, in_process=True) == 1
    assert shared_cache.shared("t:mine", ("categories",), build, in_process=True) == 1  # this process's copy
    assert cache.get(f"{shared_cache.code_version(current_app.root_path)}:t:mine") is None  # the store holds none
    with write_transaction() as session:  # a write committed anywhere gives the table a new generation
        session.add(Category(name="又一个分类"))
    assert shared_cache.shared("t:mine", ("categories",), build, in_process=True) == 2
    shared_cache.forget_near()  # another worker: it builds its own
    assert shared_cache.shared("t:mine", ("categories",), build, in_process=True) == 3


def _account_reads(app, user_id):
    """The signed-in account as a fresh request sees it, and how many times it read the users table."""
    from sqlalchemy import event

    from app.services import accounts

    reads = []

    def note(_conn, _cursor, statement, *_args):
        if statement.lstrip().upper().startswith("SELECT") and "FROM users" in statement:
            reads.append(statement)
    with app.test_request_context():
        event.listen(db.engine, "before_cursor_execute", note)
        try:
            account = accounts.signed_in_account(user_id)
            seen = (account.points_balance, account.nickname, account.session_token)
        finally:
            event.remove(db.engine, "before_cursor_execute", note)
            db.session.remove()
    return seen, len(reads)


def _write(app, change):
    with app.app_context():
        with write_transaction() as session:
            change(session)
        db.session.remove()


def test_the_signed_in_account_is_read_again_only_after_a_write_to_its_row(app, make_member):
    """Each logged-in request needs its account; this process keeps a copy of the row until a committed
    write names that row (the ledger's guarded UPDATE, an ORM flush, a logout's new token), or writes
    the table without naming rows (raw SQL)."""
    from sqlalchemy import update

    from app.models import User
    from app.services import accounts, ledger

    member_id = make_member(points=50)
    other_id = make_member()
    while other_id % 256 == member_id % 256:  # another member whose row shares no generation with it
        other_id = make_member()
    (balance, _name, token), reads = _account_reads(app, member_id)
    assert reads == 1
    assert _account_reads(app, member_id) == ((balance, _name, token), 0)  # the copy, no query

    _write(app, lambda _s: ledger.earn(other_id, 7, "adjust", key="other", growth=False))  # another member's row
    assert _account_reads(app, member_id)[1] == 0
    _write(app, lambda _s: ledger.earn(member_id, 5, "adjust", key="mine", growth=False))  # UPDATE ... WHERE id = :id
    assert _account_reads(app, member_id) == ((balance + 5, _name, token), 1)

    # An ORM flush: UPDATE users SET nickname=? WHERE users.id = ?
    _write(app, lambda session: setattr(session.get(User, member_id), "nickname", "新昵称"))
    assert _account_reads(app, member_id)[0][1] == "新昵称"

    with app.app_context():
        accounts.end_all_sessions(member_id)  # logout everywhere: the old token no longer matches
        db.session.remove()
    (_balance, _name, new_token), reads = _account_reads(app, member_id)
    assert new_token != token and reads == 1

    # Raw SQL names no row, nor does "id IN ...": every kept account is read again.
    _write(app, lambda session: session.execute(text("UPDATE users SET nickname = 'SQL改名' WHERE id = :i"),
                                                {"i": member_id}))
    assert _account_reads(app, member_id) == ((balance + 5, "SQL改名", new_token), 1)
    _write(app, lambda session: session.execute(update(User).where(User.id.in_([other_id])).values(nickname="批量")))
    assert _account_reads(app, member_id)[1] == 1


def test_a_table_is_kept_whole_or_by_rows_not_both(app_ctx):
    with pytest.raises(RuntimeError):
        shared_cache.watch("users")


def test_a_kept_staff_account_reads_its_store_fresh(app, make_merchant):
    """Only the account's own row is kept: its store (renamed, closed by an operator) is read per
    request, never a copy a write to the store would not renew."""
    from app.models import Merchant
    from app.services import accounts

    merchant_id = make_merchant("老店")
    with app.app_context():
        staff_id = accounts.create_account("13900009999", "staff-pass-1", "staff", merchant_id=merchant_id).id
        db.session.remove()
    for name in ("老店", "新店名"):
        _write(app, lambda session, name=name: setattr(session.get(Merchant, merchant_id), "name", name))
        with app.test_request_context():
            assert accounts.signed_in_account(staff_id).merchant.name == name
            db.session.remove()


def test_a_members_own_rows_are_renewed_only_by_writes_naming_that_member(app, make_member):
    """A value built from one member's rows (their check-ins, their counters) names them with
    rows_of(); it is built again when a committed write gives or names that member - an INSERT,
    a guarded UPDATE "WHERE subject = :s", an ORM flush of their row - and when a write names no
    member (raw SQL, UPDATE by id alone); another member's writes keep it."""
    from datetime import date

    from sqlalchemy import delete, update

    from app.models import CheckIn, EarnQuota

    me = make_member()
    other = make_member()
    while other % 256 == me % 256:  # another member whose rows share no generation with mine
        other = make_member()
    build, calls = _counter()

    def mine():
        with app.app_context():
            tables = (shared_cache.rows_of("checkins", me), shared_cache.rows_of("earn_quotas", me))
            return shared_cache.shared(f"t:own:{me}", tables, build, in_process=True)

    def check_in(user, day):
        with app.app_context():
            with write_transaction() as session:
                row = CheckIn(user_id=user, day=day, kind="normal")
                session.add(row)
                session.flush()
                row_id = row.id
            db.session.remove()
        return row_id

    assert mine() == 1
    others = check_in(other, date(2026, 3, 1))  # INSERT giving another member
    assert mine() == 1
    ours = check_in(me, date(2026, 3, 1))  # INSERT giving me
    assert mine() == 2
    _write(app, lambda session: setattr(session.get(CheckIn, others), "points", 3))  # ORM flush, another's row
    assert mine() == 2
    _write(app, lambda session: setattr(session.get(CheckIn, ours), "points", 3))  # ORM flush, my row
    assert mine() == 3
    _write(app, lambda session: session.add(EarnQuota(scope="makeup", subject=str(other), period="2026-03", used=0)))
    _write(app, lambda session: session.execute(update(EarnQuota).where(
        EarnQuota.scope == "makeup", EarnQuota.subject == str(other)).values(used=EarnQuota.used + 1)))
    assert mine() == 3
    _write(app, lambda session: session.add(EarnQuota(scope="makeup", subject=str(me), period="2026-03", used=0)))
    assert mine() == 4
    _write(app, lambda session: session.execute(update(EarnQuota).where(
        EarnQuota.scope == "makeup", EarnQuota.subject == str(me)).values(used=EarnQuota.used + 1)))
    assert mine() == 5
    _write(app, lambda session: session.execute(update(CheckIn).where(CheckIn.id == others).values(points=4)))
    assert mine() == 6  # by id alone: which member it was is not said, so every member's rows are renewed
    _write(app, lambda session: session.execute(text("UPDATE checkins SET points = 5 WHERE id = :i"), {"i": others}))
    assert mine() == 7
    _write(app, lambda session: session.delete(session.get(CheckIn, others)))  # ORM delete, another's row
    assert mine() == 7
    _write(app, lambda session: session.execute(delete(CheckIn).where(CheckIn.user_id == me)))
    assert mine() == 8
    assert len(calls) == 8


def test_a_member_rows_name_must_be_declared(app_ctx):
    with pytest.raises(RuntimeError):
        shared_cache.rows_of("categories", 1)


def test_generations_kept_in_files_are_shared_by_the_workers_of_one_machine(app, tmp_path, monkeypatch):
    """Production without Redis: the workers share generations through small files beside the cache
    directory; a write committed by one worker renews what every worker built."""
    import os

    one, another = shared_cache.GenerationFiles(str(tmp_path / "gens")), shared_cache.GenerationFiles(str(tmp_path / "gens"))
    assert one.get_many(["products"]) == [None]
    assert one.add("products", "a" * 16) and not another.add("products", "b" * 16)  # the first one stands
    assert another.get_many(["products", "users#3"]) == ["a" * 16, None]
    another.set_many({"products": "c" * 16, "users#3": "d" * 16})
    assert one.get_many(["users#3", "products"]) == ["d" * 16, "c" * 16]
    assert sorted(os.listdir(tmp_path / "gens")) == ["products", "users#3"]  # no half-written file left

    monkeypatch.setitem(app.config, "CACHE_TYPE", "FileSystemCache")
    monkeypatch.setitem(app.config, "CACHE_DIR", str(tmp_path / "cache"))
    kept = app.extensions.pop("cache_generations", None)
    build, _calls = _counter()
    try:
        with app.app_context():
            store = shared_cache._generation_store()
            assert isinstance(store, shared_cache.GenerationFiles)
            assert store.path.startswith(str(tmp_path / "cache-generations"))
            assert shared_cache.shared("t:files", ("categories",), build) == 1
            assert shared_cache.shared("t:files", ("categories",), build) == 1
        with app.app_context():
            with write_transaction() as session:
                session.add(Category(name="文件里的代"))
            db.session.remove()
        shared_cache.forget_near()  # another worker, which never saw the write
        with app.app_context():
            assert shared_cache.shared("t:files", ("categories",), build) == 2
    finally:
        app.extensions["cache_generations"] = kept
        if kept is None:
            app.extensions.pop("cache_generations")


def test_rows_written_in_bulk_without_the_mappers_events_renew_every_members_rows(app, make_member):
    """An ORM bulk write (no mapper events) names its rows only by id: every member's are renewed."""
    from datetime import date

    from app.models import CheckIn

    me, someone = make_member(), make_member()
    build, _calls = _counter()

    def mine():
        with app.app_context():
            return shared_cache.shared(f"t:bulk:{me}", (shared_cache.rows_of("checkins", me),), build, in_process=True)

    _write(app, lambda session: session.add(CheckIn(user_id=someone, day=date(2026, 3, 2), kind="normal")))
    assert mine() == 1
    with app.app_context():
        theirs = db.session.execute(text("SELECT id FROM checkins WHERE user_id = :u"), {"u": someone}).scalar()
        db.session.remove()
    _write(app, lambda session: session.bulk_update_mappings(CheckIn, [{"id": theirs, "points": 9}]))
    assert mine() == 2
