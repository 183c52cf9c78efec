"""Bad input never gives a 500 (issue 7, section 4): every rule in app.url_map, fuzzed.

For each rule and each of its methods, as an anonymous visitor, as a member holding points (with
a product, an order, an address, a draw, a treasure round and a points packet around), and as
that merchant's staff and an operator (so console pages are fuzzed behind their guards too),
Hypothesis sends generated path values, query arguments and bodies: huge, negative, float,
superscript and full-width numbers, empty and 10k-character strings, emoji, NUL, SQL and XSS
payloads, repeated and missing fields, form bodies with a valid CSRF token (and some without or
with a bad one), JSON bodies of every shape, stray file uploads. Asserted:

* no response is a server error (the test client re-raises a view's exception, so a 500 shows
  its traceback);
* a refused request (4xx) changes no row: a fingerprint of every table is the same before and after.

The rules are read from app.url_map, so a route added later is fuzzed without touching this file.
FUZZ_EXAMPLES sets the examples per rule, method and visitor (default 5: under a minute on SQLite);
each run of a target has a fixed seed and no example database, so CI is reproducible.
"""
import hashlib
import io
import json
import os
import re
import uuid
import zlib
from collections import Counter
from datetime import timedelta
from urllib.parse import quote

import pytest
from flask import url_for
from flask_wtf import FlaskForm
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st
from werkzeug.datastructures import MultiDict
from wtforms.fields.core import UnboundField

from app.extensions import db as _db
from app.extensions import limiter
from app.models import Category, Draw, ProductImage
from app.services import packets, referrals, shop
from app.services.clock import shanghai_today, utcnow
from app.services.tasks import TASKS
from tests.aftersale_factories import aftersale_row
from tests.conftest import CSRF_RE, login_as
from tests.games_factories import make_draw, make_item
from tests.shop_factories import make_address, make_merchant, make_product, new_key  # noqa: F401  (fixtures)

FUZZ_EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "5"))
VISITORS = ("anonymous", "member", "staff", "operator")

# Query arguments some page reads (the rules come from url_map; arguments have no such registry).
QUERY_NAMES = ["before", "play", "page", "category", "min_points", "max_points", "q", "sort", "tab", "month",
               "next", "lang", "invite", "status", "actor", "action", "target", "from", "to", "kind", "shelf",
               "low"]

# Numbers at the edges: 2^31 ends PostgreSQL's integer, 2^63 SQLite's; digits int() takes and
# str.isdigit() does not agree on.
NUMBERS = [
    "0", "1", "-1", "+1", "1.5", "1e9", "0x1f", "00000001", "2147483647", "2147483648", "3000000000",
    "9223372036854775807", "9223372036854775808", "18446744073709551616", "99999999999999999999",
    "-9223372036854775809", "1" * 5000, "²", "¹²³", "１２３", "٣", "NaN", "Infinity", "-0",
]
TOO_BIG = ["2147483648", "3000000000", "9223372036854775808", "18446744073709551616", "99999999999999999999"]
NASTY = [
    "", " ", "true", "null", "[]", "{}",
    "a\x00b", "\x00", "'; DROP TABLE users; --", "' OR '1'='1", "1 OR 1=1", "<script>alert(1)</script>",
    '"><img src=x onerror=alert(1)>', "{{7*7}}", "%s%s%n", "../../etc/passwd", "😀", "👨‍👩‍👧", "\u202e", "\ufeff",
    "x" * 10_000, "字" * 200, "2026-02-30", "2026-13", "9999-12-31", "0000-00-00", "//evil.example", "/\\evil.example",
    "javascript:alert(1)", "success", "fail", "en", "zh_CN", "13812345678", "points_asc", "paid",
    "99999999999999999999-01", "2026-99999999999999999999", "2026-01-99999999999999999999",
]


def _form_field_names():
    """Every field name any form of the app declares (read from the form classes, not listed here)."""
    import importlib
    import pkgutil

    import app.forms

    for module in pkgutil.iter_modules(app.forms.__path__):
        importlib.import_module(f"app.forms.{module.name}")
    names, pending = {"csrf_token"}, list(FlaskForm.__subclasses__())
    while pending:
        form = pending.pop()
        pending.extend(form.__subclasses__())
        names.update(name for name in dir(form) if isinstance(getattr(form, name, None), UnboundField))
    return sorted(names)


def _targets(app):
    """(rule, method) for every rule in the map and every method it answers."""
    return [(rule, method) for rule in sorted(app.url_map.iter_rules(), key=lambda r: (r.rule, r.endpoint))
            for method in sorted(rule.methods)]


# Audit rows that record a refused attempt ("voucher.refused", "consumption.refused": written in a
# transaction of their own after the refusal) are the record the spec asks for, not a half-done change.
REFUSAL_AUDIT_SUFFIX = ".refused"


