"""Operators' work on merchants: create and edit a store and its consumption-points terms.

Every function acts for an operator (checked by app.access) and writes an audit entry with the
changed fields before and after, in the change's own transaction.
"""
from dataclasses import dataclass

from flask_babel import gettext as _
from sqlalchemy import func, or_, select

from app.access import require_operator
from app.extensions import db
from app.models import Merchant, User
from app.services import audit
from app.services.errors import DomainError, NotFound
from app.services.idempotency import claim_request, remember_result
from app.services.ids import is_db_id, parse_db_id
from app.services.listing import paginate
from app.services.tx import write_transaction

# The columns an operator edits, in form order; bounds keep them sane (and inside 32-bit integers).
FIELDS = ("name", "address", "phone", "is_active", "points_ratio_pct", "daily_cap_points", "max_amount_fen")
MAX_RATIO_PCT = 100_00          # 100 points per yuan
MAX_DAILY_CAP = 1_000_000       # points a member may earn at one store per day
MAX_AMOUNT_FEN = 1_000_000_00   # one million yuan


@dataclass(frozen=True)
class MerchantTerms:
    """A merchant's editable fields, already parsed (money in fen, the ratio in hundredths)."""

    name: str
    address: str | None
    phone: str | None
    is_active: bool
    points_ratio_pct: int
    daily_cap_points: int
    max_amount_fen: int

    def check(self):
        """DomainError at the field for a value out of range (the form checks first; this is the rule)."""
        if not self.name or len(self.name) > 80:
            raise DomainError(_("请填写商户名称（最多80个字）"), field="name")
        if self.address is not None and len(self.address) > 200:
            raise DomainError(_("地址最多200个字"), field="address")
        if self.phone is not None and len(self.phone) > 20:
            raise DomainError(_("请输入正确的联系电话"), field="phone")
        if not 1 <= self.points_ratio_pct <= MAX_RATIO_PCT:
            raise DomainError(_("每元积分需在0.01到100之间"), field="points_per_yuan")
        if not 1 <= self.daily_cap_points <= MAX_DAILY_CAP:
            raise DomainError(_("每日上限需在1到1,000,000积分之间"), field="daily_cap_points")
        if not 1 <= self.max_amount_fen <= MAX_AMOUNT_FEN:
            raise DomainError(_("单笔最高金额需在0.01到1,000,000元之间"), field="max_amount_yuan")
        return self


def _values(merchant):
    return {name: getattr(merchant, name) for name in FIELDS}


def create_merchant(actor_id, terms, key):
    """A new merchant; a retry with the same request key returns the one already made."""
    terms.check()
    with write_transaction() as session:
        require_operator(actor_id)
        done = claim_request(actor_id, "merchant.create", key)
        if done is not None:
            return get_merchant(parse_db_id(done))
        merchant = Merchant(**{name: getattr(terms, name) for name in FIELDS})
        session.add(merchant)
        session.flush()
        remember_result(actor_id, "merchant.create", key, merchant.id)
        audit.record(actor_id, "merchant.create", target=f"merchant:{merchant.id}", before={}, after=_values(merchant))
    return merchant


def update_merchant(actor_id, merchant_id, terms):
    """Save an edit; only changed fields are audited; an edit that changes nothing writes nothing."""
    terms.check()
    with write_transaction() as session:
        require_operator(actor_id)
        merchant = session.execute(select(Merchant).where(Merchant.id == merchant_id).with_for_update()
                                   .execution_options(populate_existing=True)).scalar_one_or_none() \
            if is_db_id(merchant_id) else None
        if merchant is None:
            raise NotFound(_("商户不存在"))
        before, after = {}, {}
        for name in FIELDS:
            old, new = getattr(merchant, name), getattr(terms, name)
            if old != new:
                before[name], after[name] = old, new
                setattr(merchant, name, new)
        if after:
            audit.record(actor_id, "merchant.update", target=f"merchant:{merchant.id}", before=before, after=after)
    return merchant


def get_merchant(merchant_id):
    """A merchant by id, or NotFound."""
    merchant = db.session.get(Merchant, merchant_id) if is_db_id(merchant_id) else None
    if merchant is None:
        raise NotFound(_("商户不存在"))
    return merchant


def merchants_page(q, status, number):
    """Merchants matching a name, address or phone fragment (and active/inactive), newest first;
    with {merchant id: number of staff accounts} for the page."""
    stmt = select(Merchant)
    q = (q or "").strip()[:80]
    if q:
        stmt = stmt.where(or_(Merchant.name.icontains(q, autoescape=True),
                              Merchant.address.icontains(q, autoescape=True),
                              Merchant.phone.icontains(q, autoescape=True)))
    if status == "active":
        stmt = stmt.where(Merchant.is_active.is_(True))
    elif status == "inactive":
        stmt = stmt.where(Merchant.is_active.is_(False))
    page = paginate(stmt.order_by(Merchant.id.desc()), number)
    counts = dict(db.session.execute(
        select(User.merchant_id, func.count(User.id))
        .where(User.role == "staff", User.merchant_id.in_([m.id for m in page.items]))
        .group_by(User.merchant_id)
    ).all()) if page.items else {}
    return page, counts
