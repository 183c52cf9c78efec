"""What a member sees of their merchant vouchers: a voucher order's state derived from its
vouchers (待使用 / 已使用 / 已过期), and /me/vouchers grouped by state.

The state is derived, not stored: redeeming (vouchers.redeem_voucher) writes only the voucher,
so an order turns from 待使用 to 已使用 without a second write, and can never disagree with its
vouchers. An order list loads its orders' vouchers in one selectin query (Order.vouchers), and
the 待使用 tab is one EXISTS clause, so neither costs a query per order.
"""
from sqlalchemy import and_, exists, select

from app.extensions import db
from app.models import Order, Voucher
from app.services.clock import utcnow
from app.services.vouchers import voucher_state

# /me/vouchers tabs, in order; void vouchers (of a cancelled or refunded order) are listed
# under a 已失效 note in the expired tab, where a member looking for a voucher that can no
# longer be used would look.
VOUCHER_TABS = ("usable", "used", "expired")
_GROUP_OF = {"usable": "usable", "pending": "usable", "redeemed": "used", "expired": "expired", "void": "void"}


def voucher_order_state(order, now=None):
    """to_use | used | expired for a delivered voucher order, else None (its status says it all).

    to_use while any voucher can still be used (or is not valid yet), else expired when an
    unused one ran out, else used.
    """
    if order.kind != "voucher" or order.status != "completed" or not order.vouchers:
        return None
    now = now or utcnow()
    states = {voucher_state(v, now) for v in order.vouchers}
    if states & {"usable", "pending"}:
        return "to_use"
    if "expired" in states:
        return "expired"
    return "used" if "redeemed" in states else None


def last_redemption(order):
    """The order's most recently redeemed voucher (its merchant and redeemed_at), or None."""
    used = [v for v in order.vouchers if v.status == "redeemed"]
    return max(used, key=lambda v: v.redeemed_at) if used else None


def awaiting_use(now=None):
    """SQL condition on Order: a delivered voucher order with a voucher still to use (the 待使用 tab)."""
    now = now or utcnow()
    return and_(Order.kind == "voucher", Order.status == "completed",
                exists().where(Voucher.order_id == Order.id, Voucher.status == "active", Voucher.valid_until > now))


def member_voucher_groups(user_id, now=None):
    """The member's vouchers by group: usable (soonest to expire first), used (latest first),
    expired (latest first) and void."""
    now = now or utcnow()
    rows = db.session.execute(
        select(Voucher).where(Voucher.user_id == user_id).order_by(Voucher.id.desc())
    ).scalars().all()
    groups = {"usable": [], "used": [], "expired": [], "void": []}
    for voucher in rows:
        groups[_GROUP_OF[voucher_state(voucher, now)]].append(voucher)
    groups["usable"].sort(key=lambda v: (v.valid_from > now, v.valid_until, v.id))
    groups["used"].sort(key=lambda v: v.redeemed_at, reverse=True)
    groups["expired"].sort(key=lambda v: v.valid_until, reverse=True)
    return groups


__all__ = ["VOUCHER_TABS", "awaiting_use", "last_redemption", "member_voucher_groups", "voucher_order_state"]