def _fingerprint(app):
    """Per table, a hash of all its rows: any insert, update or delete changes it (audit rows of
    refused attempts aside)."""
    result = {}
    with app.app_context():
        with _db.engine.connect() as conn:
            for table in _db.metadata.sorted_tables:
                key = list(table.primary_key.columns) or list(table.columns)
                order = ", ".join(f'"{column.name}"' for column in key)
                rows = conn.exec_driver_sql(f'SELECT * FROM "{table.name}" ORDER BY {order}').fetchall()
                if table.name == "audit_log":
                    rows = [row for row in rows if not str(row._mapping["action"]).endswith(REFUSAL_AUDIT_SUFFIX)]
                result[table.name] = hashlib.sha256(repr(rows).encode()).hexdigest()
        _db.session.remove()
    return result


@pytest.fixture()
def world(app, make_member, make_account, make_product, make_address, make_merchant):
    """A member with points and something of each kind to act on; a merchant's staff; an operator."""
    member = make_member(points=1_000_000)
    merchant = make_merchant()
    accounts = {"member": member, "staff": make_account("staff", merchant_id=merchant),
                "operator": make_account("operator")}
    physical = make_product(name="保温杯", stock=50)
    coupon = make_product(name="满减券", kind="coupon", points_price=10, stock=50)
    voucher = make_product(name="面馆代金券", kind="voucher", merchant_id=merchant, points_price=10, stock=50,
                           face_value_fen=2000)
    address = make_address(member)
    draw = make_draw(app)
    item, round_id = make_item(app, total_shares=1000)
    with app.app_context():
        prize = _db.session.get(Draw, draw).prizes[0].id
        now = utcnow()
        packet = packets.create_packet("红包", 10, now - timedelta(hours=1), now + timedelta(days=1)).id
        order = shop.redeem_product(member, physical, 1, new_key(), address_id=address).id
        shop.redeem_product(member, voucher, 1, new_key())
        code = referrals.invite_code_for(member)
        category = Category(name="美食")
        image = ProductImage(product_id=physical, path="products/fuzz.jpg", position=0)
        _db.session.add_all([category, image])
        _db.session.commit()
        category_id, image_id = category.id, image.id
        _db.session.remove()
    today = shanghai_today()
    ids = {"product_id": [physical, coupon, voucher], "order_id": [order], "address_id": [address],
           "draw_id": [draw], "round_id": [round_id], "packet_id": [packet], "merchant_id": [merchant],
           "user_id": list(accounts.values()), "member_id": [member], "staff_id": [accounts["staff"]],
           "operator_id": [accounts["operator"]], "item_id": [item], "prize_id": [prize],
           "request_id": [aftersale_row(app, member, order)],
           "category_id": [category_id], "image_id": [image_id]}
    plausible = [str(i) for values in ids.values() for i in values] + sorted(TASKS) + [
        code, "birthday", today.isoformat(), (today - timedelta(days=2)).isoformat(), today.strftime("%Y-%m"),
        "css/app.css", "uploads/x.png", "checkin", "levels", "double", "grid", "wheel", "newbie"]
    return {"accounts": accounts, "ids": ids, "plausible": plausible}


def _strategies(world):
    text = st.one_of(st.sampled_from(NUMBERS), st.sampled_from(NUMBERS), st.sampled_from(NASTY),
                     st.sampled_from(world["plausible"]), st.integers(-2**70, 2**70).map(str), st.text(max_size=30))
    json_scalar = st.one_of(st.none(), st.booleans(), st.integers(-2**80, 2**80), st.floats(), text)
    json_value = st.recursive(json_scalar, lambda inner: st.lists(inner, max_size=3)
                              | st.dictionaries(st.text(max_size=8), inner, max_size=3), max_leaves=6)
    return text, json_value


def _path_value(converter, name, world, text):
    kind = type(converter).__name__
    if kind in ("IdConverter", "IntegerConverter"):
        real = world["ids"].get(name) or [i for values in world["ids"].values() for i in values]
        return st.one_of(st.sampled_from(real).map(str), st.sampled_from(TOO_BIG), st.sampled_from(NUMBERS),
                         st.sampled_from(NASTY))
    if kind == "PathConverter":
        return st.one_of(text, st.lists(text, min_size=1, max_size=3).map("/".join))
    return text


def _url(rule, values, query):
    def fill(match):
        return quote(values[match.group(1)], safe="/" if "path:" in match.group(0) else "")

    path = re.sub(r"<(?:[^<>:]+:)?([A-Za-z_][A-Za-z0-9_]*)>", fill, rule.rule)
    if query:
        path += "?" + "&".join(f"{quote(k, safe='')}={quote(v, safe='')}" for k, v in query)
    return path


class Visitor:
    """One test client per target: cookies stay as a browser keeps them; the account is logged in
    again before each example (a fuzzed POST /logout may have ended the session) and the CSRF token
    is read from a page again whenever the session's token changed."""

    def __init__(self, app, user_id):
        self.client, self.user_id = app.test_client(), user_id
        self.raw, self.token = None, None
        with app.test_request_context():  # a page with a form, for whoever this is
            self.page = url_for("auth.change_password" if user_id is not None else "auth.login")

    def prepare(self):
        if self.user_id is not None:
            login_as(self.client, self.user_id)
        with self.client.session_transaction() as session:
            raw = session.get("csrf_token")
        if raw is None or raw != self.raw:
            html = self.client.get(self.page).get_data(as_text=True)
            match = CSRF_RE.search(html)
            self.token = match.group(1) or match.group(2)
            with self.client.session_transaction() as session:
                self.raw = session.get("csrf_token")
        return self.token


