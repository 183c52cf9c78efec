"""Daily rollups behind the operator dashboard and the points liability page.

`flask stats rollup` (cron, e.g. hourly and once after midnight) recomputes whole Shanghai days
from the raw rows and replaces their `daily_stats` rows: running it twice changes nothing. The
current day is never stored; readers compute it live from the raw rows (one day of rows, on
indexed columns), so the dashboard is current without adding a write to every ledger transaction.
"""
from collections import defaultdict
from datetime import timedelta

from sqlalchemy import delete, distinct, func, select

from app.extensions import db
from app.models import CheckIn, DrawPlay, DrawPrize, Order, PointEntry, TreasureRound, User
from app.models.stats import DailyStat
from app.services.clock import day_bounds_utc, shanghai_today, utcnow
from app.services.tx import write_transaction

# Metrics with a breakdown: the dimension is the ledger entry kind or the product id.
NEW_MEMBERS = "new_members"
ACTIVE_MEMBERS = "active_members"  # members with any ledger entry that day
CHECKINS = "checkins"
ISSUED = "points_issued"  # by entry kind (source), refunds excluded
SPENT = "points_spent"  # by entry kind (use), expiry excluded
REFUNDED = "points_refunded"
EXPIRED = "points_expired"
ORDERS = "orders"  # redemptions placed that day (any later status)
ORDERS_POINTS = "orders_points"
ORDERS_CASH = "orders_cash_fen"
PRODUCT_UNITS = "product_units"  # units redeemed, by product id
DRAWS = "draws"
PRIZES_WON = "prizes_won"  # plays that won anything but "thanks for playing"
TREASURE_ROUNDS = "treasure_rounds"  # treasure rounds drawn (a winner) that day
# Of the members who registered that day, those who spent points within 7 days: settles 7 days later,
# so the nightly job recomputes the last 8 days.
NEWBIE_CONVERTED = "newbie_converted"


def compute_day(day):
    """Every figure of one Shanghai day, counted from the raw rows: {(metric, dimension): value}."""
    start, end = day_bounds_utc(day)
    session = db.session
    figures = {}

    def put(metric, value, dimension=""):
        if value:
            figures[(metric, str(dimension))] = int(value)

    put(NEW_MEMBERS, session.execute(
        select(func.count(User.id)).where(User.role == "member", User.created_at >= start, User.created_at < end)
    ).scalar_one())
    in_day = (PointEntry.created_at >= start, PointEntry.created_at < end)
    put(ACTIVE_MEMBERS, session.execute(select(func.count(distinct(PointEntry.user_id))).where(*in_day)).scalar_one())
    for kind, positive, negative in session.execute(
        select(PointEntry.kind,
               func.coalesce(func.sum(PointEntry.amount).filter(PointEntry.amount > 0), 0),
               func.coalesce(func.sum(PointEntry.amount).filter(PointEntry.amount < 0), 0))
        .where(*in_day).group_by(PointEntry.kind)
    ).all():
        if kind == "refund":
            put(REFUNDED, positive)
        elif kind == "expire":
            put(EXPIRED, -negative)
        else:
            put(ISSUED, positive, kind)
            put(SPENT, -negative, kind)
    put(CHECKINS, session.execute(
        select(func.count(CheckIn.id)).where(CheckIn.day == day, CheckIn.kind == "normal")
    ).scalar_one())
    count, points, cash = session.execute(
        select(func.count(Order.id), func.coalesce(func.sum(Order.points_total), 0),
               func.coalesce(func.sum(Order.cash_total_fen), 0))
        .where(Order.source == "redeem", Order.created_at >= start, Order.created_at < end)
    ).one()
    put(ORDERS, count)
    put(ORDERS_POINTS, points)
    put(ORDERS_CASH, cash)
    for product_id, units in session.execute(
        select(Order.product_id, func.sum(Order.quantity))
        .where(Order.source == "redeem", Order.created_at >= start, Order.created_at < end)
        .group_by(Order.product_id)
    ).all():
        put(PRODUCT_UNITS, units, product_id)
    plays, wins = session.execute(
        select(func.count(DrawPlay.id), func.count(DrawPlay.id).filter(DrawPrize.kind != "thanks"))
        .join(DrawPrize, DrawPrize.id == DrawPlay.prize_id).where(DrawPlay.day == day)
    ).one()
    put(DRAWS, plays)
    put(PRIZES_WON, wins)
    put(TREASURE_ROUNDS, session.execute(
        select(func.count(TreasureRound.id))
        .where(TreasureRound.status == "won", TreasureRound.closed_at >= start, TreasureRound.closed_at < end)
    ).scalar_one())
    put(NEWBIE_CONVERTED, newbie_conversion(day, day)[1])
    return figures


