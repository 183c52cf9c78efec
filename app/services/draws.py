"""Lucky draws (大转盘 / 九宫格) and the once-only newbie gift draw.

A play is one transaction, decided on the server before any animation:
  1. the form's request key is claimed (a double tap gets the same play back);
  2. the member's row is locked, so one member's plays are serialised and the daily
     limit, the pity counter and the newbie-gift row are read consistently;
  3. the cost is charged through the ledger;
  4. a prize is picked with `secrets` by weight among prizes with stock, and its stock
     taken by a guarded UPDATE (a prize that ran out meanwhile is skipped, the pick
     repeated: a prize out of stock is never won);
  5. the prize is paid (ledger.earn, or fulfilment.grant_product for goods, coupons and
     vouchers) and the play recorded; `draw_played` is sent inside the transaction.
An unlimited prize (no stock of its own, not goods) is counted (`awarded`) by the same guarded
UPDATE, but last: the prize most plays win is one row, locked from that UPDATE to the commit.
"""
import secrets
from dataclasses import dataclass
from datetime import timedelta

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import bindparam, exists, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import lazyload, selectinload

from app.extensions import cache, db
from app.models import Draw, DrawPlay, DrawPrize, NewbieGift, Order, PointEntry, Product, User
from app.services import cache as shared_cache
from app.services import events, fulfilment, ledger, messages, spend_quotes
from app.services.clock import next_midnight, shanghai_today, utcnow
from app.services.errors import AlreadyDone, DomainError, NotFound
from app.services.idempotency import claim_request, remember_result, stored_result
from app.services.ids import is_db_id
from app.services.members import lock_member
from app.services.tx import add_row, execute_rows, keep_loaded, write_transaction

TIER_LABELS = {1: _l("一等奖"), 2: _l("二等奖"), 3: _l("三等奖"), 4: _l("四等奖"), 5: _l("五等奖"), 6: _l("六等奖")}
SKIN_LABELS = {"wheel": _l("大转盘"), "grid": _l("九宫格")}
# Spends that count as "has spent points" for the newbie gift (not expiry, not operator adjustments).
NOT_MEMBER_SPENDS = ("expire", "adjust")

# The randomness source; tests may replace it to force an outcome (never the weights).
_randbelow = secrets.randbelow


class DrawRefused(DomainError):
    """The draw cannot be played now (limit reached, gift used, nothing left to win)."""


def tier_label(tier):
    """'一等奖' for tier 1 and so on; empty for untiered prizes."""
    if tier is None:
        return ""
    label = TIER_LABELS.get(tier)
    return str(label) if label is not None else _("%(n)s等奖", n=tier)


def pick_prize(pool, randbelow=None):
    """One prize from `pool`, each with probability weight / total weight.

    The pool holds only prizes that may be won (weight > 0, stock left); a uniform
    integer below the total weight from `secrets` selects the prize whose range holds it.
    """
    total = sum(prize.weight for prize in pool)
    if total <= 0:
        raise ValueError("pick_prize needs a positive total weight")
    ticket = (randbelow or _randbelow)(total)
    for prize in pool:
        if ticket < prize.weight:
            return prize
        ticket -= prize.weight
    raise AssertionError("ticket outside the total weight")


def get_draw(draw_id, options=()):
    """An active draw, or NotFound for an unknown or switched-off one."""
    draw = db.session.get(Draw, draw_id, options=options) if is_db_id(draw_id) else None
    if draw is None or not draw.is_active:
        raise NotFound(_("抽奖活动不存在或已结束"))
    return draw


DRAW_TABLES = shared_cache.watch("draws", "draw_prizes", "products", "product_images")
shared_cache.watch_rows("draw_plays", key="user_id")  # a member's plays, kept apart from everyone else's


def panel_kept(user_id, draw, now=None):
    """What a member's panel on a draw page is read from, and until when it holds: (tables, until) -
    the draw and its prizes, their plays; the day's plays start again at midnight, and the draw
    opens or closes."""
    now = now or utcnow()
    return ((*DRAW_TABLES, shared_cache.rows_of("draw_plays", user_id)),
            shared_cache.earliest_future((next_midnight(now), draw.starts_at, draw.ends_at), now))