def _request(data, rule, method, world, text, json_value, field_names, token):
    """Draw one request: (url, keyword arguments for client.open)."""
    values = {name: data.draw(_path_value(conv, name, world, text), label=name)
              for name, conv in rule._converters.items()}
    names = st.one_of(st.sampled_from(QUERY_NAMES), st.sampled_from(QUERY_NAMES), st.text(max_size=10))
    query = data.draw(st.lists(st.tuples(names, text), max_size=4), label="query")
    url = _url(rule, values, query)
    headers = {"HX-Request": "true"} if data.draw(st.booleans(), label="htmx") else {}
    kwargs = {"headers": headers}
    if method in ("GET", "HEAD", "OPTIONS"):
        return url, kwargs
    csrf = data.draw(st.sampled_from(["valid", "valid", "valid", "valid", "missing", "garbage"]), label="csrf")
    shown = {"valid": token, "missing": None, "garbage": "x" * 40}[csrf]
    body = data.draw(st.sampled_from(["form", "form", "form", "json", "raw", "file"]), label="body")
    field = st.one_of(st.sampled_from(field_names), st.text(max_size=10))
    if body == "json":
        payload = data.draw(st.one_of(st.dictionaries(field, json_value, max_size=6), json_value), label="json")
        if isinstance(payload, dict) and data.draw(st.booleans(), label="json key"):
            payload["request_key"] = uuid.uuid4().hex
        kwargs.update(data=json.dumps(payload), content_type="application/json")
        if shown:
            headers["X-CSRFToken"] = shown
        return url, kwargs
    if body == "raw":
        raw = data.draw(st.sampled_from(["[" * 50_000, "{", "not json", '{"a": "\\ud800"}', "\x00", '"x"']),
                        label="raw")
        kwargs.update(data=raw, content_type="application/json")
        if shown:
            headers["X-CSRFToken"] = shown
        return url, kwargs
    pairs = data.draw(st.lists(st.tuples(field, text), max_size=8), label="form")
    if data.draw(st.booleans(), label="form key"):
        pairs.append(("request_key", uuid.uuid4().hex))
    if shown:
        pairs.append(("csrf_token", shown))
    form = MultiDict(pairs)
    if body == "file":
        form.add(data.draw(field, label="file field"), (io.BytesIO(b"GIF89a\x00\x00"), "a\x00.gif"))
    kwargs["data"] = form
    return url, kwargs


def _fuzz_target(app, world, rule, method, role, strategies, state):
    text, json_value, field_names = strategies

    @seed(zlib.crc32(f"{rule.rule} {method} {role}".encode()))
    @settings(max_examples=FUZZ_EXAMPLES, deadline=None, database=None, phases=(Phase.explicit, Phase.generate),
              suppress_health_check=list(HealthCheck))
    @given(data=st.data())
    def run(data):
        limiter.reset()
        token = visitor.prepare()
        url, kwargs = _request(data, rule, method, world, text, json_value, field_names, token)
        described = f"{role} {method} {url[:300]!r} {repr(kwargs)[:600]}"
        before = state["rows"] or _fingerprint(app)
        state["rows"] = None
        try:
            response = visitor.client.open(url, method=method, **kwargs)
        except Exception as exc:  # the view raised: a 500 in production
            raise AssertionError(f"server error on {described}: {exc!r}") from exc
        response.close()  # a static file's handle
        state["statuses"].setdefault(f"{role:9} {method:7} {rule.rule}", Counter())[response.status_code] += 1
        assert response.status_code < 500, f"{response.status_code} on {described}"
        state["rows"] = after = _fingerprint(app)  # the next example starts from here (pages read, never write)
        if 400 <= response.status_code < 500:
            changed = sorted(name for name in before if before[name] != after[name])
            assert changed == [], f"{response.status_code} refused {described} but changed {changed}"

    visitor = Visitor(app, world["accounts"].get(role))
    run()


def test_no_input_gives_a_server_error_or_a_half_done_change(app, world):
    text, json_value = _strategies(world)
    strategies = (text, json_value, _form_field_names())
    targets = _targets(app)
    assert len(targets) > 40
    state, failures = {"rows": None, "statuses": {}}, []
    for rule, method in targets:
        for role in VISITORS:
            try:
                _fuzz_target(app, world, rule, method, role, strategies, state)
            except AssertionError as failure:  # go on: one run shows every route that fails
                failures.append(str(failure).splitlines()[0][:1500])
                state["rows"] = None
    if os.environ.get("FUZZ_STATS"):  # how deep the examples went: status codes per target
        for target, counts in sorted(state["statuses"].items()):
            print(target, dict(sorted(counts.items())))
    assert failures == [], "\n".join(failures)
