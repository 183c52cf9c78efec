"""What a request may carry: ids in paths, integers in query strings, text a database can store.

Wired in create_app: the request class, the `id` URL converter (`/draw/<id:draw_id>`) and the
before-request guard.
"""
import re

from flask import Request, request
from werkzeug.exceptions import BadRequest
from werkzeug.routing import BaseConverter, ValidationError

from app.services.ids import MAX_DB_ID, parse_db_id, parse_int


class MallRequest(Request):
    """Flask's request, minus form parts without a name.

    werkzeug's multipart parser names a part None when its name has a line break in it; Flask-WTF's
    CSRF check then calls None.endswith() (a 500 before any view runs). No browser sends such a part.
    """

    def _load_form_data(self):
        super()._load_form_data()
        for name in ("form", "files"):
            data = self.__dict__[name]
            if None in data:
                self.__dict__[name] = type(data)((k, v) for k, v in data.items(multi=True) if k is not None)


class IdConverter(BaseConverter):
    """A database id in a path: ASCII digits in 1..MAX_DB_ID, else the rule does not match (404)."""

    regex = r"[0-9]+"

    def to_python(self, value):
        parsed = parse_db_id(value)
        if parsed is None:
            raise ValidationError()
        return parsed

    def to_url(self, value):
        return str(int(value))


def int_arg(name, *, lo, hi):
    """The query argument `name` as an int in lo..hi (ASCII digits only); None when absent or bad."""
    return parse_int(request.args.get(name), lo=lo, hi=hi)


def id_arg(name):
    """The query argument `name` as a database id (e.g. ?before= for paging), or None."""
    return int_arg(name, lo=1, hi=MAX_DB_ID)


class UnreadableInput(BadRequest):
    """Text no column can store and no person types: a NUL byte, or half of a UTF-16 surrogate pair."""


_UNREADABLE = re.compile(r"[\x00\ud800-\udfff]")


def _json_texts(value):
    """Every key and string in a parsed JSON body (iteratively: a body may nest thousands deep)."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            yield item
        elif isinstance(item, dict):
            yield from item.keys()
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def _request_texts():
    yield request.path
    yield request.remote_addr or ""
    for source in (request.args, request.form):
        for key, value in source.items(multi=True):
            yield key
            yield value
    for key, storage in request.files.items(multi=True):
        yield key
        yield storage.filename or ""
    if request.is_json:
        try:
            body = request.get_json()  # malformed JSON: Flask's 400
        except RecursionError:  # "[[[[..." nested deeper than the parser can go
            raise BadRequest() from None
        yield from _json_texts(body)


def refuse_unreadable_input():
    """Before every request: refuse (400, in the member's language) any path segment, query argument,
    form field, JSON string or file name carrying a NUL byte or a lone surrogate.

    Refused rather than stripped: PostgreSQL cannot store either, no keyboard types them, and
    stripping would quietly turn one value into another (a code "ab\\0c" into "abc"). Checked here,
    once for every route, so no form field or query argument can forget it.
    """
    if any(_UNREADABLE.search(text) for text in _request_texts()):
        raise UnreadableInput()
