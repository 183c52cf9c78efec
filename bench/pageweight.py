"""What a phone downloads to show each member page the first time: the HTML, its stylesheets,
scripts and icon (product images aside), as sent on the wire.

    .venv/bin/python bench/pageweight.py

Serves the demo data with the production config under gunicorn, logs the demo member in, and
for every member page asks like a phone (Accept-Encoding: br, gzip, nothing cached) for the page
and each asset it links. Prints per page the requests, the compressed bytes, the HTML's encoding
and every asset's Cache-Control; targets beside them: <= 4 requests, <= 30 KB, static files under
content-hashed names with `public, max-age=31536000, immutable`. Exits 1 when a page or asset
does not load; the figures themselves are reported, not asserted.
"""
import re
import sys

from _common import DEMO_MEMBER, database_url, gunicorn, login, machine, prepare_database, production_env, workdir

ASSET_RE = re.compile(r'<(?:link[^>]+rel="(?:stylesheet|icon|preload|modulepreload)"[^>]*href|script[^>]+src)="([^"]+)"')
HASHED_RE = re.compile(r"\.[0-9a-f]{10}\.[a-z0-9]+$")
IMMUTABLE = "public, max-age=31536000, immutable"
PHONE = {"Accept-Encoding": "br, gzip",
         "User-Agent": "Mozilla/5.0 (Linux; Android 13) AppleWebKit/537.36 Chrome/120 Mobile Safari/537.36"}


def wire_size(session, url):
    """(status, bytes as sent, Content-Encoding, Cache-Control) of one GET, not decompressed."""
    response = session.get(url, headers=PHONE, stream=True)
    body = response.raw.read(decode_content=False)
    return response.status_code, len(body), response.headers.get("Content-Encoding"), \
        response.headers.get("Cache-Control", ""), response


def main():
    tmp = workdir("bench-pageweight-")
    url = database_url(tmp)
    prepare_database(url, f"{tmp}/uploads")
    env = production_env(url, f"{tmp}/uploads", f"{tmp}/cache")
    failed = False
    print(f"machine: {machine()}; production config under gunicorn; as the demo member, first visit")
    with gunicorn("wsgi:app", env, log=f"{tmp}/mall.log") as (base, _):
        member = login(base, *DEMO_MEMBER)
        listing = member.get(base + "/products").text
        product = re.search(r'href="/products/(\d+)"', listing).group(1)
        draw = re.search(r'href="/draw/(\d+)"', member.get(base + "/draws").text).group(1)
        rnd = re.search(r'href="/treasure/(\d+)"', member.get(base + "/treasure").text)
        pages = ["/", "/products", f"/products/{product}", "/checkin", "/tasks", "/me", "/me/points", "/orders",
                 "/draws", f"/draw/{draw}", "/treasure"] + ([f"/treasure/{rnd.group(1)}"] if rnd else []) + \
                ["/invite", "/me/vouchers", "/me/coupons", "/me/addresses", "/me/level", "/promotions"]
        print(f"\n{'page':18} {'requests':>8} {'KB':>6}  html       assets (cache)")
        for path in pages:
            status, size, encoding, _cc, response = wire_size(member, base + path)
            if status != 200:
                print(f"{path:18} HTTP {status}")
                failed = True
                continue
            html = response.content if not encoding else None
            text = (html or member.get(base + path).content).decode("utf-8", "replace")
            total, notes = size, []
            for asset in dict.fromkeys(ASSET_RE.findall(text)):
                a_status, a_size, _a_enc, a_cc, _r = wire_size(member, base + asset)
                failed |= a_status != 200
                total += a_size
                ok = a_cc == IMMUTABLE and HASHED_RE.search(asset)
                notes.append(f"{asset.rsplit('/', 1)[-1]} {a_size / 1024:.1f}K{'' if ok else ' NOT-IMMUTABLE'}")
            requests_made = 1 + len(notes)
            flag = "" if requests_made <= 4 and total <= 30 * 1024 else "  OVER TARGET"
            print(f"{path:18} {requests_made:8} {total / 1024:6.1f}  {(encoding or 'none'):9}  {', '.join(notes)}{flag}")
    print("\n(targets: <= 4 requests and <= 30 KB compressed per page; assets hashed and immutable)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
