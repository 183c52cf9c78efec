"""Lucky draws: fair odds, stock that never runs negative, daily limits, pity, the newbie gift."""
import itertools
import random
import secrets
from collections import Counter
from datetime import timedelta
from types import SimpleNamespace

import pytest
from sqlalchemy import func, select, update

from app.extensions import db
from app.models import Draw, DrawPlay, DrawPrize, IdempotencyKey, NewbieGift, Order, PointEntry, Product
from app.services import draw_config, draws, events, ledger
from app.services.clock import day_bounds_utc, shanghai_today, utcnow
from app.services.errors import AlreadyDone, InsufficientPoints, NotFound
from app.services.tx import in_write_transaction, write_transaction
from tests.concurrency import run_concurrently
from tests.conftest import balance_of
from tests.games_factories import CHI2_CRITICAL_0001, chi_square, key, make_draw, prize, simple_prizes
from tests.shop_factories import make_product  # noqa: F401  (fixture)

WEIGHTS = [1, 9, 40, 150, 300, 500]
# The statistical tests check how tickets become prizes, not the randomness source (that is
# `secrets`, asserted below): a seeded generator makes each run the same run, never flaky.
SEED = 20261123


def _seeded_tickets():
    return random.Random(SEED).randrange


def _sum_of_kind(user_id, kind):
    """Points a member moved by one kind of entry (other areas' rewards, e.g. the first-draw task, aside)."""
    return db.session.execute(
        select(func.coalesce(func.sum(PointEntry.amount), 0)).where(PointEntry.user_id == user_id, PointEntry.kind == kind)
    ).scalar_one()


def test_pick_prize_frequencies_match_the_weights_over_100k_draws():
    pool = [SimpleNamespace(id=i, weight=w) for i, w in enumerate(WEIGHTS)]
    n = 100_000
    tickets = _seeded_tickets()
    counts = Counter(draws.pick_prize(pool, randbelow=tickets).id for _ in range(n))
    total = sum(WEIGHTS)
    expected = [n * w / total for w in WEIGHTS]
    observed = [counts[i] for i in range(len(WEIGHTS))]
    statistic = chi_square(observed, expected)
    assert statistic < CHI2_CRITICAL_0001[len(WEIGHTS) - 1], (statistic, observed, expected)
    # The same test has teeth: a 10% shift between two prizes is far beyond the critical value.
    biased = [n * w / total for w in [1, 9, 40, 150, 330, 470]]
    assert chi_square(observed, biased) > 10 * CHI2_CRITICAL_0001[len(WEIGHTS) - 1]


def test_pick_prize_uses_secrets_and_every_ticket_maps_to_its_prize():
    pool = [SimpleNamespace(id=i, weight=w) for i, w in enumerate([2, 3, 5])]
    picked = [draws.pick_prize(pool, randbelow=lambda total, t=t: t).id for t in range(10)]
    assert picked == [0, 0, 1, 1, 1, 2, 2, 2, 2, 2]
    assert draws._randbelow is secrets.randbelow
    with pytest.raises(ValueError):
        draws.pick_prize([SimpleNamespace(id=1, weight=0)])


