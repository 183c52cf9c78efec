"""The personal centre and the points statement."""
from datetime import timedelta

from app.services import ledger, tasks
from app.services.clock import utcnow
from app.services.tx import write_transaction


def test_me_needs_login(client):
    response = client.get("/me")
    assert response.status_code == 302 and "/login?next=" in response.headers["Location"]


def test_me_shows_balance_level_and_next_expiry(member_client, app):
    with app.app_context():
        with write_transaction():
            ledger.earn(member_client.user_id, 40, "packet", expires_at=utcnow() + timedelta(days=7))
    html = member_client.get("/me").get_data(as_text=True)
    assert 'id="points-balance">540<' in html
    assert "普通会员" in html
    assert "40 积分将于" in html and "30天内将过期 40 积分" in html


def test_points_statement_pages_with_htmx(member_client, app):
    with app.app_context():
        with write_transaction():
            for i in range(25):
                ledger.earn(member_client.user_id, 1 + i, "checkin", key=f"c{i}")
    html = member_client.get("/me/points").get_data(as_text=True)
    assert html.count('class="ledger-row"') == 20 and "加载更多" in html
    assert "+25" in html and "注册礼" not in html  # newest first; the gift is on page two
    before = html.split("before=")[1].split('"')[0]
    fragment = member_client.get(f"/me/points?before={before}", headers={"HX-Request": "true"})
    body = fragment.get_data(as_text=True)
    assert "HX-Request" in fragment.headers["Vary"]
    assert "<html" not in body and body.count('class="ledger-row"') == 6 and "注册礼" in body
    assert "加载更多" not in body


def test_every_member_page_carries_the_balance_element(member_client):
    for path in ("/", "/me", "/me/points"):
        assert 'id="points-balance">500<' in member_client.get(path).get_data(as_text=True), path


def test_english_locale(member_client):
    html = member_client.get("/me?lang=en").get_data(as_text=True)
    assert "Points history" in html and "Member" in html
    assert "Points history" in member_client.get("/me").get_data(as_text=True)  # remembered in a cookie


def test_a_browser_preferring_english_reads_english_and_chinese_stays_the_default(client):
    html = client.get("/register", headers={"Accept-Language": "en-US,en;q=0.9"}).get_data(as_text=True)
    assert "Become a member" in html
    assert "注册会员" in client.get("/register", headers={"Accept-Language": "ja-JP"}).get_data(as_text=True)
    assert "注册会员" in client.get("/register").get_data(as_text=True)


def test_home_and_me_lead_to_the_draws_and_the_treasure(member_client):
    home = member_client.get("/").get_data(as_text=True)
    me = member_client.get("/me").get_data(as_text=True)
    for html in (home, me):
        assert 'href="/draws"' in html and 'href="/treasure"' in html
    assert member_client.get("/draws").status_code == 200


def test_check_in_rules_read_in_english(member_client):
    html = member_client.get("/checkin?lang=en").get_data(as_text=True)
    assert "day 1: 5, day 2: 5" in html and "、" not in html


def test_a_task_reward_on_the_statement_reads_in_the_readers_language(member_client, app):
    with app.app_context():
        tasks.claim_task(member_client.user_id, "phone")  # the title is stored as an id, not as words
    assert "绑定手机号" in member_client.get("/me/points").get_data(as_text=True)
    english = member_client.get("/me/points?lang=en").get_data(as_text=True)
    assert "Link your mobile number" in english and "绑定手机号" not in english


def test_english_counts_agree_with_the_number(member_client):
    response = member_client.submit("/checkin?lang=en", page="/checkin?lang=en", htmx=True)
    body = response.get_data(as_text=True)
    assert 'data-testid="streak">1</strong> <span>day</span>' in body and "Checked in! +5 points" in body
    html = member_client.get("/checkin?lang=zh_CN").get_data(as_text=True)
    assert 'data-testid="streak">1</strong> <span>天</span>' in html


def test_me_leads_to_everything_a_member_owns_with_distinct_icons(member_client):
    from app.routes.me import SHORTCUTS

    page = member_client.get("/me").get_data(as_text=True)
    for path in ("/me/profile", "/me/addresses", "/me/level", "/invite", "/me/messages", "/me/points",
                 "/me/vouchers", "/me/coupons", "/me/data", "/orders?tab=pending_payment", "/orders?tab=paid",
                 "/orders?tab=shipped", "/orders?tab=to_use"):
        assert f'href="{path}"' in page, path
    icons = [icon for _endpoint, _label, icon in SHORTCUTS]
    assert len(icons) == len(set(icons))                  # no two features share an icon
