"""Games routes: draw pages and fragments, the public odds, the newbie-gift popup, treasure pages."""
import hashlib
import html as html_lib
import re
import uuid
from datetime import timedelta

import pytest
from flask import render_template_string
from flask_login import login_user
from sqlalchemy import func, select, update

from app.extensions import db
from app.models import DrawPlay, DrawPrize, TreasureRound, User
from app.services import draws, treasure
from app.services.clock import utcnow
from tests.conftest import balance_of
from tests.games_factories import key, make_draw, make_item, prize
from tests.shop_factories import make_merchant, make_product  # noqa: F401  (fixtures)

HTMX = {"HX-Request": "true"}


def _count_plays(app):
    with app.app_context():
        return db.session.execute(select(func.count(DrawPlay.id))).scalar_one()


def _balance(app, user_id):
    with app.app_context():
        return balance_of(user_id)


# --- draw pages ----------------------------------------------------------------------------

def test_the_wheel_page_shows_every_slot_and_links_the_odds(client, app):
    draw_id = make_draw(app)
    page = client.get(f"/draw/{draw_id}")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert 'data-skin="wheel"' in html and html.count('class="wheel-slot"') == 4
    assert f'href="/draw/{draw_id}/odds"' in html
    assert "/login?next=" in html and 'id="draw-form"' in html


def test_the_nine_grid_page_has_eight_cells_round_the_button(member_client, app):
    prizes = [prize(f"{n}积分", 10, points=n) for n in (1, 2, 3, 5, 8, 13, 21, 34)]
    draw_id = make_draw(app, prizes, skin="grid")
    html = member_client.get(f"/draw/{draw_id}").get_data(as_text=True)
    assert 'data-skin="grid"' in html and html.count('class="grid-cell slot-') == 8
    assert 'form="draw-form"' in html and 'data-testid="draw-go"' in html


def test_the_odds_page_is_public_and_follows_the_live_configuration(client, app):
    prizes = [prize("一等奖 500积分", 1, points=500, tier=1, stock=3), prize("10积分", 3, points=10),
              prize("谢谢参与", 0, kind="thanks"), prize("空位", 0, kind="thanks")]
    draw_id = make_draw(app, prizes, cost=15, daily_limit=5, pity_after=9, pity_tier=1)
    html = client.get(f"/draw/{draw_id}/odds").get_data(as_text=True)
    assert "25.00%" in html and "75.00%" in html and "0.00%" in html
    assert "15 积分" in html and "每人每天 5 次" in html
    assert "连续 9 次未抽中一等奖及以上时，第 10 次必中其一" in html
    assert "不限" in html and ">3<" in html
    with app.app_context():
        db.session.execute(update(DrawPrize).where(DrawPrize.name == "一等奖 500积分").values(stock=0))
        db.session.commit()
    html = client.get(f"/draw/{draw_id}/odds").get_data(as_text=True)
    assert "已抽完" in html and "100.00%" in html
    assert 'data-testid="odds-win">100%（每次必中）<' in html  # only 10积分 is left: every play wins


def test_the_odds_page_states_the_chance_of_winning_anything(client, app):
    draw_id = make_draw(app, [prize("10积分", 1, points=10), prize("谢谢参与", 3, kind="thanks")])
    html = client.get(f"/draw/{draw_id}/odds").get_data(as_text=True)
    assert 'data-testid="odds-win">25.00%<' in html
    assert 'data-testid="sure-win"' not in client.get(f"/draw/{draw_id}").get_data(as_text=True)
    sure = make_draw(app, [prize("10积分", 1, points=10), prize("安慰奖 1积分", 3, kind="consolation", points=1)])
    assert 'data-testid="sure-win">100%中奖<' in client.get(f"/draw/{sure}").get_data(as_text=True)


@pytest.mark.parametrize("path", ["/draw/999", "/draw/999/odds", "/draw/999/history", "/draw/abc"])
def test_an_unknown_draw_is_404(member_client, path):
    response = member_client.get(path)
    assert response.status_code == 404
    assert "不存在" in response.get_data(as_text=True)


