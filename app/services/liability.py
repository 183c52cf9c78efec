"""Points liability and breakage: what the points members still hold are worth, when they expire,
and how much of what was issued ran out unspent (read-only)."""
import csv
import io
from dataclasses import dataclass
from datetime import date

from flask_babel import gettext as _
from sqlalchemy import func, select

from app.extensions import db
from app.models import PointAllocation, PointEntry, PointLot
from app.services import stats
from app.services.clock import add_months, month_bounds_utc, shanghai_today, to_shanghai, utcnow
from app.services.settings import get_setting

MONTHS_SHOWN = 12


@dataclass(frozen=True)
class MonthFlow:
    month: date  # the first day of a Shanghai calendar month
    issued: int
    redeemed: int  # spent on anything (redemptions, draws, treasure, make-up), refunds deducted
    expired: int


@dataclass(frozen=True)
class Liability:
    fen_per_point: int
    # (month, points) by the Shanghai month the points expire in: lots not yet expired. Points in lots
    # past their expiry that the expiry job has not swept yet are counted as breakage, not liability.
    outstanding: tuple
    outstanding_total: int
    flows: tuple  # MonthFlow, oldest first
    lots_run_out_points: int  # points of lots whose expiry has passed
    lots_run_out_expired: int  # ... of which expired unspent
    now: object

    @property
    def outstanding_value_fen(self):
        return self.outstanding_total * self.fen_per_point

    @property
    def breakage_permille(self):
        """Expired / issued for lots that have run out, in tenths of a percent; None without such lots."""
        if not self.lots_run_out_points:
            return None
        return self.lots_run_out_expired * 1000 // self.lots_run_out_points


def _outstanding_by_month(now):
    first, last = db.session.execute(
        select(func.min(PointLot.expires_at), func.max(PointLot.expires_at))
        .where(PointLot.remaining > 0, PointLot.expires_at > now)
    ).one()
    if first is None:
        return ()
    month = to_shanghai(first).date().replace(day=1)
    end = to_shanghai(last).date().replace(day=1)
    rows = []
    while month <= end:
        start, stop = month_bounds_utc(month)
        points = db.session.execute(
            select(func.coalesce(func.sum(PointLot.remaining), 0))
            .where(PointLot.remaining > 0, PointLot.expires_at > now,
                   PointLot.expires_at >= start, PointLot.expires_at < stop)
        ).scalar_one()
        if points:
            rows.append((month, int(points)))
        month = add_months(month, 1)
    return tuple(rows)


def _flows(today):
    first_month = add_months(today.replace(day=1), -(MONTHS_SHOWN - 1))
    by_day = stats.figures_by_day(first_month, today, metrics=(stats.ISSUED, stats.SPENT, stats.REFUNDED,
                                                               stats.EXPIRED))
    months = [add_months(first_month, i) for i in range(MONTHS_SHOWN)]
    sums = {m: {"issued": 0, "spent": 0, "refunded": 0, "expired": 0} for m in months}
    names = {stats.ISSUED: "issued", stats.SPENT: "spent", stats.REFUNDED: "refunded", stats.EXPIRED: "expired"}
    for day, figures in by_day.items():
        bucket = sums[day.replace(day=1)]
        for (metric, _dimension), value in figures.items():
            bucket[names[metric]] += value
    return tuple(MonthFlow(m, s["issued"], s["spent"] - s["refunded"], s["expired"]) for m, s in sums.items())


def liability(now=None):
    """Outstanding points by expiry month and their value at the operator's rate, issued vs redeemed vs
    expired per month (from the daily rollups), and the breakage of lots whose expiry has passed."""
    now = now or utcnow()
    outstanding = _outstanding_by_month(now)
    run_out = PointLot.expires_at <= now
    lots_points, unswept = db.session.execute(
        select(func.coalesce(func.sum(PointLot.amount), 0), func.coalesce(func.sum(PointLot.remaining), 0))
        .where(run_out)
    ).one()
    swept = db.session.execute(
        select(func.coalesce(func.sum(PointAllocation.amount), 0))
        .join(PointEntry, PointEntry.id == PointAllocation.entry_id)
        .join(PointLot, PointLot.id == PointAllocation.lot_id)
        .where(PointEntry.kind == "expire", run_out)
    ).scalar_one()
    return Liability(
        fen_per_point=int(get_setting("points.fen_per_point")), outstanding=outstanding,
        outstanding_total=sum(points for _m, points in outstanding), flows=_flows(shanghai_today(now)),
        lots_run_out_points=int(lots_points), lots_run_out_expired=int(swept) + int(unswept), now=now,
    )


def liability_csv(report):
    """The liability page's two tables as CSV text: UTF-8 with a BOM, headers in the reader's language."""
    out = io.StringIO()
    out.write("\ufeff")
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([_("到期月份"), _("未使用积分"), _("折合金额（元）")])
    for month, points in report.outstanding:
        writer.writerow([f"{month:%Y-%m}", points, f"{points * report.fen_per_point / 100:.2f}"])
    writer.writerow([_("合计"), report.outstanding_total, f"{report.outstanding_value_fen / 100:.2f}"])
    writer.writerow([])
    writer.writerow([_("月份"), _("发放积分"), _("使用积分"), _("过期积分")])
    for flow in report.flows:
        writer.writerow([f"{flow.month:%Y-%m}", flow.issued, flow.redeemed, flow.expired])
    writer.writerow([])
    writer.writerow([_("已到期批次积分"), _("其中过期未用"), _("沉淀率")])
    rate = report.breakage_permille
    writer.writerow([report.lots_run_out_points, report.lots_run_out_expired,
                     "" if rate is None else f"{rate / 10:.1f}%"])
    return out.getvalue()
