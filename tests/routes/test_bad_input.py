"""Bad input never gives a 500 (issue 7, section 4): each defect a fuzz run found, pinned down.

Ids out of a column's range, integer query arguments that are not ASCII digits, a huge id in a
JSON body, and NUL bytes (PostgreSQL refuses them in text) are refused with a 4xx and change no row.
"""
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from app.extensions import db as _db
from app.models import Address, IdempotencyKey, PointEntry, Share
from app.services import packets
from app.services.clock import utcnow
from tests.conftest import login_as
from tests.games_factories import make_draw, make_item
from tests.shop_factories import make_product  # noqa: F401  (fixture)

HX = {"HX-Request": "true"}

# 2^31 is where PostgreSQL's integer columns end; 2^63 where SQLite's (and Python's sqlite3) do.
OUT_OF_RANGE = ["0", "2147483648", "3000000000", "9223372036854775808", "99999999999999999999"]


def _count(app, model):
    with app.app_context():
        count = _db.session.execute(select(func.count()).select_from(model)).scalar_one()
        _db.session.remove()
        return count


@pytest.fixture()
def games(app):
    """A draw, a treasure round and an open points packet."""
    draw_id = make_draw(app)
    _item_id, round_id = make_item(app)
    with app.app_context():
        now = utcnow()
        packet_id = packets.create_packet("红包", 10, now - timedelta(hours=1), now + timedelta(days=1)).id
        _db.session.remove()
    return {"draw": draw_id, "round": round_id, "packet": packet_id}


@pytest.mark.parametrize("path", ["/draw/{}", "/draw/{}/odds", "/draw/{}/history", "/treasure/{}",
                                  "/treasure/{}/records.txt", "/products/{}", "/orders/{}"])
def test_a_page_for_an_id_out_of_range_is_not_found(member_client, games, path):
    for value in OUT_OF_RANGE:
        assert member_client.get(path.format(value)).status_code == 404, value


@pytest.mark.parametrize("path", ["/draw/{}/play", "/treasure/{}/buy", "/packets/{}/claim", "/products/{}/redeem",
                                  "/orders/{}/cancel", "/me/addresses/{}/delete"])
def test_an_action_on_an_id_out_of_range_is_not_found_and_changes_nothing(app, member_client, games, path):
    token, key = member_client.form_tokens("/tasks")
    entries = _count(app, PointEntry)
    for value in OUT_OF_RANGE:
        response = member_client.post(path.format(value), data={"csrf_token": token, "request_key": key,
                                                                "quantity": "1"})
        assert response.status_code == 404, value
    assert _count(app, PointEntry) == entries and _count(app, IdempotencyKey) == 0


def test_an_id_with_non_ascii_digits_is_not_found(member_client, games):
    for value in ("¹", "１", "٣"):  # superscript, full-width and Arabic-Indic digits
        assert member_client.get(f"/draw/{value}").status_code == 404, value


def test_every_rule_takes_its_ids_through_the_id_converter(app):
    """<int:...> passes 2^31 and 2^63 to the view; <id:...> 404s them. Console blueprints included."""
    from werkzeug.routing.converters import NumberConverter

    from app.routes.params import IdConverter

    rules = list(app.url_map.iter_rules())
    assert [r.rule for r in rules if any(isinstance(c, NumberConverter) for c in r._converters.values())] == []
    assert any(isinstance(c, IdConverter) for r in rules for c in r._converters.values())


def test_links_to_ids_still_work(member_client, games):
    assert member_client.get(f"/draw/{games['draw']}").status_code == 200
    assert member_client.get(f"/treasure/{games['round']}").status_code == 200


@pytest.mark.parametrize("path", ["/me/points?before={}", "/me/messages?before={}", "/orders?before={}",
                                  "/draw/{draw}/history?before={}", "/draw/{draw}?play={}"])
def test_an_integer_argument_out_of_range_or_not_ascii_digits_is_ignored(member_client, games, path):
    for value in ("2147483648", "9223372036854775808", "99999999999999999999", "-5", "²", "１", "1.5", ""):
        response = member_client.get(path.format(value, draw=games["draw"]))
        assert response.status_code == 200, value


@pytest.mark.parametrize("name", ["category", "min_points", "max_points", "page"])
def test_catalogue_numbers_that_are_not_ascii_digits_fall_back_to_no_filter(client, make_product, name):
    make_product(name="挂耳咖啡", points_price=300)
    for value in ("²", "¹²", "１２", "2147483648", "9223372036854775808", "-1"):
        response = client.get(f"/products?{name}={value}")
        assert response.status_code == 200 and "挂耳咖啡" in response.get_data(as_text=True), value


def test_sharing_a_huge_or_odd_product_id_in_json_is_not_found(app, member_client, make_product):
    make_product()
    token, _key = member_client.form_tokens("/tasks")
    for product_id in (2**31, 2**63, 10**30, "99999999999999999999", 1.5, True, [10**30], {"a": 1}, None):
        response = member_client.post("/share", json={"product_id": product_id},
                                      headers={**HX, "X-CSRFToken": token})
        assert response.status_code == 404, product_id
    assert _count(app, Share) == 0


def test_sharing_a_huge_product_id_in_a_form_is_not_found(app, member_client, make_product):
    make_product()
    token, _key = member_client.form_tokens("/tasks")
    response = member_client.post("/share", data={"product_id": "9223372036854775808"},
                                  headers={**HX, "X-CSRFToken": token})
    assert response.status_code == 404 and _count(app, Share) == 0