def test_playing_an_unknown_or_switched_off_draw_is_404_and_charges_nothing(member_client, app):
    live = make_draw(app)
    off = make_draw(app, is_active=False)
    for target in (999, off):
        response = member_client.submit(f"/draw/{target}/play", page=f"/draw/{live}", htmx=True)
        assert response.status_code == 404 and response.headers["HX-Retarget"] == "#toast"
    assert _count_plays(app) == 0 and _balance(app, member_client.user_id) == 500


def test_a_draw_over_htmx_returns_the_result_and_the_new_balance(member_client, app):
    draw_id = make_draw(app)
    response = member_client.submit(f"/draw/{draw_id}/play", page=f"/draw/{draw_id}", htmx=True)
    body = response.get_data(as_text=True)
    assert response.status_code == 200 and "HX-Request" in response.headers["Vary"]
    assert "<html" not in body and body.lstrip().startswith('<section id="draw-panel"')
    assert "is-pending" in body  # in the HTML before the animation plays
    slot = int(re.search(r'data-draw-result\s+data-slot="(\d+)"', body).group(1))
    with app.app_context():
        play = db.session.execute(select(DrawPlay)).scalar_one()
        assert play.prize.position == slot and play.user_id == member_client.user_id
        balance = balance_of(member_client.user_id)
    assert f'data-balance="{balance}"' in body                      # shown when the wheel lands (games.js)
    assert 'id="points-balance" hx-swap-oob' not in body           # not the moment it starts
    assert re.search(r'name="request_key"[^>]*value="[0-9a-f]{32}"', body)  # a fresh key for the next play


def test_a_coupon_prize_lands_in_my_coupons(member_client, app, make_product):
    product_id = make_product(name="满50减10券", kind="coupon", stock=5, face_value_fen=1000, is_active=False)
    draw_id = make_draw(app, [prize("满50减10券", 1, kind="product", product_id=product_id, tier=1)])
    body = member_client.submit(f"/draw/{draw_id}/play", page=f"/draw/{draw_id}", htmx=True).get_data(as_text=True)
    assert "满50减10券" in body and 'href="/me/coupons"' in body
    assert "满50减10券" in member_client.get("/me/coupons").get_data(as_text=True)
    messages = member_client.get("/me/messages").get_data(as_text=True)
    assert "恭喜中奖" in messages and "满50减10券" in messages


def test_a_merchant_voucher_prize_lands_in_my_vouchers(member_client, app, make_product, make_merchant):
    merchant_id = make_merchant("晨光咖啡")
    product_id = make_product(name="美式咖啡券", kind="voucher", stock=5, face_value_fen=2800, valid_days=30,
                              merchant_id=merchant_id, is_active=False)
    draw_id = make_draw(app, [prize("美式咖啡券", 1, kind="product", product_id=product_id, tier=2)])
    body = member_client.submit(f"/draw/{draw_id}/play", page=f"/draw/{draw_id}", htmx=True).get_data(as_text=True)
    assert 'href="/me/vouchers"' in body
    vouchers = member_client.get("/me/vouchers").get_data(as_text=True)
    assert "美式咖啡券" in vouchers and "晨光咖啡" in vouchers and "<svg" in vouchers  # with its QR


def test_a_double_tap_draws_once(member_client, app):
    draw_id = make_draw(app)
    token, request_key = member_client.form_tokens(f"/draw/{draw_id}")
    data = {"csrf_token": token, "request_key": request_key}
    first = member_client.post(f"/draw/{draw_id}/play", data=data, headers=HTMX).get_data(as_text=True)
    second = member_client.post(f"/draw/{draw_id}/play", data=data, headers=HTMX).get_data(as_text=True)
    slot = re.compile(r'data-draw-result\s+data-slot="(\d+)"')
    assert slot.search(first).group(1) == slot.search(second).group(1)
    assert _count_plays(app) == 1


