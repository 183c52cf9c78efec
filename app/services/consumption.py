"""Consumption points (消费积分): the member code, and awarding points for an amount paid at a
merchant's counter.

The member code is the member's id signed with a timestamp (itsdangerous, a key derived from
SECRET_KEY); it is valid for MEMBER_CODE_TTL seconds, so a screenshot from yesterday fails.
Staff scan it, or type the member's phone.

An award is one transaction: lock the member (which serialises all of one member's ledger
work, so concurrent awards see each other), replay or refuse a known receipt, trim to what
is left of the member's daily cap at this merchant, earn through the ledger, store the
award (unique per merchant and receipt) and tell the member. A refusal is audited in a
small transaction of its own, after the refused one rolled back.
"""
import re
import unicodedata
from dataclasses import dataclass

from flask import current_app
from flask_babel import gettext as _
from itsdangerous import BadSignature, SignatureExpired, TimestampSigner
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from app.access import require_staff
from app.extensions import db
from app.models import ConsumptionAward, Merchant, User
from app.services import audit, ledger
from app.services.accounts import normalize_phone
from app.services.clock import shanghai_today, utcnow
from app.services.earning import source_enabled
from app.services.errors import DomainError
from app.services.members import lock_member
from app.services.messages import notify
from app.services.money import yuan
from app.services.tx import write_transaction
from app.services.vouchers import qr_svg

# Seconds a member code stays valid; the member's page shows a fresh one every minute.
MEMBER_CODE_TTL = 300
MEMBER_CODE_REFRESH = 60
_CODE_PREFIX = "PMC"
_AMOUNT_RE = re.compile(r"^(\d{1,9})(?:\.(\d+))?$")
_RECEIPT_RE = re.compile(r"^[A-Z0-9][A-Z0-9\-_/#.]{0,31}$")


class AwardRefused(DomainError):
    """An award cannot be made; the message says why (and `field` which input, if any)."""


# ---- the member code ----------------------------------------------------------------------

class _Signer(TimestampSigner):
    """itsdangerous' timestamp signer on the mall's clock (so tests can say when)."""

    def __init__(self, *args, now=None, **kwargs):
        super().__init__(*args, **kwargs)
        self._now = now

    def get_timestamp(self):
        return int((self._now or utcnow()).timestamp())


def _signer(now=None):
    return _Signer(current_app.config["SECRET_KEY"], salt="pointsmall-member-code", now=now)


def member_code(user_id, now=None):
    """A fresh member code for the QR: 'PMC<id>.<time>.<signature>'."""
    return _signer(now).sign(f"{_CODE_PREFIX}{int(user_id)}").decode()


def member_code_svg(code):
    """The member code as an inline SVG QR image (the same rendering as voucher QRs)."""
    return qr_svg(code)


def _member_id_from_code(text, now=None):
    try:
        value = _signer(now).unsign(text, max_age=MEMBER_CODE_TTL).decode()
    except SignatureExpired:
        raise AwardRefused(_("会员码已过期，请会员刷新会员码后重新扫码"), field="member") from None
    except (BadSignature, UnicodeDecodeError, ValueError):
        raise AwardRefused(_("会员码无效，请重新扫码或输入手机号"), field="member") from None
    digits = value[len(_CODE_PREFIX):] if value.startswith(_CODE_PREFIX) else ""
    if not digits.isascii() or not digits.isdigit():
        raise AwardRefused(_("会员码无效，请重新扫码或输入手机号"), field="member")
    return int(digits)


def find_member(raw, now=None):
    """The member a scanned code or a typed phone names, or AwardRefused (field 'member')."""
    text = unicodedata.normalize("NFKC", raw or "").strip()
    if not text:
        raise AwardRefused(_("请扫描会员码或输入会员手机号"), field="member")
    phone = normalize_phone(text)
    if phone is not None:
        member = db.session.execute(select(User).where(User.phone == phone)).scalar_one_or_none()
        if member is None:
            raise AwardRefused(_("没有找到该手机号的会员"), field="member")
    elif text.isdigit():
        raise AwardRefused(_("请输入正确的11位手机号"), field="member")
    else:
        member = db.session.get(User, _member_id_from_code(text, now))
        if member is None:
            raise AwardRefused(_("会员码无效，请重新扫码或输入手机号"), field="member")
    if member.role != "member":
        raise AwardRefused(_("该账号不是会员，不能获得积分"), field="member")
    if member.is_disabled:
        raise AwardRefused(_("该会员账号已停用"), field="member")
    return member


