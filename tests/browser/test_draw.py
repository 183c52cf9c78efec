"""A member plays a draw on a phone: the board lands on the prize, the result and the new
balance appear without a page reload."""
import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import DrawPlay
from tests.browser.conftest import log_in
from tests.conftest import balance_of, next_phone
from tests.games_factories import make_draw, make_item, prize

PRIZES = [
    prize("888积分", 1, points=888, tier=1, stock=2),
    prize("5积分", 30, points=5),
    prize("188积分", 4, points=188, tier=2),
    prize("谢谢参与", 20, kind="thanks"),
    prize("50积分", 10, points=50, tier=3),
    prize("安慰奖 1积分", 20, kind="consolation", points=1),
    prize("20积分", 15, points=20),
    prize("10积分", 20, points=10),
]


@pytest.mark.parametrize("skin", ["wheel", "grid"])
def test_play_a_draw_and_see_the_result_and_balance_without_reload(page, app, make_member, skin, screenshot_dir):
    draw_id = make_draw(app, PRIZES, skin=skin, name="幸运大转盘" if skin == "wheel" else "天天九宫格")
    phone = next_phone()
    user_id = make_member(phone=phone)
    log_in(page, phone)
    page.goto(f"/draw/{draw_id}")
    assert page.inner_text("#points-balance") == "500"
    page.evaluate("window.__sameDocument = true")
    page.click("[data-testid=draw-go]")
    page.wait_for_selector("[data-testid=draw-result].is-pending", state="attached")  # hidden while it spins
    assert page.inner_text("#points-balance") == "500"            # the balance waits for the landing
    page.wait_for_selector("[data-testid=draw-result].is-revealed", timeout=15000)
    assert page.evaluate("window.__sameDocument") is True  # no reload happened
    with app.app_context():
        play = db.session.execute(select(DrawPlay).where(DrawPlay.user_id == user_id)).scalar_one()
        expected_balance = balance_of(user_id)
        prize_name, slot = play.prize.name, play.prize.position
        db.session.remove()
    assert page.inner_text("#points-balance") == str(expected_balance) != "500"
    result = page.inner_text("[data-testid=draw-result]")
    assert (prize_name in result) or ("谢谢参与" in result and prize_name == "谢谢参与")
    assert page.locator(f'#draw-board [data-slot="{slot}"]').get_attribute("class").count("is-won") == 1
    assert page.locator("#draw-board .is-won").count() == 1
    assert page.evaluate("document.documentElement.scrollWidth") <= 390  # the turned wheel stays inside
    if skin == "wheel":
        # The pointer is at the top: the disc turned so the won slot's centre sits under it.
        turn = float(page.eval_on_selector(".wheel-disc", "el => el.dataset.turn"))
        assert round((turn + (slot + 0.5) * 45) % 360, 3) in (0.0, 360.0)
    if screenshot_dir:
        page.screenshot(path=f"{screenshot_dir}/draw-{skin}.png", full_page=True)
    # A second play works with the fresh request key the fragment carried.
    page.click("[data-testid=draw-go]")
    page.wait_for_selector(f'[data-testid=draw-result].is-revealed:not([data-play="{play.id}"])', timeout=15000)
    with app.app_context():
        plays = db.session.execute(select(DrawPlay.id).where(DrawPlay.user_id == user_id)).all()
        assert len(plays) == 2 and page.inner_text("#points-balance") == str(balance_of(user_id))
        db.session.remove()

NEWBIE_PRIZES = [prize("小米手环9", 1, points=8888, tier=1, stock=1), prize("20积分", 60, points=20),
                 prize("50积分", 39, points=50, tier=3), prize("30积分", 0, points=30)]


def test_the_newbie_gift_pops_up_on_home_plays_once_and_is_gone(page, app, make_member, screenshot_dir):
    draw_id = make_draw(app, NEWBIE_PRIZES, name="新人专享礼包", purpose="newbie", cost=10)
    phone = next_phone()
    user_id = make_member(phone=phone)
    log_in(page, phone)
    page.goto("/")
    popup = page.locator("[data-testid=newbie-gift]")
    popup.wait_for()
    assert "100% 中奖" in popup.inner_text() and "小米手环9" in popup.inner_text()
    if screenshot_dir:
        page.screenshot(path=f"{screenshot_dir}/newbie-gift.png")
    page.click("[data-testid=newbie-go]")
    page.wait_for_url(f"**/draw/{draw_id}")
    page.click("[data-testid=draw-go]")
    page.wait_for_selector("[data-testid=draw-result].is-revealed", timeout=15000)
    assert "恭喜获得" in page.inner_text("[data-testid=draw-result]")  # 100% win
    assert page.locator("#draw-go").is_disabled()  # once only
    page.goto("/")
    page.wait_for_load_state("networkidle")
    assert page.locator("[data-testid=newbie-gift]").count() == 0
    with app.app_context():
        assert db.session.execute(select(DrawPlay).where(DrawPlay.user_id == user_id)).scalars().all()[0].cost == 10
        db.session.remove()


def test_dismissing_the_newbie_gift_closes_it_for_good(page, app, make_member):
    make_draw(app, NEWBIE_PRIZES, name="新人专享礼包", purpose="newbie", cost=10)
    phone = next_phone()
    make_member(phone=phone)
    log_in(page, phone)
    page.goto("/")
    page.click("[data-testid=newbie-dismiss]")
    page.wait_for_selector("[data-testid=newbie-gift]", state="detached")
    page.reload()
    page.wait_for_load_state("networkidle")
    assert page.locator("[data-testid=newbie-gift]").count() == 0
    assert page.inner_text("#points-balance") == "500"


def test_a_refusal_shows_a_toast(page, app, make_member):
    draw_id = make_draw(app, PRIZES, skin="grid", cost=600)
    phone = next_phone()
    make_member(phone=phone)
    log_in(page, phone)
    page.goto(f"/draw/{draw_id}")
    page.click("[data-testid=draw-go]")
    toast = page.locator("#toast .toast-msg")
    toast.wait_for()
    assert "积分不足" in toast.inner_text()
    assert page.inner_text("#points-balance") == "500"


def test_buy_treasure_shares_with_a_bad_then_a_good_quantity(page, app, make_member, screenshot_dir):
    _item, round_id = make_item(app, name="1000积分大红包", total_shares=50, share_price=25, prize_points=1000)
    phone = next_phone()
    make_member(phone=phone)
    log_in(page, phone)
    page.goto(f"/treasure/{round_id}")
    page.fill("input[name=quantity]", "0")
    page.click("[data-testid=buy-submit]")
    page.wait_for_selector("#quantity-error")
    assert "至少购买 1 份" in page.inner_text("#quantity-error")
    page.fill("input[name=quantity]", "2")
    page.click("[data-testid=buy-submit]")
    page.wait_for_selector("[data-testid=my-shares]")
    assert page.inner_text("#points-balance") == "450"
    assert "已售 2 / 50" in page.inner_text("[data-testid=sold]")
    if screenshot_dir:
        page.screenshot(path=f"{screenshot_dir}/treasure-round.png", full_page=True)
