"""After-sales (售后): a member asks for a return, an exchange or a refund only on a delivered
goods order; an operator approves (telling the member where to send the goods), marks the
return received, and completes it - or rejects it with a reason.

Completing a return or a refund gives the order back through fulfilment.revert_order, the one
refund path: points return to the lots they came from (fresh lots when those have expired,
ledger.refund), a paid cash part goes back through the payment provider
(payments.refund_payment, in the same transaction); points are never paid out as cash. Completing an exchange records the replacement's shipment.

One open request per order: a partial unique index, behind a locked check, so a double
submit (or two racing ones) gives one request. Every step is one transaction, tells the
member (app.services.messages) and, for an operator, writes an audit entry with before/after.
"""
from datetime import timedelta

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import ngettext
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from app.access import require_operator
from app.extensions import db
from app.models import AfterSale, Order
from app.models.aftersales import AFTERSALE_KINDS, OPEN_STATUSES
from app.services import audit, fulfilment, images, messages, payments
from app.services.clock import utcnow
from app.services.money import yuan
from app.services.errors import AlreadyDone, DomainError, NotFound
from app.services.ids import is_db_id
from app.services.levels import level_for
from app.services.members import lock_member
from app.services.order_admin import _clean_shipping  # one rule for carrier and tracking number
from app.services.phrases import phrase
from app.services.tx import write_transaction

KIND_LABELS = {"return": _l("退货"), "exchange": _l("换货"), "refund": _l("仅退款")}
STATUS_LABELS = {
    "requested": _l("待审核"), "approved": _l("已同意"), "received": _l("已收到退货"),
    "completed": _l("已完成"), "rejected": _l("已拒绝"), "cancelled": _l("已撤销"),
}
MAX_PHOTOS = 3
MAX_PHOTO_BYTES = 5 * 1024 * 1024
REASON_MAX = 200
PHOTO_SIDE = 1080
REFUNDED_AFTER_SALE = phrase("order.refunded.aftersale", _l("售后退款"))


class AfterSaleRefused(DomainError):
    """A rule refused an after-sales step; the message says which, in plain words."""


def kind_label(kind):
    return str(KIND_LABELS.get(kind, kind))


def status_label(status):
    return str(STATUS_LABELS.get(status, status))


# ---- the member's side --------------------------------------------------------------------

def window_days(growth):
    """How many days after delivery the member's level allows an after-sales request."""
    days = level_for(growth).aftersale_days
    return days if isinstance(days, int) and days > 0 else 7


def window_end(order, growth):
    """When the after-sales window of a delivered goods order closes, or None if it has none."""
    if order.kind != "physical" or order.status != "completed" or order.completed_at is None:
        return None
    return order.completed_at + timedelta(days=window_days(growth))


def open_request(order_id):
    """The order's open request, or None."""
    return db.session.execute(
        select(AfterSale).where(AfterSale.order_id == order_id, AfterSale.status.in_(OPEN_STATUSES))
    ).scalar_one_or_none()


def order_requests(order_id):
    """Every request made on the order, oldest first (the order page's timeline)."""
    return db.session.execute(
        select(AfterSale).where(AfterSale.order_id == order_id).order_by(AfterSale.id)
    ).unique().scalars().all()


def can_request(order, member, now=None):
    """(True, None) when the member may ask for after-sales on the order now, else (False, why)."""
    now = now or utcnow()
    end = window_end(order, member.growth)
    if end is None:
        return False, _("只有已完成的实物订单可以申请售后")
    if now > end:
        days = window_days(member.growth)
        return False, ngettext("已超过售后申请期限（收货后 %(num)s 天内）", "已超过售后申请期限（收货后 %(num)s 天内）", days)
    if open_request(order.id) is not None:
        return False, _("该订单已有处理中的售后申请")
    return True, None


