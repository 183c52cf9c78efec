"""The stack's floor, under the storm's gunicorn shape: what a bare Flask app answers on this
machine when it does nothing, next to what the redemption storm's target asks of the mall.

    .venv/bin/python bench/floor.py [--duration 8] [--connections 96] [--workers 4]

Serves bench/reference_app.py with gunicorn as bench/storm.py serves the mall (gthread workers of
one thread) and drives it with wrk from 127.0.0.1: `POST /nothing` (a form answered with a 303,
no session, no query) and `GET /` (the reference page: one query, 20 rows through a template).
Prints answers/s and the CPU time each answer took, all in (gunicorn, Flask, wrk; the cores'
time divided by the answers), and the same for the storm's target: 300 successful redemptions a
second while, as the storm sets up, half of the storm is refused once the stock is gone - 600
answers a second, whatever each answer does. Needs wrk (apt-get install wrk).
"""
import argparse
import os
import shutil
import tempfile

from _common import gunicorn, machine
from throughput import BENCH, wrk

TARGET_ANSWERS = 600  # 300 successes/s, with as many refusals (the storm's stock is half its requests)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=int, default=8, help="seconds per wrk run")
    parser.add_argument("--connections", type=int, default=96)
    parser.add_argument("--workers", type=int, default=4)
    options = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed: apt-get install wrk")
    cores = os.cpu_count()
    print(f"{machine()}; gunicorn {options.workers} gthread workers of 1 thread; "
          f"wrk -t2 -c{options.connections} -d{options.duration}s")
    tmp = tempfile.mkdtemp(prefix="bench-floor-")
    post = os.path.join(tmp, "post.lua")
    with open(post, "w", encoding="utf-8") as script:
        script.write('wrk.method = "POST"\nwrk.body = "quantity=1&confirmed=1"\n'
                     'wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"\n')
    env = {**os.environ, "REFERENCE_DATABASE_URL": f"sqlite:///{tmp}/reference.db"}
    with gunicorn("reference_app:app", env, cwd=BENCH, workers=options.workers, worker_class="gthread") as (base, _):
        runs = {"POST /nothing (303, nothing read)": wrk(base + "/nothing", None, options.duration,
                                                           options.connections, script=post),
                "GET / (the reference page)": wrk(base + "/", None, options.duration, options.connections)}
    shutil.rmtree(tmp, ignore_errors=True)
    for name, run in runs.items():
        if run["non2xx"]:
            raise SystemExit(f"{name}: {run['non2xx']} answers were not 2xx or 3xx")
        print(f"{name:36} {run['rps']:8.0f} answers/s  {cores / run['rps'] * 1000:5.2f} ms of CPU each, all in")
    print(f"{'storm target (300 successes/s)':36} {TARGET_ANSWERS:8.0f} answers/s  "
          f"{cores / TARGET_ANSWERS * 1000:5.2f} ms of CPU each, all in (the database's included)")


if __name__ == "__main__":
    main()
