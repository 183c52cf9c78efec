"""The few figures each console's landing page opens with (read-only)."""
import csv
import io
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import aliased

from flask_babel import gettext as _

from app.extensions import db
from app.models import ConsumptionAward, Order, Product, User, Voucher
from app.services.clock import day_bounds_utc, shanghai_today
from app.services.consumption import mask_phone
from app.services.csv_export import safe_cell as _safe_cell


@dataclass(frozen=True)
class OperatorOverview:
    members: int
    new_members_today: int
    to_ship: int


@dataclass(frozen=True)
class MerchantOverview:
    redeemed_today: int
    value_today_fen: int
    points_today: int = 0
    awards_today: int = 0
    recent: tuple = ()


@dataclass(frozen=True)
class MerchantAction:
    """One thing done at the counter: a voucher redeemed or consumption points awarded."""

    kind: str  # "voucher" | "award"
    at: object
    staff: str
    title: str  # the voucher's title, or the receipt number
    value_fen: int  # face value, or the amount paid
    points: int = 0
    member: str = ""


def operator_overview(now=None):
    """Members, today's sign-ups (Shanghai day) and goods orders waiting to be shipped."""
    start, end = day_bounds_utc(shanghai_today(now))
    members = db.session.execute(
        select(func.count(User.id), func.count(User.id).filter(User.created_at >= start, User.created_at < end))
        .where(User.role == "member")
    ).one()
    to_ship = db.session.execute(
        select(func.count(Order.id)).where(Order.status == "paid", Order.kind == "physical",
                                           Order.ship_address.is_not(None))
    ).scalar_one()
    return OperatorOverview(members=members[0], new_members_today=members[1], to_ship=to_ship)


def merchant_overview(merchant_id, now=None, recent=20):
    """Vouchers this merchant redeemed today (Shanghai day) and their face value, the consumption
    points it awarded today, and its last `recent` actions (newest first)."""
    today = shanghai_today(now)
    start, end = day_bounds_utc(today)
    count, value = db.session.execute(
        select(func.count(Voucher.id), func.coalesce(func.sum(Voucher.value_fen), 0))
        .where(Voucher.merchant_id == merchant_id, Voucher.redeemed_at >= start, Voucher.redeemed_at < end)
    ).one()
    awards, points = db.session.execute(
        select(func.count(ConsumptionAward.id), func.coalesce(func.sum(ConsumptionAward.points), 0))
        .where(ConsumptionAward.merchant_id == merchant_id, ConsumptionAward.day == today)
    ).one()
    return MerchantOverview(redeemed_today=count, value_today_fen=value, points_today=points, awards_today=awards,
                            recent=tuple(merchant_recent_actions(merchant_id, recent)))


def merchant_recent_actions(merchant_id, limit=20):
    """The merchant's last vouchers redeemed and points awarded, newest first, with the staff who did it."""
    staff, member = aliased(User), aliased(User)
    vouchers = db.session.execute(
        select(Voucher.redeemed_at, Voucher.title, Voucher.value_fen, staff.nickname, staff.phone, member.phone)
        .join(staff, staff.id == Voucher.redeemed_by, isouter=True)
        .join(member, member.id == Voucher.user_id)
        .where(Voucher.merchant_id == merchant_id, Voucher.redeemed_at.is_not(None))
        .order_by(Voucher.redeemed_at.desc(), Voucher.id.desc()).limit(limit)
    ).all()
    awards = db.session.execute(
        select(ConsumptionAward.created_at, ConsumptionAward.receipt_no, ConsumptionAward.amount_fen,
               ConsumptionAward.points, staff.nickname, staff.phone, member.phone)
        .join(staff, staff.id == ConsumptionAward.staff_id)
        .join(member, member.id == ConsumptionAward.user_id)
        .where(ConsumptionAward.merchant_id == merchant_id)
        .order_by(ConsumptionAward.created_at.desc(), ConsumptionAward.id.desc()).limit(limit)
    ).all()
    actions = [MerchantAction("voucher", at, nick or mask_phone(phone), title, value or 0, member=mask_phone(mphone))
               for at, title, value, nick, phone, mphone in vouchers]
    actions += [MerchantAction("award", at, nick or mask_phone(phone), receipt, amount, points, mask_phone(mphone))
                for at, receipt, amount, points, nick, phone, mphone in awards]
    return sorted(actions, key=lambda a: a.at, reverse=True)[:limit]


