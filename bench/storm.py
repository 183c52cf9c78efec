"""Storms through real HTTP against gunicorn, then reconciliation: nothing oversold, no negative
balance, nothing charged or used twice.

    .venv/bin/python bench/storm.py [--n 300] [--threads 96] [--client auto|wrk|python] [--restart-db]
                                    [--workers 4] [--worker-threads 1]

Builds a database with the demo data (a temporary SQLite file; with DATABASE_URL, that PostgreSQL
database, emptied first), N members holding points, a voucher product with N/2 in stock and a
treasure round of N/2 shares. Serves the mall with the production config under gunicorn (4
gthread workers of 1 thread, as the README's production command runs it on two cores) and fires, N at
once each: redemptions, draws, treasure-share purchases, check-ins (a quarter of them twice),
and the counter verifying every voucher sold - each code twice at once. Every answer is a success,
an expected refusal (sold out, limit, already done) or an error; prints successes/s per storm,
then runs `flask points reconcile` and checks the database directly. Exits 1 on any error answer,
oversell, negative balance, double charge or reconciliation difference.

--client: who fires the storms. wrk (the default when wrk is installed; bench/storm.lua) sends the
same prepared POSTs - each member's cookie and CSRF token, a fresh request key each - from C, over
--threads kept-alive connections, so the client takes little of the CPU the server shares; every
answer is written down and judged here as the Python client's are. gunicorn then keeps idle
connections for 300 s (--keep-alive): a connection with nothing left to send waits in gunicorn's
poller, where a reconnected idle one would hold a worker thread until it timed out, and no kept-alive
connection is closed under a request in flight. python: requests from a pool of --threads threads,
a new connection per POST.

--restart-db (PostgreSQL only): restarts PostgreSQL (pg_ctl restart -m fast; the data directory
from --pg-data, PGDATA, or PGTEST_DIR/data as scripts/pg-test-server makes it) in the middle of
a redemption storm (always from the Python client: each 503 is matched to its request key).
Answers during the outage must be clean 503s, and no redemption whose 503 said "nothing was
done" may have committed (its request key is looked up); afterwards the same gunicorn workers
must serve again (pool pre-ping) and reconciliation must stay clean.
"""
import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from urllib.parse import urlencode

import requests

from _common import (CSRF_RE, DEMO_STAFF, ROOT, database_url, gunicorn, login, machine, prepare_database,
                     production_env, sqlalchemy_url, workdir)

PASSWORD = "storm-pass-1"
EXPECTED = ("库存不足", "已兑完", "已售罄", "已结束", "仅剩", "已经签到", "今天已签到", "次数已用完", "已用完",
            "已核销", "已使用", "每人限", "限兑")


