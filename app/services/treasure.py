"""Points treasure (积分夺宝): an item split into N shares of M points each.

Buying is one transaction: the request key is claimed, the round's `sold` counter is
raised by a guarded UPDATE (`sold + n <= total_shares`, backed by a CHECK), the points
are charged, and the share rows (unique number per round) are written. The purchase that
sells the last share also draws the winner, pays the prize and opens the next round, in
that same transaction. Lock order everywhere: the round row, then member rows.

The winner is published and verifiable (see WINNING_RULE): anyone can recompute it from
the seed and share records shown on the round page, and check the seed against the
commitment (its SHA-256) that the page showed from the round's opening on.
"""
import hashlib
import secrets
from datetime import timedelta

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import ngettext
from sqlalchemy import bindparam, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import joinedload

from app.extensions import db
from app.models import Product, TreasureItem, TreasurePurchase, TreasureRound, TreasureShare
from app.services import events, fulfilment, ledger, messages, spend_quotes
from app.services.clock import utcnow
from app.services.errors import DomainError, NotFound
from app.services.idempotency import claim_request, remember_result, stored_result, used_before_column
from app.services.ids import is_db_id
from app.services.tx import add_row, execute_rows, keep_loaded, write_transaction

WINNING_RULE = _l(
    "每期开始时系统生成一个随机种子，并立即公布它的 SHA-256（种子承诺）；满员开奖时公布种子本身。"
    "开奖原文第一行是种子，其后是本期全部份额记录，按份额号从小到大排列，每条写作「本期ID:份额号:会员ID」，"
    "各行用换行符连接（末尾无换行）后计算 SHA-256；把得到的十六进制摘要当作整数，除以总份数取余数，"
    "余数加 1 即为中奖份额号。种子的 SHA-256 必须与开期时公布的承诺一致。"
)
# Rounds opened before seeds existed were drawn from the share records alone.
LEGACY_RULE = _l(
    "将本期全部份额记录按份额号从小到大排列，每条写作「本期ID:份额号:会员ID」，"
    "用换行符连接（末尾无换行）后计算 SHA-256；把得到的十六进制摘要当作整数，除以总份数取余数，"
    "余数加 1 即为中奖份额号。"
)


class TreasureRefused(DomainError):
    """The purchase cannot happen (round closed, not enough shares left)."""


def get_round(round_id):
    """A round by id, or NotFound."""
    rnd = db.session.get(TreasureRound, round_id) if is_db_id(round_id) else None
    if rnd is None:
        raise NotFound(_("该期夺宝不存在"))
    return rnd


def open_rounds():
    """Rounds members can buy into, newest item first."""
    return db.session.execute(
        select(TreasureRound).where(TreasureRound.status == "open").order_by(TreasureRound.item_id)
    ).scalars().all()


def recent_results(limit=10):
    """The latest finished rounds (won or refunded), newest first."""
    return db.session.execute(
        select(TreasureRound).where(TreasureRound.status != "open")
        .order_by(TreasureRound.closed_at.desc(), TreasureRound.id.desc()).limit(limit)
    ).scalars().all()


def current_round_of(item_id):
    """The item's open round, or None."""
    return db.session.execute(
        select(TreasureRound).where(TreasureRound.item_id == item_id, TreasureRound.status == "open")
    ).scalar_one_or_none()


def round_purchases(round_id):
    """Every purchase of a round, in order, with its buyer (the list shows each buyer's name)."""
    return db.session.execute(
        select(TreasurePurchase).where(TreasurePurchase.round_id == round_id).order_by(TreasurePurchase.id)
        .options(joinedload(TreasurePurchase.user))
    ).scalars().all()


def latest_purchases(round_id, limit):
    """(the round's `limit` latest purchases, newest first, with their buyers; how many it has in all)."""
    rows = db.session.execute(
        select(TreasurePurchase).where(TreasurePurchase.round_id == round_id).order_by(TreasurePurchase.id.desc())
        .limit(limit).options(joinedload(TreasurePurchase.user))
    ).scalars().all()
    total = len(rows) if len(rows) < limit else db.session.execute(
        select(func.count(TreasurePurchase.id)).where(TreasurePurchase.round_id == round_id)).scalar_one()
    return rows, total


def my_share_numbers(user_id, round_id):
    """The share numbers the member holds in a round."""
    return db.session.execute(
        select(TreasureShare.share_no).where(TreasureShare.round_id == round_id, TreasureShare.user_id == user_id)
        .order_by(TreasureShare.share_no)
    ).scalars().all()


