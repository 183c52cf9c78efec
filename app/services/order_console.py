"""Reading orders for the operator console: the filtered list, its CSV export, the order page.

Filters come from the query string (bookmarkable) through OrderFilter; dates are Shanghai
calendar days. Changing orders is app.services.order_admin.
"""
import csv
import io
from dataclasses import dataclass
from datetime import date

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import or_, select
from sqlalchemy.orm import selectinload

from app.extensions import db
from app.models import AuditLog, Order, PointAllocation, PointEntry, PointLot, User
from app.models.orders import ORDER_STATUSES
from app.services.accounts import normalize_phone
from app.services.clock import day_bounds_utc, to_shanghai
from app.services.csv_export import safe_cell as _safe_cell
from app.services.errors import NotFound
from app.services.ids import is_db_id, parse_db_id
from app.services.listing import paginate
from app.services import voucher_states
from app.services.shop import STATUS_LABELS, status_label

KIND_LABELS = {"physical": _l("实物"), "virtual": _l("虚拟"), "coupon": _l("优惠券"), "voucher": _l("商户券")}
SOURCE_LABELS = {"redeem": _l("兑换"), "draw": _l("抽奖奖品"), "treasure": _l("夺宝奖品")}
PAYMENT_LABELS = {"pending": _l("待支付"), "succeeded": _l("已支付"), "failed": _l("未支付"),
                  "refund_due": _l("待退款"), "refunded": _l("已退款")}
MAX_EXPORT_ROWS = 50000


# The filter's states: the stored statuses, with delivered voucher orders split as members
# see them: 待使用 while a code is left to use, 已完成 once nothing is (voucher_states.awaiting_use).
FILTER_STATES = ("pending_payment", "review", "paid", "shipped", "to_use", "completed", "cancelled", "refunded")


def status_choices():
    return [(status, STATUS_LABELS[status]) for status in FILTER_STATES]


def kind_choices():
    return list(KIND_LABELS.items())


@dataclass
class OrderFilter:
    """What the console's order list is narrowed to; every field optional."""

    status: str | None = None
    kind: str | None = None
    member: str | None = None       # a member id or an 11-digit phone number
    product: str | None = None      # a product id or part of its name
    number: str | None = None       # an order number, or its beginning (e.g. a date 20261123)
    date_from: date | None = None   # Shanghai days, inclusive
    date_to: date | None = None

    def statement(self):
        """The SELECT of matching orders, newest first."""
        stmt = select(Order)
        if self.status == "to_use":
            stmt = stmt.where(Order.status == "completed", voucher_states.awaiting_use())
        elif self.status == "completed":
            stmt = stmt.where(Order.status == "completed", ~voucher_states.awaiting_use())
        elif self.status in ORDER_STATUSES:
            stmt = stmt.where(Order.status == self.status)
        if self.kind in KIND_LABELS:
            stmt = stmt.where(Order.kind == self.kind)
        if self.member:
            phone = normalize_phone(self.member)
            member_id = parse_db_id(self.member)
            conditions = []
            if phone is not None:
                conditions.append(Order.user_id.in_(select(User.id).where(User.phone == phone)))
            if member_id is not None:
                conditions.append(Order.user_id == member_id)
            stmt = stmt.where(or_(*conditions)) if conditions else stmt.where(False)
        if self.product:
            product_id = parse_db_id(self.product)
            escaped = self.product.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            name_match = Order.product_name.like(f"%{escaped}%", escape="\\")
            stmt = stmt.where(or_(Order.product_id == product_id, name_match) if product_id else name_match)
        if self.number:
            stmt = stmt.where(Order.order_no.startswith(self.number, autoescape=True))
        if self.date_from:
            stmt = stmt.where(Order.created_at >= day_bounds_utc(self.date_from)[0])
        if self.date_to:
            stmt = stmt.where(Order.created_at < day_bounds_utc(self.date_to)[1])
        return stmt.order_by(Order.id.desc())


