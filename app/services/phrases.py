"""Stored words are ids: translate when shown, in the reader's language.

A row that someone may read later, in a language of their own (a message, an order's cancel
reason, a ledger note), must not hold text in the language of the request that wrote it. It
holds a phrase id (or, for a message, a message id and its parameters) and the words are
looked up when the row is shown.

- `phrase(id, lazy_text)` names a translatable text once, where it belongs; str() of the
  Phrase is the text in the current locale, so it can stand wherever a label is shown.
- `phrase_text(id, fallback)` is what a page shows for a stored id (the fallback is free text
  the row may hold instead, e.g. an operator's reason).
- `encode_params` / `decode_params` turn message parameters into JSON and back: a Phrase is
  kept as its id, dates and times as ISO strings, and on the way out numbers, dates and
  phrases are formatted in the reader's locale.
"""
from dataclasses import dataclass
from datetime import date, datetime

from flask_babel import format_date, format_datetime, format_number

_PHRASES = {}


@dataclass(frozen=True)
class Phrase:
    """A translatable text with a stable id; str() gives it in the current locale."""

    id: str
    text: object  # a lazy_gettext string

    def __str__(self):
        return str(self.text)


def phrase(phrase_id, text):
    """Name a translatable text by a stable id (kept in the database: never rename one)."""
    known = _PHRASES.get(phrase_id)
    if known is not None and _source(known.text) != _source(text):
        raise ValueError(f"phrase id {phrase_id!r} already names another text")
    _PHRASES[phrase_id] = Phrase(phrase_id, text)
    return _PHRASES[phrase_id]


def _source(text):
    return getattr(text, "_args", (text,))[:1]


def get_phrase(phrase_id):
    """The Phrase with this id, or None when no module defines it (any more)."""
    return _PHRASES.get(phrase_id)


def phrase_text(phrase_id, fallback=None):
    """What a page shows for a stored phrase id: its text in the reader's language, else the fallback."""
    found = _PHRASES.get(phrase_id) if phrase_id else None
    if found is not None:
        return str(found)
    return fallback if fallback is not None else (phrase_id or "")


def split_text(value):
    """(free text, phrase id) to store for a label that is either a Phrase or free text."""
    if isinstance(value, Phrase):
        return None, value.id
    return (None if value is None else str(value)), None


class LocalNumber(int):
    """An integer parameter: compares and pluralises as an int, prints in the reader's locale."""

    def __str__(self):
        return format_number(int(self))


def encode_params(params):
    """Message parameters as JSON-ready values. Text that is itself translatable must be a
    Phrase (stored by id); a lazy or already translated string would fix one reader's language."""
    encoded = {}
    for name, value in (params or {}).items():
        if isinstance(value, Phrase):
            value = {"$phrase": value.id}
        elif isinstance(value, datetime):
            if value.tzinfo is None:
                raise ValueError(f"message parameter {name!r}: naive datetime")
            value = {"$datetime": value.isoformat()}
        elif isinstance(value, date):
            value = {"$date": value.isoformat()}
        elif isinstance(value, bool) or value is None or type(value) in (int, str):
            pass
        elif isinstance(value, int):
            value = int(value)
        else:
            raise TypeError(f"message parameter {name!r}: {type(value).__name__} is not storable "
                            "(use a Phrase for translatable text, str for data)")
        encoded[name] = value
    return encoded


def decode_params(encoded):
    """Stored parameters ready for a template in the current locale."""
    decoded = {}
    for name, value in (encoded or {}).items():
        if isinstance(value, dict) and len(value) == 1:
            (tag, raw), = value.items()
            if tag == "$phrase":
                value = phrase_text(raw)
            elif tag == "$date":
                value = format_date(date.fromisoformat(raw), "medium")
            elif tag == "$datetime":
                value = format_datetime(datetime.fromisoformat(raw), "medium")
        elif isinstance(value, int) and not isinstance(value, bool):
            value = LocalNumber(value)
        decoded[name] = value
    return decoded


__all__ = ["LocalNumber", "Phrase", "decode_params", "encode_params", "get_phrase", "phrase", "phrase_text",
           "split_text"]
