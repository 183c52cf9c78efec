"""The database goes away in the middle of a request (a restart, a lost connection).

Before anything is committed: a 503 that says nothing happened. After the member's change is
committed: the answer must not claim it failed - the plain (no-JS) forms redirect to the result
without asking the database again, and a page that needs the database says the change went through.
While the commit itself is lost, the answer says the outcome is unknown and that sending it again is
safe (every form carries its request key)."""
import uuid

import pytest
from flask import has_request_context, request
from sqlalchemy import event
from sqlalchemy.exc import OperationalError

from app.extensions import db
from app.services.tx import write_stage
from app.models import CheckIn, DrawPlay, Order, TreasurePurchase, Voucher
from tests.conftest import count_rows, login_as
from tests.games_factories import make_draw, make_item
from tests.routes.test_merchant_verify import counter  # noqa: F401  (fixture)
from tests.shop_factories import make_merchant, make_product  # noqa: F401  (fixtures)


def _lost():
    return OperationalError("SELECT 1", {}, Exception("server closed the connection unexpectedly"))


@pytest.fixture()
def outage(app):
    """arm("after-commit"): every statement after the POST's commit fails (the connection is gone);
    arm("in-commit"): the POST's commit reaches the database but its reply is lost;
    arm("dead"): the connection is gone: every statement and every rollback fails."""
    state = {"mode": None, "committed": False}

    def on_commit(conn):
        # The POST's write transaction committing; not the read transactions before and after it.
        if not (has_request_context() and request.method == "POST" and write_stage() == "committing"):
            return
        if state["mode"] == "after-commit":
            state["committed"] = True
        elif state["mode"] == "in-commit":
            state["mode"] = None
            conn.connection.dbapi_connection.commit()
            raise _lost()

    def before_execute(*_args, **_kwargs):
        if state["committed"] or state["mode"] == "dead":
            raise _lost()

    def on_rollback(_conn):
        if state["mode"] == "dead":
            raise _lost()

    with app.app_context():
        engine = db.engine
    event.listen(engine, "commit", on_commit)
    event.listen(engine, "before_cursor_execute", before_execute)
    event.listen(engine, "rollback", on_rollback)

    def arm(mode):
        state["mode"], state["committed"] = mode, False

    yield arm
    event.remove(engine, "commit", on_commit)
    event.remove(engine, "before_cursor_execute", before_execute)
    event.remove(engine, "rollback", on_rollback)


@pytest.fixture()
def rich_client(client, make_member):
    client.user_id = make_member(points=5000)
    login_as(client, client.user_id)
    return client


def _redeem(app, client, make_product, **_):
    product = make_product(kind="virtual", points_price=10, codes=["CODE-0001", "CODE-0002"])
    return f"/products/{product}", f"/products/{product}/redeem", {"quantity": "1", "confirmed": "1"}, Order, \
        "/orders/"


def _play(app, client, **_):
    draw_id = make_draw(app, cost=10)
    return f"/draw/{draw_id}", f"/draw/{draw_id}/play", {"confirmed": "1"}, DrawPlay, f"/draw/{draw_id}?play="


def _shares(app, client, **_):
    _item, round_id = make_item(app, share_price=10, total_shares=20)
    return f"/treasure/{round_id}", f"/treasure/{round_id}/buy", {"quantity": "1", "confirmed": "1"}, \
        TreasurePurchase, f"/treasure/{round_id}"


def _check_in(app, client, **_):
    return "/checkin", "/checkin", {}, CheckIn, "/checkin"


ACTIONS = {"redeem": _redeem, "draw": _play, "treasure": _shares, "checkin": _check_in}


@pytest.mark.parametrize("action", ACTIONS)
def test_committed_before_the_outage_the_plain_form_goes_to_its_result(app, rich_client, make_product, outage,
                                                                       action):
    page, url, data, model, result = ACTIONS[action](app, rich_client, make_product=make_product)
    outage("after-commit")
    done = rich_client.submit(url, data, page=page)
    outage(None)
    assert count_rows(app, model) == 1
    assert done.status_code == 303 and result in done.headers["Location"], done.get_data(as_text=True)[-800:]
    assert rich_client.get(done.headers["Location"]).status_code == 200


