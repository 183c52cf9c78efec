"""Operators' work on orders: ship (one or from a CSV file), cancel, refund, return the cash.

Every function here acts for an operator (checked by app.access) in one transaction and
writes an audit entry with the changed fields before and after. Each is safe to submit
twice: a second ship, cancel or refund of the same order raises AlreadyDone and changes
nothing. Reading orders for the console (filters, export, the order page) is in
app.services.order_console.
"""
import csv
import io
import re
from dataclasses import dataclass, field

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import select, update

from app.access import require_operator
from app.models import Order, Voucher
from app.services import audit, fulfilment, messages, payments
from app.services.clock import utcnow
from app.services.errors import AlreadyDone, DomainError, NotFound
from app.services.ids import is_db_id
from app.services.shop import status_label
from app.services.tx import write_transaction


def _any_order(session, order_id):
    """Any member's order, for an operator (members get only their own: shop.get_order)."""
    order = session.get(Order, order_id) if is_db_id(order_id) else None
    if order is None:
        raise NotFound(_("订单不存在"))
    return order


_TRACKING_RE = re.compile(r"^[A-Za-z0-9\-]{4,40}$")


def _clean_shipping(carrier, tracking_no):
    """(carrier, tracking number) stripped and checked; DomainError naming the field."""
    carrier, tracking_no = (carrier or "").strip(), (tracking_no or "").strip().upper()
    if not carrier or len(carrier) > 40:
        raise DomainError(_("请填写快递公司"), field="carrier")
    if not tracking_no:
        raise DomainError(_("请填写快递单号"), field="tracking_no")
    if not _TRACKING_RE.match(tracking_no):
        raise DomainError(_("请填写正确的快递单号（4到40位字母、数字或短横线）"), field="tracking_no")
    return carrier, tracking_no


def _ship_refusal(order):
    """Why this order cannot be shipped now, or None."""
    if order.kind != "physical":
        return _("只有实物订单需要发货")
    if order.status != "paid":
        return _("订单%(status)s，不能发货", status=status_label(order))
    if not order.ship_address:
        return _("会员尚未填写收货地址，暂不能发货")
    return None


def _ship(session, order, carrier, tracking_no, actor_id, now, **audit_detail):
    """Ship one order inside the caller's transaction with a guarded update (paid -> shipped).
    Returns True, or False when another request changed the order first."""
    done = session.execute(
        update(Order).where(Order.id == order.id, Order.user_id == order.user_id,  # names the member: cache.watch_rows
                            Order.status == "paid", Order.kind == "physical")
        .values(status="shipped", carrier=carrier, tracking_no=tracking_no, shipped_at=now)
        .returning(Order.id).execution_options(synchronize_session=False)
    ).scalar_one_or_none()
    session.refresh(order)
    if done is None:
        return False
    audit.record(actor_id, "order.ship", target=f"order:{order.id}",
                 before={"status": "paid", "carrier": None, "tracking_no": None},
                 after={"status": "shipped", "carrier": carrier, "tracking_no": tracking_no},
                 order_no=order.order_no, **audit_detail)
    messages.notify(order.user_id, "order.shipped",
                    {"order_id": order.id, "order_no": order.number, "name": order.product_name,
                     "carrier": carrier, "no": tracking_no},
                    key=f"shipped:{order.id}")
    return True


def ship_order(order_id, carrier, tracking_no, actor_id, now=None):
    """An operator ships a goods order with the carrier and tracking number; the member is told
    (a message, and both on their order page). A second submit raises AlreadyDone."""
    now = now or utcnow()
    carrier, tracking_no = _clean_shipping(carrier, tracking_no)
    with write_transaction() as session:
        require_operator(actor_id)
        order = _any_order(session, order_id)
        if order.status == "shipped" and order.kind == "physical":
            raise AlreadyDone(_("订单已发货"))
        refusal = _ship_refusal(order)
        if refusal is not None:
            raise DomainError(refusal)
        if not _ship(session, order, carrier, tracking_no, actor_id, now):
            if order.status == "shipped":
                raise AlreadyDone(_("订单已发货"))
            raise DomainError(_("订单%(status)s，不能发货", status=status_label(order)))
    return order


def _reason(reason, missing):
    reason = (reason or "").strip()
    if not reason:
        raise DomainError(missing, field="reason")
    if len(reason) > 100:
        raise DomainError(_("原因最多100个字"), field="reason")
    return reason


