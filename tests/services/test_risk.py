"""Risk review (风控审核): each rule holds a redemption in status review; an operator's approval
delivers it, a rejection returns points and stock through the ledger and tells the member why."""
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.models import AuditLog, Coupon, Message, Order, OrderReview, Product, Referral
from app.services import risk, shop
from app.services.clock import utcnow
from app.services.errors import AlreadyDone, DomainError, Forbidden
from app.services.settings import put_setting
from app.services.tx import write_transaction
from tests.concurrency import run_concurrently
from tests.conftest import balance_of
from tests.shop_factories import make_address, make_product, new_key, no_newbie_bonus  # noqa: F401

pytestmark = pytest.mark.usefixtures("no_newbie_bonus")

OLD = timedelta(days=2)  # an account old enough for the new-account rule to stay quiet


def redeem(user_id, product_id, **kwargs):
    return shop.redeem_product(user_id, product_id, 1, new_key(), **kwargs)


def set_rules(**changes):
    with write_transaction():
        put_setting("risk.rules", {**risk.rules(), **changes})


def fresh(order_id):
    db.session.rollback()
    return db.session.get(Order, order_id)


def audit_rows(action):
    db.session.rollback()
    return db.session.execute(select(AuditLog).where(AuditLog.action == action).order_by(AuditLog.id)).scalars().all()


def messages_of(user_id, msgid):
    db.session.rollback()
    return db.session.execute(select(Message).where(Message.user_id == user_id, Message.msgid == msgid)).scalars().all()


def rules_fired(order):
    review = db.session.execute(select(OrderReview).where(OrderReview.order_id == order.id)).scalar_one()
    return [reason["rule"] for reason in review.reasons]


@pytest.fixture()
def operator(make_account):
    return make_account("operator")


@pytest.fixture()
def old_member(make_member):
    def make(points=0, **extra):
        return make_member(points=points, created_at=utcnow() - OLD, **extra)
    return make


# ---- the rules -------------------------------------------------------------------------------

def test_an_order_worth_more_points_than_the_threshold_waits_in_review(db, old_member, make_product):
    user_id = old_member(points=50000)
    big, small = make_product(kind="coupon", points_price=20001), make_product(kind="coupon", points_price=20000)
    held, passed = redeem(user_id, big), redeem(user_id, small)
    assert held.status == "review" and rules_fired(held) == ["order_points_over"]
    assert passed.status == "completed"
    assert balance_of(user_id) == 50500 - 40001                 # charged as usual
    assert db.session.get(Product, big).stock == 9               # stock reserved
    assert db.session.execute(select(func.count(Coupon.id)).where(Coupon.order_id == held.id)).scalar_one() == 0
    flag = audit_rows("risk.flag")
    assert len(flag) == 1 and flag[0].target == f"order:{held.id}"
    assert flag[0].detail["rule"] == "order_points_over" and flag[0].detail["threshold"] == 20000


def test_several_accounts_registered_from_one_ip_within_a_day_are_flagged(db, old_member, make_product):
    product = make_product(kind="coupon", points_price=10)
    first = old_member(register_ip="10.1.1.1")
    assert redeem(first, product).status == "completed"          # one account from the IP: nothing
    old_member(register_ip="10.1.1.1")
    old_member(register_ip="10.9.9.9")                           # another IP does not count
    third = old_member(register_ip="10.1.1.1")
    held = redeem(third, product)
    assert held.status == "review" and rules_fired(held) == ["ip_accounts_per_day"]
    assert audit_rows("risk.flag")[0].detail["accounts"] == 3


def test_a_burst_of_invitees_under_one_inviter_flags_them(db, old_member, make_product):
    set_rules(invitee_burst=3)
    product = make_product(kind="coupon", points_price=10)
    inviter = old_member()
    invitees = [old_member(inviter_id=inviter) for _ in range(3)]
    with write_transaction() as session:
        for invitee in invitees[:2]:
            session.add(Referral(inviter_id=inviter, invitee_id=invitee, status="paid"))
    assert redeem(invitees[0], product).status == "completed"    # two invitees: below the burst
    with write_transaction() as session:
        session.add(Referral(inviter_id=inviter, invitee_id=invitees[2], status="paid"))
    held, inviters_own = redeem(invitees[1], product), redeem(inviter, product)
    assert rules_fired(held) == ["invitee_burst"] and rules_fired(inviters_own) == ["invitee_burst"]