def test_a_draw_without_javascript_redirects_to_its_result(member_client, app):
    draw_id = make_draw(app)
    response = member_client.submit(f"/draw/{draw_id}/play", page=f"/draw/{draw_id}")
    assert response.status_code == 303
    with app.app_context():
        play_id = db.session.execute(select(DrawPlay.id)).scalar_one()
    assert response.headers["Location"].endswith(f"/draw/{draw_id}?play={play_id}")
    html = member_client.get(response.headers["Location"]).get_data(as_text=True)
    assert 'data-testid="draw-result"' in html and "is-pending" not in html


def test_someone_elses_play_is_not_shown(member_client, app, make_member):
    draw_id = make_draw(app)
    other = make_member()
    with app.app_context():
        play_id = draws.play_draw(other, draw_id, key()).id
    assert member_client.get(f"/draw/{draw_id}?play={play_id}").status_code == 404


def test_a_post_without_csrf_is_refused_and_changes_nothing(member_client, app):
    draw_id = make_draw(app)
    response = member_client.post(f"/draw/{draw_id}/play", data={"request_key": uuid.uuid4().hex}, headers=HTMX)
    assert response.status_code == 400 and "页面已过期" in response.get_data(as_text=True)
    assert _count_plays(app) == 0


def test_a_malformed_request_key_is_refused(member_client, app):
    draw_id = make_draw(app)
    response = member_client.submit(f"/draw/{draw_id}/play", {"request_key": "x"}, page=f"/draw/{draw_id}",
                                    htmx=True)
    assert response.status_code == 400 and "页面已过期，请刷新后重试" in response.get_data(as_text=True)
    assert _count_plays(app) == 0


def test_the_daily_limit_is_explained_in_a_toast(member_client, app):
    draw_id = make_draw(app, daily_limit=1)
    last = member_client.submit(f"/draw/{draw_id}/play", page=f"/draw/{draw_id}", htmx=True)
    assert last.status_code == 200 and 'data-final="明天再来"' in last.get_data(as_text=True)
    page = member_client.get(f"/draw/{draw_id}").get_data(as_text=True)
    assert 'data-testid="left-today">今日剩余 0 次' in page
    assert re.search(r'<button id="draw-go"[^>]*disabled[^>]*>明天<small>再来</small>', page)
    response = member_client.submit(f"/draw/{draw_id}/play", page=f"/draw/{draw_id}", htmx=True)
    assert response.status_code == 400 and response.headers["HX-Retarget"] == "#toast"
    assert "今天的 1 次抽奖机会已用完" in response.get_data(as_text=True)
    assert _count_plays(app) == 1


def test_not_enough_points_is_explained(member_client, app):
    draw_id = make_draw(app, cost=501)
    response = member_client.submit(f"/draw/{draw_id}/play", page=f"/draw/{draw_id}", htmx=True)
    assert response.status_code == 400 and "积分不足" in response.get_data(as_text=True)
    assert _count_plays(app) == 0 and _balance(app, member_client.user_id) == 500


def test_anonymous_visitors_are_sent_to_log_in(client, app):
    draw_id = make_draw(app)
    response = client.submit(f"/draw/{draw_id}/play", page=f"/draw/{draw_id}")
    assert response.status_code == 302 and "/login" in response.headers["Location"]
    assert _count_plays(app) == 0


def test_my_draw_history_pages_with_htmx(member_client, app):
    draw_id = make_draw(app, cost=1)
    with app.app_context():
        for _ in range(25):
            draws.play_draw(member_client.user_id, draw_id, key())
    html = member_client.get(f"/draw/{draw_id}/history").get_data(as_text=True)
    assert html.count('data-testid="play-row"') == 20 and "加载更多" in html
    before = re.search(r"before=(\d+)", html).group(1)
    fragment = member_client.get(f"/draw/{draw_id}/history?before={before}", headers=HTMX)
    body = fragment.get_data(as_text=True)
    assert "<html" not in body and body.count('data-testid="play-row"') == 5 and "加载更多" not in body