def _check_request_input(kind, reason, photos):
    if kind not in AFTERSALE_KINDS:
        raise AfterSaleRefused(_("请选择售后类型"), field="kind")
    reason = (reason or "").strip()
    if not reason:
        raise AfterSaleRefused(_("请填写售后原因"), field="reason")
    if len(reason) > REASON_MAX:
        raise AfterSaleRefused(_("原因最多%(n)s个字", n=REASON_MAX), field="reason")
    if len(photos) > MAX_PHOTOS:
        raise AfterSaleRefused(_("最多上传%(n)s张照片", n=MAX_PHOTOS), field="photos")
    for data in photos:
        if len(data) > MAX_PHOTO_BYTES:
            raise AfterSaleRefused(_("每张照片不能超过5MB"), field="photos")
    return reason


def request_aftersale(user_id, order_id, kind, reason, photos=(), now=None):
    """A member asks for after-sales on a delivered goods order within their level's window.

    `photos`: the uploaded files' bytes (at most 3, each a real image; stored resized).
    Safe to submit twice: while the order has an open request, that request is returned.
    """
    now = now or utcnow()
    photos = [data for data in photos if data]
    reason = _check_request_input(kind, reason, photos)
    saved = []
    try:
        with write_transaction() as session:
            member = lock_member(user_id, acting=True)
            order = session.get(Order, order_id) if is_db_id(order_id) else None
            if order is None or order.user_id != user_id:
                raise NotFound(_("订单不存在"))
            session.execute(select(Order.id).where(Order.id == order.id).with_for_update())
            existing = open_request(order.id)
            if existing is not None:
                return existing
            allowed, why = can_request(order, member, now)
            if not allowed:
                raise AfterSaleRefused(why)
            for data in photos:
                try:
                    saved.append(images.save_upload(data, folder="aftersales", max_side=PHOTO_SIDE))
                except images.ImageRefused as refusal:
                    raise AfterSaleRefused(refusal.message, field="photos") from refusal
            request = AfterSale(order_id=order.id, user_id=user_id, kind=kind, reason=reason, photos=saved,
                                status="requested", created_at=now)
            try:
                with session.begin_nested():
                    session.add(request)
            except IntegrityError:
                # A racing submit committed its request first: this one is that one.
                existing = open_request(order.id)
                if existing is None:
                    raise
                _remove(saved)
                return existing
            _tell(request, "aftersale.requested")
        return request
    except Exception:
        _remove(saved)
        raise


def _remove(paths):
    """Delete photos stored for a request that was not saved."""
    folder = images.upload_dir()
    for path in paths:
        try:
            (folder / path).unlink()
        except OSError:
            pass
    paths.clear()


def cancel_aftersale(user_id, order_id, now=None):
    """The member withdraws their request while it waits for review. Safe to repeat."""
    now = now or utcnow()
    with write_transaction() as session:
        order = session.get(Order, order_id) if is_db_id(order_id) else None
        if order is None or order.user_id != user_id:
            raise NotFound(_("订单不存在"))
        request = session.execute(
            select(AfterSale).where(AfterSale.order_id == order.id).order_by(AfterSale.id.desc()).limit(1)
        ).unique().scalar_one_or_none()
        if request is None:
            raise NotFound(_("没有售后申请"))
        done = _move(session, request, ("requested",), status="cancelled", cancelled_at=now)
        if not done:
            if request.status == "cancelled":
                return request
            raise AfterSaleRefused(_("售后申请%(status)s，不能撤销", status=status_label(request.status)))
    return request


# ---- the operator's side ------------------------------------------------------------------

def get_request(request_id):
    """Any member's request, for the console."""
    request = db.session.get(AfterSale, request_id) if is_db_id(request_id) else None
    if request is None:
        raise NotFound(_("售后申请不存在"))
    return request


def queue(status=None):
    """The console queue's query: requests newest first, optionally of one status."""
    stmt = select(AfterSale)
    if status in STATUS_LABELS:
        stmt = stmt.where(AfterSale.status == status)
    elif status == "open":
        stmt = stmt.where(AfterSale.status.in_(OPEN_STATUSES))
    return stmt.order_by(AfterSale.id.desc())


