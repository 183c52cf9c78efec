"""Merchant vouchers and coupons: signed codes, issuing them, and redeeming a voucher at
the counter (核销).

A voucher code is 24 base32 characters: 10 random bytes followed by 5 bytes of an HMAC of
them under a key derived from SECRET_KEY. A typo or a forged code fails the signature
before the database is asked; a valid-looking code must still exist, belong to the staff
member's merchant, be inside its window and not be used. Redeeming is one guarded
UPDATE ... WHERE status = 'active', so two phones scanning at once: exactly one wins.
"""
import base64
import binascii
import hashlib
import hmac
import re
import secrets
import unicodedata
from datetime import timedelta
from typing import NamedTuple

import segno
from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import bindparam, select, update

from app.access import require_staff
from app.extensions import db
from app.models import Coupon, Order, User, Voucher
from app.services import audit
from app.services.clock import to_shanghai, utcnow
from app.services.errors import AlreadyDone, DomainError, Forbidden, NotFound
from app.services.idempotency import claim_request, remember_result
from app.services.ids import parse_db_id
from app.services.tx import add_row, execute_rows, in_write_transaction, keep_loaded, write_transaction

CODE_LENGTH = 24
_CODE_RE = re.compile(r"^[A-Z2-7]{24}$")
# Spaces (any kind, after NFKC) and dashes of any kind people put between groups of four.
_SEPARATORS_RE = re.compile(r"[\s\-\u2010-\u2015\u2212\u30fc]+")
# Runs of code characters, possibly grouped by separators, inside longer text (a URL, a sentence).
_RUN_RE = re.compile(r"[A-Z2-7](?:[A-Z2-7]|[\s\-\u2010-\u2015\u2212\u30fc](?=[A-Z2-7]))*")
MAX_INPUT = 512  # longer input is cut: nobody types more, and the windows stay few
CODE_PREFIX_LENGTH = 4  # what the audit log keeps of a refused code
REDEEM_SCOPE = "voucher.redeem"
# A voucher redeemed less than this long ago was "just used" (another phone, a second tap).
JUST_USED = timedelta(minutes=5)
# Reason codes of refused verifications, as the audit log records them.
REFUSAL_REASONS = ("invalid", "not_found", "other_merchant", "used", "just_used", "void", "not_yet_valid",
                   "expired", "not_staff", "key_reused")


class VoucherAtCounter(NamedTuple):
    """A voucher that staff may redeem now, with the member's phone masked (138****1234)."""

    voucher: object
    member_phone: str


class VoucherRefused(DomainError):
    """A voucher cannot be redeemed now; the message says why."""


def _key(purpose):
    secret = current_app.config["SECRET_KEY"]
    secret = secret.encode() if isinstance(secret, str) else secret
    return hashlib.sha256(b"pointsmall-code:" + purpose.encode() + b":" + secret).digest()


def _mac(purpose, body):
    return hmac.new(_key(purpose), body, hashlib.sha256).digest()[:5]


def new_code(purpose="voucher"):
    """A fresh signed, unguessable code (24 characters A-Z and 2-7)."""
    body = secrets.token_bytes(10)
    return base64.b32encode(body + _mac(purpose, body)).decode()


def normalize_code(raw, purpose="voucher"):
    """The code in what staff typed, pasted or scanned.

    Full-width characters become ASCII (NFKC), letters capitals; spaces and dashes between
    groups go. Text around the code (a pasted URL, "券码：…") is dropped: of the groups of code
    characters that together make exactly 24, the one carrying our signature wins, else the
    first. Anything else comes back as typed (without separators) and fails the signature
    check; so does a code with a character too many, even though a valid code hides in it.
    """
    text = unicodedata.normalize("NFKC", (raw or "")[:MAX_INPUT]).upper()
    bare = _SEPARATORS_RE.sub("", text)
    if _CODE_RE.match(bare):
        return bare
    candidates = []
    for run in _RUN_RE.findall(text):
        groups = _SEPARATORS_RE.split(run)
        for first in range(len(groups)):
            joined = ""
            for group in groups[first:]:
                joined += group
                if len(joined) >= CODE_LENGTH:
                    break
            if len(joined) == CODE_LENGTH:
                candidates.append(joined)
    signed = [candidate for candidate in candidates if signature_ok(candidate, purpose)]
    return (signed or candidates or [bare])[0]