def test_the_draws_index_lists_draws_but_not_the_newbie_gift(client, app):
    make_draw(app, name="幸运大转盘")
    make_draw(app, name="新人礼包", purpose="newbie")
    html = client.get("/draws").get_data(as_text=True)
    assert "幸运大转盘" in html and "新人礼包" not in html and "积分夺宝" in html


# --- the newbie gift -----------------------------------------------------------------------

@pytest.fixture()
def newbie_id(app):
    prizes = [prize("AirPods 耳机", 1, points=8888, tier=1, stock=1), prize("20积分", 99, points=20),
              prize("50积分", 0, points=50), prize("1积分", 0, kind="consolation", points=1)]
    return make_draw(app, prizes, name="新人专享", purpose="newbie")


def _render_gift(app, user_id=None):
    """Render the partial as the home page includes it, for a member or a visitor."""
    with app.test_request_context("/"):
        if user_id is not None:
            login_user(db.session.get(User, user_id))
        html = render_template_string('{% include "games/_newbie_gift.html" ignore missing %}')
        db.session.remove()
    return html


def test_the_newbie_gift_popup_is_for_new_members_only(app, make_member, newbie_id):
    user_id = make_member()
    html = _render_gift(app, user_id)
    assert 'data-testid="newbie-gift"' in html and "仅需 10 积分，100% 中奖" in html
    assert "AirPods 耳机" in html and f'href="/draw/{newbie_id}"' in html
    assert _render_gift(app).strip() == ""
    with app.app_context():
        draws.play_draw(user_id, make_draw(app), key())  # has now spent points
    assert _render_gift(app, user_id).strip() == ""


def test_closing_the_newbie_gift_popup_keeps_the_gift_on_me_and_home(member_client, app, newbie_id):
    assert 'data-testid="newbie-gift"' in _render_gift(app, member_client.user_id)
    token, _key = member_client.form_tokens("/me")
    data = {"csrf_token": token, "request_key": uuid.uuid4().hex}
    response = member_client.post("/newbie-gift/dismiss", data=data, headers=HTMX)
    assert response.status_code == 200 and response.get_data(as_text=True) == ""
    again = member_client.post("/newbie-gift/dismiss", data={**data, "request_key": uuid.uuid4().hex})
    assert again.status_code == 303
    assert _render_gift(app, member_client.user_id).strip() == ""          # the popup stays closed
    for path in ("/", "/me"):
        page = member_client.get(path).get_data(as_text=True)
        assert 'data-testid="newbie-card"' in page and "有效期至" in page and 'data-testid="newbie-gift"' not in page
    response = member_client.submit(f"/draw/{newbie_id}/play", page=f"/draw/{newbie_id}", htmx=True)
    assert response.status_code == 200 and "恭喜获得" in response.get_data(as_text=True)
    assert 'data-testid="newbie-card"' not in member_client.get("/me").get_data(as_text=True)
    assert member_client.submit(f"/draw/{newbie_id}/play", page=f"/draw/{newbie_id}", htmx=True).status_code == 409


def test_the_newbie_gift_lapses_a_week_after_registering(member_client, app, newbie_id):
    with app.app_context():
        db.session.execute(update(User).where(User.id == member_client.user_id)
                           .values(created_at=utcnow() - timedelta(days=7, minutes=1)))
        db.session.commit()
        db.session.remove()
    assert 'data-testid="newbie-card"' not in member_client.get("/me").get_data(as_text=True)
    response = member_client.submit(f"/draw/{newbie_id}/play", page=f"/draw/{newbie_id}", htmx=True)
    assert "新手礼包已过期" in response.get_data(as_text=True)


def test_the_newbie_draws_odds_page_states_its_once_per_member_rule(client, newbie_id):
    page = client.get(f"/draw/{newbie_id}/odds").get_data(as_text=True)
    assert "每位会员限 1 次" in page and "不限</dd>" not in page.split('data-testid="odds-limit"')[1][:200]