def shown_draw(draw_id):
    """get_draw() for pages that only show a draw: a detached snapshot with its prizes, shared
    between requests until a draw, prize or product changes (a play loads the draw itself).
    Its prizes' `awarded` counts are not kept current (_count_unlimited): member pages never show them."""
    if not is_db_id(draw_id):
        raise NotFound(_("抽奖活动不存在或已结束"))
    draw = shared_cache.shared(f"draw:{draw_id}", DRAW_TABLES,
                               lambda: db.session.execute(
                                   select(Draw).where(Draw.id == draw_id)
                                   .options(selectinload(Draw.prizes).selectinload(DrawPrize.product))
                               ).scalar_one_or_none())
    if draw is None or not draw.is_active:
        raise NotFound(_("抽奖活动不存在或已结束"))
    return draw


def active_draws(now=None):
    """Draws members can play now, for the games page (the newbie gift is offered on its own)."""
    now = now or utcnow()
    return db.session.execute(
        select(Draw).where(Draw.is_active.is_(True), Draw.purpose == "normal",
                           or_(Draw.starts_at.is_(None), Draw.starts_at <= now),
                           or_(Draw.ends_at.is_(None), Draw.ends_at > now)).order_by(Draw.id)
    ).scalars().all()


def schedule_refusal(draw, now=None):
    """Why the draw's schedule refuses a play now ("not started" / "ended"), or None."""
    now = now or utcnow()
    if draw.starts_at is not None and now < draw.starts_at:
        return _("抽奖活动尚未开始")
    if draw.ends_at is not None and now >= draw.ends_at:
        return _("抽奖活动已结束")
    return None


@dataclass(frozen=True)
class OddsRow:
    prize: DrawPrize
    # Chance in hundredths of a percent (basis points of 100%), rounded half up.
    chance_bp: int
    in_stock: bool

    @property
    def chance_text(self):
        return f"{self.chance_bp // 100}.{self.chance_bp % 100:02d}%"


def _winnable(prize):
    """Weighted, with stock left - and for a product prize, with the product itself in stock."""
    if prize.weight <= 0 or (prize.stock is not None and prize.stock <= 0):
        return False
    return prize.kind != "product" or prize.product is None or prize.product.stock > 0


def prize_pool(prizes, *, pity_tier=None, excluded=()):
    """The prizes one play is drawn from: weight > 0 and stock left, never an excluded one.

    With `pity_tier` (the pity rule is due) only prizes of that tier or better, unless
    none of them is left, in which case the whole pool decides.
    """
    pool = [p for p in prizes if _winnable(p) and p.id not in excluded]
    if pity_tier is not None:
        top = [p for p in pool if p.tier is not None and p.tier <= pity_tier]
        pool = top or pool
    return pool


def always_wins(draw):
    """True when every play wins something: no 'thanks for playing' can be drawn (the
    operator's 100%-win option: a consolation prize instead of thanks)."""
    pool = prize_pool(draw.prizes)
    return bool(pool) and all(p.wins for p in pool)