def test_a_new_account_spending_most_of_its_balance_on_costly_goods_is_flagged(db, make_member, make_product):
    gift_only = make_member()                                    # 500 points, registered just now
    coupon = make_product(kind="coupon", points_price=400)
    assert redeem(gift_only, coupon).status == "completed"       # spending the gift at once is welcome
    newcomer = make_member(points=2500)                          # 3000 points a minute after joining
    small, most = make_product(kind="coupon", points_price=100), make_product(kind="coupon", points_price=2320)
    assert redeem(newcomer, small).status == "completed"         # 100 of 3000
    held = redeem(newcomer, most)                                # 2320 of 2900: 80 %, above 2000 points
    assert held.status == "review" and rules_fired(held) == ["new_account"]
    veteran = make_member(points=2500, created_at=utcnow() - timedelta(minutes=31))
    assert redeem(veteran, most).status == "completed"


def test_several_accounts_registered_from_one_device_within_a_day_are_flagged(db, old_member, make_product):
    set_rules(ip_accounts_per_day=0)
    product = make_product(kind="coupon", points_price=10)
    phone_a, phone_b = "a" * 32, "b" * 32
    first = old_member(register_device=phone_a, register_ip="10.1.1.1")
    assert redeem(first, product).status == "completed"
    old_member(register_device=phone_a, register_ip="10.2.2.2")   # same phone, another network
    old_member(register_device=phone_b, register_ip="10.3.3.3")
    third = old_member(register_device=phone_a, register_ip="10.4.4.4")
    held = redeem(third, product)
    assert rules_fired(held) == ["device_accounts_per_day"]
    assert audit_rows("risk.flag")[0].detail["accounts"] == 3


def _plays(user_id, count, draw_id, prize_id, entry_id, when, first_seq=1):
    from app.models import DrawPlay
    with write_transaction() as session:
        for seq in range(first_seq, first_seq + count):
            session.add(DrawPlay(draw_id=draw_id, user_id=user_id, prize_id=prize_id, day=when.date(),
                                 day_seq=seq, cost=10, spend_entry_id=entry_id, created_at=when))


def test_draws_far_above_the_norm_are_flagged(app, db, old_member, make_product):
    from app.models import DrawPrize, PointEntry
    from tests.games_factories import make_draw
    set_rules(draws_week_factor=5, draws_week_min=50)
    draw_id = make_draw(app)
    prize_id = db.session.execute(select(DrawPrize.id).where(DrawPrize.draw_id == draw_id)).scalars().first()
    product = make_product(kind="coupon", points_price=10)
    players = [old_member(points=100) for _ in range(4)]
    heavy, steady = old_member(points=100), old_member(points=100)
    db.session.rollback()
    entry_id = db.session.execute(select(PointEntry.id)).scalars().first()
    yesterday = utcnow() - timedelta(days=1)
    for player in players:
        _plays(player, 5, draw_id, prize_id, entry_id, yesterday)
    _plays(steady, 40, draw_id, prize_id, entry_id, yesterday)     # 40 plays: above 5x the norm, under 50
    _plays(heavy, 200, draw_id, prize_id, entry_id, yesterday)     # 200 of 260 by 6: 5 x 43.3 = 216, not yet
    assert redeem(heavy, product).status == "completed"
    _plays(heavy, 300, draw_id, prize_id, entry_id, yesterday, first_seq=201)  # 500 of 560: 5 x 93.3 = 467
    held = redeem(heavy, product)
    assert rules_fired(held) == ["draws_outlier"]
    assert audit_rows("risk.flag")[0].detail["plays"] == 500
    assert redeem(steady, product).status == "completed"          # under the minimum count
    _plays(players[0], 300, draw_id, prize_id, entry_id, utcnow() - timedelta(days=8))  # more than a week ago
    assert redeem(players[0], product).status == "completed"