def rollup(days=8, now=None):
    """Recompute the `days` complete Shanghai days before today, one transaction per day (idempotent).
    Returns the days written."""
    today = shanghai_today(now)
    written = []
    for back in range(days, 0, -1):
        day = today - timedelta(days=back)
        with write_transaction() as session:
            figures = compute_day(day)
            session.execute(delete(DailyStat).where(DailyStat.day == day))
            computed_at = utcnow()
            session.add_all(DailyStat(day=day, metric=metric, dimension=dimension, value=value,
                                      computed_at=computed_at)
                            for (metric, dimension), value in figures.items())
        written.append(day)
    return written


def figures_by_day(first, last, metrics=None, now=None):
    """{day: {(metric, dimension): value}} for first..last: stored rollups for past days, today live."""
    today = shanghai_today(now)
    by_day = defaultdict(dict)
    stmt = select(DailyStat.day, DailyStat.metric, DailyStat.dimension, DailyStat.value).where(
        DailyStat.day >= first, DailyStat.day <= min(last, today - timedelta(days=1)))
    if metrics:
        stmt = stmt.where(DailyStat.metric.in_(metrics))
    for day, metric, dimension, value in db.session.execute(stmt).all():
        by_day[day][(metric, dimension)] = value
    if first <= today <= last:
        live = compute_day(today)
        by_day[today] = {key: value for key, value in live.items() if not metrics or key[0] in metrics}
    return by_day


def distinct_active_members(first, last):
    """Members with any ledger entry in first..last (not a sum of daily figures: one member active on
    several days counts once), counted from the raw rows."""
    start, end = day_bounds_utc(first)[0], day_bounds_utc(last)[1]
    return db.session.execute(
        select(func.count(distinct(PointEntry.user_id)))
        .where(PointEntry.created_at >= start, PointEntry.created_at < end)
    ).scalar_one()


def newbie_conversion(first, last, within_days=7):
    """(members who registered in first..last, how many of them spent points within `within_days` of
    registering): the newbie gift's conversion. Counted live: the answer for a day changes for a week."""
    start, end = day_bounds_utc(first)[0], day_bounds_utc(last)[1]
    first_spend = (
        select(PointEntry.user_id, func.min(PointEntry.created_at).label("at"))
        .join(User, User.id == PointEntry.user_id)
        .where(User.role == "member", User.created_at >= start, User.created_at < end,
               PointEntry.amount < 0, PointEntry.kind != "expire")
        .group_by(PointEntry.user_id).subquery()
    )
    rows = db.session.execute(
        select(User.created_at, first_spend.c.at)
        .join(first_spend, first_spend.c.user_id == User.id, isouter=True)
        .where(User.role == "member", User.created_at >= start, User.created_at < end)
    ).all()
    window = timedelta(days=within_days)
    return len(rows), sum(1 for joined, spent in rows if spent is not None and spent - joined <= window)


def level_distribution():
    """[(level, members)] for every level, lowest first, from the members' growth now (live)."""
    from app.services.levels import all_levels

    levels = all_levels()
    columns = []
    for index, level in enumerate(levels):
        condition = [User.growth >= level.min_growth]
        if index + 1 < len(levels):
            condition.append(User.growth < levels[index + 1].min_growth)
        columns.append(func.count(User.id).filter(*condition))
    counts = db.session.execute(select(*columns).where(User.role == "member")).one()
    return list(zip(levels, counts))


__all__ = ["compute_day", "distinct_active_members", "figures_by_day", "level_distribution", "newbie_conversion",
           "rollup"]