def signature_ok(code, purpose="voucher"):
    """True if the code is well formed and carries our signature."""
    if not _CODE_RE.match(code or ""):
        return False
    try:
        raw = base64.b32decode(code)
    except (binascii.Error, ValueError):
        return False
    return hmac.compare_digest(raw[10:], _mac(purpose, raw[:10]))


def grouped(code):
    """A code in groups of four, easier to read out at a counter."""
    return " ".join(code[i:i + 4] for i in range(0, len(code), 4))


def qr_svg(code):
    """The voucher code as an inline SVG QR image that scales to the size CSS gives it (a viewBox, no size)."""
    return segno.make(code, error="m").svg_inline(scale=5, border=2, dark="#1f2329", light="#ffffff",
                                                  omitsize=True)


def voucher_window(product, now):
    """(valid_from, valid_until) of a voucher issued now, or None if the product's window is over."""
    start = max(now, product.valid_from) if product.valid_from else now
    end = product.valid_until or start + timedelta(days=product.valid_days)
    return (start, end) if end > start else None


def issue_vouchers(order, product, now):
    """Issue the order's vouchers inside the caller's transaction (the order is written first); returns them."""
    assert in_write_transaction()
    window = voucher_window(product, now)
    if window is None:
        raise DomainError(_("该券的使用期已结束，暂停兑换"))
    return [add_row(Voucher, user_id=order.user_id, order_id=order.id, product_id=product.id,
                    merchant_id=product.merchant_id, code=new_code("voucher"), title=product.name,
                    value_fen=product.face_value_fen, valid_from=window[0], valid_until=window[1],
                    status="active", created_at=now) for _i in range(order.quantity)]


def issue_coupons(order, product, now):
    """Issue the order's coupons (valid `valid_days` from now) inside the caller's transaction (the order is
    written first); returns them."""
    assert in_write_transaction()
    return [add_row(Coupon, user_id=order.user_id, order_id=order.id, product_id=product.id,
                    code=new_code("coupon"), title=product.name, value_fen=product.face_value_fen,
                    min_spend_fen=product.min_spend_fen, valid_until=now + timedelta(days=product.valid_days),
                    status="active", created_at=now)
            for _i in range(order.quantity)]


def check_voucher(code, staff_user_id, now=None):
    """Look a scanned or typed code up for the counter: the voucher (with the member's masked
    phone) if this staff member may redeem it now; otherwise a refusal saying why, audited."""
    now = now or utcnow()
    code = normalize_code(code)
    try:
        staff = require_staff(staff_user_id)
        voucher = _usable_voucher(code, staff, now)
        member = db.session.get(User, voucher.user_id)
    except DomainError as refusal:
        _record_refusal(staff_user_id, code, refusal, stage="check")
        raise
    return VoucherAtCounter(voucher, mask_phone(member.phone if member else None))


def counter_receipt(voucher_id, staff_user_id):
    """A voucher this staff member's merchant redeemed, to show after a confirm; None otherwise."""
    staff = require_staff(staff_user_id)
    voucher = db.session.get(Voucher, voucher_id) if voucher_id else None
    if voucher is None or voucher.merchant_id != staff.merchant_id or voucher.status != "redeemed":
        return None
    member = db.session.get(User, voucher.user_id)
    return VoucherAtCounter(voucher, mask_phone(member.phone if member else None))


def redeem_voucher(code, staff_user_id, request_key=None, now=None):
    """Redeem (核销) a voucher at the counter: once, by its merchant's staff, inside its window.

    `request_key` (the confirm form's) makes a double tap one redemption: the retry gets the
    voucher the first request redeemed. A refusal is audited ("voucher.refused") in a
    transaction of its own after the redemption's was rolled back, then raised.
    """
    now = now or utcnow()
    code = normalize_code(code)
    nested = in_write_transaction()
    try:
        return _redeem(code, staff_user_id, request_key, now)
    except DomainError as refusal:
        if not nested:  # inside a caller's transaction the caller decides what is kept
            _record_refusal(staff_user_id, code, refusal, stage="redeem")
        raise


