"""The few figures each console's landing page opens with (read-only)."""
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import aliased

from app.extensions import db
from app.models import ConsumptionAward, Order, User, Voucher
from app.services.clock import day_bounds_utc, shanghai_today
from app.services.consumption import mask_phone


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