def mask_phone(phone):
    """138****1234: enough for staff to ask the member, not enough to copy ('' without a phone)."""
    return f"{phone[:3]}****{phone[-4:]}" if phone else ""


def masked_phone(member):
    """A member as staff see them: the masked phone, or the id without one."""
    return mask_phone(member.phone) or f"#{member.id}"


# ---- input rules ----------------------------------------------------------------------------

def parse_amount(raw):
    """An amount typed in yuan ('88', '88.5', '88.50', full-width too) as integer fen, or AwardRefused."""
    text = unicodedata.normalize("NFKC", raw or "").strip().lstrip("¥").strip()
    if not text:
        raise AwardRefused(_("请输入消费金额"), field="amount")
    if text.startswith("-"):
        raise AwardRefused(_("消费金额必须大于0"), field="amount")
    match = _AMOUNT_RE.match(text) if text.isascii() else None
    if match is None:
        raise AwardRefused(_("请输入正确的金额，例如 88 或 88.50"), field="amount")
    whole, decimals = match.group(1), match.group(2) or ""
    if len(decimals) > 2:
        raise AwardRefused(_("金额最多两位小数"), field="amount")
    fen = int(whole) * 100 + int(decimals.ljust(2, "0"))
    if fen <= 0:
        raise AwardRefused(_("消费金额必须大于0"), field="amount")
    return fen


def normalize_receipt(raw):
    """A receipt number as printed (spaces dropped, capitals, full-width folded), or AwardRefused."""
    text = re.sub(r"\s", "", unicodedata.normalize("NFKC", raw or "")).upper()
    if not text:
        raise AwardRefused(_("请输入小票号"), field="receipt_no")
    if not text.isascii() or not _RECEIPT_RE.match(text):
        raise AwardRefused(_("小票号只能包含字母、数字和 - _ / # .，最多32位"), field="receipt_no")
    return text


def award_points_for(amount_fen, merchant, growth, now=None):
    """Points for an amount before the daily cap: amount × the merchant's ratio × the level's
    multiplier × a double-points day, rounded down once at the end.

    The ledger's boosted_amount applies the level and the double day; it runs on points in
    ten-thousandths (fen × ratio in hundredths) so that rounding happens on whole points only.
    """
    return ledger.boosted_amount(amount_fen * merchant.points_ratio_pct, growth, now) // 10000


# ---- the award ------------------------------------------------------------------------------

@dataclass(frozen=True)
class AwardResult:
    award: ConsumptionAward
    member: User
    created: bool        # False: this receipt was awarded before; nothing new was paid
    uncapped_points: int  # what the formula gave before the daily cap trimmed it

    @property
    def trimmed(self):
        return self.created and self.award.points < self.uncapped_points


class _ReceiptRace(Exception):
    """Another member's award took this receipt number between our look and our insert."""


def _used_today(member_id, merchant_id, day):
    return db.session.execute(
        select(func.coalesce(func.sum(ConsumptionAward.points), 0))
        .where(ConsumptionAward.user_id == member_id, ConsumptionAward.merchant_id == merchant_id,
               ConsumptionAward.day == day)
    ).scalar_one()


def cap_left(member_id, merchant, now=None):
    """Points the member may still get at this merchant today (Shanghai day)."""
    return max(0, merchant.daily_cap_points - _used_today(member_id, merchant.id, shanghai_today(now)))