def _redeem(code, staff_user_id, request_key, now):
    with write_transaction() as session:
        staff = require_staff(staff_user_id)
        if request_key:
            done = claim_request(staff.id, REDEEM_SCOPE, request_key)
            if done is not None:
                return _replayed(done, code, staff)
        voucher = _usable_voucher(code, staff, now)
        done = execute_rows(_MARK_REDEEMED, {"p_voucher": voucher.id, "p_at": now, "p_by": staff.id}
                            ).scalar_one_or_none()
        if done is None:
            # Another phone got there between our read and our update (PostgreSQL; SQLite's
            # BEGIN IMMEDIATE serialises the two): the refusal says who, and that it was just now.
            session.refresh(voucher)
            _refuse_unusable(voucher, now)
            raise _refusal(AlreadyDone, "used", _("该券已核销，不能重复使用"), voucher)
        if request_key:
            remember_result(staff.id, REDEEM_SCOPE, request_key, voucher.id)
        audit.record(staff.id, "voucher.redeem", target=f"voucher:{voucher.id}",
                     merchant_id=voucher.merchant_id, value_fen=voucher.value_fen)
        session.flush()
        session.refresh(voucher)
        keep_loaded(voucher)
    return voucher


# Built once, their values bound per call: the counter runs both for every voucher.
_BY_CODE = select(Voucher).where(Voucher.code == bindparam("p_code")).execution_options(populate_existing=True)
_MARK_REDEEMED = (update(Voucher).where(Voucher.id == bindparam("p_voucher"), Voucher.status == "active")
                  .values(status="redeemed", redeemed_at=bindparam("p_at"), redeemed_by=bindparam("p_by"))
                  .returning(Voucher.id).execution_options(synchronize_session=False))


def _replayed(result, code, staff):
    """The voucher a first request with this key redeemed, for its retry (a double tap)."""
    voucher = db.session.get(Voucher, parse_db_id(result) or 0)
    if voucher is None or voucher.code != code or voucher.redeemed_by != staff.id:
        raise _refusal(AlreadyDone, "key_reused", _("该请求已处理，请刷新页面"))
    return keep_loaded(voucher)


def _usable_voucher(code, staff, now):
    """The voucher behind `code` if `staff` may redeem it at `now`, else the refusal."""
    if not signature_ok(code):
        raise _refusal(VoucherRefused, "invalid", _("券码无效，请核对后重新输入"), field="code")
    voucher = db.session.execute(_BY_CODE, {"p_code": code}).scalar_one_or_none()
    if voucher is None:
        raise _refusal(NotFound, "not_found", _("券码不存在，请核对后重新输入"), field="code")
    if voucher.merchant_id != staff.merchant_id:
        raise _refusal(Forbidden, "other_merchant", _("该券不属于本店，不能核销"), voucher)
    _refuse_unusable(voucher, now)
    return voucher


def _refuse_unusable(voucher, now):
    if voucher.status == "redeemed":
        who = _staff_name(voucher.redeemed_by)
        if now - voucher.redeemed_at < JUST_USED:  # a second phone, a second tap: say it was just now
            message = _("该券刚刚（%(when)s）已由店员 %(staff)s 核销，不能重复使用",
                        when=_when(voucher.redeemed_at, "%H:%M:%S"), staff=who)
            raise _refusal(AlreadyDone, "just_used", message, voucher)
        raise _refusal(AlreadyDone, "used", _("该券已于 %(when)s 由店员 %(staff)s 核销，不能重复使用",
                                              when=_when(voucher.redeemed_at), staff=who), voucher)
    if voucher.status == "void":
        order_status = db.session.execute(select(Order.status).where(Order.id == voucher.order_id)).scalar()
        message = (_("该券所属订单已退款，券已作废") if order_status == "refunded"
                   else _("该券所属订单已取消，券已作废"))
        raise _refusal(VoucherRefused, "void", message, voucher)
    if now < voucher.valid_from:
        raise _refusal(VoucherRefused, "not_yet_valid",
                       _("该券未到使用时间，%(when)s 起可用", when=_when(voucher.valid_from)), voucher)
    if now >= voucher.valid_until:
        message = _("该券已过期（%(when)s 到期），不能核销", when=_when(voucher.valid_until))
        raise _refusal(VoucherRefused, "expired", message, voucher)