def test_100k_draws_from_a_live_pool_match_the_weights_and_skip_what_cannot_be_won(app, db):
    """The server's own selection - the pool built from the draw's rows as a play builds it,
    then `pick_prize` on `secrets` - run 100,000 times: frequencies follow the weights, and a
    prize out of stock or weighted 0 never comes up."""
    prizes = [prize(f"P{w}", w, points=w) for w in WEIGHTS]
    prizes[0]["tier"] = 1
    prizes[1]["tier"] = 2
    prizes += [prize("已抽完", 5000, points=1, tier=1, stock=0), prize("不参与", 0, points=1)]
    draw_id = make_draw(app, prizes, skin="grid")
    rows = draws._prizes(draw_id)
    pool = draws.prize_pool(rows)
    assert [p.name for p in pool] == [f"P{w}" for w in WEIGHTS]
    n = 100_000
    tickets = _seeded_tickets()
    counts = Counter(draws.pick_prize(pool, randbelow=tickets).name for _ in range(n))
    assert set(counts) <= {p.name for p in pool}
    total = sum(WEIGHTS)
    observed = [counts[f"P{w}"] for w in WEIGHTS]
    statistic = chi_square(observed, [n * w / total for w in WEIGHTS])
    assert statistic < CHI2_CRITICAL_0001[len(WEIGHTS) - 1], (statistic, observed)
    # Pity due: only tier 2 or better (the empty tier-1 prize still excluded), by their weights.
    pity_pool = draws.prize_pool(rows, pity_tier=2)
    assert [p.name for p in pity_pool] == ["P1", "P9"]
    pity_counts = Counter(draws.pick_prize(pity_pool, randbelow=tickets).name for _ in range(n))
    assert chi_square([pity_counts["P1"], pity_counts["P9"]], [n * 0.1, n * 0.9]) < CHI2_CRITICAL_0001[1]


FULL_SERVICE_PRIZES = [prize("50积分", 5, points=50, tier=1), prize("10积分", 25, points=10),
                       prize("2积分", 30, points=2), prize("谢谢参与", 40, kind="thanks")]


def _plays_by_position(draw_id):
    rows = db.session.execute(
        select(DrawPrize.position, func.count(DrawPlay.id)).join(DrawPlay, DrawPlay.prize_id == DrawPrize.id)
        .where(DrawPlay.draw_id == draw_id).group_by(DrawPrize.position)
    ).all()
    return [dict(rows).get(i, 0) for i in range(4)]


def test_full_service_draws_match_the_weights_and_the_ledger_adds_up(app, db, make_member, monkeypatch):
    monkeypatch.setattr(draws, "_randbelow", _seeded_tickets())
    draw_id = make_draw(app, FULL_SERVICE_PRIZES, cost=5)
    user_id = make_member(points=20_000)
    n = 1_000
    for _ in range(n):
        draws.play_draw(user_id, draw_id, key())
    observed = _plays_by_position(draw_id)
    expected = [n * w / 100 for w in (5, 25, 30, 40)]
    assert sum(observed) == n
    assert chi_square(observed, expected) < CHI2_CRITICAL_0001[3], (observed, expected)
    won = 50 * observed[0] + 10 * observed[1] + 2 * observed[2]
    assert _sum_of_kind(user_id, "prize") == won and _sum_of_kind(user_id, "draw") == -5 * n
    assert ledger.reconcile() == []


def test_each_play_draws_one_ticket_and_every_ticket_wins_its_own_prize(app, db, make_member, monkeypatch):
    """Every ticket 0..99 drawn exactly twice gives exactly twice the weights: no prize (not even
    'thanks') is ever re-drawn or left out, and each play asks for exactly one ticket."""
    tickets, asked = itertools.cycle(range(100)), []

    def next_ticket(total):
        asked.append(total)
        return next(tickets)

    monkeypatch.setattr(draws, "_randbelow", next_ticket)
    draw_id = make_draw(app, FULL_SERVICE_PRIZES, cost=5)
    user_id = make_member(points=20_000)
    for _ in range(200):
        draws.play_draw(user_id, draw_id, key())
    assert _plays_by_position(draw_id) == [10, 50, 60, 80]
    assert asked == [100] * 200


def test_a_prize_out_of_stock_is_never_won(app, db, make_member):
    prizes = [prize("大奖", 1000, points=100, tier=1, stock=2), prize("谢谢参与", 1, kind="thanks")]
    draw_id = make_draw(app, prizes)
    user_id = make_member()
    names = [draws.play_draw(user_id, draw_id, key()).prize.name for _ in range(12)]
    assert names.count("大奖") == 2 and names.count("谢谢参与") == 10
    top = db.session.execute(select(DrawPrize).where(DrawPrize.name == "大奖")).scalar_one()
    assert (top.stock, top.awarded) == (0, 2)
    odds = {row.prize.name: row for row in draws.odds(db.session.get(Draw, draw_id))}
    assert not odds["大奖"].in_stock and odds["大奖"].chance_text == "0.00%"
    assert odds["谢谢参与"].chance_text == "100.00%"