def share_records(round_id):
    """The draw's input: one line "round_id:share_no:user_id" per share, by share number."""
    rows = db.session.execute(
        select(TreasureShare.share_no, TreasureShare.user_id).where(TreasureShare.round_id == round_id)
        .order_by(TreasureShare.share_no)
    ).all()
    return [f"{round_id}:{share_no}:{user_id}" for share_no, user_id in rows]


def draw_input(rnd):
    """The lines the winner is drawn from: the round's seed, then its share records.

    Published (e.g. as records.txt) once the round has closed; the seed stays secret while
    the round is open, which is what keeps the last buyer from computing the outcome.
    """
    return ([rnd.seed] if rnd.seed else []) + share_records(rnd.id)


def winning_share(lines, total_shares):
    """(SHA-256 hex digest of the lines joined by newlines, winning share number)."""
    digest = hashlib.sha256("\n".join(lines).encode("utf-8")).hexdigest()
    return digest, int(digest, 16) % total_shares + 1


def new_seed():
    """A round's secret seed: 32 random bytes from `secrets`, as hex."""
    return secrets.token_hex(32)


def open_round(item, now=None):
    """Open the item's next period inside the caller's transaction.

    A product prize is set aside first (one unit taken from stock): a round nobody could
    win is never offered. Raises the shop's OutOfStock when none is left.
    """
    now = now or utcnow()
    session = db.session
    if item.prize_kind == "product":
        fulfilment.take_stock(item.product_id, 1)
    last = session.execute(
        select(func.max(TreasureRound.period)).where(TreasureRound.item_id == item.id)
    ).scalar_one()
    rnd = TreasureRound(
        item_id=item.id, period=(last or 0) + 1, name=item.name, total_shares=item.total_shares,
        share_price=item.share_price, prize_kind=item.prize_kind, prize_points=item.prize_points,
        product_id=item.product_id, opened_at=now, deadline=now + timedelta(hours=item.round_hours),
        seed=new_seed(), prize_reserved=item.prize_kind == "product",
    )
    session.add(rnd)
    session.flush()
    return rnd


def _deadlocked(error):
    return getattr(getattr(error, "orig", None), "sqlstate", None) == "40P01"


def buy_shares(user_id, round_id, quantity, request_key, now=None):
    """Buy `quantity` consecutive shares of an open round. Returns the purchase (the same
    one on a retry with the same key); the last share also draws the winner.

    Paying the winner locks another member's row. In the rare case that two rounds sell
    out at the same instant with crossed winners, PostgreSQL aborts one transaction as a
    deadlock; it rolled back completely, so it is simply run again.
    """
    if not isinstance(quantity, int) or quantity < 1:
        raise TreasureRefused(_("至少购买 1 份"), field="quantity")
    now = now or utcnow()
    _refuse_if_closed(user_id, round_id, quantity, request_key, now)
    attempts = 0
    while True:
        try:
            return _buy_shares(user_id, round_id, quantity, request_key, now)
        except OperationalError as error:
            db.session.rollback()
            attempts += 1
            if not _deadlocked(error) or attempts == 3:
                raise


def quote_shares(user_id, round_id, quantity, now=None):
    """Check what buy_shares would check and price it, changing nothing (for the confirmation sheet)."""
    if not isinstance(quantity, int) or quantity < 1:
        raise TreasureRefused(_("至少购买 1 份"), field="quantity")
    now = now or utcnow()
    rnd = get_round(round_id)
    if rnd.status != "open" or rnd.deadline <= now or rnd.remaining == 0:
        raise TreasureRefused(_("本期夺宝已结束，请参与最新一期"))
    if quantity > rnd.remaining:
        raise TreasureRefused(_("本期仅剩 %(n)s 份，请减少购买份数", n=rnd.remaining), field="quantity")
    total = quantity * rnd.share_price
    title = ngettext("%(name)s 第 %(period)s 期 × %(num)s 份", "%(name)s 第 %(period)s 期 × %(num)s 份", quantity,
                     name=rnd.name, period=rnd.period)
    return spend_quotes.quote(user_id, title, total, _("积分不足：需要 %(need)s 积分", need=total))