def _refusal(kind, reason, message, voucher=None, field=None):
    """A refusal of `kind` carrying its reason code (for the audit log and the page) and the voucher."""
    refusal = kind(message, field=field)
    refusal.reason, refusal.voucher = reason, voucher
    return refusal


def _when(moment, fmt="%Y-%m-%d %H:%M"):
    return to_shanghai(moment).strftime(fmt)


def _staff_name(user_id):
    staff = db.session.get(User, user_id) if user_id else None
    return staff.display_name if staff else "—"


def mask_phone(phone):
    """A member's phone as staff may see it: 138****1234."""
    if not phone or len(phone) < 7:
        return "—"
    return f"{phone[:3]}****{phone[-4:]}"


def refusal_reason(refusal):
    """The reason code of a verification refusal (see REFUSAL_REASONS)."""
    reason = getattr(refusal, "reason", None)
    if reason:
        return reason
    return "not_staff" if isinstance(refusal, Forbidden) else "refused"


def _record_refusal(staff_user_id, code, refusal, stage):
    """Audit a refused verification in its own small transaction (the attempt's was rolled back).

    Only the code's first characters are kept: a full code is a bearer token for the member's
    voucher, and the audit log is read by more people than the counter; a code that names a
    voucher is recorded as that voucher's id instead.
    """
    voucher = getattr(refusal, "voucher", None)
    with write_transaction():
        actor = db.session.get(User, staff_user_id) if staff_user_id else None
        audit.record(actor.id if actor else None, "voucher.refused",
                     target=f"voucher:{voucher.id}" if voucher is not None else None,
                     reason=refusal_reason(refusal), stage=stage,
                     merchant_id=actor.merchant_id if actor else None, code_prefix=code[:CODE_PREFIX_LENGTH])


def member_vouchers(user_id):
    """A member's vouchers, usable ones first, then the newest."""
    rows = db.session.execute(
        select(Voucher).where(Voucher.user_id == user_id).order_by(Voucher.id.desc())
    ).scalars().all()
    now = utcnow()
    return sorted(rows, key=lambda v: (voucher_state(v, now) != "usable",))


def voucher_state(voucher, now=None):
    """usable | pending (window not open) | redeemed | expired | void."""
    now = now or utcnow()
    if voucher.status != "active":
        return voucher.status
    if now < voucher.valid_from:
        return "pending"
    return "usable" if now < voucher.valid_until else "expired"


def member_coupons(user_id):
    """A member's coupons, usable ones first."""
    rows = db.session.execute(
        select(Coupon).where(Coupon.user_id == user_id).order_by(Coupon.id.desc())
    ).scalars().all()
    now = utcnow()
    return sorted(rows, key=lambda c: (coupon_state(c, now) != "usable",))


def coupon_state(coupon, now=None):
    """usable | used | expired | void."""
    now = now or utcnow()
    if coupon.status != "active":
        return coupon.status
    return "usable" if now < coupon.valid_until else "expired"


def void_order_vouchers(order_id):
    """Void the order's unused vouchers and coupons (an operator refund) inside the caller's transaction."""
    db.session.execute(update(Voucher).where(Voucher.order_id == order_id, Voucher.status == "active")
                       .values(status="void").execution_options(synchronize_session=False))
    db.session.execute(update(Coupon).where(Coupon.order_id == order_id, Coupon.status == "active")
                       .values(status="void").execution_options(synchronize_session=False))


__all__ = [
    "CODE_LENGTH", "REFUSAL_REASONS", "VoucherAtCounter", "VoucherRefused", "check_voucher", "counter_receipt",
    "coupon_state", "grouped", "issue_coupons", "issue_vouchers", "mask_phone", "member_coupons", "member_vouchers",
    "new_code", "normalize_code", "qr_svg", "redeem_voucher", "refusal_reason", "signature_ok",
    "void_order_vouchers", "voucher_state", "voucher_window",
]
