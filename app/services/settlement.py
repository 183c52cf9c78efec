"""A merchant's settlement (结算): per day, week or month of a chosen range of Shanghai days,
the vouchers it redeemed with their face value and the consumption points it awarded with
the amounts behind them; totals; the same as CSV for Excel."""
import csv
import io
from dataclasses import dataclass, replace
from datetime import date, timedelta

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select

from app.extensions import db
from app.models import ConsumptionAward, Voucher
from app.services.clock import day_bounds_utc, shanghai_today, to_shanghai
from app.services.errors import DomainError
from app.services.money import yuan

PERIODS = {"day": _l("按日"), "week": _l("按周"), "month": _l("按月")}
MAX_DAYS = 366


@dataclass(frozen=True)
class SettlementRow:
    start: date
    end: date  # inclusive
    label: str
    vouchers: int = 0
    voucher_value_fen: int = 0
    awards: int = 0
    points: int = 0
    amount_fen: int = 0

    def add(self, other):
        return replace(self, vouchers=self.vouchers + other.vouchers,
                       voucher_value_fen=self.voucher_value_fen + other.voucher_value_fen,
                       awards=self.awards + other.awards, points=self.points + other.points,
                       amount_fen=self.amount_fen + other.amount_fen)


@dataclass(frozen=True)
class Settlement:
    period: str
    start: date
    end: date
    rows: list
    total: SettlementRow


def default_range(now=None):
    """The last seven Shanghai days, today included."""
    today = shanghai_today(now)
    return today - timedelta(days=6), today


def parse_day(text, field):
    """A YYYY-MM-DD date (ASCII digits), or DomainError on `field`."""
    text = (text or "").strip()
    try:
        if len(text) != 10 or not text.isascii():
            raise ValueError
        return date.fromisoformat(text)
    except ValueError:
        raise DomainError(_("请输入正确的日期，例如 2026-01-31"), field=field) from None


def check_range(start, end):
    """Refuse an inverted or over-long range (DomainError on the end field)."""
    if end < start:
        raise DomainError(_("结束日期不能早于开始日期"), field="end")
    if (end - start).days >= MAX_DAYS:
        raise DomainError(_("最多查询 %(n)s 天", n=MAX_DAYS), field="end")


def requested(args):
    """(period, start, end, errors by field) a page's query string asks for (?period=, ?start=, ?end=);
    a bad value gets its message and the default stands in for it."""
    period = args.get("period", "day")
    if period not in PERIODS:
        period = "day"
    start, end = default_range()
    errors = {}
    for name in ("start", "end"):
        if args.get(name):
            try:
                value = parse_day(args[name], name)
            except DomainError as refusal:
                errors[name] = refusal.message
                continue
            start, end = (value, end) if name == "start" else (start, value)
    try:
        check_range(start, end)
    except DomainError as refusal:
        errors[refusal.field] = refusal.message
        start, end = default_range()
    return period, start, end, errors


def csv_filename(settlement):
    return f"settlement-{settlement.start:%Y%m%d}-{settlement.end:%Y%m%d}.csv"


def _period_start(day, period):
    if period == "week":
        return day - timedelta(days=day.weekday())
    if period == "month":
        return day.replace(day=1)
    return day


def _period_end(start, period):
    if period == "week":
        return start + timedelta(days=6)
    if period == "month":
        return (start.replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)
    return start


def _label(start, end, period):
    if period == "day":
        return start.isoformat()
    if period == "month":
        return start.strftime("%Y-%m")
    return f"{start.isoformat()} ~ {end.isoformat()}"


def merchant_settlement(merchant_id, period, start, end):
    """Settlement of one merchant for Shanghai days start..end (inclusive), one row per period."""
    if period not in PERIODS:
        period = "day"
    check_range(start, end)
    rows = {}
    key = _period_start(start, period)
    while key <= end:
        first, last = max(key, start), min(_period_end(key, period), end)
        rows[key] = SettlementRow(first, last, _label(first, last, period))
        key = _period_end(key, period) + timedelta(days=1)
    since, until = day_bounds_utc(start)[0], day_bounds_utc(end)[1]
    vouchers = db.session.execute(
        select(Voucher.redeemed_at, Voucher.value_fen)
        .where(Voucher.merchant_id == merchant_id, Voucher.redeemed_at >= since, Voucher.redeemed_at < until)
    ).all()
    for redeemed_at, value_fen in vouchers:
        slot = _period_start(to_shanghai(redeemed_at).date(), period)
        rows[slot] = rows[slot].add(SettlementRow(slot, slot, "", vouchers=1, voucher_value_fen=value_fen or 0))
    awards = db.session.execute(
        select(ConsumptionAward.day, ConsumptionAward.points, ConsumptionAward.amount_fen)
        .where(ConsumptionAward.merchant_id == merchant_id, ConsumptionAward.day >= start,
               ConsumptionAward.day <= end)
    ).all()
    for day, points, amount_fen in awards:
        slot = _period_start(day, period)
        rows[slot] = rows[slot].add(SettlementRow(slot, slot, "", awards=1, points=points, amount_fen=amount_fen))
    ordered = [rows[k] for k in sorted(rows)]
    total = SettlementRow(start, end, _("合计"))
    for row in ordered:
        total = total.add(row)
    return Settlement(period, start, end, ordered, total)


def totals_by_merchant(merchant_ids, start, end):
    """{merchant id: its totals for Shanghai days start..end} for a list of merchants, in two
    grouped queries whatever their number."""
    totals = {merchant_id: SettlementRow(start, end, "") for merchant_id in merchant_ids}
    if not totals:
        return totals
    since, until = day_bounds_utc(start)[0], day_bounds_utc(end)[1]
    vouchers = db.session.execute(
        select(Voucher.merchant_id, func.count(Voucher.id), func.coalesce(func.sum(Voucher.value_fen), 0))
        .where(Voucher.merchant_id.in_(totals), Voucher.redeemed_at >= since, Voucher.redeemed_at < until)
        .group_by(Voucher.merchant_id))
    for merchant_id, count, value_fen in vouchers:
        totals[merchant_id] = totals[merchant_id].add(
            SettlementRow(start, end, "", vouchers=count, voucher_value_fen=int(value_fen)))
    awards = db.session.execute(
        select(ConsumptionAward.merchant_id, func.count(ConsumptionAward.id), func.sum(ConsumptionAward.points),
               func.sum(ConsumptionAward.amount_fen))
        .where(ConsumptionAward.merchant_id.in_(totals), ConsumptionAward.day >= start, ConsumptionAward.day <= end)
        .group_by(ConsumptionAward.merchant_id))
    for merchant_id, count, points, amount_fen in awards:
        totals[merchant_id] = totals[merchant_id].add(
            SettlementRow(start, end, "", awards=count, points=int(points), amount_fen=int(amount_fen)))
    return totals


def settlement_csv(settlement):
    """The settlement as CSV text for Excel: a UTF-8 BOM, Chinese headers, a total row."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([_("期间"), _("核销张数"), _("券面价值（元）"), _("奖励笔数"), _("奖励积分"), _("消费金额（元）")])
    for row in [*settlement.rows, settlement.total]:
        writer.writerow([row.label, row.vouchers, yuan(row.voucher_value_fen), row.awards, row.points,
                         yuan(row.amount_fen)])
    return "\ufeff" + out.getvalue()


__all__ = ["MAX_DAYS", "PERIODS", "Settlement", "SettlementRow", "check_range", "default_range",
           "csv_filename", "merchant_settlement", "parse_day", "requested", "settlement_csv",
           "totals_by_merchant"]
