"""The message centre: notices, the unread badge, mark-all-read, expiry reminders."""
from datetime import timedelta

from app.services import ledger, messages
from app.services.clock import utcnow
from app.services.tx import write_transaction


def _notify(app, user_id, n=1, key=None):
    with app.app_context():
        with write_transaction():
            for i in range(n):
                messages.notify(user_id, "shipped", "订单已发货", f"第{i}个包裹已发出", link="/orders", key=key)


def test_badge_counts_unread_and_mark_all_read_clears_it(member_client, app):
    _notify(app, member_client.user_id, 3)
    html = member_client.get("/me").get_data(as_text=True)
    assert 'id="unread-badge"' in html and ">3</b>" in html
    page = member_client.get("/me/messages").get_data(as_text=True)
    assert page.count('class="msg unread"') == 3 and "第2个包裹已发出" in page
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


def test_expiry_reminder_once_a_month_for_points_expiring_within_30_days(app, make_member):
    soon, later = make_member(), make_member()
    now = utcnow()
    with app.app_context():
        with write_transaction():
            ledger.earn(soon, 120, "packet", expires_at=now + timedelta(days=6))
        assert messages.send_expiry_reminders(now=now) == 1
        assert messages.send_expiry_reminders(now=now) == 0
        rows, _ = messages.message_page(soon)
        assert len(rows) == 1 and "120 积分" in rows[0].body
        assert messages.unread_count(later) == 0
