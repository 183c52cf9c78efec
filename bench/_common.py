"""What the bench scripts share: a database with the demo data, the app under gunicorn with the
production config, logging in through the real form. Loopback only; every server is stopped."""
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

CSRF_RE = re.compile(r'(?:name="csrf_token"[^>]*value="|"X-CSRFToken": ")([^"]+)"')
KEY_RE = re.compile(r'name="request_key"[^>]*value="([0-9a-f]{32})"')
DEMO_MEMBER = ("13700000001", "member12345")
DEMO_STAFF = ("13900000001", "staff12345")


def machine():
    """'2 cores, <CPU model>' for the figures' heading."""
    model = "unknown CPU"
    try:
        for line in open("/proc/cpuinfo", encoding="utf-8"):
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{os.cpu_count()} cores, {model}"


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def database_url(tmp):
    """DATABASE_URL when given (PostgreSQL: emptied and refilled), else a new SQLite file."""
    return os.environ.get("DATABASE_URL") or f"sqlite:///{tmp}/bench.db"


def sqlalchemy_url(url):
    """DATABASE_URL as SQLAlchemy names it (postgresql:// is psycopg 3 here)."""
    return "postgresql+psycopg://" + url[len("postgresql://"):] if url.startswith("postgresql://") else url


def prepare_database(url, upload_dir, extra=None):
    """Empty the database, create the tables, load the demo data; `extra(app)` may add more."""
    from app import create_app
    from app.config import TestConfig
    from app.extensions import db
    from app.seeds import seed_demo

    class Config(TestConfig):
        SQLALCHEMY_DATABASE_URI = sqlalchemy_url(url)
        UPLOAD_DIR = upload_dir
        RATELIMIT_ENABLED = False

    app = create_app(Config)
    with app.app_context():
        db.drop_all()
        db.create_all()
        seed_demo()
        if extra:
            extra(app)
        db.session.remove()
        db.engine.dispose()
    return app


def production_env(url, upload_dir, cache_dir):
    """The production config's environment, on loopback HTTP (so the session cookie is not Secure)."""
    return {
        **os.environ, "APP_ENV": "production", "DATABASE_URL": url, "SECRET_KEY": "bench-" + "x" * 40,
        "SITE_URL": "http://127.0.0.1", "SESSION_COOKIE_SECURE": "false", "RATELIMIT_ENABLED": "false",
        "UPLOAD_DIR": upload_dir, "CACHE_DIR": cache_dir,
        # Production refuses the sandbox provider; WeChat Pay is configured but never called by the bench.
        "PAYMENT_PROVIDER": "wechat", "WECHAT_APP_ID": "wx-bench", "WECHATPAY_MCHID": "bench",
        "WECHATPAY_CERT_SERIAL_NO": "bench", "WECHATPAY_PRIVATE_KEY_PATH": "/nonexistent",
        "WECHATPAY_APIV3_KEY": "x" * 32, "WECHATPAY_CERT_DIR": cache_dir,
    }


@contextmanager
def gunicorn(app_spec, env, cwd=ROOT, workers=2, threads=1, worker_class="sync", log=None):
    """gunicorn serving `app_spec` on a free loopback port; yields its base URL. worker_class
    "gthread" (as in production) keeps idle kept-alive connections in a poller, not in a worker,
    with `threads` threads per worker; "sync" workers serve one connection at a time."""
    port = free_port()
    args = [sys.executable, "-m", "gunicorn", "-w", str(workers), "-b", f"127.0.0.1:{port}",
            "--log-level", "warning", "--graceful-timeout", "5", "--worker-class", worker_class]
    if worker_class == "gthread" or threads > 1:
        args += ["--threads", str(threads)]
    stderr = open(log, "w") if log else subprocess.DEVNULL
    proc = subprocess.Popen(args + [app_spec], cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=stderr,
                            start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(200):
            try:
                requests.get(base + "/", timeout=5)
                break
            except (requests.ConnectionError, requests.Timeout):
                if proc.poll() is not None:
                    raise SystemExit(f"gunicorn {app_spec} exited (see {log})")
                time.sleep(0.1)
        else:
            raise SystemExit(f"gunicorn {app_spec} did not start")
        yield base, proc
    finally:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=15)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            os.killpg(proc.pid, signal.SIGKILL)


def login(base, phone, password):
    """A requests.Session logged in through the real form."""
    session = requests.Session()
    session.trust_env = False
    token = CSRF_RE.search(session.get(base + "/login").text).group(1)
    response = session.post(base + "/login", data={"csrf_token": token, "phone": phone, "password": password},
                            allow_redirects=False)
    if response.status_code != 303:
        raise SystemExit(f"login as {phone} failed: {response.status_code}")
    return session


def workdir(prefix):
    return tempfile.mkdtemp(prefix=prefix)
