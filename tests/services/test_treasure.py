"""Points treasure: no oversell under concurrent buyers, one verifiable winner, refunds at the deadline."""
import hashlib
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.models import Order, PointEntry, TreasurePurchase, TreasureRound, TreasureShare
from app.services import ledger, treasure, treasure_config
from app.services.clock import utcnow
from app.services.errors import InsufficientPoints, NotFound
from tests.conftest import balance_of, statements_sent
from tests.concurrency import run_concurrently
from tests.games_factories import key, make_item
from tests.shop_factories import make_product  # noqa: F401  (fixture)


def _round(round_id):
    return db.session.execute(
        select(TreasureRound).where(TreasureRound.id == round_id).execution_options(populate_existing=True)
    ).scalar_one()


def _recompute(round_id, total):
    """The published rule, written out independently of the service: the seed, then the records."""
    seed = db.session.execute(select(TreasureRound.seed).where(TreasureRound.id == round_id)).scalar_one()
    rows = db.session.execute(
        select(TreasureShare.share_no, TreasureShare.user_id).where(TreasureShare.round_id == round_id)
        .order_by(TreasureShare.share_no)
    ).all()
    text = "\n".join([seed] + [f"{round_id}:{no}:{uid}" for no, uid in rows])
    digest = hashlib.sha256(text.encode()).hexdigest()
    return digest, int(digest, 16) % total + 1


def test_buying_numbers_shares_in_order_and_charges_the_points(app, db, make_member):
    _item, round_id = make_item(app, total_shares=10, share_price=12)
    alice, bob = make_member(), make_member()
    first = treasure.buy_shares(alice, round_id, 3, key())
    second = treasure.buy_shares(bob, round_id, 2, key())
    assert (first.first_share_no, first.last_share_no) == (1, 3)
    assert (second.first_share_no, second.last_share_no) == (4, 5)
    assert treasure.my_share_numbers(alice, round_id) == [1, 2, 3]
    assert balance_of(alice) == 500 - 36 and balance_of(bob) == 500 - 24
    assert _round(round_id).sold == 5 and _round(round_id).status == "open"


