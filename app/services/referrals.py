"""Referrals (邀请): an invite link and QR per member; the inviter is paid when the invitee registers,
or (operators' choice, against mass sign-ups) on the invitee's first redemption.

Rules held by the database: one inviter per member (unique invitee_id, and the guarded
`inviter_id IS NULL` update), never oneself (a CHECK), paid once (ledger key
invite:<invitee>), and at most `per_ip_daily` paid referrals from one registration IP per
Shanghai day (a guarded counter). A bad code never blocks a registration: it is ignored.
"""
import secrets
from dataclasses import dataclass

import segno
from sqlalchemy import bindparam, case, func, select, update
from sqlalchemy.exc import IntegrityError

from app.extensions import db
from app.models import Referral, User
from app.services import events, ledger, messages
from app.services.clock import shanghai_today, utcnow
from app.services.earning import rule, take_quota
from app.services.members import lock_member
from app.services.tx import execute_rows, write_transaction

PAY_ON = ("register", "first_redeem")


def invite_rules():
    """enabled, points, pay_on, per_ip_daily with sane types."""
    rules = rule("earn.invite")
    return {
        "enabled": bool(rules.get("enabled")),
        "points": max(int(rules.get("points") or 0), 0),
        "pay_on": rules.get("pay_on") if rules.get("pay_on") in PAY_ON else "register",
        "per_ip_daily": max(int(rules.get("per_ip_daily") or 0), 0),
    }


def inviter_by_code(code):
    """The active member owning an invite code, or None for an unknown or unusable code."""
    code = (code or "").strip()
    if not code or len(code) > 16:
        return None
    return db.session.execute(
        select(User).where(User.invite_code == code, User.role == "member", User.is_disabled.is_(False))
    ).scalar_one_or_none()


def invite_code_for(user_id):
    """The member's invite code, created now if the account has none (e.g. made elsewhere)."""
    code = db.session.execute(select(User.invite_code).where(User.id == user_id)).scalar_one()
    if code:
        return code
    with write_transaction():
        for _attempt in range(5):
            candidate = secrets.token_urlsafe(6).replace("-", "x").replace("_", "y")[:8]
            try:
                with db.session.begin_nested():
                    db.session.execute(update(User).where(User.id == user_id, User.invite_code.is_(None))
                                       .values(invite_code=candidate).execution_options(synchronize_session=False))
                break
            except IntegrityError:
                continue
    return db.session.execute(select(User.invite_code).where(User.id == user_id)).scalar_one()


def record_referral(invitee_id, code, ip=None, *, now=None):
    """Link a newly registered member to the owner of `code` and pay (or queue) the reward.

    Runs inside the registration transaction. Returns the Referral, or None when there is
    no usable inviter (bad code, oneself, already invited).
    """
    now = now or utcnow()
    inviter = inviter_by_code(code)
    if inviter is None or inviter.id == invitee_id:
        return None
    rules = invite_rules()
    with write_transaction() as session:
        lock_member(inviter.id, acting=False)  # before rows that reference the inviter: no PostgreSQL deadlock
        linked = session.execute(
            update(User).where(User.id == invitee_id, User.inviter_id.is_(None), User.id != inviter.id)
            .values(inviter_id=inviter.id).execution_options(synchronize_session=False)
        ).rowcount
        if linked != 1:
            return None
        referral = Referral(inviter_id=inviter.id, invitee_id=invitee_id, ip=ip, status="off", created_at=now)
        session.add(referral)
        session.flush()
        if not rules["enabled"] or not rules["points"]:
            return referral
        if not take_quota("invite_ip", ip or "unknown", shanghai_today(now).isoformat(), rules["per_ip_daily"]):
            referral.status = "capped"
        elif rules["pay_on"] == "first_redeem":
            referral.status = "pending"
        else:
            _pay(referral, rules["points"], now)
    return referral


def _pay(referral, points, now):
    entry = ledger.earn(referral.inviter_id, points, "invite", key=f"invite:{referral.invitee_id}",
                        ref=f"user:{referral.invitee_id}", boost=True, now=now)
    referral.status, referral.paid_at = "paid", now
    referral.points = entry.amount if entry is not None else 0
    if entry is not None:
        messages.notify(referral.inviter_id, "referral.paid", {"n": entry.amount},
                        key=f"referral.paid:{referral.invitee_id}")


_PENDING = select(Referral.id).where(Referral.invitee_id == bindparam("p_invitee"), Referral.status == "pending")


def pay_pending_referral(invitee_id, *, now=None):
    """Pay the inviter of a member whose referral waits for a first redemption. Idempotent."""
    now = now or utcnow()
    rules = invite_rules()
    if not rules["enabled"] or not rules["points"]:
        return None
    with write_transaction() as session:
        # Sent on every redemption, and almost never pending. Only a member someone invited has a
        # referral (their inviter is set with it): the member's row, which the redemption has read
        # under its lock, says so without a query. Then the id alone first (no joined rows).
        invitee = session.get(User, invitee_id)
        if invitee is None or invitee.inviter_id is None:
            return None
        pending = execute_rows(_PENDING, {"p_invitee": invitee_id}).scalar_one_or_none()
        if pending is None:
            return None
        referral = session.get(Referral, pending)
        lock_member(referral.inviter_id, acting=False)
        claimed = session.execute(
            update(Referral).where(Referral.id == referral.id, Referral.status == "pending")
            .values(status="paid").returning(Referral.id).execution_options(synchronize_session=False)
        ).scalar_one_or_none()
        if claimed is None:
            return None
        _pay(referral, rules["points"], now)
    return referral


@dataclass
class InviteSummary:
    count: int
    paid: int
    points: int


def invitees(inviter_id, limit=50):
    """The member's latest invitees (Referral rows with the invitee loaded), newest first."""
    return db.session.execute(
        select(Referral).where(Referral.inviter_id == inviter_id)
        .order_by(Referral.created_at.desc(), Referral.id.desc()).limit(limit)
    ).scalars().all()


def invite_summary(inviter_id):
    """How many members the member invited, how many paid, and the points earned by inviting."""
    count, paid, points = db.session.execute(
        select(func.count(Referral.id),
               func.coalesce(func.sum(case((Referral.status == "paid", 1), else_=0)), 0),
               func.coalesce(func.sum(Referral.points), 0))
        .where(Referral.inviter_id == inviter_id)
    ).one()
    return InviteSummary(int(count), int(paid), int(points))


def qr_svg(url):
    """The invite link as an inline SVG QR code (server-side, no script)."""
    return segno.make(url, error="m").svg_inline(scale=5, border=2, dark="#1f2329", light="#ffffff", omitsize=True)


# Event receivers: inside the registering / redeeming transaction, never committing.
# create_app connects RECEIVERS.

def _on_member_registered(_sender, user_id, inviter_code=None, ip=None, **_extra):
    if inviter_code:
        record_referral(user_id, inviter_code, ip)


def _on_product_redeemed(_sender, user_id, **_extra):
    pay_pending_referral(user_id)


RECEIVERS = [
    (events.member_registered, _on_member_registered),
    (events.product_redeemed, _on_product_redeemed),
]


__all__ = [
    "InviteSummary", "RECEIVERS", "invite_code_for", "invite_rules", "invite_summary", "inviter_by_code", "invitees",
    "pay_pending_referral", "qr_svg", "record_referral",
]