def test_make_up_check_ins_far_above_the_norm_are_flagged(db, old_member, make_product):
    from datetime import date as _date

    from app.models import CheckIn
    set_rules(makeups_month=3)
    product = make_product(kind="coupon", points_price=10)
    member, casual = old_member(), old_member()
    now = utcnow()
    with write_transaction() as session:
        for n in range(3):
            session.add(CheckIn(user_id=member, day=_date(2020, 1, 1 + n), kind="makeup", created_at=now))
        for n in range(2):
            session.add(CheckIn(user_id=casual, day=_date(2020, 1, 1 + n), kind="makeup", created_at=now))
        session.add(CheckIn(user_id=casual, day=_date(2020, 2, 1), kind="makeup", created_at=now - timedelta(days=40)))
    assert rules_fired(redeem(member, product)) == ["makeups_outlier"]
    assert redeem(casual, product).status == "completed"


def test_a_goods_prize_won_by_a_flagged_member_waits_in_review(app, db, old_member, make_product, operator):
    from app.services import draws
    from tests.games_factories import key, make_draw, prize
    goods = make_product(name="蓝牙耳机", points_price=5000, stock=3)
    draw_id = make_draw(app, prizes=[prize("蓝牙耳机", 100, kind="product", product_id=goods)], cost=10)
    clean = old_member(points=100, register_ip="10.5.5.5")
    flagged = [old_member(points=100, register_ip="10.6.6.6") for _ in range(3)]
    draws.play_draw(clean, draw_id, key())
    draws.play_draw(flagged[0], draw_id, key())
    db.session.rollback()
    orders = {o.user_id: o for o in db.session.execute(select(Order).where(Order.source == "draw")).scalars()}
    assert orders[clean].status == "paid"                        # awaiting shipping, as any prize
    assert orders[flagged[0]].status == "review"
    assert rules_fired(orders[flagged[0]]) == ["ip_accounts_per_day"]
    risk.reject(orders[flagged[0]].id, operator, "同一IP批量注册")
    assert fresh(orders[flagged[0]].id).status == "cancelled"
    assert db.session.get(Product, goods).stock == 2              # the rejected prize's unit is back


def test_switched_off_rules_hold_nothing(db, old_member, make_product):
    set_rules(enabled=False)
    user_id = old_member(points=30000)
    assert redeem(user_id, make_product(kind="coupon", points_price=25000)).status == "completed"
    assert audit_rows("risk.flag") == []


# ---- the decisions -------------------------------------------------------------------------------

@pytest.fixture()
def held(db, old_member, make_product, make_address):
    """A goods order of 25,000 points held for its value; (member, product, order id)."""
    user_id = old_member(points=30000)
    product_id = make_product(points_price=25000, stock=5)
    order = redeem(user_id, product_id, address_id=make_address(user_id))
    assert order.status == "review"
    return user_id, product_id, order.id


def test_approve_delivers_the_order_as_usual(held, operator):
    user_id, _product, order_id = held
    risk.approve(order_id, operator)
    order = fresh(order_id)
    assert order.status == "paid" and order.paid_at is not None  # goods now wait for shipping
    assert shop.status_label(order) == "待发货"
    assert balance_of(user_id) == 5500
    assert [row.detail["after"] for row in audit_rows("order.review_approve")] == [{"status": "paid"}]
    assert len(messages_of(user_id, "order.review_approved")) == 1
    with pytest.raises(AlreadyDone):                             # sent twice: nothing more happens
        risk.approve(order_id, operator)
    assert len(audit_rows("order.review_approve")) == 1 and len(messages_of(user_id, "order.review_approved")) == 1


def test_approving_a_held_coupon_issues_its_coupons(db, old_member, make_product, operator):
    user_id = old_member(points=30000)
    order = redeem(user_id, make_product(kind="coupon", points_price=25000))
    risk.approve(order.id, operator)
    assert fresh(order.id).status == "completed"
    assert db.session.execute(select(func.count(Coupon.id)).where(Coupon.order_id == order.id)).scalar_one() == 1