def _buy_shares(user_id, round_id, quantity, request_key, now):
    with write_transaction():
        done = claim_request(user_id, "treasure", request_key)
        if done is not None:
            return stored_result(TreasurePurchase, user_id, done)
        rnd = get_round(round_id)
        if rnd.status != "open" or rnd.deadline <= now or rnd.sold + quantity > rnd.total_shares:
            _refuse(rnd.id, now)  # as last read: answered at once (the guarded update below decides)
        # The round's counter first, then the points: the member whose last share sells the round out
        # pays the winner, so a buyer must never hold a member's row while waiting for the round's
        # (taking the points first deadlocked on PostgreSQL with the winner's own pending purchase).
        sold = execute_rows(_SELL_SHARES, {"p_round": rnd.id, "p_now": now, "p_quantity": quantity}
                            ).scalar_one_or_none()
        if sold is None:
            _refuse(rnd.id, now)
        spend = ledger.spend(user_id, quantity * rnd.share_price, "treasure", key=f"treasure:{request_key}",
                             ref=f"treasure:{rnd.id}", note=f"{rnd.name} #{rnd.period}", now=now,
                             new_key=True)  # the request key was just claimed
        purchase = add_row(TreasurePurchase, round_id=rnd.id, user_id=user_id, quantity=quantity,
                           first_share_no=sold - quantity + 1, spend_entry_id=spend.id, created_at=now)
        execute_rows(_NEW_SHARE, [{"round_id": rnd.id, "share_no": n, "user_id": user_id, "purchase_id": purchase.id}
                                  for n in range(purchase.first_share_no, sold + 1)])
        if sold == rnd.total_shares:
            _draw_winner(rnd.id, now)
        events.points_spent.send(None, user_id=user_id, kind="treasure", entry_id=spend.id)
        remember_result(user_id, "treasure", request_key, purchase.id)
        keep_loaded(purchase)
    return purchase


# Built once (every purchase runs it), the values bound per call.
_SELL_SHARES = (update(TreasureRound)
                .where(TreasureRound.id == bindparam("p_round"), TreasureRound.status == "open",
                       TreasureRound.deadline > bindparam("p_now"),
                       TreasureRound.sold + bindparam("p_quantity") <= TreasureRound.total_shares)
                .values(sold=TreasureRound.sold + bindparam("p_quantity")).returning(TreasureRound.sold)
                .execution_options(synchronize_session=False))


def _refuse(round_id, now):
    """Explain why the guarded update found nothing to sell."""
    raise _refusal(execute_rows(_ROUND_STATE, {"p_round": round_id}).one(), now)


def _refusal(state, now):
    """Why a round in `state` (_ROUND_STATE's row) sells no more shares, or not as many as asked."""
    remaining = state.total_shares - state.sold
    if state.status != "open" or state.deadline <= now or remaining == 0:
        return TreasureRefused(_("本期夺宝已结束，请参与最新一期"))
    return TreasureRefused(_("本期仅剩 %(n)s 份，请减少购买份数", n=remaining), field="quantity")


def _refuse_if_closed(user_id, round_id, quantity, request_key, now):
    """Refuse a purchase in a round closed or without the shares asked for, as last committed, before
    any write: when a round sells out, the rest of a rush is refused by one read of the round and of
    whether this request key was used (a retry of a purchase that was made goes on to get it)."""
    row = execute_rows(_ROUND_STATE_AND_KEY, {"p_round": round_id, "p_user": user_id, "p_scope": "treasure",
                                              "p_key": request_key}).first() if is_db_id(round_id) else None
    if row is None or (row.status == "open" and row.deadline > now and row.sold + quantity <= row.total_shares):
        return
    if not row.key_used:
        raise _refusal(row, now)


_NEW_SHARE = insert(TreasureShare.__table__)  # rows, no objects: the draw reads them back by query
_ROUND_STATE = select(TreasureRound.status, TreasureRound.deadline, TreasureRound.sold, TreasureRound.total_shares
                      ).where(TreasureRound.id == bindparam("p_round"))
_ROUND_STATE_AND_KEY = _ROUND_STATE.add_columns(used_before_column())


def _grant_product(rnd, user_id):
    """Deliver the round's product prize; the unit set aside at the opening is the one granted."""
    if rnd.prize_reserved:
        fulfilment.return_stock(rnd.product_id, 1)
        rnd.prize_reserved = False
    return fulfilment.grant_product(user_id, rnd.product_id, source="treasure", ref=f"treasure-round:{rnd.id}")


def _release_prize(rnd):
    """A refunded round's product unit goes back to stock."""
    if rnd.prize_reserved:
        fulfilment.return_stock(rnd.product_id, 1)
        rnd.prize_reserved = False


def _open_next(item, now):
    """Open the item's next period if it is active and its prize is in stock; else leave it resting.

    A savepoint keeps a refusal (no stock, or a concurrent opener) from touching the rest
    of the transaction.
    """
    if not item.is_active:
        return None
    try:
        with db.session.begin_nested():
            return open_round(item, now)
    except (DomainError, IntegrityError):
        return None