def test_odds_are_weights_over_prizes_in_stock(app, db):
    draw_id = make_draw(app, [prize("A", 1, points=1), prize("B", 2, points=1), prize("C", 3, points=1),
                              prize("D", 0, points=1)])
    rows = draws.odds(db.session.get(Draw, draw_id))
    assert [r.chance_text for r in rows] == ["16.67%", "33.33%", "50.00%", "0.00%"]


def test_200_concurrent_draws_never_over_award_a_prize(app, make_member):
    prizes = [prize("限量大奖", 50, points=100, tier=1, stock=5), prize("5积分", 30, points=5),
              prize("谢谢参与", 20, kind="thanks"), prize("1积分", 10, kind="consolation", points=1)]
    draw_id = make_draw(app, prizes, cost=10)
    members = [make_member(points=500) for _ in range(20)]

    def play(i):
        return draws.play_draw(members[i % 20], draw_id, key()).prize_id

    results, refusals, errors = run_concurrently(app, play, 200)
    assert errors == [] and refusals == [] and len(results) == 200
    with app.app_context():
        top = db.session.execute(select(DrawPrize).where(DrawPrize.name == "限量大奖")).scalar_one()
        assert top.stock == 0 and top.awarded == 5
        assert results.count(top.id) == 5
        plays = db.session.execute(select(func.count(DrawPlay.id))).scalar_one()
        assert plays == 200
        for prize_row in db.session.execute(select(DrawPrize).where(DrawPrize.draw_id == draw_id)).scalars():
            assert prize_row.awarded == results.count(prize_row.id)
        assert ledger.reconcile() == []
        spent = db.session.execute(select(func.sum(PointEntry.amount)).where(PointEntry.kind == "draw")).scalar()
        assert spent == -10 * 200


def test_daily_limit_holds_under_concurrency(app, make_member):
    draw_id = make_draw(app, daily_limit=3, cost=10)
    user_id = make_member()

    def play(_i):
        return draws.play_draw(user_id, draw_id, key()).id

    outcome = run_concurrently(app, play, 40, expected=(draws.DrawRefused,))
    assert outcome.errors == []
    assert len(outcome.results) == 3 and len(outcome.refusals) == 37
    assert all("3 次抽奖机会已用完" in message for message in outcome.messages)
    with app.app_context():
        charged = db.session.execute(
            select(func.count(PointEntry.id)).where(PointEntry.user_id == user_id, PointEntry.kind == "draw")
        ).scalar_one()
        assert charged == 3
        assert ledger.reconcile() == []


def test_daily_limit_is_per_shanghai_day(app, db, make_member):
    draw_id = make_draw(app, daily_limit=1)
    user_id = make_member()
    tomorrow = day_bounds_utc(shanghai_today())[1]  # midnight in Shanghai is 16:00 UTC
    draws.play_draw(user_id, draw_id, key(), now=tomorrow - timedelta(minutes=1))
    with pytest.raises(draws.DrawRefused):
        draws.play_draw(user_id, draw_id, key(), now=tomorrow - timedelta(seconds=1))
    draws.play_draw(user_id, draw_id, key(), now=tomorrow + timedelta(minutes=1))
    with pytest.raises(draws.DrawRefused):
        draws.play_draw(user_id, draw_id, key(), now=tomorrow + timedelta(hours=7))
    assert draws.draws_left_today(user_id, db.session.get(Draw, draw_id), now=tomorrow + timedelta(hours=1)) == 0


