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
from datetime import timedelta

import segno
from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import select, update

from app.access import require_staff
from app.extensions import db
from app.models import Coupon, Voucher
from app.services import audit
from app.services.clock import to_shanghai, utcnow
from app.services.errors import AlreadyDone, DomainError, Forbidden, NotFound
from app.services.tx import in_write_transaction, write_transaction

CODE_LENGTH = 24
_CODE_RE = re.compile(r"^[A-Z2-7]{24}$")


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


def normalize_code(raw):
    """What staff type or scan, without spaces and dashes, in capitals."""
    return re.sub(r"[\s\-]", "", raw or "").upper()


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
    """Issue the order's vouchers inside the caller's transaction."""
    assert in_write_transaction()
    window = voucher_window(product, now)
    if window is None:
        raise DomainError(_("该券的使用期已结束，暂停兑换"))
    for _i in range(order.quantity):
        db.session.add(Voucher(user_id=order.user_id, order_id=order.id, product_id=product.id,
                               merchant_id=product.merchant_id, code=new_code("voucher"), title=product.name,
                               value_fen=product.face_value_fen, valid_from=window[0], valid_until=window[1],
                               created_at=now))


def issue_coupons(order, product, now):
    """Issue the order's coupons (valid `valid_days` from now) inside the caller's transaction."""
    assert in_write_transaction()
    for _i in range(order.quantity):
        db.session.add(Coupon(user_id=order.user_id, order_id=order.id, product_id=product.id,
                              code=new_code("coupon"), title=product.name, value_fen=product.face_value_fen,
                              min_spend_fen=product.min_spend_fen,
                              valid_until=now + timedelta(days=product.valid_days), created_at=now))


def redeem_voucher(code, staff_user_id, now=None):
    """Redeem (核销) a voucher at the counter: once, by its merchant's staff, inside its window."""
    now = now or utcnow()
    code = normalize_code(code)
    if not signature_ok(code):
        raise VoucherRefused(_("券码无效，请核对后重新输入"), field="code")
    with write_transaction() as session:
        staff = require_staff(staff_user_id)
        voucher = session.execute(
            select(Voucher).where(Voucher.code == code).execution_options(populate_existing=True)
        ).scalar_one_or_none()
        if voucher is None:
            raise NotFound(_("券码不存在，请核对后重新输入"), field="code")
        if voucher.merchant_id != staff.merchant_id:
            raise Forbidden(_("该券不属于本店，不能核销"))
        _refuse_unusable(voucher, now)
        done = session.execute(
            update(Voucher)
            .where(Voucher.id == voucher.id, Voucher.status == "active")
            .values(status="redeemed", redeemed_at=now, redeemed_by=staff.id)
            .returning(Voucher.id)
            .execution_options(synchronize_session=False)
        ).scalar_one_or_none()
        if done is None:
            session.refresh(voucher)
            _refuse_unusable(voucher, now)
            raise AlreadyDone(_("该券已核销，不能重复使用"))
        audit.record(staff.id, "voucher.redeem", target=f"voucher:{voucher.id}",
                     merchant_id=voucher.merchant_id, value_fen=voucher.value_fen)
        session.flush()
        session.refresh(voucher)
    return voucher


def _refuse_unusable(voucher, now):
    if voucher.status == "redeemed":
        when = to_shanghai(voucher.redeemed_at).strftime("%Y-%m-%d %H:%M")
        raise AlreadyDone(_("该券已于 %(when)s 核销，不能重复使用", when=when))
    if voucher.status == "void":
        raise VoucherRefused(_("该券已作废"))
    if now < voucher.valid_from:
        when = to_shanghai(voucher.valid_from).strftime("%Y-%m-%d %H:%M")
        raise VoucherRefused(_("该券未到使用时间，%(when)s 起可用", when=when))
    if now >= voucher.valid_until:
        raise VoucherRefused(_("该券已过期，不能核销"))


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
    "CODE_LENGTH", "VoucherRefused", "coupon_state", "grouped", "issue_coupons", "issue_vouchers",
    "member_coupons", "member_vouchers", "new_code", "normalize_code", "qr_svg", "redeem_voucher",
    "signature_ok", "void_order_vouchers", "voucher_state", "voucher_window",
]
