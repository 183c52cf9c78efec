"""Static files: content-hashed names cached for a year, one stylesheet and one script per member
page (bundles), compressed for clients that accept it, revalidated under any other name."""
import gzip
import re
import shutil
from pathlib import Path

import brotli
import pytest

from app.routes.assets import BUNDLES

ASSET = re.compile(r'<(?:link rel="stylesheet"|script)[^>]*(?:href|src)="(/static/[^"]+)"')
HASHED = re.compile(r"^/static/(?P<path>.+)\.(?P<digest>[0-9a-f]{10})\.(?P<ext>css|js|svg)$")


def _assets(client, path):
    page = client.get(path)
    assert page.status_code == 200
    return ASSET.findall(page.get_data(as_text=True))


@pytest.mark.parametrize("path", ["/", "/products", "/checkin", "/tasks", "/me", "/draws", "/treasure", "/invite",
                                  "/orders", "/me/coupons"])
def test_a_member_page_loads_one_stylesheet_and_one_script_under_hashed_names(member_client, path):
    urls = _assets(member_client, path)
    styles = [u for u in urls if u.endswith(".css")]
    scripts = [u for u in urls if u.endswith(".js")]
    assert len(styles) == 1 and len(scripts) == 1, urls
    for url in urls:
        assert HASHED.match(url), url
        response = member_client.get(url)
        assert response.status_code == 200
        assert response.headers["Cache-Control"] == "public, max-age=31536000, immutable"


def test_a_bundle_is_its_files_in_order_and_compressed_as_asked(app, client):
    url = next(u for u in _assets(client, "/products") if u.endswith(".css"))
    assert HASHED.match(url)["path"] == "bundle/shop"
    plain = client.get(url).get_data()
    parts = [(Path(app.static_folder) / name).read_bytes() for name in BUNDLES["bundle/shop.css"]]
    assert plain == b"\n".join(parts)
    gz = client.get(url, headers={"Accept-Encoding": "gzip"})
    assert gz.headers["Content-Encoding"] == "gzip" and gzip.decompress(gz.get_data()) == plain
    br = client.get(url, headers={"Accept-Encoding": "br, gzip"})
    assert br.headers["Content-Encoding"] == "br" and brotli.decompress(br.get_data()) == plain
    assert "Accept-Encoding" in br.headers["Vary"]
    assert len(gz.get_data()) < len(plain) / 2


def test_scripts_in_a_bundle_stay_separate_statements(client):
    url = next(u for u in _assets(client, "/") if u.endswith(".js"))
    body = client.get(url).get_data(as_text=True)
    assert "\n;\n" in body  # htmx's last expression never calls the next file's opening parenthesis


def test_a_changed_file_gets_a_new_name(app, client, tmp_path, monkeypatch):
    static = tmp_path / "static"
    shutil.copytree(app.static_folder, static, ignore=shutil.ignore_patterns("uploads"))
    monkeypatch.setattr(app, "static_folder", str(static))
    css = next(u for u in _assets(client, "/login") if u.endswith(".css"))
    with open(static / "css" / "app.css", "ab") as f:
        f.write(b"\n/* changed */\n")
    again = next(u for u in _assets(client, "/login") if u.endswith(".css"))
    assert again != css and client.get(again).get_data().endswith(b"/* changed */\n")
    old = client.get(css)  # a page from before the change still gets its styles, not kept for a year
    assert old.status_code == 200 and old.headers["Cache-Control"] == "no-cache"


def test_an_unhashed_name_is_revalidated(client):
    response = client.get("/static/css/app.css")
    assert response.status_code == 200 and response.headers["Cache-Control"] == "no-cache"
    etag = response.headers["ETag"]
    again = client.get("/static/css/app.css", headers={"If-None-Match": etag})
    assert again.status_code == 304


@pytest.mark.parametrize("path", ["/static/nope.css", "/static/../config.py", "/static/..%2fapp%2fconfig.py",
                                  "/static/bundle/nope.js", "/static/css/app.0123456789.css.map", "/static/"])
def test_unknown_static_names_are_not_found(client, path):
    assert client.get(path).status_code == 404


def test_the_favicon_is_a_hashed_static_file(client):
    html = client.get("/").get_data(as_text=True)
    icon = re.search(r'<link rel="icon" href="([^"]+)"', html).group(1)
    assert HASHED.match(icon)
    assert client.get(icon).status_code == 200