def test_the_last_share_draws_one_verifiable_winner_and_opens_the_next_round(app, db, make_member):
    item_id, round_id = make_item(app, total_shares=6, share_price=10, prize_points=300)
    members = [make_member() for _ in range(3)]
    for i, user_id in enumerate(members):
        treasure.buy_shares(user_id, round_id, 2, key())
    rnd = _round(round_id)
    assert rnd.status == "won" and rnd.sold == 6
    digest, winning_no = _recompute(round_id, 6)
    assert (rnd.digest, rnd.winning_share_no) == (digest, winning_no)
    assert rnd.winner_id == members[(winning_no - 1) // 2]
    prize = db.session.execute(select(PointEntry).where(PointEntry.kind == "treasure_win")).scalar_one()
    assert (prize.user_id, prize.amount, prize.id) == (rnd.winner_id, 300, rnd.prize_entry_id)
    nxt = treasure.current_round_of(item_id)
    assert nxt.period == 2 and nxt.sold == 0 and nxt.id != round_id
    assert ledger.reconcile() == []


def test_a_product_prize_goes_to_the_winner_as_an_order(app, db, make_member, make_product):
    product_id = make_product(name="小米手环9", stock=5)
    _item, round_id = make_item(app, total_shares=2, product_id=product_id)
    alice, bob = make_member(), make_member()
    treasure.buy_shares(alice, round_id, 1, key())
    treasure.buy_shares(bob, round_id, 1, key())
    rnd = _round(round_id)
    order = db.session.execute(select(Order).where(Order.source == "treasure")).scalar_one()
    assert (order.user_id, order.product_id, order.ref) == (rnd.winner_id, product_id, f"treasure-round:{round_id}")
    assert rnd.prize_entry_id is None and not rnd.prize_reserved
    assert _stock(product_id) == 3  # one granted, one set aside for period 2


def _stock(product_id):
    from app.models import Product

    return db.session.execute(select(Product.stock).where(Product.id == product_id)
                              .execution_options(populate_existing=True)).scalar_one()


def test_a_product_prize_is_set_aside_when_the_round_opens(app, db, make_member, make_product):
    product_id = make_product(name="小米手环9", stock=1)
    item_id, round_id = make_item(app, total_shares=2, product_id=product_id)
    assert _stock(product_id) == 0 and _round(round_id).prize_reserved
    # The shop cannot sell the unit the round will give away ...
    from app.services import fulfilment
    from app.services.tx import write_transaction

    with pytest.raises(fulfilment.OutOfStock), write_transaction():
        fulfilment.take_stock(product_id, 1)
    # ... so the last share can always be bought, and the winner gets exactly that unit.
    treasure.buy_shares(make_member(), round_id, 1, key())
    treasure.buy_shares(make_member(), round_id, 1, key())
    assert _round(round_id).status == "won" and _stock(product_id) == 0
    assert db.session.execute(select(func.count(Order.id)).where(Order.source == "treasure")).scalar_one() == 1
    # Nothing left to give: the item rests instead of opening a round nobody could win.
    assert treasure.current_round_of(item_id) is None
    with write_transaction() as session:
        from app.models import Product

        session.get(Product, product_id).stock = 3
    assert treasure.settle_expired_rounds() == (0, 0)  # the cron job (and the treasure pages) reopen it
    nxt = treasure.current_round_of(item_id)
    assert nxt.period == 2 and nxt.prize_reserved and _stock(product_id) == 2
    assert treasure.reopen_resting_items() == 0  # one open round per item


def test_a_refunded_product_round_puts_its_unit_back(app, db, make_member, make_product):
    product_id = make_product(name="小米手环9", stock=1)
    item_id, round_id = make_item(app, total_shares=3, product_id=product_id, round_hours=1)
    treasure.buy_shares(make_member(), round_id, 1, key())
    assert _stock(product_id) == 0
    treasure.settle_expired_rounds(now=_round(round_id).deadline + timedelta(seconds=1))
    rnd = _round(round_id)
    assert rnd.status == "refunded" and not rnd.prize_reserved
    nxt = treasure.current_round_of(item_id)  # the returned unit is set aside again for period 2
    assert nxt.period == 2 and nxt.prize_reserved and _stock(product_id) == 0


def test_an_item_whose_product_is_out_of_stock_cannot_open(app, db, make_product):
    product_id = make_product(name="已售罄", stock=0)
    from app.models import TreasureItem
    from app.services.fulfilment import OutOfStock

    with pytest.raises(OutOfStock):
        treasure_config.create_item("已售罄夺宝", 10, 10, product_id=product_id)
    assert db.session.execute(select(func.count(TreasureItem.id))).scalar_one() == 0


def test_winning_share_rule_is_stable():
    records = ["7:1:3", "7:2:3", "7:3:9"]
    digest, number = treasure.winning_share(records, 3)
    assert digest == hashlib.sha256(b"7:1:3\n7:2:3\n7:3:9").hexdigest()
    assert number == int(digest, 16) % 3 + 1


def test_each_round_commits_to_a_secret_seed_that_decides_the_winner(app, db, make_member):
    item_id, round_id = make_item(app, total_shares=3, share_price=10)
    _other_item, other_round = make_item(app, total_shares=3)
    rnd = _round(round_id)
    seed, commitment = rnd.seed, rnd.seed_commitment
    assert len(seed) == 64 and int(seed, 16) >= 0
    assert commitment == hashlib.sha256(seed.encode()).hexdigest()
    assert _round(other_round).seed != seed  # every period draws its own seed
    # The share records alone do not decide the winner: the last buyer cannot foresee it.
    members = [make_member() for _ in range(3)]
    for user_id in members:
        treasure.buy_shares(user_id, round_id, 1, key())
    rnd = _round(round_id)
    records = treasure.share_records(round_id)
    assert treasure.draw_input(rnd) == [seed] + records
    assert (rnd.digest, rnd.winning_share_no) == treasure.winning_share([seed] + records, 3)
    assert rnd.digest != hashlib.sha256("\n".join(records).encode()).hexdigest()
    assert rnd.seed == seed and rnd.seed_commitment == commitment  # revealed unchanged
    assert treasure.current_round_of(item_id).seed not in (None, seed)


def test_concurrent_buyers_never_oversell_and_exactly_one_wins(app, make_member):
    item_id, round_id = make_item(app, total_shares=50, share_price=10, prize_points=400)
    members = [make_member() for _ in range(20)]

    def buy(i):
        quantity = 2 if i % 3 == 0 else 1
        return treasure.buy_shares(members[i % 20], round_id, quantity, key()).id

    outcome = run_concurrently(app, buy, 200, expected=(treasure.TreasureRefused,))
    assert outcome.errors == []
    assert len(outcome.results) + len(outcome.refusals) == 200
    assert all("本期" in message for message in outcome.messages)
    with app.app_context():
        rnd = _round(round_id)
        shares = db.session.execute(
            select(TreasureShare.share_no).where(TreasureShare.round_id == round_id).order_by(TreasureShare.share_no)
        ).scalars().all()
        assert rnd.sold == 50 and shares == list(range(1, 51))
        bought = db.session.execute(
            select(func.sum(TreasurePurchase.quantity)).where(TreasurePurchase.round_id == round_id)
        ).scalar_one()
        assert bought == 50
        assert rnd.status == "won" and (rnd.digest, rnd.winning_share_no) == _recompute(round_id, 50)
        winners = db.session.execute(select(func.count(PointEntry.id)).where(PointEntry.kind == "treasure_win"))
        assert winners.scalar_one() == 1
        spent = db.session.execute(select(func.sum(PointEntry.amount)).where(PointEntry.kind == "treasure")).scalar()
        assert spent == -50 * 10
        rounds = db.session.execute(select(TreasureRound).where(TreasureRound.item_id == item_id)
                                    .order_by(TreasureRound.period)).scalars().all()
        assert [(r.period, r.status) for r in rounds] == [(1, "won"), (2, "open")]
        assert ledger.reconcile() == []


def test_a_round_past_its_deadline_refunds_everyone_once(app, db, make_member):
    item_id, round_id = make_item(app, total_shares=10, share_price=20, round_hours=24)
    alice, bob = make_member(), make_member()
    treasure.buy_shares(alice, round_id, 3, key())
    treasure.buy_shares(bob, round_id, 1, key())
    assert balance_of(alice) == 440 and balance_of(bob) == 480
    deadline = _round(round_id).deadline
    with pytest.raises(treasure.TreasureRefused):
        treasure.buy_shares(bob, round_id, 1, key(), now=deadline + timedelta(seconds=1))
    assert treasure.settle_expired_rounds(now=deadline - timedelta(seconds=1)) == (0, 0)
    assert treasure.settle_expired_rounds(now=deadline + timedelta(minutes=1)) == (1, 2)
    assert treasure.settle_expired_rounds(now=deadline + timedelta(minutes=2)) == (0, 0)
    assert balance_of(alice) == 500 and balance_of(bob) == 500
    rnd = _round(round_id)
    assert rnd.status == "refunded" and rnd.winner_id is None
    assert all(p.refund_entry_id for p in treasure.round_purchases(round_id))
    assert treasure.current_round_of(item_id).period == 2
    assert ledger.reconcile() == []


def test_settle_command_is_cron_safe(app, db, make_member):
    _item, round_id = make_item(app, round_hours=1)
    user_id = make_member()
    treasure.buy_shares(user_id, round_id, 2, key())
    with db.session.begin():
        _round(round_id).deadline = utcnow() - timedelta(minutes=1)
    runner = app.test_cli_runner()
    first = runner.invoke(args=["treasure", "settle"])
    second = runner.invoke(args=["treasure", "settle"])
    assert first.exit_code == 0 and "settled 1 expired rounds, refunded 1 purchases" in first.output
    assert second.exit_code == 0 and "settled 0 expired rounds" in second.output
    db.session.remove()
    assert balance_of(user_id) == 500


@pytest.mark.parametrize("quantity", [0, -1, None, "3"])
def test_bad_quantities_are_refused_and_change_nothing(app, db, make_member, quantity):
    _item, round_id = make_item(app)
    user_id = make_member()
    with pytest.raises(treasure.TreasureRefused) as refused:
        treasure.buy_shares(user_id, round_id, quantity, key())
    assert refused.value.field == "quantity" and "至少购买 1 份" in refused.value.message
    assert _round(round_id).sold == 0 and balance_of(user_id) == 500


def test_more_than_what_is_left_is_refused_with_the_number_left(app, db, make_member):
    _item, round_id = make_item(app, total_shares=10)
    user_id = make_member()
    treasure.buy_shares(user_id, round_id, 7, key())
    with pytest.raises(treasure.TreasureRefused) as refused:
        treasure.buy_shares(user_id, round_id, 10 ** 9, key())
    assert refused.value.field == "quantity" and "本期仅剩 3 份" in refused.value.message
    assert _round(round_id).sold == 7 and balance_of(user_id) == 430


def test_closed_rounds_and_unknown_rounds_are_refused(app, db, make_member):
    _item, round_id = make_item(app, total_shares=2)
    user_id = make_member()
    treasure.buy_shares(user_id, round_id, 2, key())
    with pytest.raises(treasure.TreasureRefused) as refused:
        treasure.buy_shares(user_id, round_id, 1, key())
    assert "本期夺宝已结束" in refused.value.message
    with pytest.raises(NotFound):
        treasure.buy_shares(user_id, 99999, 1, key())


def test_not_enough_points_changes_nothing(app, db, make_member):
    _item, round_id = make_item(app, total_shares=100, share_price=100)
    user_id = make_member()
    with pytest.raises(InsufficientPoints):
        treasure.buy_shares(user_id, round_id, 6, key())
    assert _round(round_id).sold == 0 and balance_of(user_id) == 500
    assert db.session.execute(select(func.count(TreasureShare.id))).scalar_one() == 0


def test_a_double_tap_buys_once(app, db, make_member):
    _item, round_id = make_item(app)
    user_id = make_member()
    tap = key()
    first = treasure.buy_shares(user_id, round_id, 2, tap).id
    assert treasure.buy_shares(user_id, round_id, 2, tap).id == first
    assert _round(round_id).sold == 2 and balance_of(user_id) == 480


def test_a_double_tap_answered_after_the_round_sold_out_gets_its_purchase(app, db, make_member):
    _item, round_id = make_item(app, total_shares=2)
    user_id = make_member()
    tap = key()
    first = treasure.buy_shares(user_id, round_id, 2, tap).id  # the last shares: the round is drawn
    assert _round(round_id).status == "won"
    assert treasure.buy_shares(user_id, round_id, 2, tap).id == first
    assert balance_of(user_id) == 480 + 500  # charged once (and the only buyer won the 500 points)


def test_a_rush_on_a_closed_round_is_refused_before_anything_is_written(app, db, make_member):
    _item, round_id = make_item(app, total_shares=2)
    treasure.buy_shares(make_member(), round_id, 2, key())
    late = make_member()
    with statements_sent(db.engine) as sent, pytest.raises(treasure.TreasureRefused) as refused:
        treasure.buy_shares(late, round_id, 1, key())
    # One read: the round, and whether this request was done already (a retry goes on to get it).
    assert "本期夺宝已结束" in refused.value.message
    assert len(sent) == 1 and sent[0].lstrip().upper().startswith("SELECT")


def test_a_purchase_aborted_as_a_deadlock_is_run_again(app, db, make_member, monkeypatch):
    from sqlalchemy.exc import OperationalError

    _item, round_id = make_item(app)
    user_id = make_member()
    real, calls = treasure._buy_shares, []

    class Deadlock(Exception):
        sqlstate = "40P01"

    def flaky(*args):
        calls.append(1)
        if len(calls) == 1:
            raise OperationalError("UPDATE users ...", {}, Deadlock())
        return real(*args)

    monkeypatch.setattr(treasure, "_buy_shares", flaky)
    purchase = treasure.buy_shares(user_id, round_id, 2, key())
    assert len(calls) == 2 and purchase.quantity == 2 and _round(round_id).sold == 2


def _messages(user_id):
    from flask import current_app

    from app.services import messages

    with current_app.test_request_context():  # links are built when a member reads them
        return [(m.kind, m.title, m.link) for m in messages.message_page(user_id)[0]]


def test_every_participant_is_told_the_result_once(app, db, make_member):
    _item, round_id = make_item(app, total_shares=3, name="1000积分大红包")
    alice, bob = make_member(), make_member()
    treasure.buy_shares(alice, round_id, 2, key())
    treasure.buy_shares(bob, round_id, 1, key())
    rnd = _round(round_id)
    loser = bob if rnd.winner_id == alice else alice
    assert _messages(rnd.winner_id) == [("treasure", "积分夺宝中奖啦", f"/treasure/{round_id}")]
    assert _messages(loser) == [("treasure", "积分夺宝已开奖", f"/treasure/{round_id}")]


def test_a_refunded_round_tells_its_buyers(app, db, make_member):
    _item, round_id = make_item(app, total_shares=10, round_hours=1)
    user_id = make_member()
    treasure.buy_shares(user_id, round_id, 2, key())
    treasure.buy_shares(user_id, round_id, 1, key())
    treasure.settle_expired_rounds(now=_round(round_id).deadline + timedelta(seconds=1))
    assert _messages(user_id) == [("treasure", "积分夺宝未满员，积分已退回", f"/treasure/{round_id}")]
