"""Operators' view of members: search, the member page's figures, and points adjustments."""
from dataclasses import dataclass

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, or_, select

from app.access import require_operator
from app.extensions import db
from app.models import CheckIn, DrawPlay, Order, PointEntry, PointLot, Referral, User
from app.services import audit, ledger, messages
from app.services.clock import utcnow
from app.services.errors import AlreadyDone, DomainError, InsufficientPoints, NotFound
from app.services.idempotency import claim_request, remember_result
from app.services.ids import is_db_id, parse_db_id
from app.services.listing import paginate
from app.services.members import lock_member
from app.services.tx import write_transaction

RECENT = 5
MAX_ADJUST = 10_000_000  # points one adjustment may move either way
MAX_REASON = 200         # the ledger's note column


def search_members(q, status, number):
    """Members whose phone contains `q`, whose nickname contains it, or whose member id it is
    ("#12" for the id alone);
    `status` "active" / "disabled" / "deleted" narrows; newest first, one page."""
    stmt = select(User).where(User.role == "member")
    q = (q or "").strip()[:40]
    if q.startswith("#"):  # "#12": that member id only
        stmt = stmt.where(User.id == (parse_db_id(q[1:]) or 0))
    elif q:
        matches = [User.phone.contains(q, autoescape=True), User.nickname.icontains(q, autoescape=True)]
        member_id = parse_db_id(q)
        if member_id is not None:
            matches.append(User.id == member_id)
        stmt = stmt.where(or_(*matches))
    if status == "active":
        stmt = stmt.where(User.is_disabled.is_(False))
    elif status == "disabled":
        stmt = stmt.where(User.is_disabled.is_(True), User.deleted_at.is_(None))
    elif status == "deleted":
        stmt = stmt.where(User.deleted_at.is_not(None))
    return paginate(stmt.order_by(User.id.desc()), number)


REFERRAL_LABELS = {"paid": _l("已发放"), "pending": _l("待首次兑换后发放"), "capped": _l("超出IP上限，未发放"),
                   "off": _l("邀请奖励未开启")}


def referral_status(referral):
    """What became of an invitation's reward, in words."""
    label = REFERRAL_LABELS.get(referral.status)
    text = str(label) if label is not None else referral.status
    return f"{text} {referral.points}" if referral.status == "paid" and referral.points else text


def get_member(user_id):
    """A member account by id (staff and operators are not members), or NotFound."""
    user = db.session.get(User, user_id) if is_db_id(user_id) else None
    if user is None or user.role != "member":
        raise NotFound(_("会员不存在"))
    return user


@dataclass
class Recent:
    """The newest few rows of something and how many there are in all."""

    rows: list
    total: int


def _recent(model, *where, order=None, limit=RECENT):
    order = order if order is not None else model.id.desc()
    rows = db.session.execute(select(model).where(*where).order_by(order).limit(limit)).scalars().all()
    total = db.session.execute(select(func.count()).select_from(model).where(*where)).scalar_one()
    return Recent(rows, total)


def member_activity(user_id, now=None):
    """What the member page shows besides the ledger: open lots by expiry, and the newest
    orders, draws, check-ins and invitees with their counts; the inviter; operator actions."""
    now = now or utcnow()
    open_lots = (PointLot.user_id == user_id, PointLot.remaining > 0, PointLot.expires_at > now)
    return {
        "lots": _recent(PointLot, *open_lots, order=PointLot.expires_at, limit=20),
        "orders": _recent(Order, Order.user_id == user_id),
        "draws": _recent(DrawPlay, DrawPlay.user_id == user_id),
        "checkins": _recent(CheckIn, CheckIn.user_id == user_id, order=CheckIn.day.desc()),
        "invitees": _recent(Referral, Referral.inviter_id == user_id),
        "invited_by": db.session.execute(select(Referral).where(Referral.invitee_id == user_id)).scalar_one_or_none(),
        "audit": audit.present(audit.history(f"user:{user_id}", limit=10)),
    }


def ledger_entries(user_id, number):
    """The member's ledger, newest first, one page."""
    return paginate(select(PointEntry).where(PointEntry.user_id == user_id).order_by(PointEntry.id.desc()), number)


def adjust_points(actor_id, user_id, delta, reason, key):
    """An operator adds (delta > 0) or takes away (delta < 0) points with a reason, through the
    ledger, in one transaction: the member's statement shows 系统调整 and the reason. A negative
    adjustment never takes the balance below 0. A retry with the same request key is the same
    adjustment (returns its entry, adds nothing). Audited with the balance before and after."""
    reason = (reason or "").strip()
    if not reason:
        raise DomainError(_("请填写调整原因"), field="reason")
    if len(reason) > MAX_REASON:
        raise DomainError(_("调整原因最多200个字"), field="reason")
    if not isinstance(delta, int) or isinstance(delta, bool) or delta == 0 or abs(delta) > MAX_ADJUST:
        raise DomainError(_("调整积分需为非0整数，且不超过±10,000,000"), field="delta")
    with write_transaction() as session:
        require_operator(actor_id)
        done = claim_request(actor_id, "member.adjust", key)
        if done is not None:
            entry = session.get(PointEntry, parse_db_id(done)) if parse_db_id(done) else None
            if entry is None or entry.user_id != user_id:
                raise AlreadyDone(_("该请求已处理，请刷新页面"))
            return entry
        member = lock_member(user_id, acting=False) if is_db_id(user_id) else None
        if member is None or member.role != "member":
            raise NotFound(_("会员不存在"))
        if member.deleted_at is not None:
            raise DomainError(_("该会员已注销，不能调整积分"), field="delta")
        before = member.points_balance
        try:
            entry = ledger.adjust_points(user_id, delta, reason, actor_id=actor_id, key=f"adjust:{key}")
        except InsufficientPoints:
            raise DomainError(_("扣减后积分不能为负：该会员当前可用积分为 %(n)s", n=_available(user_id)),
                              field="delta") from None
        remember_result(actor_id, "member.adjust", key, entry.id)
        messages.notify(user_id, "points.adjusted", {"n": delta, "reason": reason, "entry_id": entry.id},
                        key=f"points.adjusted:{entry.id}")
        audit.record(actor_id, "user.adjust_points", target=f"user:{user_id}",
                     before={"points_balance": before}, after={"points_balance": entry.balance_after},
                     delta=delta, reason=reason, entry_id=entry.id)
    return entry


def _available(user_id):
    """Points in the member's unexpired lots (what a deduction can take)."""
    return int(db.session.execute(
        select(func.coalesce(func.sum(PointLot.remaining), 0))
        .where(PointLot.user_id == user_id, PointLot.remaining > 0, PointLot.expires_at > utcnow())
    ).scalar_one())
