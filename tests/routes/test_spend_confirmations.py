"""Spends of at least shop.rules confirm_points (100 by default) are confirmed on a sheet first -
treasure shares, paid draws and make-up check-ins as well as redemptions - with htmx (the sheet
in the panel) and without JavaScript (a confirmation page). Nothing moves before 确认, and the
confirmation carries the same request key, so a double tap is still one spend."""
import re
import uuid
from datetime import timedelta

from app.extensions import db
from app.models import CheckIn, DrawPlay, TreasurePurchase
from app.services.clock import shanghai_today, utcnow
from tests.conftest import balance_now, count_rows, login_as
from tests.games_factories import make_draw, make_item

KEY_RE = re.compile(r'name="request_key"[^>]*value="([0-9a-f]{32})"')


def _sheet(response):
    body = response.get_data(as_text=True)
    assert response.status_code == 200 and 'data-testid="confirm-sheet"' in body, body[:400]
    return body


def test_shares_worth_the_threshold_are_confirmed_first_then_bought_once(app, member_client):
    _item, round_id = make_item(app, share_price=60, total_shares=20)
    member = member_client
    balance = balance_now(app, member.user_id)
    page = f"/treasure/{round_id}"
    request_key = uuid.uuid4().hex
    sheet = _sheet(member.submit(f"{page}/buy", {"quantity": "2", "request_key": request_key}, page=page))
    assert "<html" in sheet  # without JavaScript: a confirmation page
    assert re.search(r'data-testid="confirm-points">120<', sheet)
    assert re.search(rf'data-testid="confirm-balance-after">{balance - 120:,}<', sheet)
    assert KEY_RE.search(sheet).group(1) == request_key  # the same request key rides along
    assert count_rows(app, TreasurePurchase) == 0 and balance_now(app, member.user_id) == balance
    for _ in range(2):  # 确认 tapped twice
        done = member.submit(f"{page}/buy", {"quantity": "2", "request_key": request_key, "confirmed": "1"}, page=page)
        assert done.status_code in (200, 303)
    assert count_rows(app, TreasurePurchase) == 1 and balance_now(app, member.user_id) == balance - 120


def test_a_small_share_purchase_needs_no_sheet(app, member_client):
    _item, round_id = make_item(app, share_price=10, total_shares=20)
    page = f"/treasure/{round_id}"
    response = member_client.submit(f"{page}/buy", {"quantity": "1"}, page=page, htmx=True)
    assert 'data-testid="confirm-sheet"' not in response.get_data(as_text=True)
    assert count_rows(app, TreasurePurchase) == 1


def test_the_share_sheet_in_the_panel_and_a_refusal_before_it(app, member_client):
    _item, round_id = make_item(app, share_price=60, total_shares=20)
    page = f"/treasure/{round_id}"
    body = _sheet(member_client.submit(f"{page}/buy", {"quantity": "3"}, page=page, htmx=True))
    assert "<html" not in body and 'id="treasure-buy"' in body
    too_many = member_client.submit(f"{page}/buy", {"quantity": "30"}, page=page, htmx=True)
    assert too_many.status_code == 422 and "仅剩 20 份" in too_many.get_data(as_text=True)
    assert 'data-testid="confirm-sheet"' not in too_many.get_data(as_text=True)


def test_a_costly_draw_is_confirmed_first_and_plays_once(app, member_client):
    draw_id = make_draw(app, cost=150)
    member = member_client
    balance = balance_now(app, member.user_id)
    page = f"/draw/{draw_id}"
    request_key = uuid.uuid4().hex
    body = _sheet(member.submit(f"{page}/play", {"request_key": request_key}, page=page, htmx=True))
    assert 'id="draw-panel"' in body and re.search(r'data-testid="confirm-points">150<', body)
    assert count_rows(app, DrawPlay) == 0 and balance_now(app, member.user_id) == balance
    for _ in range(2):
        member.submit(f"{page}/play", {"request_key": request_key, "confirmed": "1"}, page=page, htmx=True)
    assert count_rows(app, DrawPlay) == 1


def test_a_costly_draw_without_javascript_shows_a_confirmation_page(app, member_client):
    draw_id = make_draw(app, cost=150)
    page = f"/draw/{draw_id}"
    body = _sheet(member_client.submit(f"{page}/play", {}, page=page))
    assert "<html" in body and 'data-testid="draw-confirm"' in body
    assert count_rows(app, DrawPlay) == 0


def test_a_cheap_draw_plays_at_once(app, member_client):
    draw_id = make_draw(app, cost=10)
    page = f"/draw/{draw_id}"
    member_client.submit(f"{page}/play", {}, page=page, htmx=True)
    assert count_rows(app, DrawPlay) == 1


def _costly_makeups(app, cost):
    from app.services.settings import put_setting
    from app.services.tx import write_transaction

    with app.app_context():
        with write_transaction():
            put_setting("earn.makeup", {"enabled": True, "cost": cost, "per_month": 2, "window_days": 7})
        db.session.remove()


def test_a_costly_make_up_is_confirmed_first(app, client, make_member):
    _costly_makeups(app, 150)
    user_id = make_member(created_at=utcnow() - timedelta(days=40))
    login_as(client, user_id)
    day = shanghai_today() - timedelta(days=1)
    data = {"day": day.isoformat(), "month": day.strftime("%Y-%m")}
    body = _sheet(client.submit("/checkin/makeup", data, page="/checkin"))
    assert "<html" in body and 'data-testid="makeup-confirm"' in body
    assert f'name="day" value="{day.isoformat()}"' in body
    assert count_rows(app, CheckIn, user_id=user_id) == 0
    for _ in range(2):
        client.submit("/checkin/makeup", {**data, "confirmed": "1"}, page="/checkin")
    assert count_rows(app, CheckIn, user_id=user_id, day=day) == 1
    assert balance_now(app, user_id) == 500 - 150


def test_a_make_up_the_member_cannot_afford_is_refused_before_the_sheet(app, client, make_member):
    _costly_makeups(app, 900)
    user_id = make_member(created_at=utcnow() - timedelta(days=40))
    login_as(client, user_id)
    day = shanghai_today() - timedelta(days=1)
    response = client.submit("/checkin/makeup", {"day": day.isoformat()}, page="/checkin", htmx=True)
    body = response.get_data(as_text=True)
    assert "积分不足" in body and 'data-testid="confirm-sheet"' not in body


def test_a_cheap_make_up_keeps_its_quick_question(app, client, make_member):
    user_id = make_member(created_at=utcnow() - timedelta(days=40))
    login_as(client, user_id)
    day = shanghai_today() - timedelta(days=1)
    html = client.get(f"/checkin?month={day.strftime('%Y-%m')}").get_data(as_text=True)
    assert "hx-confirm=" in html  # 20 points: a one-line question, no sheet
    _costly_makeups(app, 150)
    html = client.get(f"/checkin?month={day.strftime('%Y-%m')}").get_data(as_text=True)
    assert "hx-confirm=" not in html  # the sheet asks instead