def test_pity_rule_guarantees_a_tier_prize_after_n_misses(app, db, make_member, monkeypatch):
    prizes = [prize("一等奖", 1, points=100, tier=1, stock=10), prize("二等奖", 1, points=50, tier=2),
              prize("谢谢参与", 1000, kind="thanks")]
    draw_id = make_draw(app, prizes, pity_after=3, pity_tier=1)
    user_id = make_member()
    # Force the unluckiest ticket (the last slot of whatever pool is drawn from).
    monkeypatch.setattr(draws, "_randbelow", lambda total: total - 1)
    outcomes = [draws.play_draw(user_id, draw_id, key()) for _ in range(8)]
    assert [p.prize.name for p in outcomes] == ["谢谢参与"] * 3 + ["一等奖"] + ["谢谢参与"] * 3 + ["一等奖"]
    assert [p.was_pity for p in outcomes] == [False] * 3 + [True] + [False] * 3 + [True]
    assert [p.misses for p in outcomes] == [1, 2, 3, 0, 1, 2, 3, 0]
    assert draws.pity_left(user_id, db.session.get(Draw, draw_id)) == 3


def test_pity_counts_a_lucky_tier_prize_as_a_reset_and_falls_back_when_the_tier_is_gone(app, db, make_member,
                                                                                           monkeypatch):
    prizes = [prize("一等奖", 1, points=100, tier=1, stock=1), prize("谢谢参与", 1000, kind="thanks")]
    draw_id = make_draw(app, prizes, pity_after=1, pity_tier=1)
    user_id = make_member()
    monkeypatch.setattr(draws, "_randbelow", lambda total: 0)  # the first slot when it is in the pool
    assert draws.play_draw(user_id, draw_id, key()).prize.name == "一等奖"
    assert draws.pity_left(user_id, db.session.get(Draw, draw_id)) == 1
    monkeypatch.setattr(draws, "_randbelow", lambda total: total - 1)
    assert draws.play_draw(user_id, draw_id, key()).prize.name == "谢谢参与"
    # Pity is due but the only tier-1 prize is gone: the normal pool decides.
    fallback = draws.play_draw(user_id, draw_id, key())
    assert fallback.prize.name == "谢谢参与" and fallback.was_pity


def test_a_product_prize_is_granted_by_the_shop_and_skipped_once_its_stock_is_gone(app, db, make_member,
                                                                                   make_product):
    product_id = make_product(name="小米手环9", stock=1, is_active=False)  # off the shelf: a prize only
    prizes = [prize("小米手环9", 1000, kind="product", product_id=product_id, tier=1), prize("5积分", 1, points=5)]
    draw_id = make_draw(app, prizes)
    user_id = make_member()
    plays = [draws.play_draw(user_id, draw_id, key()) for _ in range(3)]
    assert [p.prize.name for p in plays] == ["小米手环9", "5积分", "5积分"]
    order = db.session.execute(select(Order).where(Order.source == "draw")).scalar_one()
    assert (order.user_id, order.product_id, order.points_total) == (user_id, product_id, 0)
    assert order.ref == f"draw-play:{plays[0].id}" and order.status == "paid"
    assert db.session.get(Product, product_id).stock == 0
    top = db.session.execute(select(DrawPrize).where(DrawPrize.product_id == product_id)).scalar_one()
    assert top.awarded == 1
    assert _sum_of_kind(user_id, "prize") == 10
    # The prize row still has stock (unlimited) but its product has none: the odds say so.
    rows = {row.prize.name: row for row in draws.odds(db.session.get(Draw, draw_id))}
    assert not rows["小米手环9"].in_stock and rows["5积分"].chance_text == "100.00%"


def test_a_double_tap_plays_once(app, db, make_member):
    draw_id = make_draw(app)
    user_id = make_member()
    tap = key()
    first = draws.play_draw(user_id, draw_id, tap).id
    assert draws.play_draw(user_id, draw_id, tap).id == first
    assert _sum_of_kind(user_id, "draw") == -10
    assert db.session.execute(select(func.count(DrawPlay.id))).scalar_one() == 1