def test_the_newbie_draw_plays_once_and_the_popup_is_gone(member_client, app, newbie_id):
    response = member_client.submit(f"/draw/{newbie_id}/play", page=f"/draw/{newbie_id}", htmx=True)
    assert response.status_code == 200 and "恭喜获得" in response.get_data(as_text=True)
    assert _render_gift(app, member_client.user_id).strip() == ""
    page = member_client.get(f"/draw/{newbie_id}").get_data(as_text=True)
    assert "已领取" in page and "disabled" in page
    assert member_client.submit(f"/draw/{newbie_id}/play", page=f"/draw/{newbie_id}", htmx=True).status_code == 409
    assert _count_plays(app) == 1


def test_the_home_page_carries_the_popup_until_it_is_used(member_client, app, newbie_id):
    assert 'data-testid="newbie-gift"' in member_client.get("/").get_data(as_text=True)
    member_client.submit(f"/draw/{newbie_id}/play", page=f"/draw/{newbie_id}", htmx=True)
    assert 'data-testid="newbie-gift"' not in member_client.get("/").get_data(as_text=True)


def test_the_popup_promises_100_percent_only_when_every_play_wins(app, make_member):
    make_draw(app, [prize("AirPods 耳机", 1, points=8888, tier=1, stock=1), prize("谢谢参与", 99, kind="thanks")],
              name="新人专享", purpose="newbie")
    html = _render_gift(app, make_member())
    assert "100%" not in html and "仅需 10 积分抽好礼" in html and "AirPods 耳机" in html


# --- points treasure -----------------------------------------------------------------------

def _round(app, round_id):
    with app.app_context():
        rnd = db.session.get(TreasureRound, round_id)
        state = rnd.sold, rnd.status
        db.session.remove()
    return state


def test_the_treasure_list_shows_open_rounds_and_results(client, app, make_member):
    _item, won_id = make_item(app, name="1000积分红包", total_shares=2)
    make_item(app, name="小米手环", total_shares=100)
    buyer = make_member()
    with app.app_context():
        treasure.buy_shares(buyer, won_id, 2, key())
    html = client.get("/treasure").get_data(as_text=True)
    assert html.count('data-testid="open-round"') == 2  # 小米手环 and the red packet's second period
    assert "第 2 期" in html and "幸运号" in html


def test_a_round_page_asks_visitors_to_log_in(client, app):
    _item, round_id = make_item(app)
    assert "登录后参与" in client.get(f"/treasure/{round_id}").get_data(as_text=True)


def test_a_round_page_offers_members_the_buy_form(member_client, app):
    _item, round_id = make_item(app)
    html = member_client.get(f"/treasure/{round_id}").get_data(as_text=True)
    assert 'name="quantity"' in html and "每份 10 积分" in html


def test_buying_shares_over_htmx_updates_the_panel_and_the_balance(member_client, app):
    _item, round_id = make_item(app, total_shares=10, share_price=10)
    response = member_client.submit(f"/treasure/{round_id}/buy", {"quantity": "3"}, page=f"/treasure/{round_id}",
                                    htmx=True)
    body = response.get_data(as_text=True)
    assert response.status_code == 200 and "<html" not in body
    assert body.lstrip().startswith('<section id="treasure-buy"')
    assert "已售 3 / 10" in body and "购买成功：3 份，号码 1–3" in body
    assert '<span id="points-balance" hx-swap-oob="true">470</span>' in body
    assert 'data-testid="my-shares"' in body and _round(app, round_id) == (3, "open")
    assert '<section id="treasure-participants" class="card" hx-swap-oob="true">' in body


@pytest.mark.parametrize("quantity, message", [
    ("0", "至少购买 1 份"),
    ("-1", "至少购买 1 份"),
    ("", "请输入购买份数"),
    ("abc", "份数必须是整数"),
    ("1.5", "份数必须是整数"),
    ("99999999999999999999", "本期仅剩 10 份"),
    ("11", "本期仅剩 10 份"),
])
@pytest.mark.parametrize("htmx", [True, False])
def test_bad_quantities_get_a_message_by_the_field_and_change_nothing(member_client, app, quantity, message, htmx):
    _item, round_id = make_item(app, total_shares=10)
    response = member_client.submit(f"/treasure/{round_id}/buy", {"quantity": quantity},
                                    page=f"/treasure/{round_id}", htmx=htmx)
    body = response.get_data(as_text=True)
    assert response.status_code == 422
    error = re.search(r'id="quantity-error"[^>]*>([^<]+)<', body)
    assert error and message in error.group(1)
    assert ("<html" in body) is not htmx
    assert _round(app, round_id) == (0, "open") and _balance(app, member_client.user_id) == 500


