"""Database ids and the integers a request carries: one rule for what a URL, a form or a stored result may hold.

Id columns are 32-bit integers (PostgreSQL's `integer`); a value past 2^31-1 makes PostgreSQL fail
("integer out of range") and one past 2^63-1 makes SQLite fail, so nothing outside 1..MAX_DB_ID is
ever handed to a query. Text is parsed as ASCII digits only: `str.isdigit` also accepts "²" (which
`int` refuses) and `int` also accepts "１２" and "٣"; neither belongs in a link we hand out.
"""
import re

MAX_DB_ID = 2**31 - 1

_ASCII_DIGITS = re.compile(r"[0-9]+")


def is_db_id(value):
    """True for an int an id column can hold (not a bool, not a str, not 0 or 10**20)."""
    return isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= MAX_DB_ID


def parse_int(text, *, lo, hi):
    """`text` as an int in lo..hi when it is ASCII digits only (no sign, no spaces), else None."""
    if not isinstance(text, str) or not _ASCII_DIGITS.fullmatch(text):
        return None
    digits = text.lstrip("0") or "0"
    if len(digits) > len(str(hi)):  # before int(): 10k digits would cost time (and raise past 4300)
        return None
    value = int(digits)
    return value if lo <= value <= hi else None


def parse_db_id(text):
    """A digit string as a database id (1..MAX_DB_ID), else None."""
    return parse_int(text, lo=1, hi=MAX_DB_ID)


def parse_ref(text):
    """A stored reference to a row, "order:12", as ("order", 12); the id is None when it is not one
    ("checkin:2026-12-06", "user:99999999999")."""
    kind, _sep, number = (text or "").partition(":")
    return kind, parse_db_id(number)