def test_the_same_key_sent_concurrently_plays_once(app, make_member):
    draw_id = make_draw(app)
    user_id = make_member()
    tap = key()
    results, refusals, errors = run_concurrently(app, lambda _i: draws.play_draw(user_id, draw_id, tap).id, 20)
    assert errors == [] and refusals == [] and len(set(results)) == 1
    with app.app_context():
        assert db.session.execute(select(func.count(DrawPlay.id))).scalar_one() == 1


def test_not_enough_points_changes_nothing(app, db, make_member):
    draw_id = make_draw(app, cost=600)
    user_id = make_member()
    tap = key()
    with pytest.raises(InsufficientPoints):
        draws.play_draw(user_id, draw_id, tap)
    assert balance_of(user_id) == 500
    assert db.session.execute(select(func.count(DrawPlay.id))).scalar_one() == 0
    assert db.session.execute(select(func.sum(DrawPrize.awarded))).scalar_one() == 0
    assert db.session.execute(select(func.count()).select_from(IdempotencyKey)).scalar_one() == 0
    with write_transaction():
        ledger.earn(user_id, 100, "adjust")
    assert draws.play_draw(user_id, draw_id, tap).cost == 600  # the same key works once it can succeed


def test_unknown_or_switched_off_draws_are_not_found(app, db, make_member):
    user_id = make_member()
    with pytest.raises(NotFound):
        draws.play_draw(user_id, 9999, key())
    draw_id = make_draw(app, is_active=False)
    with pytest.raises(NotFound):
        draws.get_draw(draw_id)
    with pytest.raises(NotFound):
        draws.play_draw(user_id, draw_id, key())
    assert balance_of(user_id) == 500


def test_draw_played_is_sent_inside_the_transaction(app, db, make_member):
    draw_id = make_draw(app)
    user_id = make_member()
    seen = []

    def receiver(sender, **kw):
        seen.append((kw, in_write_transaction()))

    events.draw_played.connect(receiver)
    try:
        draws.play_draw(user_id, draw_id, key())
    finally:
        events.draw_played.disconnect(receiver)
    assert seen == [({"user_id": user_id, "draw_id": draw_id}, True)]


def test_a_top_prize_sends_a_message(app, db, make_member, monkeypatch):
    draw_id = make_draw(app)
    user_id = make_member()
    monkeypatch.setattr(draws, "_randbelow", lambda total: 0)
    draws.play_draw(user_id, draw_id, key())
    from app.services import messages

    with app.test_request_context():
        page, _next = messages.message_page(user_id)
        assert any("一等奖 100积分" in m.body and m.link == f"/draw/{draw_id}/history" for m in page)


def test_a_draw_is_a_sure_win_only_when_no_thanks_can_be_drawn(app, db):
    sure = make_draw(app, [prize("10积分", 5, points=10), prize("安慰奖 1积分", 95, kind="consolation", points=1),
                           prize("谢谢参与", 0, kind="thanks")])  # a thanks slot weighted 0 is never drawn
    unsure = make_draw(app, [prize("10积分", 25, points=10), prize("谢谢参与", 75, kind="thanks")])
    assert draws.always_wins(db.session.get(Draw, sure)) and draws.win_chance_text(db.session.get(Draw, sure)) == "100.00%"
    assert not draws.always_wins(db.session.get(Draw, unsure))
    assert draws.win_chance_text(db.session.get(Draw, unsure)) == "25.00%"


def test_a_sure_win_draw_pays_every_play(app, db, make_member):
    draw_id = make_draw(app, [prize("10积分", 5, points=10, stock=1), prize("安慰奖 1积分", 95, kind="consolation", points=1),
                              prize("谢谢参与", 0, kind="thanks")])
    user_id = make_member()
    kinds = {draws.play_draw(user_id, draw_id, key()).prize.kind for _ in range(30)}
    assert "thanks" not in kinds and "consolation" in kinds