# --- the dashboard: a range of Shanghai days against the period of the same length before it ---

RANGE_DAYS = {"today": 1, "7d": 7, "30d": 30}
MAX_RANGE_DAYS = 366


@dataclass(frozen=True)
class DashboardRange:
    key: str  # today | 7d | 30d | custom
    first: object  # Shanghai dates, inclusive
    last: object
    error: str = ""

    @property
    def days(self):
        return (self.last - self.first).days + 1

    @property
    def previous(self):
        """The period of the same length just before this one."""
        return self.first - timedelta(days=self.days), self.first - timedelta(days=1)


def resolve_range(key, start=None, end=None, now=None):
    """The chosen range; a custom one needs first <= last <= today and at most a year, else 7 days
    with an error to show."""
    today = shanghai_today(now)
    if key == "custom":
        error = ""
        if start is None or end is None:
            error = _("请选择开始和结束日期")
        elif start > end:
            error = _("开始日期不能晚于结束日期")
        elif end > today:
            error = _("结束日期不能晚于今天")
        elif (end - start).days + 1 > MAX_RANGE_DAYS:
            error = _("时间范围最长 %(days)d 天", days=MAX_RANGE_DAYS)
        if not error:
            return DashboardRange("custom", start, end)
        return DashboardRange("7d", today - timedelta(days=6), today, error)
    days = RANGE_DAYS.get(key, 7)
    key = key if key in RANGE_DAYS else "7d"
    return DashboardRange(key, today - timedelta(days=days - 1), today)


@dataclass(frozen=True)
class Figure:
    label: str
    current: int
    previous: int
    money: bool = False  # a fen amount, shown in yuan
    permille: bool = False  # a rate in tenths of a percent, shown as a percentage

    @property
    def change_pct(self):
        """Change against the previous period in whole percent, or None when it had nothing."""
        if not self.previous or self.permille:
            return None
        return round((self.current - self.previous) * 100 / self.previous)


@dataclass(frozen=True)
class Dashboard:
    range: DashboardRange
    figures: tuple  # Figure
    issued: tuple  # Figure per source (entry kind)
    spent: tuple  # Figure per use
    top_products: tuple  # (name, units)
    series: dict  # metric -> tuple of (day, value)
    levels: tuple = ()  # (level label, members) now


def _totals(by_day):
    totals = {}
    for figures in by_day.values():
        for key, value in figures.items():
            totals[key] = totals.get(key, 0) + value
    return totals


def _metric_total(totals, metric):
    return sum(value for (name, _dimension), value in totals.items() if name == metric)


def _by_dimension(current, previous, metric, label):
    dimensions = {d for (name, d) in (*current, *previous) if name == metric}
    rows = [Figure(label(d), current.get((metric, d), 0), previous.get((metric, d), 0)) for d in dimensions]
    return tuple(sorted(rows, key=lambda f: (-f.current, -f.previous, f.label)))