def test_a_closed_round_refuses_with_a_clear_message(member_client, app, make_member):
    _item, round_id = make_item(app, total_shares=2)
    page = f"/treasure/{round_id}"
    token, request_key = member_client.form_tokens(page)  # the page as it was while open
    with app.app_context():
        treasure.buy_shares(make_member(), round_id, 2, key())
    response = member_client.post(f"/treasure/{round_id}/buy", headers=HTMX,
                                  data={"csrf_token": token, "request_key": request_key, "quantity": "1"})
    assert response.status_code == 422 and "本期夺宝已结束" in response.get_data(as_text=True)
    assert _balance(app, member_client.user_id) == 500


def test_a_round_page_lists_the_latest_purchases_newest_first(client, app, make_member):
    _item, round_id = make_item(app, total_shares=100)
    buyers = [make_member(nickname=f"买家{i:02d}") for i in range(3)]
    with app.app_context():
        for i in range(55):
            treasure.buy_shares(buyers[i % 3], round_id, 1, key())
        db.session.remove()
    html = client.get(f"/treasure/{round_id}").get_data(as_text=True)
    listed = html[html.index('id="treasure-participants"'):]
    assert listed.count('class="play-row"') == 50 and "共 55 次购买，这里是最近 50 次" in listed
    assert listed.index("买家00") < listed.index("买家02")  # the 55th purchase (买家00's) comes first
    assert "55" in listed[listed.index('class="play-row"'):][:600]  # its share number


def test_not_enough_points_is_shown_in_the_panel(member_client, app):
    _item, round_id = make_item(app, total_shares=100, share_price=100)
    response = member_client.submit(f"/treasure/{round_id}/buy", {"quantity": "6"}, page=f"/treasure/{round_id}",
                                    htmx=True)
    assert response.status_code == 422 and 'data-testid="buy-error">积分不足' in response.get_data(as_text=True)
    assert _round(app, round_id) == (0, "open")


@pytest.mark.parametrize("path", ["/treasure/999", "/treasure/999/records.txt"])
def test_an_unknown_round_is_404(client, path):
    assert client.get(path).status_code == 404


def test_an_unknown_round_purchase_is_404(member_client, app):
    _item, round_id = make_item(app)
    response = member_client.submit("/treasure/999/buy", {"quantity": "1"}, page=f"/treasure/{round_id}", htmx=True)
    assert response.status_code == 404


def test_the_last_share_redirects_to_a_round_page_anyone_can_verify(member_client, app, make_member):
    item_id, round_id = make_item(app, total_shares=4, share_price=10)
    with app.app_context():
        treasure.buy_shares(make_member(), round_id, 3, key())
        seed = db.session.get(TreasureRound, round_id).seed
        db.session.remove()
    open_page = member_client.get(f"/treasure/{round_id}").get_data(as_text=True)
    commitment = hashlib.sha256(seed.encode()).hexdigest()
    assert f'data-testid="commitment">{commitment}<' in open_page and seed not in open_page
    response = member_client.submit(f"/treasure/{round_id}/buy", {"quantity": "1"}, page=f"/treasure/{round_id}",
                                    htmx=True)
    assert response.status_code == 204 and response.headers["HX-Redirect"] == f"/treasure/{round_id}"
    html = member_client.get(f"/treasure/{round_id}").get_data(as_text=True)
    assert "购买成功：1 份，号码 4–4" in html  # the flash
    records = html_lib.unescape(re.search(r'data-testid="records">([^<]*)</pre>', html).group(1))
    digest = hashlib.sha256(records.encode()).hexdigest()
    assert f'data-testid="digest">{digest}<' in html
    assert f'data-testid="winning-no">{int(digest, 16) % 4 + 1}<' in html
    text = member_client.get(f"/treasure/{round_id}/records.txt")
    assert text.mimetype == "text/plain" and text.get_data(as_text=True) == records
    assert records.split("\n")[0] == seed and f'data-testid="seed">{seed}<' in html
    assert f'data-testid="commitment">{commitment}<' in html  # the same commitment, now checkable
    assert 'data-testid="next-round"' in html