def _return_cash(order, reason, now):
    """Inside the caller's transaction: refund the cash part if the reversal left it refund_due."""
    payment = order.payment  # the same row revert_order locked and updated
    if payment is None or payment.status != "refund_due":
        return None
    return payments.refund_payment(order.id, reason, now)


def _revert(order_id, actor_id, reason, *, from_statuses, new_status, action, msgid, done_message, now):
    with write_transaction() as session:
        require_operator(actor_id)
        order = _any_order(session, order_id)
        if new_status == "refunded":
            used = session.execute(
                select(Voucher.id).where(Voucher.order_id == order.id, Voucher.status == "redeemed").limit(1)
            ).first()
            if used is not None:
                raise DomainError(_("该订单的券已被核销，不能退款"))
        was = order.status
        reverted = fulfilment.revert_order(order.id, from_statuses, new_status, reason, now)
        if reverted is None:
            session.refresh(order)
            if order.status == new_status:
                raise AlreadyDone(done_message)
            if new_status == "refunded":
                raise DomainError(_("订单%(status)s，不能退款", status=status_label(order)))
            raise DomainError(_("订单%(status)s，不能取消", status=status_label(order)))
        cash = _return_cash(order, reason, now)
        audit.record(actor_id, action, target=f"order:{order.id}", order_no=order.order_no, reason=reason,
                     before={"status": was}, after={"status": new_status},
                     points=order.points_total, cash_fen=order.cash_total_fen,
                     refund_id=cash.refund_id if cash is not None else None)
        messages.notify(order.user_id, msgid,
                        {"order_id": order.id, "order_no": order.number, "name": order.product_name,
                         "reason": reason, "n": order.points_total},
                        key=f"{action}:{order.id}")
    return order


def cancel_order(order_id, actor_id, reason, now=None):
    """An operator cancels an unpaid or a not yet shipped order, with a reason the member reads:
    points back to their lots, stock back, a paid cash part returned through the provider."""
    now = now or utcnow()
    return _revert(order_id, actor_id, _reason(reason, _("请填写取消原因")), from_statuses=("pending_payment", "paid"),
                   new_status="cancelled", action="order.cancel", msgid="order.cancelled",
                   done_message=_("订单已取消"), now=now)


def refund_order(order_id, actor_id, reason, now=None):
    """An operator refunds an order with a reason: points back through the ledger to their lots,
    stock back unless the goods left, unused coupons/vouchers void, the cash part back through
    the payment provider; all in one transaction (a provider refusal changes nothing)."""
    now = now or utcnow()
    return _revert(order_id, actor_id, _reason(reason, _("请填写退款原因")), from_statuses=("paid", "shipped", "completed"),
                   new_status="refunded", action="order.refund", msgid="order.refunded",
                   done_message=_("订单已退款"), now=now)


def refund_cash(order_id, actor_id, reason, now=None):
    """Return the cash of a payment left refund_due (e.g. it arrived after the order timed out)."""
    now = now or utcnow()
    reason = _reason(reason, _("请填写退款原因"))
    with write_transaction() as session:
        require_operator(actor_id)
        order = _any_order(session, order_id)
        if order.payment is None:
            raise DomainError(_("该订单没有现金支付"))
        before = order.payment.status
        if before == "refunded":
            raise AlreadyDone(_("现金已退还"))
        payment = payments.refund_payment(order.id, reason, now)
        audit.record(actor_id, "payment.refund", target=f"order:{order.id}", order_no=order.order_no,
                     reason=reason, before={"status": before}, after={"status": payment.status},
                     amount_fen=payment.amount_fen, refund_id=payment.refund_id)
    return payment


# ---- bulk shipping from a CSV file ---------------------------------------------------------

MAX_SHIP_ROWS = 2000
_COLUMNS = {
    "order_no": ("订单号", "order_no", "order number"),
    "carrier": ("快递公司", "carrier"),
    "tracking_no": ("快递单号", "运单号", "tracking_no", "tracking number"),
}


def decode_csv(data):
    """Text of an uploaded CSV: UTF-8 (with or without BOM) or GB18030 (Excel in China)."""
    if isinstance(data, str):
        return data.lstrip("\ufeff")
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise DomainError(_("无法识别文件编码，请另存为 UTF-8 或 GB18030 编码的 CSV"), field="file")