@pytest.mark.parametrize("action", ACTIONS)
def test_committed_before_the_outage_the_panel_says_it_is_done(app, rich_client, make_product, outage, action):
    page, url, data, model, _result = ACTIONS[action](app, rich_client, make_product=make_product)
    outage("after-commit")
    done = rich_client.submit(url, data, page=page, htmx=True)
    outage(None)
    assert count_rows(app, model) == 1
    body = done.get_data(as_text=True)
    if done.status_code == 503:  # the panel needed the database again
        assert done.headers["HX-Retarget"] == "#toast" and "已经完成" in body and "没有生效" not in body
    else:
        assert done.status_code == 200 and "没有生效" not in body


@pytest.mark.parametrize("action", ACTIONS)
def test_a_lost_commit_reply_says_the_outcome_is_unknown_and_sending_again_is_one_action(
        app, rich_client, make_product, outage, action):
    page, url, data, model, _result = ACTIONS[action](app, rich_client, make_product=make_product)
    token, key = rich_client.form_tokens(page)
    data = {"csrf_token": token, "request_key": key or uuid.uuid4().hex, **data}
    outage("in-commit")
    lost = rich_client.post(url, data=data)
    assert lost.status_code == 503 and "无法确认" in lost.get_data(as_text=True)
    assert "没有生效" not in lost.get_data(as_text=True) and "已经完成" not in lost.get_data(as_text=True)
    assert count_rows(app, model) == 1  # it did happen
    again = rich_client.post(url, data=data)  # the member sends the same page again
    assert again.status_code in (200, 303)
    assert count_rows(app, model) == 1


def test_before_any_commit_the_answer_is_nothing_happened(app, rich_client, make_product, outage, monkeypatch):
    from app.services import shop

    product = make_product(kind="virtual", points_price=10)

    def down(*_args, **_kwargs):
        raise _lost()

    monkeypatch.setattr(shop, "redeem_product", down)
    refused = rich_client.submit(f"/products/{product}/redeem", {"quantity": "1", "confirmed": "1"},
                                 page=f"/products/{product}")
    assert refused.status_code == 503 and "没有生效" in refused.get_data(as_text=True)
    assert count_rows(app, Order) == 0


def test_a_voucher_verified_before_the_outage_shows_its_receipt_after(app, client, counter, outage):
    login_as(client, counter["staff"])
    code = counter["code"]
    outage("after-commit")
    done = client.submit("/merchant/verify/confirm", {"code": code}, page=f"/merchant/verify?code={code}")
    outage(None)
    assert done.status_code == 303 and done.headers["Location"].endswith(f"done={counter['voucher_id']}")
    assert count_rows(app, Voucher, status="redeemed") == 1
    assert "核销成功" in client.get(done.headers["Location"]).get_data(as_text=True)


@pytest.mark.parametrize("htmx", [False, True])
def test_a_dead_connection_is_a_503_page_even_when_its_rollback_fails(app, rich_client, make_product, outage, htmx):
    product = make_product(kind="virtual", points_price=10, codes=["CODE-0001"])
    token, key = rich_client.form_tokens(f"/products/{product}")
    outage("dead")
    headers = {"HX-Request": "true"} if htmx else {}
    page = rich_client.get("/products", headers=headers)
    form = rich_client.post(f"/products/{product}/redeem", headers=headers,
                            data={"csrf_token": token, "request_key": key, "quantity": "1", "confirmed": "1"})
    outage(None)
    for response in (page, form):
        assert response.status_code == 503 and "没有生效" in response.get_data(as_text=True)
    assert count_rows(app, Order) == 0
    assert rich_client.get("/products").status_code == 200  # the next request has a working connection
