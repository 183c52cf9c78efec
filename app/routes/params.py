"""What a request may carry: ids in paths, integers in query strings, text a database can store.

Wired in create_app: the `id` URL converter (`/draw/<id:draw_id>`).
"""
from flask import request
from werkzeug.routing import BaseConverter, ValidationError

from app.services.ids import MAX_DB_ID, parse_db_id, parse_int


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