def test_opening_the_treasure_pages_refunds_a_round_past_its_deadline(member_client, app):
    item_id, round_id = make_item(app, total_shares=10, share_price=10, round_hours=1)
    member_client.submit(f"/treasure/{round_id}/buy", {"quantity": "2"}, page=f"/treasure/{round_id}", htmx=True)
    assert _balance(app, member_client.user_id) == 480
    with app.app_context():
        db.session.execute(update(TreasureRound).where(TreasureRound.id == round_id)
                           .values(deadline=utcnow() - timedelta(seconds=1)))
        db.session.commit()
    html = member_client.get("/treasure").get_data(as_text=True)  # before any cron run
    assert "未满员，已退回" in html and "第 2 期" in html
    assert _round(app, round_id) == (2, "refunded") and _balance(app, member_client.user_id) == 500
    page = member_client.get(f"/treasure/{round_id}").get_data(as_text=True)
    assert "本期到期未满员，所有积分已原路退回" in page and 'data-testid="next-round"' in page


def test_records_of_an_open_round_are_not_published_yet(client, app):
    _item, round_id = make_item(app)
    assert client.get(f"/treasure/{round_id}/records.txt").status_code == 404


def test_members_who_are_not_logged_in_cannot_buy(client, app):
    _item, round_id = make_item(app)
    response = client.submit(f"/treasure/{round_id}/buy", {"quantity": "1"}, page=f"/treasure/{round_id}")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_staff_accounts_see_no_popup(app, make_account, newbie_id):
    staff = make_account("operator")
    assert _render_gift(app, staff).strip() == ""



def test_the_newbie_draw_page_tells_a_member_who_has_spent_points_why_it_is_closed(member_client, app, newbie_id):
    other = make_draw(app)
    played = member_client.submit(f"/draw/{other}/play", page=f"/draw/{other}", htmx=True)  # spent points elsewhere
    assert played.status_code == 200
    page = member_client.get(f"/draw/{newbie_id}").get_data(as_text=True)
    assert re.search(r'<button id="draw-go"[^>]*disabled>仅限<small>新会员</small>', page)
    assert "新手礼包仅限还没使用过积分的新会员" in page and "已领取" not in page


def test_the_draw_history_shows_what_each_play_won(member_client, app, make_product):
    goods = make_product(name="蓝牙音箱", points_price=1000, stock=5)
    draw_id = make_draw(app, [prize("50积分", 100, points=50)], cost=10)
    goods_draw = make_draw(app, [prize("蓝牙音箱", 100, kind="product", product_id=goods)], cost=10, name="实物转盘")
    thanks_draw = make_draw(app, [prize("谢谢参与", 100, kind="thanks")], cost=10, name="空转盘")
    with app.app_context():
        draws.play_draw(member_client.user_id, draw_id, key())
        draws.play_draw(member_client.user_id, goods_draw, key())
        draws.play_draw(member_client.user_id, thanks_draw, key())
        db.session.remove()
    points = member_client.get(f"/draw/{draw_id}/history").get_data(as_text=True)
    assert 'data-testid="play-won">+50 积分<' in points and "-10" in points
    goods_page = member_client.get(f"/draw/{goods_draw}/history").get_data(as_text=True)
    assert 'data-testid="play-won"' in goods_page and "查看奖品订单" in goods_page and 'href="/orders/' in goods_page
    empty = member_client.get(f"/draw/{thanks_draw}/history").get_data(as_text=True)
    assert "未中奖" in empty