def test_reject_returns_points_and_stock_and_tells_the_member_why(held, operator):
    user_id, product_id, order_id = held
    assert balance_of(user_id) == 5500 and db.session.get(Product, product_id).stock == 4
    risk.reject(order_id, operator, "疑似批量注册")
    order = fresh(order_id)
    assert order.status == "cancelled" and order.cancel_reason == "疑似批量注册"
    assert balance_of(user_id) == 30500 and db.session.get(Product, product_id).stock == 5
    assert order.refund_entry_id is not None
    [message] = messages_of(user_id, "order.review_rejected")
    assert message.params["reason"] == "疑似批量注册" and message.params["n"] == 25000
    [row] = audit_rows("order.review_reject")
    assert row.detail["reason"] == "疑似批量注册" and row.target == f"order:{order_id}"
    with pytest.raises(AlreadyDone):
        risk.reject(order_id, operator, "疑似批量注册")
    with pytest.raises(AlreadyDone):
        risk.approve(order_id, operator)
    assert balance_of(user_id) == 30500 and db.session.get(Product, product_id).stock == 5
    assert len(messages_of(user_id, "order.review_rejected")) == 1


def test_a_rejection_needs_a_reason_and_only_operators_decide(held, operator, make_member):
    _user, _product, order_id = held
    with pytest.raises(DomainError) as refused:
        risk.reject(order_id, operator, "  ")
    assert refused.value.field == "reason"
    with pytest.raises(Forbidden):
        risk.approve(order_id, make_member())
    assert fresh(order_id).status == "review"


def test_two_simultaneous_rejections_refund_once(app, held, operator):
    user_id, product_id, order_id = held
    db.session.remove()

    def work(_i):
        risk.reject(order_id, operator, "重复提交")

    run_concurrently(app, work, 2, expected=(AlreadyDone,))
    assert balance_of(user_id) == 30500 and db.session.get(Product, product_id).stock == 5
    assert len(messages_of(user_id, "order.review_rejected")) == 1


def test_saving_rules_checks_each_threshold_and_audits_the_change(db, operator):
    with pytest.raises(DomainError) as refused:
        risk.save_rules({**risk.rules(), "order_points_over": -1}, operator)
    assert refused.value.field == "order_points_over"
    risk.save_rules({**risk.rules(), "order_points_over": 5000}, operator)
    assert risk.rules()["order_points_over"] == 5000
    [row] = audit_rows("settings.update")
    assert row.detail["before"] == {"order_points_over": 20000} and row.detail["after"] == {"order_points_over": 5000}


def test_a_flagged_order_with_a_cash_part_waits_in_review_once_paid_and_a_rejection_returns_the_cash(
        db, old_member, make_product, make_address, operator):
    from app.models import Payment
    from app.services import payments

    user_id = old_member(points=30000)
    product_id = make_product(points_price=25000, cash_fen=3900, stock=5)
    order = redeem(user_id, product_id, address_id=make_address(user_id))
    assert order.status == "pending_payment"                     # pays first
    payments.complete_payment(order.payment.out_trade_no, amount_fen=3900, provider_txn_id="SANDBOX-R1")
    assert fresh(order.id).status == "review"                    # then waits instead of being delivered
    risk.reject(order.id, operator, "大额可疑")
    order = fresh(order.id)
    assert order.status == "cancelled" and balance_of(user_id) == 30500
    assert db.session.get(Product, product_id).stock == 5
    assert db.session.execute(select(Payment.status).where(Payment.order_id == order.id)).scalar_one() == "refunded"


def test_two_simultaneous_approvals_deliver_once(app, db, old_member, make_product, operator):
    user_id = old_member(points=30000)
    order_id = redeem(user_id, make_product(kind="coupon", points_price=25000)).id
    db.session.remove()

    def work(_i):
        risk.approve(order_id, operator)

    run_concurrently(app, work, 2, expected=(AlreadyDone,))
    assert fresh(order_id).status == "completed"
    assert db.session.execute(select(func.count(Coupon.id)).where(Coupon.order_id == order_id)).scalar_one() == 1
    assert len(messages_of(user_id, "order.review_approved")) == 1
