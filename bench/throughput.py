"""Member pages against a bare reference page, measured side by side with wrk.

    .venv/bin/python bench/throughput.py [--rounds 2] [--duration 4] [--connections 16]

Builds a database with the demo data (a temporary SQLite file; with DATABASE_URL, that
PostgreSQL database, emptied first), serves the mall with the production config under gunicorn
(2 sync workers) and bench/reference_app.py the same way, logs the demo member in, then drives
both with `wrk -t2 -c16` from 127.0.0.1, alternating reference and mall for every page, for
`--rounds` rounds. Prints req/s, p50 and p99 per page as the member and anonymous, with ratios
to the reference measured next to it (best round of each). Needs wrk (apt-get install wrk).
Prints figures; it asserts nothing about them.
"""
import argparse
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from _common import DEMO_MEMBER, database_url, gunicorn, login, machine, prepare_database, production_env, workdir

BENCH = Path(__file__).resolve().parent
_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1000.0}


def wrk(url, cookie, seconds, connections, script=None):
    """One wrk run: {'rps', 'p50', 'p99' (ms), 'non2xx'}; `script`: a wrk Lua script (a POST's)."""
    args = ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", "-H", "Accept-Encoding: gzip, br"]
    if cookie:
        args += ["-H", f"Cookie: {cookie}"]
    if script:
        args += ["-s", script]
    out = subprocess.run(args + [url], capture_output=True, text=True, timeout=seconds + 30).stdout
    figures = {"rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)), "non2xx": 0}
    for pct in ("50", "99"):
        value, unit = re.search(rf"^\s+{pct}(?:\.000)?%\s+([\d.]+)(us|ms|s)\s*$", out, re.M).groups()
        figures[f"p{pct}"] = float(value) * _UNITS[unit]
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    figures["non2xx"] = int(bad.group(1)) if bad else 0
    return figures


def best(runs):
    return max(runs, key=lambda r: r["rps"])


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--duration", type=int, default=4, help="seconds per wrk run")
    parser.add_argument("--connections", type=int, default=16)
    options = parser.parse_args()
    if shutil.which("wrk") is None:
        print("wrk is not installed: apt-get install wrk")
        return 2
    tmp = workdir("bench-throughput-")
    url = database_url(tmp)
    uploads, cache = f"{tmp}/uploads", f"{tmp}/cache"
    prepare_database(url, uploads)
    ref_env = {**os.environ, "REFERENCE_DATABASE_URL": os.environ.get("DATABASE_URL") or f"sqlite:///{tmp}/ref.db"}
    subprocess.run([sys.executable, "-c", "import reference_app"], cwd=BENCH, env=ref_env, check=True)
    env = production_env(url, uploads, cache)
    print(f"machine: {machine()}; database: {'PostgreSQL' if url.startswith('postgres') else 'SQLite'}; "
          f"gunicorn 2 sync workers each; wrk -t2 -c{options.connections} -d{options.duration}s, "
          f"{options.rounds} rounds, reference and mall alternating")
    with gunicorn("wsgi:app", env, log=f"{tmp}/mall.log") as (base, _), \
            gunicorn("reference_app:app", ref_env, cwd=BENCH, log=f"{tmp}/ref.log") as (ref_base, _):
        member = login(base, *DEMO_MEMBER)
        home = member.get(base + "/products").text
        product = re.search(r'href="/products/(\d+)"', home).group(1)
        draw = re.search(r'href="/draw/(\d+)"', member.get(base + "/draws").text).group(1)
        pages = ["/", "/products", f"/products/{product}", "/checkin", "/me", f"/draw/{draw}"]
        for path in pages:  # the login's welcome message read and a CSRF token issued: the cookie wrk replays is settled
            member.get(base + path)
        cookie = "; ".join(f"{c.name}={c.value}" for c in member.cookies)
        runs = {}
        for _round in range(options.rounds):
            for path in pages:
                for who, jar in (("member", cookie), ("anonymous", None)):
                    ref = wrk(ref_base + "/", None, options.duration, options.connections)
                    mine = wrk(base + path, jar, options.duration, options.connections)
                    runs.setdefault((path, who), []).append((ref, mine))
        print(f"\n{'page':18} {'who':9} {'req/s':>8} {'p50 ms':>7} {'p99 ms':>7} | {'ref r/s':>8} {'ref p99':>7} | "
              f"{'x ref':>6} {'p99 x':>6}  note")
        for (path, who), pairs in runs.items():
            ref, mine = max(pairs, key=lambda pair: pair[1]["rps"])
            note = "redirect to /login" if who == "anonymous" and path in ("/checkin", "/me") else ""
            if mine["non2xx"]:
                note += f" {mine['non2xx']} non-2xx/3xx!"
            print(f"{path:18} {who:9} {mine['rps']:8.0f} {mine['p50']:7.1f} {mine['p99']:7.1f} | {ref['rps']:8.0f} "
                  f"{ref['p99']:7.1f} | {mine['rps'] / ref['rps']:6.2f} {mine['p99'] / ref['p99']:6.2f}  {note}")
        print("\n(best of the rounds for the mall, with the reference run just before it; "
              "targets: /products and the product page >= 1.0x, / and /checkin >= 0.8x, p99 <= 2x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
