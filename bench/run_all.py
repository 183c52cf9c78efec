"""Print performance figures: HTTP throughput under concurrency, ledger spends, page weight.

Bounded in time and count; targets 127.0.0.1 only. Uses a temporary SQLite database
(or DATABASE_URL if set — it is emptied and filled with bench data). Serves with gunicorn
as in production; `--dev-server` uses werkzeug's threaded server instead.
"""
import gzip
import logging
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
from app.services import accounts, ledger  # noqa: E402
from app.services.tx import write_transaction  # noqa: E402

REQUESTS = int(os.environ.get("BENCH_REQUESTS", 600))
CONCURRENCY = int(os.environ.get("BENCH_CONCURRENCY", 20))


def build_app():
    tmp = tempfile.mkdtemp()
    url = _database_url() if os.environ.get("DATABASE_URL") else f"sqlite:///{tmp}/bench.db"

    class Config(TestConfig):
        SQLALCHEMY_DATABASE_URI = url
        RATELIMIT_ENABLED = False
        WTF_CSRF_ENABLED = True
        SQLALCHEMY_ENGINE_OPTIONS = {"pool_size": 20, "max_overflow": 40}

    app = create_app(Config)
    with app.app_context():
        db.drop_all()
        db.create_all()
    return app, url


def hit(base, path, session, n, results):
    for _ in range(n):
        start = time.perf_counter()
        try:
            status = session.get(base + path).status_code
        except requests.ConnectionError:  # counted, not fatal: a reset is a figure too
            status = 0
        results.append((time.perf_counter() - start, status))


def http_figures(app, base):
    with app.app_context():
        accounts.register_member("13500000001", "bench-pass-1")
    for path, login in (("/healthz", False), ("/me", True), ("/me/points", True)):
        results = []
        sessions = []
        for _ in range(CONCURRENCY):
            s = requests.Session()
            if login:
                html = s.get(base + "/login").text
                token = html.split('name="csrf_token" type="hidden" value="')[1].split('"')[0]
                s.post(base + "/login", data={"csrf_token": token, "phone": "13500000001", "password": "bench-pass-1"})
            sessions.append(s)
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


def page_weight(base):
    session = requests.Session()
    html = session.get(base + "/register").content
    css = session.get(base + "/static/css/app.css").content
    js = session.get(base + "/static/vendor/htmx-2.0.11.min.js").content
    total = len(html) + len(css) + len(js)
    gz = sum(len(gzip.compress(x)) for x in (html, css, js))
    print(f"page weight /register: html {len(html)} B, css {len(css)} B, js {len(js)} B; "
          f"total {total / 1024:.1f} KiB, gzipped {gz / 1024:.1f} KiB")


def _free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_gunicorn(url):
    """gunicorn as in production (2 workers x 8 threads) on the bench database."""
    port = _free_port()
    env = {**os.environ, "DATABASE_URL": url, "APP_ENV": "development", "RATELIMIT_ENABLED": "false"}
    root = Path(__file__).resolve().parent.parent
    proc = subprocess.Popen([sys.executable, "-m", "gunicorn", "-w", "2", "--threads", "8", "-b", f"127.0.0.1:{port}",
                             "--log-level", "warning", "wsgi:app"], cwd=root, env=env,
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
        server_name = "gunicorn 2 workers x 8 threads"
    else:
        server = make_server("127.0.0.1", 0, app, threaded=True)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        base = f"http://127.0.0.1:{server.server_port}"
        server_name = "werkzeug threaded dev server"
    print(f"database: {url.split('@')[-1]}; server: {server_name}; {os.cpu_count()} cores")
    try:
        http_figures(app, base)
        ledger_figures(app)
        page_weight(base)
    finally:
        if use_gunicorn:
            proc.terminate()
            proc.wait(timeout=10)
        else:
            server.shutdown()


if __name__ == "__main__":
    main()