def win_chance_text(draw):
    """The live chance that a play wins anything (not 'thanks'), e.g. '75.00%' (from the draw's
    prizes as loaded: shown_draw's snapshot is dropped whenever a prize or product changes)."""
    pool = prize_pool(draw.prizes)
    total = sum(p.weight for p in pool)
    winning = sum(p.weight for p in pool if p.wins)
    bp = (winning * 20000 // total + 1) // 2 if total else 0
    return f"{bp // 100}.{bp % 100:02d}%"


def odds(draw):
    """The live chance of each prize: its weight over the weights of prizes still in stock."""
    prizes = draw.prizes
    total = sum(p.weight for p in prizes if _winnable(p))
    rows = []
    for prize in prizes:
        share = prize.weight * 20000 // total if total and _winnable(prize) else 0
        rows.append(OddsRow(prize=prize, chance_bp=(share + 1) // 2, in_stock=_winnable(prize)))
    return rows


def _prizes(draw_id):
    """The draw's prizes read fresh, with their products (whose stock decides too; not their images)."""
    return db.session.execute(_PRIZES, {"p_draw": draw_id}).scalars().all()


def _plays_today(user_id, draw_id, day):
    return execute_rows(_PLAYS_TODAY, {"p_draw": draw_id, "p_user": user_id, "p_day": day}).scalar_one()


def _misses_so_far(user_id, draw_id):
    """Plays in a row without a pity-tier prize, read from the member's last play."""
    return execute_rows(_LAST_MISSES, {"p_draw": draw_id, "p_user": user_id}).scalar_one_or_none() or 0


# Built once, their values bound per call: a draw's panel and every play read both.
_MY_PLAYS = (DrawPlay.draw_id == bindparam("p_draw"), DrawPlay.user_id == bindparam("p_user"))
_PLAYS_TODAY = select(func.count(DrawPlay.id)).where(*_MY_PLAYS, DrawPlay.day == bindparam("p_day"))
_LAST_MISSES = select(DrawPlay.misses).where(*_MY_PLAYS).order_by(DrawPlay.id.desc()).limit(1)


def draws_left_today(user_id, draw, now=None):
    """How many plays the member has left today, or None when the draw has no daily limit."""
    if not draw.daily_limit:
        return None
    return max(0, draw.daily_limit - _plays_today(user_id, draw.id, shanghai_today(now)))


def pity_left(user_id, draw):
    """Plays still to go before the pity rule guarantees a prize, or None without a rule."""
    if not draw.pity_after:
        return None
    return max(0, draw.pity_after - _misses_so_far(user_id, draw.id))


def _take_stock(prize_id):
    """Guarded stock take: NULL stock is unlimited; an empty prize is never awarded."""
    return execute_rows(_TAKE_PRIZE, {"p_prize": prize_id}).scalar_one_or_none() is not None


def _count_unlimited(prize_id):
    """Count one more award of a prize that still has no stock of its own (else False: an operator
    gave it stock meanwhile, and _take_stock decides). Only `awarded` changes, which no member page
    shows: the draw's shared snapshot (shown_draw) stays current."""
    return execute_rows(_COUNT_UNLIMITED, {"p_prize": prize_id}).scalar_one_or_none() is not None


# Built once, their values bound per call: every play reads the prizes and takes or counts one.
_PRIZES = (select(DrawPrize).where(DrawPrize.draw_id == bindparam("p_draw")).order_by(DrawPrize.position)
           .options(selectinload(DrawPrize.product).lazyload(Product.images)).execution_options(populate_existing=True))
_TAKE_PRIZE = (update(DrawPrize)
               .where(DrawPrize.id == bindparam("p_prize"), or_(DrawPrize.stock.is_(None), DrawPrize.stock > 0))
               .values(stock=DrawPrize.stock - 1, awarded=DrawPrize.awarded + 1).returning(DrawPrize.id)
               .execution_options(synchronize_session=False))
_COUNT_UNLIMITED = (update(DrawPrize).where(DrawPrize.id == bindparam("p_prize"), DrawPrize.stock.is_(None))
                    .values(awarded=DrawPrize.awarded + 1).returning(DrawPrize.id)
                    .execution_options(synchronize_session=False, **shared_cache.UNSHOWN))
_PRIZES_APART = (lazyload(Draw.prizes),)


def _grant_product(user_id, product_id, ref):
    return fulfilment.grant_product(user_id, product_id, source="draw", ref=ref)


def _unlimited(prize):
    """A prize nothing can run out of (no stock of its own, no product): it cannot be gone."""
    return prize.stock is None and prize.kind != "product"


def _award(draw, user_id, pity, build_play):
    """Pick, take stock, record the play (build_play(prize): its values) and grant goods; re-pick if a
    prize is gone.

    Each attempt runs in a savepoint, so a prize whose stock (or whose product's stock)
    ran out leaves no trace and the next pick excludes it. An unlimited prize (most plays:
    points, thanks) needs no savepoint, and its row is counted last (play_draw).
    """
    session = db.session
    excluded = set()
    while True:
        pool = prize_pool(_prizes(draw.id), pity_tier=draw.pity_tier if pity else None, excluded=excluded)
        if not pool:
            raise DrawRefused(_("奖品已全部抽完，请稍后再来"))
        prize = pick_prize(pool)
        if _unlimited(prize):
            return prize, add_row(DrawPlay, **build_play(prize))
        try:
            with session.begin_nested():
                if not _take_stock(prize.id):
                    raise _PrizeGone()
                play = add_row(DrawPlay, **build_play(prize))
                if prize.kind == "product":
                    _grant_product(user_id, prize.product_id, ref=f"draw-play:{play.id}")
            return prize, play
        except (_PrizeGone, DomainError):
            excluded.add(prize.id)


class _PrizeGone(Exception):
    pass


def quote_play(user_id, draw_id, now=None):
    """Check what a play would check and price it, changing nothing (for the confirmation sheet)."""
    now = now or utcnow()
    draw = get_draw(draw_id)
    refusal = schedule_refusal(draw, now)
    if refusal:
        raise DrawRefused(refusal)
    if draw.purpose == "newbie":
        _refuse_closed_gift(newbie_gift_state(user_id, now))
    left = draws_left_today(user_id, draw, now)
    if left == 0:
        raise DrawRefused(_("今天的 %(n)s 次抽奖机会已用完，明天再来吧", n=draw.daily_limit))
    return spend_quotes.quote(user_id, _("%(name)s × 1 次", name=draw.name), draw.cost, _("积分不足"))


def play_draw(user_id, draw_id, request_key, now=None):
    """Play once: charge, decide, pay, record. Returns the DrawPlay (the same one on a retry)."""
    now = now or utcnow()
    with write_transaction() as session:
        done = claim_request(user_id, "draw", request_key)
        if done is not None:
            return stored_result(DrawPlay, user_id, done)
        draw = get_draw(draw_id, options=_PRIZES_APART)  # the prizes are read fresh below
        refusal = schedule_refusal(draw, now)
        if refusal:
            raise DrawRefused(refusal)
        lock_member(user_id)
        if draw.purpose == "newbie":
            _use_newbie_gift(user_id)
        day = shanghai_today(now)
        played = _plays_today(user_id, draw.id, day)
        if draw.daily_limit and played >= draw.daily_limit:
            raise DrawRefused(_("今天的 %(n)s 次抽奖机会已用完，明天再来吧", n=draw.daily_limit))
        misses = _misses_so_far(user_id, draw.id)
        pity = bool(draw.pity_after) and misses >= draw.pity_after
        spend = ledger.spend(user_id, draw.cost, "draw", key=f"draw:{request_key}", ref=f"draw:{draw.id}",
                             note=draw.name, now=now, new_key=True)  # the request key was just claimed

        def build_play(prize):
            hit = draw.pity_tier is not None and prize.tier is not None and prize.tier <= draw.pity_tier
            return dict(draw_id=draw.id, user_id=user_id, prize_id=prize.id, day=day, day_seq=played + 1,
                        misses=0 if hit else misses + 1, was_pity=pity, cost=draw.cost,
                        spend_entry_id=spend.id, created_at=now)

        prize, play = _award(draw, user_id, pity, build_play)
        if prize.kind in ("points", "consolation"):
            entry = ledger.earn(user_id, prize.points, "prize", key=f"draw-play:{play.id}", ref=f"draw:{draw.id}",
                                note=prize.name, now=now)
            play.award_entry_id = entry.id
        if draw.purpose == "newbie":
            session.get(NewbieGift, user_id).play_id = play.id
        if prize.kind == "product" or prize.tier is not None:
            messages.notify(user_id, "draw.prize_won", {"draw_id": draw.id, "draw": draw.name, "prize": prize.name},
                            key=f"draw-play:{play.id}")
        events.points_spent.send(None, user_id=user_id, kind="draw", entry_id=spend.id)
        events.draw_played.send(None, user_id=user_id, draw_id=draw.id)
        remember_result(user_id, "draw", request_key, play.id)
        if _unlimited(prize) and not (_count_unlimited(prize.id) or _take_stock(prize.id)):
            # Counted last: every play of a draw mostly wins the same few prizes, and the row stays
            # locked until the commit. Only an operator limiting the prize meanwhile (to none left)
            # lands here; the play is undone, nothing charged.
            raise DrawRefused(_("奖品已全部抽完，请稍后再来"))
        keep_loaded(play)
    return play


def get_play(user_id, play_id):
    """A play of this member (for showing its result after a full-page submit)."""
    play = db.session.get(DrawPlay, play_id) if is_db_id(play_id) else None
    if play is None or play.user_id != user_id:
        raise NotFound(_("抽奖记录不存在"))
    return play


def play_history(user_id, draw_id, before_id=None, limit=20):
    """The member's plays of a draw, newest first; returns (plays, id to continue before or None)."""
    stmt = (select(DrawPlay).where(DrawPlay.user_id == user_id, DrawPlay.draw_id == draw_id)
            .options(selectinload(DrawPlay.award_entry)))
    if is_db_id(before_id):  # anything else (-5, 10**20) is the first page
        stmt = stmt.where(DrawPlay.id < before_id)
    rows = db.session.execute(stmt.order_by(DrawPlay.id.desc()).limit(limit + 1)).scalars().all()
    return rows[:limit], (rows[limit - 1].id if len(rows) > limit else None)


def prize_orders(user_id, plays):
    """{play id: order id} of the goods, coupons and vouchers these plays won (fulfilment.grant_product)."""
    refs = {f"draw-play:{play.id}": play.id for play in plays if play.prize.kind == "product"}
    if not refs:
        return {}
    rows = db.session.execute(
        select(Order.ref, Order.id).where(Order.user_id == user_id, Order.source == "draw", Order.ref.in_(refs))
    ).all()
    return {refs[ref]: order_id for ref, order_id in rows}


def fresh_balance(user_id):
    """The member's balance read from the database (the identity map may be stale after a write)."""
    return db.session.execute(select(User.points_balance).where(User.id == user_id)).scalar_one()


# --- the newbie gift (新手礼包) ------------------------------------------------------------

@dataclass(frozen=True)
class NewbieOffer:
    draw: Draw
    headline: DrawPrize
    sure_win: bool  # every play wins: the popup may say "100% 中奖"
    expires_at: object = None  # when the gift lapses (a UTC datetime)
    popup_closed: bool = False  # the member closed the popup: the gift shows on /me and home only


def has_spent_points(user_id):
    """True once the member has spent points on anything (expiry and operator adjustments aside)."""
    return db.session.execute(
        select(exists().where(PointEntry.user_id == user_id, PointEntry.amount < 0,
                              PointEntry.kind.not_in(NOT_MEMBER_SPENDS)))
    ).scalar_one()


def newbie_draw():
    """The active newbie-gift draw with its prizes, or None: a detached snapshot, shared between
    requests until a draw, prize or product changes (for showing; a play loads the draw itself)."""
    return shared_cache.shared("newbie_draw", DRAW_TABLES, lambda: db.session.execute(
        select(Draw).where(Draw.purpose == "newbie", Draw.is_active.is_(True)).order_by(Draw.id).limit(1)
        .options(selectinload(Draw.prizes).selectinload(DrawPrize.product))
    ).scalar_one_or_none())


NEWBIE_GIFT_DAYS = 7  # the newbie gift may be used within a week of registering


def newbie_gift_expires(user_id):
    """When the member's newbie gift lapses: NEWBIE_GIFT_DAYS after registration."""
    return db.session.get(User, user_id).created_at + timedelta(days=NEWBIE_GIFT_DAYS)  # the request's member: no query


def newbie_gift_state(user_id, now=None):
    """'open' (may play; a dismissed popup does not close it), 'done' (used), 'expired' (a week
    after registering) or 'spent' (has spent points already)."""
    gift = db.session.get(NewbieGift, user_id)
    if gift is not None and gift.status == "used":
        return "done"
    if newbie_gift_expires(user_id) <= (now or utcnow()):
        return "expired"
    if has_spent_points(user_id):
        return "spent"
    return "open"


def newbie_offer(user_id, *, popup=False):
    """The newbie gift's offer while the member may still use it, None otherwise; with popup=True,
    None as well once the member closed the popup (the gift stays on /me and home)."""
    if newbie_gift_expires(user_id) <= utcnow():  # most members: decided without a query
        return None
    over = f"newbie-over:{user_id}"  # used, or points spent: that never changes back
    if cache.get(over):
        return None
    draw = newbie_draw()
    if draw is None:
        return None
    state = newbie_gift_state(user_id)
    if state in ("done", "spent"):
        cache.set(over, True, timeout=NEWBIE_GIFT_DAYS * 86400)
    if state != "open":
        return None
    popup_closed = db.session.get(NewbieGift, user_id) is not None  # read by the state above: no query
    if popup and popup_closed:
        return None
    prizes = [p for p in prize_pool(draw.prizes) if p.wins]  # never advertise a prize that is gone
    if not prizes:
        return None
    headline = min(prizes, key=lambda p: (p.tier if p.tier is not None else 99, p.weight))
    return NewbieOffer(draw=draw, headline=headline, sure_win=always_wins(draw),
                       expires_at=newbie_gift_expires(user_id), popup_closed=popup_closed)


def _refuse_closed_gift(state):
    if state == "done":
        raise AlreadyDone(_("新手礼包每人只能领取一次"))
    if state == "expired":
        raise DrawRefused(_("新手礼包已过期（注册后 %(days)s 天内有效）", days=NEWBIE_GIFT_DAYS))
    if state == "spent":
        raise DrawRefused(_("新手礼包仅限还没使用过积分的新会员"))


def _use_newbie_gift(user_id):
    """Inside a play: refuse unless the gift is open, then record it used (once per member, whatever
    two plays at once do: a new row's key or the guarded update of a dismissed one)."""
    _refuse_closed_gift(newbie_gift_state(user_id))
    session = db.session
    closed_popup = session.get(NewbieGift, user_id)
    if closed_popup is not None:  # the popup was closed: the gift is still there
        used = session.execute(update(NewbieGift).where(NewbieGift.user_id == user_id,
                                                        NewbieGift.status == "dismissed")
                               .values(status="used").execution_options(synchronize_session=False)).rowcount
        if not used:
            raise AlreadyDone(_("新手礼包每人只能领取一次"))
        session.expire(closed_popup)
        return
    try:
        with session.begin_nested():
            session.add(NewbieGift(user_id=user_id, status="used"))
    except IntegrityError as exc:
        raise AlreadyDone(_("新手礼包每人只能领取一次")) from exc


def dismiss_newbie_gift(user_id):
    """Close the popup; the gift stays on /me and home until used or expired.
    Returns False if the popup was already closed or the gift used."""
    with write_transaction() as session:
        lock_member(user_id)
        if session.get(NewbieGift, user_id) is not None:
            return False
        session.add(NewbieGift(user_id=user_id, status="dismissed"))
    return True


__all__ = [
    "DRAW_TABLES", "DrawRefused", "NewbieOffer", "OddsRow", "active_draws", "always_wins", "dismiss_newbie_gift",
    "draws_left_today", "fresh_balance", "quote_play", "get_draw", "shown_draw", "get_play", "has_spent_points", "newbie_draw",
    "newbie_gift_state", "newbie_offer", "odds", "pick_prize", "pity_left", "play_draw", "play_history", "prize_pool",
    "tier_label", "win_chance_text",
]
