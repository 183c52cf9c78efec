"""Lighthouse (mobile) on the member's pages: performance, accessibility, best practices, SEO, LCP.

    .venv/bin/python bench/lighthouse.py

Installs Lighthouse from the npm registry into bench/.node the first time (pinned below; needs
node and npm), serves the demo data with the production config under gunicorn, logs the demo
member in and runs Lighthouse with Debian's chromium (CHROME_PATH, default /usr/bin/chromium)
on /, /products, a product page, /checkin and a draw page, sending the member's cookie. Prints
the four scores and LCP per page, and the audits that did not pass, so a developer knows what
to fix. Targets: performance 100, accessibility 100, best practices 100, SEO >= 95. Figures only.
"""
import json
import os
import re
import subprocess
import sys
from pathlib import Path

from _common import DEMO_MEMBER, database_url, gunicorn, login, machine, prepare_database, production_env, workdir

LIGHTHOUSE_VERSION = "13.5.0"
NODE_DIR = Path(__file__).resolve().parent / ".node"
BINARY = NODE_DIR / "node_modules" / ".bin" / "lighthouse"


def install():
    if BINARY.exists():
        return
    NODE_DIR.mkdir(exist_ok=True)
    subprocess.run(["npm", "install", "--prefix", str(NODE_DIR), "--no-audit", "--no-fund", "--silent",
                    f"lighthouse@{LIGHTHOUSE_VERSION}"], check=True)


def run(url, cookie, out):
    chrome = os.environ.get("CHROME_PATH", "/usr/bin/chromium")
    args = [str(BINARY), url, "--quiet", "--output=json", f"--output-path={out}", "--form-factor=mobile",
            "--chrome-flags=--headless --no-sandbox --disable-gpu --disable-background-networking",
            f"--extra-headers={json.dumps({'Cookie': cookie})}", "--only-categories=performance,accessibility,"
            "best-practices,seo", "--throttling-method=simulate"]
    subprocess.run(args, check=True, env={**os.environ, "CHROME_PATH": chrome}, timeout=240,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return json.loads(Path(out).read_text())


def main():
    install()
    tmp = workdir("bench-lighthouse-")
    url = database_url(tmp)
    prepare_database(url, f"{tmp}/uploads")
    env = production_env(url, f"{tmp}/uploads", f"{tmp}/cache")
    print(f"machine: {machine()}; Lighthouse {LIGHTHOUSE_VERSION}, mobile, simulated throttling; as the demo member")
    with gunicorn("wsgi:app", env, log=f"{tmp}/mall.log") as (base, _):
        member = login(base, *DEMO_MEMBER)
        product = re.search(r'href="/products/(\d+)"', member.get(base + "/products").text).group(1)
        draw = re.search(r'href="/draw/(\d+)"', member.get(base + "/draws").text).group(1)
        pages = ["/", "/products", f"/products/{product}", "/checkin", f"/draw/{draw}"]
        for path in pages:  # the login's welcome message read: every page sees the same cookie after
            member.get(base + path)
        cookie = "; ".join(f"{c.name}={c.value}" for c in member.cookies)
        print(f"\n{'page':18} {'perf':>5} {'a11y':>5} {'best':>5} {'seo':>5} {'LCP':>8}")
        failing = {}
        for n, path in enumerate(pages):
            report = run(base + path, cookie, f"{tmp}/lh-{n}.json")
            scores = {k: round((v.get("score") or 0) * 100) for k, v in report["categories"].items()}
            lcp = report["audits"]["largest-contentful-paint"]["displayValue"]
            print(f"{path:18} {scores['performance']:5} {scores['accessibility']:5} {scores['best-practices']:5} "
                  f"{scores['seo']:5} {lcp:>8}")
            for category in report["categories"].values():
                for ref in category["auditRefs"]:
                    audit = report["audits"][ref["id"]]
                    if ref.get("weight") and audit.get("score") is not None and audit["score"] < 1:
                        failing.setdefault(f"{ref['id']}: {audit['title']}", []).append(path)
        print("\n(targets: performance 100, accessibility 100, best practices 100, SEO >= 95)")
        if failing:
            print("audits not passed:")
            for audit, paths in sorted(failing.items()):
                print(f"  {audit}  [{', '.join(paths)}]")
    return 0


if __name__ == "__main__":
    sys.exit(main())