@dataclass
class ShipRow:
    line: int
    order_no: str
    carrier: str
    tracking_no: str
    state: str = "ok"          # ok (to ship / shipped), skipped (already shipped with this number), error
    message: str = ""
    order_id: int | None = None


@dataclass
class ShipReport:
    rows: list = field(default_factory=list)
    shipped: int = 0
    applied: bool = False      # False: the file had errors and nothing was shipped
    text: str = ""             # the decoded file, to resubmit with "ship the valid rows"

    @property
    def errors(self):
        return [row for row in self.rows if row.state == "error"]

    @property
    def valid(self):
        return [row for row in self.rows if row.state == "ok"]

    @property
    def skipped(self):
        return [row for row in self.rows if row.state == "skipped"]


def _read_ship_rows(text):
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader)
    except (StopIteration, csv.Error):
        raise DomainError(_("文件是空的"), field="file") from None
    names = [cell.strip().lower() for cell in header]
    where = {}
    for key, aliases in _COLUMNS.items():
        for index, name in enumerate(names):
            if name in aliases:
                where[key] = index
                break
    missing = [aliases[0] for key, aliases in _COLUMNS.items() if key not in where]
    if missing:
        raise DomainError(_("文件缺少列：%(cols)s（需要：订单号、快递公司、快递单号）", cols="、".join(missing)),
                          field="file")
    rows = []
    try:
        for cells in reader:
            if not any(cell.strip() for cell in cells):
                continue
            if len(rows) >= MAX_SHIP_ROWS:
                raise DomainError(_("一次最多导入 %(n)s 行", n=MAX_SHIP_ROWS), field="file")
            cell = lambda key: cells[where[key]].strip() if where[key] < len(cells) else ""  # noqa: E731
            rows.append(ShipRow(reader.line_num, cell("order_no"), cell("carrier"), cell("tracking_no")))
    except csv.Error:
        raise DomainError(_("CSV 格式有误（第 %(n)s 行）", n=reader.line_num), field="file") from None
    if not rows:
        raise DomainError(_("文件中没有要发货的订单"), field="file")
    return rows


def _check_row(session, row, seen):
    if not row.order_no:
        return _("缺少订单号")
    if row.order_no in seen:
        return _("订单号在文件中重复（第 %(n)s 行）", n=seen[row.order_no])
    seen[row.order_no] = row.line
    order = session.execute(select(Order).where(Order.order_no == row.order_no)).scalar_one_or_none()
    if order is None:
        return _("订单不存在")
    row.order_id = order.id
    try:
        row.carrier, row.tracking_no = _clean_shipping(row.carrier, row.tracking_no)
    except DomainError as refusal:
        return refusal.message
    if order.kind == "physical" and order.status == "shipped" and order.tracking_no == row.tracking_no:
        row.state = "skipped"
        row.message = _("已按此单号发货，跳过")
        return None
    return _ship_refusal(order)


def bulk_ship(data, actor_id, *, ship_valid=False, now=None):
    """Ship the orders of a CSV file (订单号, 快递公司, 快递单号), in one transaction.

    Returns a ShipReport with a verdict per row. When any row has an error nothing is shipped,
    unless `ship_valid`: then the valid rows are. Rows already shipped with the same number
    are skipped, so submitting a file twice ships once. Raises DomainError (field "file")
    for a file that cannot be read at all.
    """
    now = now or utcnow()
    text = decode_csv(data)
    rows = _read_ship_rows(text)
    report = ShipReport(rows=rows, text=text)
    with write_transaction() as session:
        require_operator(actor_id)
        seen = {}
        for row in rows:
            problem = _check_row(session, row, seen)
            if problem is not None:
                row.state, row.message = "error", str(problem)
        if report.errors and not ship_valid:
            return report
        for row in report.valid:
            order = session.get(Order, row.order_id)
            if _ship(session, order, row.carrier, row.tracking_no, actor_id, now, bulk=True):
                report.shipped += 1
                row.message = _("已发货")
            else:
                row.state, row.message = "error", _("订单%(status)s，不能发货", status=status_label(order))
        report.applied = True
    return report


ROW_STATES = {"ok": _l("有效"), "skipped": _l("跳过"), "error": _l("错误")}

__all__ = ["MAX_SHIP_ROWS", "ROW_STATES", "ShipReport", "ShipRow", "bulk_ship", "cancel_order", "decode_csv",
           "refund_cash", "refund_order", "ship_order"]
