"""Seed a year of activity and print how fast the operator dashboard and the liability page answer.

    python bench/dashboard.py [--members 100000] [--entries 1000000] [--screenshots DIR]

Uses a temporary SQLite database, or DATABASE_URL if set (it is EMPTIED and filled with bench data).
Rows are bulk-inserted, not written through the ledger (that would take hours), but they keep the
ledger's invariants: each earn entry has its lot, a spend or an expiry takes from the lot just earned,
with its allocation, so balance = sum of entries = sum of lot remainders. Then `stats rollup` runs over the year (timed),
and each page is fetched a few times in-process as a logged-in operator (median printed).
With --screenshots, the pages are also served and captured at 1280x800 with Chromium.
"""
import argparse
import os
import random
import statistics
import sys
import tempfile
import threading
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import insert, update  # noqa: E402

from app import create_app  # noqa: E402
from app.config import TestConfig  # noqa: E402
from app.extensions import db  # noqa: E402
from app.models import CheckIn, Order, PointAllocation, PointEntry, PointLot, Product, User  # noqa: E402
from app.services import accounts, ledger, stats  # noqa: E402
from app.services.clock import shanghai_today, utcnow  # noqa: E402

EARN_KINDS = ["register", "checkin", "checkin", "checkin", "task", "invite", "consume", "packet", "prize", "adjust"]
SPEND_KINDS = ["redeem", "redeem", "draw", "draw", "treasure", "makeup"]
BATCH = 20000


def seed(members, entries, rng):
    now = utcnow()
    year_ago = now - timedelta(days=365)
    session = db.session
    session.execute(insert(Product), [{"name": f"商品{i}", "kind": "physical", "points_price": 100 * (i + 1),
                                       "stock": 1000} for i in range(20)])
    product_ids = [p.id for p in session.query(Product.id).all()]
    users = []
    for i in range(members):
        created = year_ago + timedelta(seconds=rng.randrange(365 * 86400))
        users.append({"phone": f"139{i:08d}", "password_hash": "x", "role": "member", "created_at": created,
                      "session_token": f"bench{i}"})
    for start in range(0, len(users), BATCH):
        session.execute(insert(User), users[start:start + BATCH])
    session.commit()
    ids = [row.id for row in session.query(User.id).filter(User.role == "member").order_by(User.id)]
    created_of = dict(zip(ids, (u["created_at"] for u in users)))
    balance = dict.fromkeys(ids, 0)
    entry_rows, lot_rows, order_rows, alloc_rows, checkins = [], [], [], [], set()
    next_entry = (session.query(db.func.max(PointEntry.id)).scalar() or 0) + 1
    next_lot = (session.query(db.func.max(PointLot.id)).scalar() or 0) + 1
    pairs = entries // 2
    for _ in range(pairs):
        user = rng.choice(ids)
        start = created_of[user]
        when = start + timedelta(seconds=rng.randrange(max(1, int((now - start).total_seconds()))))
        amount = rng.choice((5, 10, 30, 50, 100, 500))
        kind = rng.choice(EARN_KINDS)
        balance[user] += amount
        expires = when + timedelta(days=365 if kind != "packet" else 7)
        entry_rows.append({"id": next_entry, "user_id": user, "amount": amount, "balance_after": balance[user],
                           "kind": kind, "created_at": when})
        remaining = amount
        if kind == "checkin":
            checkins.add((user, shanghai_today(when), when))
        later = when + timedelta(seconds=rng.randrange(1, 3 * 86400))
        if expires <= now and rng.random() < 0.5:
            taken, spend_kind, later = remaining, "expire", expires
        else:
            taken, spend_kind = rng.randrange(1, amount + 1), rng.choice(SPEND_KINDS)
        lot_id = next_lot
        next_lot += 1
        if later < now:
            balance[user] -= taken
            remaining -= taken
            entry_rows.append({"id": next_entry + 1, "user_id": user, "amount": -taken,
                               "balance_after": balance[user], "kind": spend_kind, "created_at": later})
            alloc_rows.append({"entry_id": next_entry + 1, "lot_id": lot_id, "amount": taken})
            if spend_kind == "redeem":
                order_rows.append({"user_id": user, "product_id": rng.choice(product_ids), "kind": "physical",
                                   "product_name": "商品", "quantity": 1, "points_unit": taken,
                                   "points_total": taken, "status": "completed", "created_at": later})
        lot_rows.append({"id": lot_id, "user_id": user, "entry_id": next_entry, "amount": amount,
                         "remaining": remaining, "expires_at": expires, "created_at": when})
        next_entry += 2
        if len(entry_rows) >= BATCH:
            _flush(entry_rows, lot_rows, order_rows, alloc_rows)
    _flush(entry_rows, lot_rows, order_rows, alloc_rows)
    rows = [{"user_id": u, "day": d, "kind": "normal", "points": 5, "created_at": w} for u, d, w in checkins]
    seen, unique = set(), []
    for row in rows:
        if (row["user_id"], row["day"]) not in seen:
            seen.add((row["user_id"], row["day"]))
            unique.append(row)
    for start in range(0, len(unique), BATCH):
        session.execute(insert(CheckIn), unique[start:start + BATCH])
    for user, points in balance.items():
        if points:
            session.execute(update(User).where(User.id == user).values(points_balance=points, growth=points))
    session.commit()
    return session.query(PointEntry).count()


