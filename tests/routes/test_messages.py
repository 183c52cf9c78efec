"""The message centre: notices, the unread badge, mark-all-read, expiry reminders, languages."""
from datetime import timedelta

import pytest
from babel.dates import format_date
from flask_babel import lazy_gettext as _l

from app.models import Message
from app.services import ledger, messages
from app.services.clock import to_shanghai, utcnow
from app.services.tx import write_transaction
from tests.conftest import login_as
from tests.games_factories import make_item


def _notify(app, user_id, n=1, key=None):
    with app.app_context():
        with write_transaction():
            for i in range(n):
                messages.notify(user_id, "order.shipped", {"order_id": i + 1, "name": f"第{i}个包裹",
                                                           "carrier": "顺丰速运", "no": f"SF{i}"}, key=key)


def test_badge_counts_unread_and_mark_all_read_clears_it(member_client, app):
    _notify(app, member_client.user_id, 3)
    html = member_client.get("/me").get_data(as_text=True)
    assert 'id="unread-badge"' in html and ">3</b>" in html
    page = member_client.get("/me/messages").get_data(as_text=True)
    assert page.count('class="msg unread"') == 3 and "你兑换的「第2个包裹」已发货：顺丰速运 SF2" in page
    response = member_client.submit("/me/messages/read", page="/me/messages", htmx=True)
    assert response.status_code == 204 and response.headers["HX-Redirect"].endswith("/me/messages")
    again = member_client.get("/me/messages").get_data(as_text=True)
    assert 'class="msg unread"' not in again and 'id="unread-badge"' not in again


def test_mark_read_without_csrf_changes_nothing(member_client, app):
    _notify(app, member_client.user_id)
    assert member_client.post("/me/messages/read").status_code == 400
    assert 'id="unread-badge"' in member_client.get("/me").get_data(as_text=True)


def test_a_keyed_notice_arrives_once(member_client, app):
    _notify(app, member_client.user_id, key="once")
    _notify(app, member_client.user_id, key="once")
    with app.app_context():
        assert messages.unread_count(member_client.user_id) == 1


def test_members_see_only_their_own_messages(member_client, make_member, app):
    other = make_member()
    _notify(app, other, 2)
    assert "包裹" not in member_client.get("/me/messages").get_data(as_text=True)


def test_expiry_reminder_once_for_points_expiring_within_30_days(app, make_member):
    soon, later = make_member(), make_member()
    now = utcnow()
    with app.app_context():
        with write_transaction():
            ledger.earn(soon, 120, "packet", expires_at=now + timedelta(days=6))
        assert messages.send_expiry_reminders(now=now) == 1
        assert messages.send_expiry_reminders(now=now) == 0
        rows, _ = messages.message_page(soon)
        assert len(rows) == 1 and "120 积分" in rows[0].body and rows[0].kind == "expiry"
        assert messages.unread_count(later) == 0


# Messages are stored as ids and parameters, and put into words in the reader's language.


def _reader(app, user_id):
    """Another phone: its own cookies (and language), logged in as `user_id`."""
    other = app.test_client()
    login_as(other, user_id)
    return other


def test_a_treasure_result_reaches_each_participant_in_their_own_language(member_client, app, make_member):
    _item, round_id = make_item(app, total_shares=2, name="1000积分大红包")
    page = f"/treasure/{round_id}"
    alice = member_client  # reads Chinese
    alice.submit(f"{page}/buy", {"quantity": "1"}, page=page, htmx=True)
    bob = _reader(app, make_member())  # browses in English and buys the last share: the round is drawn
    response = bob.submit(f"{page}/buy?lang=en", {"quantity": "1"}, page=f"{page}?lang=en", htmx=True)
    assert response.status_code in (200, 204)

    for_alice = alice.get("/me/messages").get_data(as_text=True)
    assert "积分夺宝" in for_alice and "「1000积分大红包」第 1 期" in for_alice and "Points Treasure" not in for_alice
    assert f'href="{page}"' in for_alice
    for_bob = bob.get("/me/messages").get_data(as_text=True)  # his lang cookie says English
    assert "Points Treasure" in for_bob and "1000积分大红包&#34; round 1" in for_bob and "积分夺宝" not in for_bob
    alice_in_english = alice.get("/me/messages?lang=en").get_data(as_text=True)
    assert "Points Treasure" in alice_in_english and "幸运号码" not in alice_in_english


def test_the_expiry_reminder_counts_and_dates_in_the_readers_language(member_client, app):
    now = utcnow()
    with app.app_context():
        with write_transaction():
            ledger.earn(member_client.user_id, 1, "packet", expires_at=now + timedelta(days=6))
        assert messages.send_expiry_reminders(now=now) == 1  # a cron job: no reader, no language
    day = to_shanghai(now + timedelta(days=6)).date()
    chinese = member_client.get("/me/messages").get_data(as_text=True)
    assert f"你有 1 积分将在30天内过期（最早 {format_date(day, 'medium', locale='zh_CN')}）" in chinese
    english = member_client.get("/me/messages?lang=en").get_data(as_text=True)
    assert f"1 point expires within 30 days (on {format_date(day, 'medium', locale='en')})" in english
    assert 'href="/me/points"' in english


def test_rows_written_before_ids_still_read_as_they_were(member_client, app):
    with app.app_context():
        with write_transaction() as session:
            session.add(Message(user_id=member_client.user_id, kind="shipped", msgid="legacy",
                                params={"title": "订单已发货", "body": "旧的消息正文", "link": "/orders"}))
            session.add(Message(user_id=member_client.user_id, kind="system", msgid="gone.from.the.registry",
                                params={}))
    html = member_client.get("/me/messages").get_data(as_text=True)
    assert "旧的消息正文" in html and 'href="/orders"' in html and "gone.from.the.registry" in html


def test_a_message_parameter_must_not_be_words_in_one_language(app, make_member):
    user_id = make_member()
    with app.app_context():
        with pytest.raises(TypeError, match="Phrase"):
            with write_transaction():
                messages.notify(user_id, "order.shipped", {"order_id": 1, "name": _l("会员取消"),
                                                           "carrier": "顺丰速运", "no": "SF1"})
        with pytest.raises(KeyError):
            with write_transaction():
                messages.notify(user_id, "order.shipped", {"order_id": 1, "name": "耳机"})  # no carrier, no number
        assert messages.unread_count(user_id) == 0


def test_every_message_type_leads_to_a_real_page(app):
    rules = {rule.endpoint: rule for rule in app.url_map.iter_rules()}
    for msgid, message_type in messages.MESSAGES.items():
        if message_type.endpoint is not None:
            assert message_type.endpoint in rules, msgid
            assert set(rules[message_type.endpoint].arguments) == set(message_type.link_params), msgid