def _move(session, request, from_statuses, **values):
    """Guarded status change; True when this call made it (then the row is refreshed)."""
    done = session.execute(
        update(AfterSale).where(AfterSale.id == request.id, AfterSale.status.in_(from_statuses))
        .values(**values).returning(AfterSale.id).execution_options(synchronize_session=False)
    ).scalar_one_or_none()
    session.refresh(request)
    return done is not None


def _refuse(request, step):
    if request.status == step:
        raise AlreadyDone(_("售后申请已是「%(status)s」", status=status_label(step)))
    raise AfterSaleRefused(_("售后申请%(status)s，不能执行该操作", status=status_label(request.status)))


def _tell(request, msgid, **params):
    messages.notify(request.user_id, msgid,
                    {"order_id": request.order_id, "name": request.order.product_name, **params},
                    key=f"{msgid}:{request.id}")


def _audit(actor_id, verb, request, before, after, **detail):
    audit.record(actor_id, f"aftersale.{verb}", target=f"aftersale:{request.id}", before=before, after=after,
                 order_id=request.order_id, **detail)


def approve(request_id, actor_id, instructions, now=None):
    """An operator approves a request; a return or exchange names where to send the goods."""
    now = now or utcnow()
    instructions = (instructions or "").strip()
    if len(instructions) > 300:
        raise AfterSaleRefused(_("说明最多300个字"), field="instructions")
    with write_transaction() as session:
        require_operator(actor_id)
        request = get_request(request_id)
        if request.kind != "refund" and not instructions:
            raise AfterSaleRefused(_("请填写退回地址和说明"), field="instructions")
        if not _move(session, request, ("requested",), status="approved", approved_at=now,
                     return_instructions=instructions or None):
            _refuse(request, "approved")
        _audit(actor_id, "approve", request, {"status": "requested"},
               {"status": "approved", "return_instructions": request.return_instructions})
        _tell(request, "aftersale.approved", instructions=instructions or "-")
    return request


def mark_received(request_id, actor_id, now=None):
    """An operator confirms the returned goods arrived."""
    now = now or utcnow()
    with write_transaction() as session:
        require_operator(actor_id)
        request = get_request(request_id)
        if request.kind == "refund":
            raise AfterSaleRefused(_("仅退款无需退回商品"))
        if not _move(session, request, ("approved",), status="received", received_at=now):
            _refuse(request, "received")
        _audit(actor_id, "receive", request, {"status": "approved"}, {"status": "received"})
        _tell(request, "aftersale.received")
    return request


def complete(request_id, actor_id, *, restock=False, carrier=None, tracking_no=None, now=None):
    """An operator completes a request.

    Return / refund only: the order is refunded (points through the ledger, a paid cash part
    back through the payment provider) and, when `restock`, its units go back to stock.
    A refund only may be completed straight from review. Exchange: the replacement was sent
    (carrier and tracking number), nothing is refunded.
    """
    now = now or utcnow()
    with write_transaction() as session:
        require_operator(actor_id)
        request = get_request(request_id)
        was = request.status
        if request.kind == "exchange":
            return _complete_exchange(session, request, actor_id, carrier, tracking_no, now)
        allowed = ("requested", "approved") if request.kind == "refund" else ("received",)
        if was not in allowed:
            if was in OPEN_STATUSES:
                raise AfterSaleRefused(_("请先确认收到退回的商品"))
            _refuse(request, "completed")
        order = fulfilment.revert_order(request.order_id, ("completed",), "refunded", REFUNDED_AFTER_SALE, now)
        if order is None:
            raise AfterSaleRefused(_("订单状态已变化，不能退款"))
        if restock:
            fulfilment.return_stock(order.product_id, order.quantity)
        cash = 0
        payment = order.payment  # the row revert_order locked and left refund_due
        if payment is not None and payment.status == "refund_due":
            # Through the provider, in this transaction: a provider refusal changes nothing.
            payments.refund_payment(order.id, f"{REFUNDED_AFTER_SALE} #{request.id}", now)
            cash = payment.amount_fen
        points = order.points_total if order.refund_entry_id else 0
        if not _move(session, request, allowed, status="completed", completed_at=now,
                     approved_at=request.approved_at or now, refund_points=points, refund_cash_fen=cash,
                     refund_entry_id=order.refund_entry_id, restocked=bool(restock)):
            _refuse(request, "completed")
        _audit(actor_id, "complete", request, {"status": was, "order_status": "completed"},
               {"status": "completed", "order_status": "refunded", "refund_points": points,
                "refund_cash_fen": cash, "restocked": bool(restock)})
        _tell(request, "aftersale.refunded", points=points, cash=yuan(cash))
    return request