def _award_once(staff_id, member_ref, amount_fen, receipt_no, now):
    with write_transaction() as session:
        staff = require_staff(staff_id)
        merchant = session.get(Merchant, staff.merchant_id)
        if not source_enabled("earn.consumption"):
            raise AwardRefused(_("消费积分功能已关闭，暂不能奖励积分"))
        if not merchant.is_active:
            raise AwardRefused(_("本店已停用，暂不能奖励积分"))
        found = find_member(member_ref, now)
        if amount_fen > merchant.max_amount_fen:
            raise AwardRefused(_("单笔金额不能超过 ¥%(max)s", max=yuan(merchant.max_amount_fen)), field="amount")
        member = lock_member(found.id)
        earlier = session.execute(
            select(ConsumptionAward).where(ConsumptionAward.merchant_id == merchant.id,
                                           ConsumptionAward.receipt_no == receipt_no)
        ).scalar_one_or_none()
        if earlier is not None:
            if earlier.user_id != member.id or earlier.amount_fen != amount_fen:
                raise AwardRefused(_("该小票号已用于另一笔奖励（会员或金额不同），请核对小票号"), field="receipt_no")
            audit.record(staff.id, "consumption.award_repeated", target=f"consumption_award:{earlier.id}",
                         merchant_id=merchant.id, member_id=member.id, amount_fen=amount_fen,
                         points=earlier.points, receipt_no=receipt_no)
            return AwardResult(earlier, member, False, earlier.points)
        points = award_points_for(amount_fen, merchant, member.growth, now)
        if points <= 0:
            raise AwardRefused(_("金额太小，不足1积分"), field="amount")
        day = shanghai_today(now)
        left = merchant.daily_cap_points - _used_today(member.id, merchant.id, day)
        if left <= 0:
            raise AwardRefused(_("该会员今日在本店的消费积分已达上限（%(cap)s 积分），不能再奖励",
                                 cap=merchant.daily_cap_points))
        given = min(points, left)
        entry = ledger.earn(member.id, given, "consume", key=f"consume:{merchant.id}:{receipt_no}",
                            ref=f"merchant:{merchant.id}", note=f"{merchant.name} · {receipt_no}", now=now)
        award = ConsumptionAward(merchant_id=merchant.id, staff_id=staff.id, user_id=member.id,
                                 amount_fen=amount_fen, points=given, receipt_no=receipt_no, entry_id=entry.id,
                                 day=day, created_at=now)
        try:
            with session.begin_nested():
                session.add(award)
                session.flush()
        except IntegrityError:
            raise _ReceiptRace() from None
        notify(member.id, "consumption.awarded", {"merchant": merchant.name, "amount": yuan(amount_fen),
                                                 "n": given, "receipt": receipt_no})
        audit.record(staff.id, "consumption.award", target=f"consumption_award:{award.id}",
                     merchant_id=merchant.id, member_id=member.id, amount_fen=amount_fen, points=given,
                     uncapped_points=points, receipt_no=receipt_no)
        return AwardResult(award, member, True, points)


def award_consumption_points(staff_id, member_ref, amount_text, receipt_text, now=None):
    """Award consumption points at the staff member's merchant for an amount paid.

    member_ref: a scanned member code or a typed phone; amount_text: yuan as typed.
    The same receipt again (same member and amount) returns the earlier award; every
    refusal raises AwardRefused and is audited with its reason.
    """
    now = now or utcnow()
    amount_fen = receipt_no = None
    try:
        amount_fen = parse_amount(amount_text)
        receipt_no = normalize_receipt(receipt_text)
        try:
            return _award_once(staff_id, member_ref, amount_fen, receipt_no, now)
        except _ReceiptRace:
            # The other award has committed now: this run replays it or refuses.
            return _award_once(staff_id, member_ref, amount_fen, receipt_no, now)
    except DomainError as refusal:
        record_refusal(staff_id, refusal, amount_fen=amount_fen, receipt_no=receipt_no,
                       receipt_text=None if receipt_no else (receipt_text or "")[:40])
        raise


def record_refusal(staff_id, refusal, **detail):
    """Audit a refused award attempt in its own transaction (the attempt itself rolled back)."""
    with write_transaction() as session:
        staff = session.get(User, staff_id)
        audit.record(staff_id, "consumption.refused", target=None,
                     merchant_id=staff.merchant_id if staff else None, reason=str(refusal.message),
                     field=refusal.field, **{k: v for k, v in detail.items() if v is not None})


__all__ = [
    "MEMBER_CODE_REFRESH", "MEMBER_CODE_TTL", "AwardRefused", "AwardResult", "award_consumption_points",
    "award_points_for", "cap_left", "find_member", "mask_phone", "masked_phone", "member_code", "member_code_svg", "normalize_receipt",
    "parse_amount", "record_refusal",
]