def test_create_draw_checks_the_slots(app, db):
    with pytest.raises(draws.DomainError):
        draw_config.create_draw("九宫格", "grid", simple_prizes())
    with pytest.raises(draws.DomainError):
        draw_config.create_draw("转盘", "wheel", [prize("谢谢参与", 0, kind="thanks")] * 4)


# --- the newbie gift ---------------------------------------------------------------------

@pytest.fixture()
def newbie_draw_id(app):
    prizes = [prize("AirPods 耳机", 1, points=8888, tier=1, stock=1), prize("20积分", 60, points=20),
              prize("50积分", 39, points=50, tier=3), prize("1积分", 0, kind="consolation", points=1)]
    return make_draw(app, prizes, name="新人礼包", purpose="newbie", cost=10)


def test_newbie_gift_is_offered_once_and_gone_after_use(app, db, make_member, newbie_draw_id):
    user_id = make_member()
    offer = draws.newbie_offer(user_id)
    assert offer.draw.id == newbie_draw_id and offer.headline.name == "AirPods 耳机" and offer.sure_win
    play = draws.play_draw(user_id, newbie_draw_id, key())
    assert play.prize.kind != "thanks"
    assert draws.newbie_offer(user_id) is None
    assert db.session.get(NewbieGift, user_id).status == "used"
    with pytest.raises(AlreadyDone):
        draws.play_draw(user_id, newbie_draw_id, key())
    assert db.session.execute(select(func.count(DrawPlay.id))).scalar_one() == 1


def test_a_dismissed_newbie_popup_leaves_the_gift_usable_once(app, db, make_member, newbie_draw_id):
    user_id = make_member()
    assert draws.dismiss_newbie_gift(user_id) is True
    assert draws.dismiss_newbie_gift(user_id) is False
    assert draws.newbie_offer(user_id, popup=True) is None               # no popup again
    assert draws.newbie_offer(user_id).draw.id == newbie_draw_id          # the gift is still there
    draws.play_draw(user_id, newbie_draw_id, key())
    db.session.rollback()
    assert db.session.get(NewbieGift, user_id).status == "used"
    with pytest.raises(AlreadyDone):
        draws.play_draw(user_id, newbie_draw_id, key())


def test_newbie_gift_is_only_for_members_who_never_spent(app, db, make_member, newbie_draw_id):
    other = make_draw(app)
    user_id = make_member()
    draws.play_draw(user_id, other, key())
    assert draws.newbie_offer(user_id) is None
    with pytest.raises(draws.DrawRefused):
        draws.play_draw(user_id, newbie_draw_id, key())
    # Expired points are not "spending".
    fresh = make_member()
    with write_transaction():
        ledger.earn(fresh, 5, "packet", expires_at=utcnow() + timedelta(seconds=1))
        ledger.expire_member_lots(fresh, now=utcnow() + timedelta(days=1))
    assert draws.newbie_offer(fresh) is not None


def test_newbie_gift_played_concurrently_is_used_once(app, make_member, newbie_draw_id):
    user_id = make_member()
    results, refusals, errors = run_concurrently(
        app, lambda _i: draws.play_draw(user_id, newbie_draw_id, key()).id, 15, expected=(AlreadyDone,))
    assert errors == [] and len(results) == 1 and len(refusals) == 14
    with app.app_context():
        assert _sum_of_kind(user_id, "draw") == -10
        assert _sum_of_kind(user_id, "prize") == db.session.get(DrawPlay, results[0]).prize.points


