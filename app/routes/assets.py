"""Static files under content-hashed names, cached by browsers for a year, and the member pages'
CSS and JS as one file each.

`url_for('static', filename='css/app.css')` becomes /static/css/app.<hash>.css: the hash is the
file's content, so a changed file gets a new name and a name never changes meaning - the response
says `Cache-Control: public, max-age=31536000, immutable`. A bundle (BUNDLES) is a virtual file
under bundle/ made of several files, so a page loads its styles and scripts in one request each.
Files are read, compressed (brotli, gzip) and hashed once, again only when a file changes on disk.
A name whose hash is not the current one is still served, without the long cache: a page from
before a deploy keeps its look.
"""
import gzip
import hashlib
import mimetypes
import os
import re
import threading
from dataclasses import dataclass

import brotli
from flask import abort, current_app, request
from werkzeug.security import safe_join

# Member pages: the shared styles plus the area's, htmx plus the area's behaviour.
BUNDLES = {
    "bundle/shop.css": ("css/app.css", "css/shop.css"),
    "bundle/engage.css": ("css/app.css", "css/engage.css"),
    "bundle/games.css": ("css/app.css", "css/games.css"),
    "bundle/base.js": ("vendor/htmx-2.0.11.min.js",),
    "bundle/shop.js": ("vendor/htmx-2.0.11.min.js", "js/shop.js"),
    "bundle/games.js": ("vendor/htmx-2.0.11.min.js", "js/games.js"),
    "bundle/invite.js": ("vendor/htmx-2.0.11.min.js", "js/invite.js"),
}
YEAR = 31536000
_HASHED = re.compile(r"^(?P<stem>.+)\.(?P<digest>[0-9a-f]{10})(?P<ext>\.[A-Za-z0-9]+)$")
_COMPRESSIBLE = (".css", ".js", ".svg", ".json", ".txt", ".map")


@dataclass(frozen=True)
class Asset:
    stamp: tuple  # the source files' (mtime, size): rebuilt when one changes
    digest: str
    body: bytes
    gzip: bytes | None
    brotli: bytes | None
    mimetype: str


_assets = {}
_lock = threading.Lock()


def hashed_filename(filename):
    """'css/app.css' -> 'css/app.<hash>.css' (unknown files are left as they are)."""
    asset = _asset(filename)
    if asset is None:
        return filename
    stem, ext = os.path.splitext(filename)
    return f"{stem}.{asset.digest}{ext}"


def add_hash_to_static_urls(endpoint, values):
    """url_defaults: every url_for('static', ...) names the file by its content."""
    if endpoint == "static" and "filename" in values and not _HASHED.match(values["filename"]):
        values["filename"] = hashed_filename(values["filename"])


def serve_static(filename):
    """The static view: a hashed name for a year, anything else revalidated every time."""
    match = _HASHED.match(filename)
    name = match["stem"] + match["ext"] if match else filename
    asset = _asset(name)
    if asset is None:
        abort(404)
    encodings = request.accept_encodings
    body, encoding = asset.body, None
    if asset.brotli is not None and encodings["br"]:
        body, encoding = asset.brotli, "br"
    elif asset.gzip is not None and encodings["gzip"]:
        body, encoding = asset.gzip, "gzip"
    response = current_app.response_class(body, mimetype=asset.mimetype)
    if encoding:
        response.headers["Content-Encoding"] = encoding
    if asset.gzip is not None:
        response.vary.add("Accept-Encoding")
    if match and match["digest"] == asset.digest:
        response.headers["Cache-Control"] = f"public, max-age={YEAR}, immutable"
    else:
        response.headers["Cache-Control"] = "no-cache"
        response.set_etag(asset.digest + (encoding or ""))
        response = response.make_conditional(request)
    return response


def _sources(name):
    files = BUNDLES.get(name, (name,) if not name.startswith("bundle/") else ())
    paths = []
    for relative in files:
        path = safe_join(current_app.static_folder, relative)
        if path is None or not os.path.isfile(path) or "uploads" in relative.split("/")[:1]:
            return None
        paths.append(path)
    return paths or None


def _asset(name):
    paths = _sources(name)
    if paths is None:
        return None
    stamp = tuple((s.st_mtime_ns, s.st_size) for s in map(os.stat, paths))
    asset = _assets.get(name)
    if asset is not None and asset.stamp == stamp:
        return asset
    with _lock:
        parts = []
        for path in paths:
            with open(path, "rb") as f:
                parts.append(f.read())
        body = (b"\n;\n" if name.endswith(".js") else b"\n").join(parts)
        mimetype = mimetypes.guess_type(name)[0] or "application/octet-stream"
        if mimetype.startswith("text/") or mimetype == "application/javascript":
            mimetype += "; charset=utf-8"
        compress = name.endswith(_COMPRESSIBLE) and len(body) > 500
        asset = Asset(stamp=stamp, digest=hashlib.sha256(body).hexdigest()[:10], body=body,
                      gzip=gzip.compress(body, 9, mtime=0) if compress else None,
                      brotli=brotli.compress(body, quality=11) if compress else None, mimetype=mimetype)
        _assets[name] = asset
    return asset


def register_assets(app):
    """Hashed names for url_for('static'), and the static view that serves them."""
    app.url_defaults(add_hash_to_static_urls)
    app.view_functions["static"] = serve_static


__all__ = ["BUNDLES", "hashed_filename", "register_assets", "serve_static"]
