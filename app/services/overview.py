"""The few figures each console's landing page opens with (read-only)."""
from dataclasses import dataclass

from sqlalchemy import func, select

from app.extensions import db
from app.models import Order, User, Voucher
from app.services.clock import day_bounds_utc, shanghai_today


@dataclass(frozen=True)
class OperatorOverview:
    members: int
    new_members_today: int
    to_ship: int


@dataclass(frozen=True)
class MerchantOverview:
    redeemed_today: int
    value_today_fen: int


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


def merchant_overview(merchant_id, now=None):
    """Vouchers this merchant redeemed today (Shanghai day) and their face value."""
    start, end = day_bounds_utc(shanghai_today(now))
    count, value = db.session.execute(
        select(func.count(Voucher.id), func.coalesce(func.sum(Voucher.value_fen), 0))
        .where(Voucher.merchant_id == merchant_id, Voucher.redeemed_at >= start, Voucher.redeemed_at < end)
    ).one()
    return MerchantOverview(redeemed_today=count, value_today_fen=value)
