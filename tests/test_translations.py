"""The English locale is complete: every string the code marks for translation has English."""
from pathlib import Path

from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parent.parent


def _marked_strings():
    """(message, context) of every string marked for translation; context None unless pgettext's."""
    with open(ROOT / "babel.cfg") as cfg:
        method_map, options_map = parse_mapping_cfg(cfg)
    keywords = {"_": None, "gettext": None, "ngettext": (1, 2), "lazy_gettext": None, "_l": None,
                "pgettext": ((1, "c"), 2), "lazy_pgettext": ((1, "c"), 2)}
    for _filename, _lineno, message, _comments, context in extract_from_dir(
            str(ROOT), method_map, options_map, keywords=keywords):
        yield (message if isinstance(message, str) else message[0]), context


def test_every_marked_string_has_an_english_translation():
    with open(ROOT / "app/translations/en/LC_MESSAGES/messages.po", "rb") as po:
        catalog = read_po(po)
    found = {(m, c): catalog.get(m, context=c) for m, c in _marked_strings() if m}
    missing = sorted(f"{c}|{m}" if c else m for (m, c), entry in found.items()
                     if entry is None or not entry.string or entry.fuzzy)
    assert any(c for _m, c in found), "no pgettext string found: the extraction misses contexts"
    assert missing == [], f"untranslated (run pybabel extract/update and translate): {missing[:20]}"


def test_each_string_is_translated_once():
    """Branches append to the catalogue by union merge: a string added twice would keep only one English."""
    text = (ROOT / "app/translations/en/LC_MESSAGES/messages.po").read_text(encoding="utf-8")
    ids, context = [], None  # a msgid with its msgctxt (pgettext's): one per context
    for line in text.splitlines():
        if line.startswith('msgctxt "'):
            context = line
        elif line.startswith('msgid "') and line != 'msgid ""':
            ids.append((context, line))
            context = None
    assert sorted({i for i in ids if ids.count(i) > 1}) == []


def test_counted_strings_have_english_plural_forms():
    """ngettext strings need a plural entry ("1 point", "2 points"): a plain one is never found."""
    with open(ROOT / "babel.cfg") as cfg:
        method_map, options_map = parse_mapping_cfg(cfg)
    keywords = {"ngettext": (1, 2)}
    plural = {message[0] for _f, _l, message, _c, _x in extract_from_dir(
        str(ROOT), method_map, options_map, keywords=keywords) if isinstance(message, tuple)}
    assert len(plural) > 50  # the extraction found the code
    with open(ROOT / "app/translations/en/LC_MESSAGES/messages.po", "rb") as po:
        catalog = read_po(po)
    single = sorted(m for m in plural if m in catalog and not isinstance(catalog[m].string, tuple))
    assert single == [], f"ngettext strings translated without plural forms: {single[:20]}"