def order_page(order_filter, page_number=1):
    """One page of the filtered orders, with their members (id -> User) for the table."""
    page = paginate(order_filter.statement(), page_number)
    return page, _members(order.user_id for order in page.items)


def _members(user_ids):
    ids = set(user_ids)
    if not ids:
        return {}
    return {user.id: user for user in db.session.execute(select(User).where(User.id.in_(ids))).scalars()}



def _when(value):
    return to_shanghai(value).strftime("%Y-%m-%d %H:%M:%S") if value else ""


def export_csv(order_filter):
    """The filtered orders as CSV text: UTF-8 with a BOM (Excel), headers in the reader's language."""
    out = io.StringIO()
    out.write("\ufeff")
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([_("订单号"), _("下单时间"), _("状态"), _("类型"), _("来源"), _("会员ID"), _("会员手机号"),
                     _("商品ID"), _("商品"), _("数量"), _("积分"), _("现金（元）"), _("支付状态"),
                     _("收货人"), _("收货电话"), _("收货地址"), _("快递公司"), _("快递单号"), _("发货时间"),
                     _("取消/退款原因")])
    # The 状态 column is the member-facing state, read off each voucher order's vouchers: load them in one go.
    stmt = order_filter.statement().options(selectinload(Order.vouchers)).limit(MAX_EXPORT_ROWS)
    rows = db.session.execute(stmt).scalars().all()
    members = _members(order.user_id for order in rows)
    for order in rows:
        member = members.get(order.user_id)
        payment = order.payment
        writer.writerow([
            order.number, _when(order.created_at), status_label(order), str(KIND_LABELS[order.kind]),
            str(SOURCE_LABELS.get(order.source, order.source)), order.user_id, member.phone if member else "",
            order.product_id, _safe_cell(order.product_name), order.quantity, order.points_total,
            f"{order.cash_total_fen / 100:.2f}" if order.cash_total_fen else "",
            str(PAYMENT_LABELS[payment.status]) if payment else "",
            _safe_cell(order.ship_name), _safe_cell(order.ship_phone), _safe_cell(order.ship_address),
            _safe_cell(order.carrier), _safe_cell(order.tracking_no), _when(order.shipped_at),
            _safe_cell(order.cancel_reason),
        ])
    return out.getvalue()


@dataclass
class LedgerLine:
    """A ledger entry of the order, and for a spend the lots it drew from (lot, points, expiry)."""

    entry: PointEntry
    lots: list


def order_detail(order_id):
    """Everything the order page shows: the order, its member, ledger entries, audit history."""
    order = db.session.get(Order, order_id) if is_db_id(order_id) else None
    if order is None:
        raise NotFound(_("订单不存在"))
    member = db.session.get(User, order.user_id)
    lines = []
    for entry_id in (order.spend_entry_id, order.refund_entry_id):
        if entry_id is None:
            continue
        entry = db.session.get(PointEntry, entry_id)
        lots = db.session.execute(
            select(PointLot.id, PointAllocation.amount, PointLot.expires_at).select_from(PointAllocation)
            .join(PointLot, PointLot.id == PointAllocation.lot_id)
            .where(PointAllocation.entry_id == entry_id).order_by(PointLot.expires_at, PointLot.id)
        ).all() if entry.amount < 0 else db.session.execute(
            select(PointLot.id, PointLot.amount, PointLot.expires_at).where(PointLot.entry_id == entry_id)
        ).all()
        lines.append(LedgerLine(entry, lots))
    history = db.session.execute(
        select(AuditLog).where(AuditLog.target == f"order:{order.id}").order_by(AuditLog.id)
    ).scalars().all()
    actors = {user.id: user for user in db.session.execute(
        select(User).where(User.id.in_({row.actor_id for row in history if row.actor_id}))).scalars()}
    return {"order": order, "member": member, "ledger": lines, "history": history, "actors": actors}


__all__ = ["KIND_LABELS", "LedgerLine", "MAX_EXPORT_ROWS", "OrderFilter", "PAYMENT_LABELS", "SOURCE_LABELS",
           "export_csv", "kind_choices", "order_detail", "order_page", "status_choices"]