def test_the_demo_games_seed_is_idempotent(app, db):
    from app.models import TreasureItem, TreasureRound
    from app.seeds.accounts import seed_accounts
    from app.seeds.games import seed_games

    seed_accounts()
    seed_games()
    seed_games()
    names = db.session.execute(select(Draw.name).order_by(Draw.id)).scalars().all()
    assert names == ["幸运大转盘", "天天九宫格", "新人专享礼包"]
    assert db.session.execute(select(func.count(TreasureItem.id))).scalar_one() == 2
    assert db.session.execute(
        select(func.count(TreasureRound.id)).where(TreasureRound.status == "open")).scalar_one() == 2
    kinds = db.session.execute(select(DrawPrize.kind).distinct()).scalars().all()
    assert {"points", "consolation", "thanks", "product"} <= set(kinds)
    grid = db.session.execute(select(Draw).where(Draw.skin == "grid")).scalar_one()
    assert len(grid.prizes) == 8 and all(p.kind != "thanks" for p in grid.prizes)  # 100% win
    assert draws.newbie_draw().cost == 10


def test_the_newbie_headline_is_never_a_prize_that_is_gone(app, db, make_member, newbie_draw_id):
    with write_transaction() as session:
        session.execute(update(DrawPrize).where(DrawPrize.name == "AirPods 耳机").values(stock=0))
    assert draws.newbie_offer(make_member()).headline.name == "50积分"  # the best tier still in stock


def test_six_plays_at_once_after_closing_the_popup_use_the_gift_once(app, make_member, newbie_draw_id):
    user_id = make_member()
    with app.app_context():
        draws.dismiss_newbie_gift(user_id)
        db.session.remove()
    outcome = run_concurrently(app, lambda i: draws.play_draw(user_id, newbie_draw_id, key()).id, 6,
                               expected=(AlreadyDone,))
    assert outcome.errors == [] and len(outcome.results) == 1 and len(outcome.refusals) == 5
    with app.app_context():
        assert db.session.execute(select(func.count(DrawPlay.id))).scalar_one() == 1
        db.session.remove()


def test_the_shared_draw_stays_current_when_a_limited_prize_runs_out_and_an_unlimited_one_is_won(app, db,
                                                                                                  make_member):
    """An unlimited prize's award is counted (exactly, as reconciliation checks) without dropping the
    draw's shared snapshot; the last unit of a limited prize still shows as gone at once."""
    from app.services import reconcile

    draw_id = make_draw(app, [prize("大奖", 1000, points=100, tier=1, stock=1), prize("谢谢参与", 1, kind="thanks")])
    user_id = make_member()
    assert draws.odds(draws.shown_draw(draw_id))[0].in_stock
    assert draws.play_draw(user_id, draw_id, key()).prize.name == "大奖"
    assert not draws.odds(draws.shown_draw(draw_id))[0].in_stock  # seen by the next page at once
    for _ in range(3):
        assert draws.play_draw(user_id, draw_id, key()).prize.name == "谢谢参与"
    thanks = db.session.execute(select(DrawPrize).where(DrawPrize.name == "谢谢参与")).scalar_one()
    assert (thanks.stock, thanks.awarded) == (None, 3)
    assert reconcile.prize_mismatches() == []


def test_a_prize_limited_to_none_while_a_play_is_decided_is_not_won_and_nothing_is_charged(app, db, make_member,
                                                                                            monkeypatch):
    """The pick reads the prize as unlimited; an operator sets its stock to 0 before the play counts it:
    the play is refused whole (no play, no charge, no award), as if the prize had been gone."""
    draw_id = make_draw(app, [prize("5积分", 1, points=5)], cost=10)
    user_id = make_member()
    real_pick = draws.pick_prize

    def pick_then_operator_limits(pool, randbelow=None):
        chosen = real_pick(pool, randbelow)
        db.session.execute(update(DrawPrize).where(DrawPrize.id == chosen.id).values(stock=0)
                           .execution_options(synchronize_session=False))
        return chosen

    monkeypatch.setattr(draws, "pick_prize", pick_then_operator_limits)
    with pytest.raises(draws.DrawRefused):
        draws.play_draw(user_id, draw_id, key())
    db.session.expire_all()
    assert balance_of(user_id) == 500
    assert db.session.execute(select(func.count(DrawPlay.id))).scalar_one() == 0
    assert db.session.execute(select(func.sum(DrawPrize.awarded))).scalar_one() == 0