def seed(n):
    def extra(app):
        from sqlalchemy import select

        from app.extensions import db
        from app.models import Merchant
        from app.services import accounts, catalog, ledger, treasure_config
        from app.services.tx import write_transaction

        merchant = db.session.execute(select(Merchant).order_by(Merchant.id)).scalars().first()
        for i in range(n):
            user = accounts.register_member(f"136{i:08d}", PASSWORD)
            with write_transaction():
                ledger.earn(user.id, 5000, "adjust", key="storm", growth=False)
        catalog.create_product(name="风暴代金券", kind="voucher", points_price=100, stock=n // 2,
                               merchant_id=merchant.id, face_value_fen=1000)
        treasure_config.create_item("风暴夺宝", max(2, n // 2), 10, prize_points=100)
    return extra


class Tally:
    def __init__(self, name):
        self.name, self.ok, self.refused, self.errors, self.lock = name, 0, 0, [], threading.Lock()

    def add(self, kind, detail=""):
        with self.lock:
            if kind == "ok":
                self.ok += 1
            elif kind == "refused":
                self.refused += 1
            else:
                self.errors.append(detail)


def classify(response, success_statuses=(303,), ok_text=None):
    if response is None:
        return "error", "no answer"
    text = response.text if response.status_code != 303 else ""
    if response.status_code == 303 and "/login" in response.headers.get("Location", ""):
        return "error", "redirected to /login"
    if response.status_code in success_statuses and (ok_text is None or ok_text in text):
        return "ok", ""
    if response.status_code == 503:
        return "unavailable", "503"
    if response.status_code >= 500:
        return "error", f"{response.status_code}"
    if any(word in text for word in EXPECTED) or response.status_code in (409, 422):
        return "refused", ""
    return "error", f"{response.status_code} {text[:120]!r}"


@dataclass
class Shot:
    """One POST of a storm: whose session, where, the form (a fresh request key in it), htmx or not."""
    session: object
    path: str
    data: dict
    htmx: bool = False
    judge: dict = field(default_factory=dict)  # classify()'s success_statuses / ok_text


def storm(name, jobs, threads):
    """Run the jobs (callables returning (kind, detail)) all at once; print and return the tally."""
    tally = Tally(name)

    def run(job):
        try:
            tally.add(*job())
        except requests.RequestException as exc:
            tally.add("error", type(exc).__name__)

    start = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(run, jobs))
    return _report(tally, len(jobs), time.perf_counter() - start)


def _report(tally, sent, elapsed):
    print(f"{tally.name:22} {sent:5} sent {tally.ok:5} ok {tally.refused:5} refused {len(tally.errors):4} errors "
          f"{elapsed:6.2f} s  {tally.ok / elapsed:7.1f} successes/s")
    for detail in sorted(set(tally.errors))[:5]:
        print(f"    error: {detail}")
    return tally


def fire(name, shots, base, options):
    """One storm of shots, through wrk or the Python client (options.client)."""
    if options.client == "wrk":
        return wrk_storm(name, shots, base, options.threads)
    return storm(name, [lambda shot=shot: classify(post(shot.session, base, shot.path, shot.data, shot.htmx),
                                                   **shot.judge) for shot in shots], options.threads)


class _Answer:
    """What wrk wrote down of one answer, shaped as classify() reads a requests.Response."""

    def __init__(self, status, location, body):
        self.status_code, self.headers, self.text = status, {"Location": location}, body


def wrk_storm(name, shots, base, connections):
    """All shots at once from wrk (bench/storm.lua), each sent once; every answer judged by classify()."""
    tmp = tempfile.mkdtemp(prefix="storm-wrk-")
    threads = min(2, len(shots))
    # wrk hands the lines out by position (thread k: lines k, k+threads, ...): keep the judges in step.
    judges = [[] for _ in range(threads)]
    with open(f"{tmp}/requests.tsv", "w", encoding="utf-8") as out:
        for i, shot in enumerate(shots):
            cookie = "; ".join(f"{c.name}={c.value}" for c in shot.session.cookies)
            body = urlencode({"csrf_token": shot.session.csrf, **shot.data})
            out.write(f"{shot.path}\t{cookie}\t{shot.session.csrf if shot.htmx else '-'}\t{body}\n")
            judges[i % threads].append(shot.judge)
    start = time.perf_counter()
    wrk = subprocess.Popen([WRK, "-t", str(threads), "-c", str(max(connections, threads)), "-d", "120s",
                            "--timeout", "60s", "-s", str(ROOT / "bench" / "storm.lua"), base, "--",
                            f"{tmp}/requests.tsv", tmp, str(threads)],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    while wrk.poll() is None and not all(os.path.exists(f"{tmp}/done-{k}") for k in range(threads)):
        time.sleep(0.005)
    elapsed = time.perf_counter() - start  # until the last answer (or wrk gave up after 120 s)
    wrk.send_signal(signal.SIGINT)  # wrk otherwise waits out its duration
    out, err = wrk.communicate(timeout=30)
    tally = Tally(name)
    for k in range(threads):
        answers = _wrk_answers(f"{tmp}/answers-{k}.bin")
        for answer, judge in zip(answers, judges[k]):
            tally.add(*classify(answer, **judge))
        for _missing in judges[k][len(answers):]:
            tally.add("error", "no answer")
    if wrk.returncode != 0 or err.strip():
        tally.add("error", f"wrk exited {wrk.returncode}: {err.strip()[:200]}")
    shutil.rmtree(tmp, ignore_errors=True)
    _report(tally, len(shots), elapsed)
    sockets = next((line for line in out.splitlines() if line.startswith("storm-wrk ")), "")
    if any(int(word) for word in sockets.split() if word.isdigit()):
        print("    " + sockets)
    return tally


def _wrk_answers(path):
    answers = []
    if not os.path.exists(path):
        return answers
    with open(path, "rb") as answers_file:
        data = answers_file.read()
    at = 0
    while b"\n" in data[at:at + 64]:  # a record cut short (wrk stopped mid-answer) is no answer
        end = data.index(b"\n", at)
        status, location_length, body_length = (int(x) for x in data[at:end].split())
        at = end + 1
        if at + location_length + body_length > len(data):
            break
        location = data[at:at + location_length].decode()
        at += location_length
        answers.append(_Answer(status, location, data[at:at + body_length].decode("utf-8", "replace")))
        at += body_length
    return answers


WRK = shutil.which("wrk") or ("/usr/bin/wrk" if os.path.exists("/usr/bin/wrk") else None)


def post(session, base, path, data, htmx=False):
    # A fresh connection per request: a kept-alive one the server is closing just then would be a
    # client-side reset, not an answer (requests does not resend a POST).
    headers = {"Connection": "close", **({"HX-Request": "true", "X-CSRFToken": session.csrf} if htmx else {})}
    return session.post(base + path, data={"csrf_token": session.csrf, **data}, headers=headers,
                        allow_redirects=False, timeout=60)


def member_session(base, i, page):
    session = login(base, f"136{i:08d}", PASSWORD)
    session.csrf = CSRF_RE.search(session.get(base + page).text).group(1)
    return session


def pg_restart(data_dir):
    binary = sorted(d for d in os.listdir("/usr/lib/postgresql"))[-1]
    pg_ctl = f"/usr/lib/postgresql/{binary}/bin/pg_ctl"
    command = f"{pg_ctl} -D {data_dir} -m fast -w restart"
    if os.geteuid() == 0:
        command = f"su postgres -s /bin/sh -c '{command}'"
    started = time.perf_counter()
    subprocess.run(command, shell=True, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


def ids(base, session):
    import re
    products = session.get(base + "/products?q=风暴").text
    product = re.search(r'href="/products/(\d+)"', products).group(1)
    draw = re.search(r'href="/draw/(\d+)"', session.get(base + "/draws").text).group(1)
    rounds = session.get(base + "/treasure").text
    round_id = max(int(x) for x in re.findall(r'href="/treasure/(\d+)"', rounds))
    return product, draw, round_id


def database_checks(url, env):
    """Direct checks after the storms; returns a list of problems."""
    from sqlalchemy import create_engine, text

    engine = create_engine(sqlalchemy_url(url))
    problems = []
    with engine.connect() as conn:
        if conn.execute(text("SELECT count(*) FROM products WHERE stock < 0")).scalar():
            problems.append("a product's stock went below zero")
        if conn.execute(text("SELECT count(*) FROM users WHERE points_balance < 0")).scalar():
            problems.append("a member's balance went below zero")
        sold = conn.execute(text("SELECT stock, sold FROM products WHERE name = '风暴代金券'")).one()
        if sold.stock + sold.sold != STORM_N // 2:
            problems.append(f"voucher product: stock {sold.stock} + sold {sold.sold} != {STORM_N // 2}")
        over = conn.execute(text("SELECT count(*) FROM treasure_rounds WHERE sold > total_shares")).scalar()
        if over:
            problems.append("a treasure round sold more shares than it has")
        doubled = conn.execute(text("SELECT count(*) FROM (SELECT user_id, day FROM checkins GROUP BY user_id, day "
                                    "HAVING count(*) > 1) t")).scalar()
        if doubled:
            problems.append(f"{doubled} members checked in twice on one day")
    engine.dispose()
    result = subprocess.run([sys.executable, "-m", "flask", "--app", "wsgi.py", "points", "reconcile"], cwd=ROOT,
                            env={**env, "APP_ENV": "development"}, capture_output=True, text=True)
    print("flask points reconcile:", (result.stdout.strip().splitlines() or ["(no output)"])[-1])
    if result.returncode != 0:
        problems.append("reconciliation found differences:\n" + result.stdout + result.stderr)
    return problems


STORM_N = 300


def main():
    global STORM_N
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=300)
    parser.add_argument("--threads", type=int, default=96)
    parser.add_argument("--client", choices=("auto", "wrk", "python"), default="auto")
    parser.add_argument("--restart-db", action="store_true")
    parser.add_argument("--workers", type=int, default=4, help="gunicorn worker processes")
    parser.add_argument("--worker-threads", type=int, default=1, help="threads per gunicorn worker (gthread)")
    parser.add_argument("--pg-data", default=os.environ.get("PGDATA") or
                        os.path.join(os.environ.get("PGTEST_DIR", "/tmp/pointsmall-pg"), "data"))
    options = parser.parse_args()
    if options.client == "auto":
        options.client = "wrk" if WRK else "python"
    elif options.client == "wrk" and not WRK:
        print("--client wrk: wrk is not installed")
        return 2
    STORM_N = n = options.n
    tmp = workdir("bench-storm-")
    url = database_url(tmp)
    is_pg = url.startswith("postgres")
    if options.restart_db and not is_pg:
        print("--restart-db needs DATABASE_URL pointing at a PostgreSQL this script may restart")
        return 2
    print(f"machine: {machine()}; database: {'PostgreSQL' if is_pg else 'SQLite'}; "
          f"gunicorn {options.workers} workers x {options.worker_threads} threads; "
          f"{n} members, client: {options.client} with {options.threads} "
          f"{'connections' if options.client == 'wrk' else 'threads'}")
    started = time.perf_counter()
    prepare_database(url, f"{tmp}/uploads", extra=seed(n))
    print(f"seeded in {time.perf_counter() - started:.1f} s")
    env = production_env(url, f"{tmp}/uploads", f"{tmp}/cache")
    if options.client == "wrk":
        env["GUNICORN_CMD_ARGS"] = (env.get("GUNICORN_CMD_ARGS", "") + " --keep-alive 300").strip()
    failed = []
    with gunicorn("wsgi:app", env, workers=options.workers, threads=options.worker_threads, worker_class="gthread",
                  log=f"{tmp}/mall.log") as (base, proc):
        pids_before = subprocess.run(["pgrep", "-P", str(proc.pid)], capture_output=True, text=True).stdout.split()
        first = member_session(base, 0, "/products")
        product, draw, round_id = ids(base, first)
        with ThreadPoolExecutor(16) as pool:
            members = list(pool.map(lambda i: member_session(base, i, f"/products/{product}"), range(n)))
        staff = [login(base, *DEMO_STAFF) for _ in range(8)]
        for session in staff:
            session.csrf = CSRF_RE.search(session.get(base + "/merchant/verify").text).group(1)
        print(f"{n} members and 8 counter sessions logged in\n")

        said_undone = []  # request keys of 503s that told the member nothing happened

        def redeem(session):
            def job():
                key = uuid.uuid4().hex
                response = post(session, base, f"/products/{product}/redeem",
                                {"quantity": "1", "confirmed": "1", "request_key": key})
                if response is not None and response.status_code == 503 and "没有生效" in response.text:
                    said_undone.append(key)
                return classify(response)
            return job

        tallies = []
        if options.restart_db:
            half = n // 2
            restart = {}

            def restart_midway():
                time.sleep(0.3)
                restart["seconds"] = pg_restart(options.pg_data)

            restarter = threading.Thread(target=restart_midway)
            restarter.start()
            outage = storm("redeem (PG restarts)", [redeem(s) for s in members[:half]] * 4, options.threads)
            restarter.join()
            print(f"    PostgreSQL restarted in {restart.get('seconds', 0):.1f} s; answers during it: "
                  f"{len(outage.errors)} non-success, all 503: {set(outage.errors) <= {'503'}}")
            if not set(outage.errors) <= {"503"}:
                failed.append("answers other than 503 while PostgreSQL restarted")
            done_anyway = _keys_used(url, said_undone)
            print(f"    503s saying nothing was done: {len(said_undone)}; of them done after all: {done_anyway}")
            if done_anyway:
                failed.append(f"{done_anyway} answers said nothing was done, but the redemption was")
            outage.errors = []
            tallies.append(outage)
        def key():
            return uuid.uuid4().hex

        tallies.append(fire("redeem", [Shot(s, f"/products/{product}/redeem",
                                            {"quantity": "1", "confirmed": "1", "request_key": key()})
                                       for s in members], base, options))
        tallies.append(fire("draw", [Shot(s, f"/draw/{draw}/play", {"confirmed": "1", "request_key": key()})
                                     for s in members], base, options))
        tallies.append(fire("treasure share", [Shot(s, f"/treasure/{round_id}/buy",
                                                    {"quantity": "1", "confirmed": "1", "request_key": key()},
                                                    judge={"success_statuses": (303, 200)})
                                               for s in members], base, options))
        tallies.append(fire("check-in (+25% twice)",
                            [Shot(s, "/checkin", {"request_key": key()}, htmx=True,
                                  judge={"success_statuses": (200,), "ok_text": "签到成功"})
                             for s in members + members[: n // 4]], base, options))
        codes = [row for row in _voucher_codes(url)]
        tallies.append(fire("verify (each code x2)",
                            [Shot(staff[i % len(staff)], "/merchant/verify/confirm", {"code": code, "request_key": key()})
                             for i, code in enumerate(codes * 2)], base, options))
        for tally in tallies:
            if tally.errors:
                failed.append(f"{tally.name}: {len(tally.errors)} error answers")
        pids_after = subprocess.run(["pgrep", "-P", str(proc.pid)], capture_output=True, text=True).stdout.split()
        if options.restart_db:
            same = sorted(pids_before) == sorted(pids_after)
            print(f"gunicorn workers after the restart: {'the same processes' if same else 'replaced'}")
    print()
    failed += database_checks(url, env)
    for problem in failed:
        print("PROBLEM:", problem)
    print("storm: clean" if not failed else "storm: FAILED")
    return 1 if failed else 0


def _keys_used(url, keys):
    """How many of these redemption request keys did commit (their key row holds the order)."""
    if not keys:
        return 0
    from sqlalchemy import bindparam, create_engine, text

    engine = create_engine(sqlalchemy_url(url))
    with engine.connect() as conn:
        used = conn.execute(text("SELECT count(*) FROM idempotency_keys WHERE scope = 'redeem' AND key IN :keys")
                            .bindparams(bindparam("keys", expanding=True)), {"keys": keys}).scalar_one()
    engine.dispose()
    return used


def _voucher_codes(url):
    from sqlalchemy import create_engine, text

    engine = create_engine(sqlalchemy_url(url))
    with engine.connect() as conn:
        codes = conn.execute(text("SELECT v.code FROM vouchers v JOIN products p ON p.id = v.product_id "
                                  "WHERE v.status = 'active' AND p.name = '风暴代金券'")).scalars().all()
    engine.dispose()
    return codes


if __name__ == "__main__":
    sys.exit(main())