def dashboard(rng, now=None, top=10):
    """The dashboard's figures for `rng` and the period before it, from the daily rollups (today live)."""
    from app.services import stats
    from app.services.ledger import kind_label

    prev_first, prev_last = rng.previous
    by_day = stats.figures_by_day(rng.first, rng.last, now=now)
    current = _totals(by_day)
    previous = _totals(stats.figures_by_day(prev_first, prev_last, now=now))
    figures = (
        Figure(_("新会员"), current.get((stats.NEW_MEMBERS, ""), 0), previous.get((stats.NEW_MEMBERS, ""), 0)),
        Figure(_("活跃会员"), stats.distinct_active_members(rng.first, rng.last),
               stats.distinct_active_members(prev_first, prev_last)),
        Figure(_("签到次数"), current.get((stats.CHECKINS, ""), 0), previous.get((stats.CHECKINS, ""), 0)),
        Figure(_("发放积分"), _metric_total(current, stats.ISSUED), _metric_total(previous, stats.ISSUED)),
        Figure(_("消耗积分"), _metric_total(current, stats.SPENT), _metric_total(previous, stats.SPENT)),
        Figure(_("退回积分"), current.get((stats.REFUNDED, ""), 0), previous.get((stats.REFUNDED, ""), 0)),
        Figure(_("过期积分"), current.get((stats.EXPIRED, ""), 0), previous.get((stats.EXPIRED, ""), 0)),
        Figure(_("兑换订单"), current.get((stats.ORDERS, ""), 0), previous.get((stats.ORDERS, ""), 0)),
        Figure(_("订单积分"), current.get((stats.ORDERS_POINTS, ""), 0), previous.get((stats.ORDERS_POINTS, ""), 0)),
        Figure(_("订单现金"), current.get((stats.ORDERS_CASH, ""), 0), previous.get((stats.ORDERS_CASH, ""), 0),
               money=True),
        Figure(_("抽奖次数"), current.get((stats.DRAWS, ""), 0), previous.get((stats.DRAWS, ""), 0)),
        Figure(_("中奖次数"), current.get((stats.PRIZES_WON, ""), 0), previous.get((stats.PRIZES_WON, ""), 0)),
        Figure(_("夺宝开奖期数"), current.get((stats.TREASURE_ROUNDS, ""), 0),
               previous.get((stats.TREASURE_ROUNDS, ""), 0)),
        Figure(_("新人7日消费转化率"), _permille(current, stats), _permille(previous, stats), permille=True),
    )
    units = sorted(((d, v) for (m, d), v in current.items() if m == stats.PRODUCT_UNITS),
                   key=lambda row: (-row[1], row[0]))[:top]
    names = dict(db.session.execute(
        select(Product.id, Product.name).where(Product.id.in_([int(d) for d, _v in units]))
    ).all()) if units else {}
    top_products = tuple((names.get(int(d), d), v) for d, v in units)
    days = [rng.first + timedelta(days=i) for i in range(rng.days)]
    series = {
        metric: tuple((day, _metric_total(by_day.get(day, {}), metric)) for day in days)
        for metric in (stats.NEW_MEMBERS, stats.ACTIVE_MEMBERS, stats.ISSUED, stats.SPENT, stats.ORDERS)
    }
    return Dashboard(range=rng, figures=figures,
                     issued=_by_dimension(current, previous, stats.ISSUED, kind_label),
                     spent=_by_dimension(current, previous, stats.SPENT, kind_label),
                     top_products=top_products, series=series,
                     levels=tuple((level.label, count) for level, count in stats.level_distribution()))


def _permille(totals, stats):
    """Newbie conversion of a period from its rollups, in tenths of a percent."""
    joined, converted = totals.get((stats.NEW_MEMBERS, ""), 0), totals.get((stats.NEWBIE_CONVERTED, ""), 0)
    return converted * 1000 // joined if joined else 0


def dashboard_csv(board):
    """The dashboard's figures as CSV text: UTF-8 with a BOM (Excel), headers in the reader's language."""
    out = io.StringIO()
    out.write("\ufeff")
    writer = csv.writer(out, lineterminator="\r\n")
    prev_first, prev_last = board.range.previous
    writer.writerow([_("分组"), _("指标"), f"{board.range.first:%Y-%m-%d}~{board.range.last:%Y-%m-%d}",
                     f"{prev_first:%Y-%m-%d}~{prev_last:%Y-%m-%d}"])

    def value(figure, amount):
        if figure.permille:
            return f"{amount / 10:.1f}%"
        return f"{amount / 100:.2f}" if figure.money else amount

    for group, rows in ((_("概况"), board.figures), (_("积分来源"), board.issued), (_("积分用途"), board.spent)):
        for figure in rows:
            writer.writerow([group, str(figure.label), value(figure, figure.current), value(figure, figure.previous)])
    for name, units in board.top_products:
        writer.writerow([_("热门商品（件）"), _safe_cell(str(name)), units, ""])
    for label, count in board.levels:
        writer.writerow([_("会员等级分布（当前）"), _safe_cell(str(label)), count, ""])
    return out.getvalue()

