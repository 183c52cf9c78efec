"""Print performance figures: HTTP throughput under concurrency, ledger spends, redemptions,
check-ins and draws over HTTP, and page weight.

Bounded in time and count; targets 127.0.0.1 only. Uses a temporary SQLite database
(or DATABASE_URL if set — it is emptied and filled with bench data). Serves with gunicorn
as in production; `--dev-server` uses werkzeug's threaded server instead.
"""
import gzip
import logging
import re
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests
from werkzeug.serving import make_server

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app import create_app  # noqa: E402
from app.config import TestConfig, _database_url  # noqa: E402
from app.extensions import db  # noqa: E402
from app.models import DrawPlay, Product  # noqa: E402
from app.seeds import seed_demo  # noqa: E402
from app.services import accounts, ledger  # noqa: E402
from app.services.tx import write_transaction  # noqa: E402

REQUESTS = int(os.environ.get("BENCH_REQUESTS", 600))
CONCURRENCY = int(os.environ.get("BENCH_CONCURRENCY", 20))


CSRF_RE = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')
KEY_RE = re.compile(r'name="request_key"[^>]*value="([0-9a-f]{32})"')
UPLOAD_DIR = tempfile.mkdtemp(prefix="bench-uploads-")


def build_app():
    tmp = tempfile.mkdtemp()
    url = _database_url() if os.environ.get("DATABASE_URL") else f"sqlite:///{tmp}/bench.db"

    class Config(TestConfig):
        SQLALCHEMY_DATABASE_URI = url
        UPLOAD_DIR = globals()["UPLOAD_DIR"]
        RATELIMIT_ENABLED = False
        WTF_CSRF_ENABLED = True
        SQLALCHEMY_ENGINE_OPTIONS = {"pool_size": 20, "max_overflow": 40}

    app = create_app(Config)
    with app.app_context():
        db.drop_all()
        db.create_all()
        seed_demo()  # the demo catalogue, draws and check-in rules: real pages to load
        db.session.remove()
    return app, url


def hit(base, path, session, n, results):
    for _ in range(n):
        start = time.perf_counter()
        try:
            status = session.get(base + path).status_code
        except requests.ConnectionError:  # counted, not fatal: a reset is a figure too
            status = 0
        results.append((time.perf_counter() - start, status))


def login(base, phone, password):
    """A requests.Session logged in through the real form."""
    session = requests.Session()
    session.trust_env = False
    token = CSRF_RE.search(session.get(base + "/login").text).group(1)
    session.post(base + "/login", data={"csrf_token": token, "phone": phone, "password": password})
    return session


def bench_members(app, n, points):
    """n members (phones 1360000xxxx) holding `points` each; returns their phones."""
    phones = [f"136{i:08d}" for i in range(n)]
    with app.app_context():
        for phone in phones:
            user = accounts.register_member(phone, "bench-pass")
            with write_transaction():
                ledger.earn(user.id, points, "adjust", key="bench", growth=False)
        db.session.remove()
    return phones


def http_figures(app, base):
    with app.app_context():
        accounts.register_member("13500000001", "bench-pass-1")
        product_id = db.session.execute(db.select(Product.id).order_by(Product.id)).scalars().first()
        db.session.remove()
    pages = [("/healthz", False), ("/", True), ("/products", True), (f"/products/{product_id}", True),
             ("/me", True), ("/me/points", True), ("/checkin", True), ("/draw/1", True)]
    for path, logged_in in pages:
        results = []
        sessions = [login(base, "13500000001", "bench-pass-1") if logged_in else requests.Session()
                    for _ in range(CONCURRENCY)]
        per = REQUESTS // CONCURRENCY
        start = time.perf_counter()
        threads = [threading.Thread(target=hit, args=(base, path, s, per, results)) for s in sessions]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.perf_counter() - start
        latencies = sorted(r[0] for r in results)
        bad = sum(1 for r in results if r[1] != 200)
        print(f"GET {path:12s} {len(results)} req, {CONCURRENCY} clients: {len(results) / elapsed:7.1f} req/s, "
              f"p50 {statistics.median(latencies) * 1000:6.1f} ms, p95 {latencies[int(len(latencies) * .95)] * 1000:6.1f} ms, "
              f"failed or non-200: {bad}")


def ledger_figures(app):
    with app.app_context():
        user = accounts.register_member("13500000002", "bench-pass-2")
        with write_transaction():
            ledger.earn(user.id, 100000, "adjust", key="bench")
        user_id = user.id
        db.session.remove()

    def spend(i):
        with app.app_context():
            with write_transaction():
                ledger.spend(user_id, 1, "redeem", key=f"bench:{i}")
            db.session.remove()

    n = 1000
    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=CONCURRENCY) as pool:
        list(pool.map(spend, range(n)))
    elapsed = time.perf_counter() - start
    with app.app_context():
        assert ledger.reconcile() == []
    print(f"ledger: {n} concurrent spends on one member ({CONCURRENCY} threads): {n / elapsed:7.1f} spends/s, reconcile ok")