def _draw_winner(round_id, now):
    """All shares sold: pick the winning share by the published rule, pay, open the next round."""
    session = db.session
    rnd = session.execute(
        select(TreasureRound).where(TreasureRound.id == round_id).execution_options(populate_existing=True)
    ).scalar_one()
    records = share_records(rnd.id)
    if len(records) != rnd.total_shares:
        raise RuntimeError(f"treasure round {rnd.id}: {len(records)} share records for {rnd.total_shares} shares")
    digest, winning_no = winning_share(draw_input(rnd), rnd.total_shares)
    winner_id = int(records[winning_no - 1].rsplit(":", 1)[1])
    rnd.status, rnd.winner_id, rnd.winning_share_no = "won", winner_id, winning_no
    rnd.digest, rnd.closed_at = digest, now
    session.flush()
    if rnd.prize_kind == "points":
        entry = ledger.earn(winner_id, rnd.prize_points, "treasure_win", key=f"treasure-win:{rnd.id}",
                            ref=f"treasure:{rnd.id}", note=rnd.name, now=now)
        rnd.prize_entry_id = entry.id
    else:
        _grant_product(rnd, winner_id)
    for user_id in _participants(rnd.id):
        messages.notify(user_id, "treasure.won" if user_id == winner_id else "treasure.drawn",
                        {"round_id": rnd.id, "name": rnd.name, "period": str(rnd.period), "no": str(winning_no)},
                        key=f"treasure:{rnd.id}")
    _open_next(rnd.item, now)


def _participants(round_id):
    return db.session.execute(
        select(TreasurePurchase.user_id).where(TreasurePurchase.round_id == round_id).distinct()
        .order_by(TreasurePurchase.user_id)
    ).scalars().all()


def settle_expired_rounds(now=None):
    """Refund every share of open rounds past their deadline and open the next period.

    Cron-safe and idempotent: each round is closed by a guarded UPDATE in its own
    transaction, so a second run (or a concurrent one) finds nothing left to do.
    Returns (rounds settled, purchases refunded).
    """
    now = now or utcnow()
    due = db.session.execute(
        select(TreasureRound.id).where(TreasureRound.status == "open", TreasureRound.deadline <= now)
        .order_by(TreasureRound.id)
    ).scalars().all()
    rounds = refunded = 0
    for round_id in due:
        with write_transaction() as session:
            closed = session.execute(
                update(TreasureRound)
                .where(TreasureRound.id == round_id, TreasureRound.status == "open", TreasureRound.deadline <= now)
                .values(status="refunded", closed_at=now)
                .returning(TreasureRound.id)
                .execution_options(synchronize_session=False)
            ).scalar_one_or_none()
            if closed is None:
                continue
            rnd = session.execute(
                select(TreasureRound).where(TreasureRound.id == round_id).execution_options(populate_existing=True)
            ).scalar_one()
            for purchase in round_purchases(round_id):
                if purchase.refund_entry_id is None:
                    entry = ledger.refund(purchase.spend_entry_id, note=rnd.name, now=now)
                    purchase.refund_entry_id = entry.id
                    refunded += 1
            for user_id in _participants(round_id):
                messages.notify(user_id, "treasure.refunded",
                                {"round_id": rnd.id, "name": rnd.name, "period": str(rnd.period)},
                                key=f"treasure:{rnd.id}")
            _release_prize(rnd)
            _open_next(rnd.item, now)
            rounds += 1
    reopen_resting_items(now)
    return rounds, refunded


def reopen_resting_items(now=None):
    """Open a round for every active item that has none (e.g. its product prize was out of
    stock and has been restocked). Idempotent: one open round per item is a unique index."""
    now = now or utcnow()
    open_item = select(TreasureRound.id).where(TreasureRound.item_id == TreasureItem.id,
                                               TreasureRound.status == "open").exists()
    prize_in_stock = or_(TreasureItem.prize_kind == "points", Product.stock > 0)  # else nothing to try yet
    resting = db.session.execute(
        select(TreasureItem.id).outerjoin(Product, Product.id == TreasureItem.product_id)
        .where(TreasureItem.is_active.is_(True), ~open_item, prize_in_stock).order_by(TreasureItem.id)
    ).scalars().all()
    opened = 0
    for item_id in resting:
        with write_transaction() as session:
            item = session.get(TreasureItem, item_id)
            if _open_next(item, now) is not None:
                opened += 1
    return opened


__all__ = [
    "LEGACY_RULE", "WINNING_RULE", "TreasureRefused", "buy_shares", "current_round_of", "draw_input",
    "get_round", "latest_purchases", "new_seed", "quote_shares",
    "my_share_numbers", "open_round", "open_rounds", "recent_results", "reopen_resting_items", "round_purchases",
    "settle_expired_rounds", "share_records", "winning_share",
]