def test_a_json_body_that_is_no_form_is_refused_not_a_server_error(app, member_client):
    token, key = member_client.form_tokens("/me/addresses/new")
    for body in ([1, 2], "text", 5, None, {"request_key": 5}, {"request_key": ["a", "b"]}, {"request_key": {"x": 1}},
                 {"request_key": key, "name": 5, "phone": [13812345678], "region": {"x": 1}, "detail": None}):
        response = member_client.post("/me/addresses/new", json=body, headers={"X-CSRFToken": token})
        assert response.status_code == 422, body
    assert _count(app, Address) == 0


def test_a_json_body_is_read_as_the_form_a_browser_would_send(app, member_client):
    token, key = member_client.form_tokens("/me/addresses/new")
    body = {"request_key": key, "name": "张三", "phone": 13812345678, "region": "上海市 黄浦区", "detail": "南京东路 100 号",
            "make_default": True}
    response = member_client.post("/me/addresses/new", json=body, headers={"X-CSRFToken": token})
    assert response.status_code == 303 and _count(app, Address) == 1


def test_json_nested_too_deep_is_a_bad_request(member_client):
    token, _key = member_client.form_tokens("/tasks")
    response = member_client.post("/share", data="[" * 100_000, content_type="application/json",
                                  headers={"X-CSRFToken": token})
    assert response.status_code == 400


def test_an_address_with_a_nul_byte_is_refused_in_the_members_language(app, member_client):
    response = member_client.submit("/me/addresses/new", {"name": "张三", "phone": "13812345678",
                                                          "region": "上海市 黄浦区", "detail": "abc\x00def"})
    assert response.status_code == 400 and "无法识别的字符" in response.get_data(as_text=True)
    assert _count(app, Address) == 0
    english = member_client.submit("/me/addresses/new?lang=en", {"detail": "abc\x00def"}, page="/me/addresses/new")
    assert english.status_code == 400 and "characters we cannot read" in english.get_data(as_text=True)


@pytest.mark.parametrize("url", ["/r/a%00b", "/products?q=a%00b", "/products?a%00b=1", "/draw/1%00"])
def test_a_nul_byte_in_a_path_or_a_query_is_a_bad_request(client, url):
    response = client.get(url)
    assert response.status_code == 400 and "无法识别的字符" in response.get_data(as_text=True)


def test_a_nul_byte_or_a_lone_surrogate_in_json_is_a_bad_request(app, member_client, make_product):
    product_id = make_product()
    token, _key = member_client.form_tokens("/tasks")
    for raw in ('{"product_id": "1\\u0000"}', '{"product_id": "\\ud800"}', '{"x\\u0000": 1}'):
        response = member_client.post("/share", data=raw.replace("1", str(product_id), 1),
                                      content_type="application/json", headers={"X-CSRFToken": token})
        assert response.status_code == 400, raw
    assert _count(app, Share) == 0


def test_a_nul_byte_in_a_form_field_name_is_a_bad_request(app, client, make_member):
    login_as(client, make_member())
    response = client.submit("/me/addresses/new", {"na\x00me": "x"})
    assert response.status_code == 400


def test_every_form_reads_its_data_through_the_base_form():
    """A form deriving from FlaskForm directly would hand JSON values and files to its text fields again."""
    import importlib
    import pkgutil

    import app.forms
    from flask_wtf import FlaskForm

    from app.forms.base import BaseForm

    for module in pkgutil.iter_modules(app.forms.__path__):
        importlib.import_module(f"app.forms.{module.name}")
    forms, pending = [], list(FlaskForm.__subclasses__())
    while pending:
        form = pending.pop()
        pending.extend(form.__subclasses__())
        if form.__module__.startswith("app."):
            forms.append(form)
    assert len(forms) > 5
    assert [form.__name__ for form in forms if not issubclass(form, BaseForm)] == []


def test_a_multipart_field_whose_name_has_a_line_break_is_no_server_error(app, member_client):
    """werkzeug's multipart parser names such a field None; nothing (Flask-WTF's CSRF check) may trip over it."""
    import io

    token, key = member_client.form_tokens("/me/addresses/new")
    response = member_client.post("/me/addresses/new", content_type="multipart/form-data",
                                  data={"csrf_token": token, "request_key": key, "a\rb": "1"})
    assert response.status_code == 422 and _count(app, Address) == 0
    for data in ({"a\rb": "1"}, {"a\rb": (io.BytesIO(b"GIF89a"), "a.gif")}):  # the token in the htmx header
        response = member_client.post("/me/addresses/new", content_type="multipart/form-data", data=data,
                                      headers={**HX, "X-CSRFToken": token})
        assert response.status_code == 422 and _count(app, Address) == 0


def test_a_file_sent_under_a_text_fields_name_is_not_read_as_text(app, member_client):
    import io

    token, key = member_client.form_tokens("/me/addresses/new")
    response = member_client.post("/me/addresses/new", data={
        "csrf_token": token, "request_key": key, "name": "张三", "phone": "13812345678", "region": "上海市 黄浦区",
        "detail": (io.BytesIO(b"GIF89a"), "a.gif")})
    assert response.status_code == 422 and _count(app, Address) == 0


def test_a_calendar_month_too_large_for_a_date_is_not_found(member_client):
    assert member_client.get("/checkin?month=99999999999999999999-01").status_code == 404
    response = member_client.submit("/checkin", {"month": "2026-99999999999999999999"}, page="/checkin")
    assert response.status_code == 303