def _complete_exchange(session, request, actor_id, carrier, tracking_no, now):
    carrier, tracking_no = _clean_shipping(carrier, tracking_no)
    if not _move(session, request, ("received",), status="completed", completed_at=now,
                 exchange_carrier=carrier, exchange_tracking_no=tracking_no):
        if request.status in OPEN_STATUSES:
            raise AfterSaleRefused(_("请先确认收到退回的商品"))
        _refuse(request, "completed")
    _audit(actor_id, "complete", request, {"status": "received"},
           {"status": "completed", "exchange_carrier": carrier, "exchange_tracking_no": tracking_no})
    _tell(request, "aftersale.exchanged", carrier=carrier, no=tracking_no)
    return request


def reject(request_id, actor_id, reason, now=None):
    """An operator rejects an open request with a reason the member reads."""
    now = now or utcnow()
    reason = (reason or "").strip()
    if not reason:
        raise AfterSaleRefused(_("请填写拒绝原因"), field="reason")
    if len(reason) > REASON_MAX:
        raise AfterSaleRefused(_("原因最多%(n)s个字", n=REASON_MAX), field="reason")
    with write_transaction() as session:
        require_operator(actor_id)
        request = get_request(request_id)
        was = request.status
        if not _move(session, request, OPEN_STATUSES, status="rejected", rejected_at=now, reject_reason=reason):
            _refuse(request, "rejected")
        _audit(actor_id, "reject", request, {"status": was}, {"status": "rejected", "reject_reason": reason})
        _tell(request, "aftersale.rejected", reason=reason)
    return request


def timeline(request):
    """The steps a request went through: [(label, when, note)], oldest first."""
    steps = [(_("提交申请"), request.created_at, None)]
    if request.approved_at:
        steps.append((_("已同意"), request.approved_at, request.return_instructions))
    if request.received_at:
        steps.append((_("已收到退回商品"), request.received_at, None))
    if request.completed_at:
        if request.kind == "exchange":
            note = f"{request.exchange_carrier} {request.exchange_tracking_no}"
            steps.append((_("换货已发出"), request.completed_at, note))
        else:
            steps.append((_("已退款"), request.completed_at, _refund_note(request)))
    if request.rejected_at:
        steps.append((_("已拒绝"), request.rejected_at, request.reject_reason))
    if request.cancelled_at:
        steps.append((_("已撤销"), request.cancelled_at, None))
    return steps


def _refund_note(request):
    parts = []
    if request.refund_points:
        parts.append(ngettext("退回 %(num)s 积分", "退回 %(num)s 积分", request.refund_points))
    if request.refund_cash_fen:
        parts.append(_("现金 ¥%(yuan)s 原路退回", yuan=yuan(request.refund_cash_fen)))
    return "，".join(parts) or None


__all__ = [
    "AfterSaleRefused", "KIND_LABELS", "MAX_PHOTOS", "STATUS_LABELS", "approve", "can_request",
    "cancel_aftersale", "complete", "get_request", "kind_label", "mark_received", "open_request",
    "order_requests", "queue", "reject", "request_aftersale", "status_label", "timeline", "window_days",
    "window_end",
]