def post_storm(base, sessions, page, action, data, ok_status=(303,)):
    """Every session GETs `page` for its tokens, then all POST `action` at once; returns (ok, seconds)."""
    forms = []
    for session in sessions:
        html = session.get(base + page).text
        key = KEY_RE.search(html)
        forms.append({"csrf_token": CSRF_RE.search(html).group(1), "request_key": key.group(1) if key else "", **data})
    barrier = threading.Barrier(len(sessions))
    codes = []

    def fire(session, form):
        barrier.wait()
        try:
            codes.append(session.post(base + action, data=form, allow_redirects=False, timeout=120).status_code)
        except requests.ConnectionError:
            codes.append(0)

    start = time.perf_counter()
    threads = [threading.Thread(target=fire, args=pair) for pair in zip(sessions, forms)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sum(1 for c in codes if c in ok_status), time.perf_counter() - start


def action_figures(app, base):
    """Redemptions, check-ins and draws: N members acting at the same instant over HTTP."""
    n = min(REQUESTS // 3, 200)
    phones = bench_members(app, n, 100000)
    sessions = [login(base, phone, "bench-pass") for phone in phones]
    with app.app_context():
        product_id = db.session.execute(db.select(Product.id).where(
            Product.kind == "coupon", Product.cash_fen == 0, Product.stock >= 10)).scalars().first()
        with write_transaction():
            db.session.get(Product, product_id).stock = 10
        db.session.remove()
    page = f"/products/{product_id}"
    ok, seconds = post_storm(base, sessions, page, page + "/redeem", {"quantity": "1", "confirmed": "1"})
    with app.app_context():
        stock = db.session.get(Product, product_id).stock
        assert ledger.reconcile() == []
        db.session.remove()
    assert (ok, stock) == (10, 0), f"the redeem storm sold {ok} of 10 (stock left {stock})"
    print(f"redeem storm: {n} members tap at once on stock 10: {ok} orders, stock left {stock}, "
          f"{n / seconds:6.1f} requests/s, all answered in {seconds:.2f} s; reconcile ok")
    ok, seconds = post_storm(base, sessions, "/checkin", "/checkin", {}, ok_status=(200, 303))
    print(f"check-in storm: {n} members at once: {ok} answered OK, {n / seconds:6.1f} check-ins/s")
    ok, seconds = post_storm(base, sessions, "/draw/1", "/draw/1/play", {"confirmed": "1"})
    with app.app_context():
        assert ledger.reconcile() == []
        played = db.session.execute(db.select(db.func.count(DrawPlay.id)).where(DrawPlay.draw_id == 1)).scalar()
        db.session.remove()
    assert ok == played == n, f"the draw storm: {ok} answered, {played} plays of {n}"
    print(f"draw storm: {n} members play at once: {ok} draws, {n / seconds:6.1f} draws/s; reconcile ok")
    for session in sessions:
        session.close()


def page_weight(base):
    """Bytes a phone downloads for a page with its CSS and JS (first visit, nothing cached)."""
    session = login(base, "13500000001", "bench-pass-1")
    for path in ("/register", "/", "/products/1", "/checkin", "/draw/1"):
        html = session.get(base + path).content
        assets = re.findall(rb'(?:href|src)="(/static/[^"]+\.(?:css|js))', html)
        bodies = [html] + [session.get(base + a.decode()).content for a in assets]
        eager = [re.search(rb'src="(/static/[^"]+)"', tag) for tag in re.findall(rb"<img[^>]+>", html)
                 if b'loading="lazy"' not in tag]
        image_bytes = sum(len(session.get(base + m.group(1).decode()).content) for m in eager if m)
        total = sum(len(b) for b in bodies)
        gz = sum(len(gzip.compress(b)) for b in bodies)
        print(f"page weight {path:12s}: html+css+js {total / 1024:6.1f} KiB ({len(assets)} files), "
              f"gzipped {gz / 1024:5.1f} KiB; images loaded eagerly {image_bytes / 1024:6.1f} KiB")


def _free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_gunicorn(url):
    """gunicorn as the README runs it in production (4 gthread workers of 1 thread) on the bench database."""
    port = _free_port()
    env = {**os.environ, "DATABASE_URL": url, "APP_ENV": "development", "RATELIMIT_ENABLED": "false",
           "UPLOAD_DIR": UPLOAD_DIR}
    root = Path(__file__).resolve().parent.parent
    proc = subprocess.Popen([sys.executable, "-m", "gunicorn", "-w", "4", "--worker-class", "gthread", "--threads", "1",
                             "-b", f"127.0.0.1:{port}", "--log-level", "warning", "wsgi:app"], cwd=root, env=env,
                            stdout=subprocess.DEVNULL, stderr=open(root / "instance" / "bench-gunicorn.log", "w"))
    base = f"http://127.0.0.1:{port}"
    for _ in range(100):
        try:
            requests.get(base + "/healthz", timeout=5)
            return proc, base
        except (requests.ConnectionError, requests.Timeout):
            time.sleep(0.1)
    proc.kill()
    raise SystemExit("gunicorn did not start")


def main():
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    app, url = build_app()
    use_gunicorn = "--dev-server" not in sys.argv
    if use_gunicorn:
        proc, base = start_gunicorn(url)
        server_name = "gunicorn 4 gthread workers x 1 thread"
    else:
        server = make_server("127.0.0.1", 0, app, threaded=True)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        base = f"http://127.0.0.1:{server.server_port}"
        server_name = "werkzeug threaded dev server"
    print(f"database: {url.split('@')[-1]}; server: {server_name}; {os.cpu_count()} cores")
    try:
        http_figures(app, base)
        ledger_figures(app)
        action_figures(app, base)
        page_weight(base)
    finally:
        if use_gunicorn:
            proc.terminate()
            proc.wait(timeout=10)
        else:
            server.shutdown()


if __name__ == "__main__":
    main()