def _flush(entry_rows, lot_rows, order_rows, alloc_rows):
    if entry_rows:
        db.session.execute(insert(PointEntry), entry_rows)
    if lot_rows:
        db.session.execute(insert(PointLot), lot_rows)
    if order_rows:
        db.session.execute(insert(Order), order_rows)
    if alloc_rows:
        db.session.execute(insert(PointAllocation), alloc_rows)
    db.session.commit()
    entry_rows.clear(), lot_rows.clear(), order_rows.clear(), alloc_rows.clear()


def timed(client, path, times=5):
    samples = []
    for _ in range(times):
        started = time.perf_counter()
        response = client.get(path)
        samples.append(time.perf_counter() - started)
        assert response.status_code == 200, (path, response.status_code)
    return statistics.median(samples)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=100_000)
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--screenshots", help="directory for 1280x800 screenshots of both pages")
    args = parser.parse_args()
    tmp = tempfile.mkdtemp(prefix="bench-dashboard-")

    class Config(TestConfig):
        SQLALCHEMY_DATABASE_URI = os.environ.get("DATABASE_URL") or f"sqlite:///{tmp}/bench.db"
        WTF_CSRF_ENABLED = False

    app = create_app(Config)
    with app.app_context():
        db.drop_all()
        db.create_all()
        started = time.perf_counter()
        total = seed(args.members, args.entries, random.Random(7))
        print(f"seeded {args.members:,} members, {total:,} ledger entries in {time.perf_counter() - started:.1f}s",
              flush=True)
        print(f"points reconcile: {len(ledger.reconcile())} members differ", flush=True)
        operator = accounts.create_account("13800000000", "secret123", "operator")
        operator_login = operator.get_id()
        started = time.perf_counter()
        stats.rollup(days=366)
        print(f"stats rollup --days 366: {time.perf_counter() - started:.1f}s", flush=True)
        db.session.remove()
    client = app.test_client()
    with client.session_transaction() as session:
        session["_user_id"] = operator_login
        session["_fresh"] = True
    for path in ("/admin/?range=today", "/admin/?range=7d", "/admin/?range=30d",
                 f"/admin/?range=custom&start={shanghai_today() - timedelta(days=365)}&end={shanghai_today()}",
                 "/admin/liability"):
        print(f"GET {path}: median {timed(client, path) * 1000:.0f} ms", flush=True)
    if args.screenshots:
        _screenshots(app, operator_login, args.screenshots)


def _screenshots(app, operator_login, directory):
    from playwright.sync_api import sync_playwright
    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_port}"
    client = app.test_client()
    with client.session_transaction() as session:
        session["_user_id"] = operator_login
        session["_fresh"] = True
    cookie = client.get_cookie("session")
    os.makedirs(directory, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox"])
        context = browser.new_context(viewport={"width": 1280, "height": 800}, locale="zh-CN")
        context.add_cookies([{"name": "session", "value": cookie.value, "url": base}])
        page = context.new_page()
        for name, path in (("dashboard", "/admin/?range=30d"), ("liability", "/admin/liability")):
            page.goto(base + path)
            page.screenshot(path=f"{directory}/{name}.png", full_page=True)
            print(f"screenshot {directory}/{name}.png")
        browser.close()
    server.shutdown()


if __name__ == "__main__":
    main()
