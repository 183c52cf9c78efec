"""Risk review (风控审核): rules that hold a redemption for an operator, and the decisions.

At redemption time (services.shop.redeem_product, inside its transaction) `assess` runs the
rules of the setting "risk.rules"; when any fires, `hold` puts the order in status "review"
instead of delivering it: points are charged and stock taken as usual, the delivery waits.
Each flag is audited ("risk.flag"). An operator then approves (the order is delivered as any
other: fulfilment.deliver) or rejects with a reason (points and stock back through
fulfilment.revert_order, the member is told why). Each decision is one transaction, audited,
and safe to send twice (the second raises AlreadyDone and changes nothing).
"""
import functools
from datetime import timedelta

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import bindparam, func, select

from app.access import require_operator
from app.extensions import db
from app.models import CheckIn, DrawPlay, Order, OrderReview, Product, Referral, User
from app.services import audit, fulfilment, messages, payments
from app.services.clock import utcnow
from app.services.errors import AlreadyDone, DomainError, NotFound
from app.services.ids import is_db_id
from app.services.settings import get_setting, put_setting
from app.services.tx import execute_rows, write_transaction

SETTING = "risk.rules"
# The thresholds an operator sets, with their bounds (0 turns a rule off).
THRESHOLDS = {
    "order_points_over": (0, 10_000_000),
    "ip_accounts_per_day": (0, 1000),
    "device_accounts_per_day": (0, 1000),
    "invitee_burst": (0, 1000),
    "draws_week_factor": (0, 1000),
    "draws_week_min": (1, 100_000),
    "makeups_month": (0, 31),
    "new_account_minutes": (0, 7 * 24 * 60),
    "new_account_share_pct": (1, 100),
    "new_account_min_points": (0, 10_000_000),
}
RULE_LABELS = {
    "order_points_over": _l("大额订单"),
    "ip_accounts_per_day": _l("同IP多账号"),
    "device_accounts_per_day": _l("同设备多账号"),
    "invitee_burst": _l("邀请激增"),
    "draws_outlier": _l("抽奖次数异常"),
    "makeups_outlier": _l("补签次数异常"),
    "new_account": _l("新账号清空余额"),
}
REJECT_REASON_MAX = 100


def rules():
    """The operator's rules merged over the defaults (a stored value may lack newer keys)."""
    from app.services.settings import DEFAULTS

    merged = dict(DEFAULTS[SETTING])
    merged.update(get_setting(SETTING) or {})
    return merged


# The counts the member rules read, each a statement built once (the values bound per call): every
# redemption and prize order runs the ones switched on, as one query (_counts).
_REGISTERED_NEAR = (User.created_at > bindparam("p_reg_from"), User.created_at < bindparam("p_reg_to"))
_COUNTS = {
    # Accounts registered with the member's IP or device within a day either side of the member's registration.
    "ip": select(func.count(User.id)).where(User.register_ip == bindparam("p_ip"), *_REGISTERED_NEAR),
    "device": select(func.count(User.id)).where(User.register_device == bindparam("p_device"), *_REGISTERED_NEAR),
    # The member's own invitees in the last day (and, on its own, the crowd around the member's inviter).
    "own": select(func.count(Referral.id)).where(Referral.inviter_id == bindparam("p_member"),
                                                 Referral.created_at >= bindparam("p_own_from"),
                                                 Referral.created_at < bindparam("p_own_to")),
    # The member's draw plays in the last 7 days, and make-up check-ins in the last 30.
    "draws": select(func.count(DrawPlay.id)).where(DrawPlay.user_id == bindparam("p_member"),
                                                   DrawPlay.created_at >= bindparam("p_week")),
    "makeups": select(func.count(CheckIn.id)).where(CheckIn.user_id == bindparam("p_member"), CheckIn.kind == "makeup",
                                                    CheckIn.created_at >= bindparam("p_month")),
}


def _draws_norm(now):
    """The average number of draw plays of everyone who played in the last 7 days."""
    plays, players = db.session.execute(
        select(func.count(DrawPlay.id), func.count(func.distinct(DrawPlay.user_id)))
        .where(DrawPlay.created_at >= now - timedelta(days=7))
    ).one()
    return plays / players if players else 0


def _counts(names, params):
    """The _COUNTS named (those the switched-on rules need) as one query: {name: count}."""
    if not names:
        return {}
    row = execute_rows(_counts_query(tuple(names)), params).one()
    return {name: int(row._mapping[name] or 0) for name in names}


@functools.cache
def _counts_query(names):
    return select(*(_COUNTS[name].scalar_subquery().label(name) for name in names))


def assess(member, order, balance_before, now):
    """The rules the redemption breaks, as [{"rule": key, ...figures}] (empty: deliver as usual)."""
    config = rules()
    if not config.get("enabled"):
        return []
    found = []
    over = int(config["order_points_over"])
    if over and order.points_total > over:
        found.append({"rule": "order_points_over", "points": order.points_total, "threshold": over})
    found.extend(member_flags(member, now, config))
    minutes = int(config["new_account_minutes"])
    share = int(config.get("new_account_share_pct", 80))
    # Only high-value goods: a newcomer spending the registration gift at once is what we want.
    least = int(config.get("new_account_min_points", 2000))
    if (minutes and order.points_total and member.created_at > now - timedelta(minutes=minutes)
            and order.points_total >= least and order.points_total * 100 >= balance_before * share):
        found.append({"rule": "new_account", "minutes": minutes, "points": order.points_total,
                      "balance": balance_before, "share_pct": share})
    return found


def member_flags(member, now, config=None):
    """The rules about the member rather than the order (several accounts from one IP or device,
    an invitee burst, draws or make-up check-ins far above the norm): they hold prize orders
    from games too (fulfilment.grant_product). The counts the switched-on rules need are read
    in one query."""
    config = config or rules()
    if not config.get("enabled"):
        return []
    per_ip = int(config["ip_accounts_per_day"])
    burst = int(config["invitee_burst"])
    per_device = int(config.get("device_accounts_per_day", 0))
    factor = int(config.get("draws_week_factor", 0))
    makeups = int(config.get("makeups_month", 0))
    day = timedelta(days=1)
    wanted = {  # (the crowd the member came in with, for the invitee burst: below)
        "ip": per_ip and member.register_ip, "own": burst, "device": per_device and member.register_device,
        "draws": factor, "makeups": makeups,
    }
    counts = _counts([name for name, on in wanted.items() if on], {
        "p_ip": member.register_ip, "p_device": member.register_device, "p_member": member.id,
        "p_reg_from": member.created_at - day, "p_reg_to": member.created_at + day,
        "p_own_from": now - day, "p_own_to": now + timedelta(seconds=1),
        "p_week": now - timedelta(days=7), "p_month": now - timedelta(days=30),
    })
    found = []
    if "ip" in counts and counts["ip"] >= per_ip:
        found.append({"rule": "ip_accounts_per_day", "ip": member.register_ip, "accounts": counts["ip"],
                      "threshold": per_ip})
    if burst:
        own, crowd = counts["own"], 0
        if member.inviter_id:
            invited_at = db.session.execute(
                select(Referral.created_at).where(Referral.invitee_id == member.id)
            ).scalar_one_or_none() or member.created_at
            crowd = execute_rows(_COUNTS["own"], {"p_member": member.inviter_id, "p_own_from": invited_at - day,
                                                  "p_own_to": invited_at + day}).scalar_one()
        if max(own, crowd) >= burst:
            found.append({"rule": "invitee_burst", "inviter_id": member.id if own >= crowd else member.inviter_id,
                          "invitees": max(own, crowd), "threshold": burst})
    if "device" in counts and counts["device"] >= per_device:
        found.append({"rule": "device_accounts_per_day", "accounts": counts["device"], "threshold": per_device})
    if factor:
        own = counts["draws"]
        least = int(config.get("draws_week_min", 50))
        if own >= least:  # below the minimum the norm cannot matter: not read
            norm = _draws_norm(now)
            if own > factor * norm:
                found.append({"rule": "draws_outlier", "plays": own, "norm": round(norm, 1), "factor": factor})
    if makeups and counts["makeups"] >= makeups:
        found.append({"rule": "makeups_outlier", "makeups": counts["makeups"], "threshold": makeups})
    return found


def hold(order, reasons, now, *, on_payment=False):
    """Inside the redemption's transaction: the order waits in review, each flag audited.
    on_payment: an order with a cash part waits for its payment first; payments.complete_payment
    then puts it in review instead of delivering it."""
    if not on_payment:
        order.status = "review"
    db.session.add(OrderReview(order_id=order.id, user_id=order.user_id, reasons=reasons, created_at=now))
    for reason in reasons:
        audit.record(None, "risk.flag", target=f"order:{order.id}", user_id=order.user_id,
                     order_no=order.order_no, **reason)
    db.session.flush()


def reason_text(reason):
    """One fired rule in the reader's words, for the console."""
    rule = reason.get("rule")
    if rule == "order_points_over":
        return _("订单 %(points)s 积分，超过 %(threshold)s",
                 points=reason["points"], threshold=reason["threshold"])
    if rule == "ip_accounts_per_day":
        return _("IP %(ip)s 一天内注册了 %(n)s 个账号", ip=reason["ip"], n=reason["accounts"])
    if rule == "invitee_burst":
        return _("邀请人 #%(id)s 一天内邀请了 %(n)s 人", id=reason["inviter_id"], n=reason["invitees"])
    if rule == "device_accounts_per_day":
        return _("同一设备一天内注册了 %(n)s 个账号", n=reason["accounts"])
    if rule == "draws_outlier":
        return _("近7天抽奖 %(n)s 次，是平均值 %(norm)s 的 %(factor)s 倍以上",
                 n=reason["plays"], norm=reason["norm"], factor=reason["factor"])
    if rule == "makeups_outlier":
        return _("近30天补签 %(n)s 次", n=reason["makeups"])
    if rule == "new_account":
        return _("注册不到 %(m)s 分钟，兑换 %(points)s / %(balance)s 积分",
                 m=reason["minutes"], points=reason["points"], balance=reason["balance"])
    return str(rule)


def queue():
    """Orders waiting for a decision, oldest first (a statement for listing.paginate)."""
    return (select(OrderReview).join(Order, Order.id == OrderReview.order_id)
            .where(Order.status == "review").order_by(OrderReview.id))


def _locked_review(session, order_id):
    review = session.execute(
        select(OrderReview).where(OrderReview.order_id == order_id)
    ).scalar_one_or_none() if is_db_id(order_id) else None
    if review is None:
        raise NotFound(_("该订单不在风控审核中"))
    return review


def _refuse_decided(review, order):
    if review.decision is not None:
        raise AlreadyDone(_("该订单已审核"))
    if order.status != "review":
        raise DomainError(_("该订单不在风控审核中"))


def approve(order_id, actor_id, now=None):
    """Ship the held order on: delivered exactly as an unflagged redemption would have been."""
    now = now or utcnow()
    with write_transaction() as session:
        require_operator(actor_id)
        review = _locked_review(session, order_id)
        order = session.execute(
            select(Order).where(Order.id == review.order_id).with_for_update(of=Order)
            .execution_options(populate_existing=True)
        ).scalar_one()
        session.refresh(review)
        _refuse_decided(review, order)
        fulfilment.deliver(order, session.get(Product, order.product_id), now)
        review.decision, review.decided_by, review.decided_at = "approved", actor_id, now
        audit.record(actor_id, "order.review_approve", target=f"order:{order.id}", order_no=order.order_no,
                     before={"status": "review"}, after={"status": order.status})
        messages.notify(order.user_id, "order.review_approved",
                        {"order_id": order.id, "order_no": order.number, "name": order.product_name},
                        key=f"review:{order.id}")
    return order


def clean_reason(reason):
    reason = (reason or "").strip()
    if not reason:
        raise DomainError(_("请填写拒绝原因"), field="reason")
    if len(reason) > REJECT_REASON_MAX:
        raise DomainError(_("原因最多100个字"), field="reason")
    return reason


def reject(order_id, actor_id, reason, now=None):
    """Refuse the held order: points back to their lots and units back to stock (as a refund
    does, through fulfilment.revert_order), and the member is told the reason."""
    now = now or utcnow()
    reason = clean_reason(reason)
    with write_transaction() as session:
        require_operator(actor_id)
        review = _locked_review(session, order_id)
        order = session.get(Order, review.order_id)
        reverted = fulfilment.revert_order(order.id, ("review",), "cancelled", reason, now)
        session.refresh(review)
        if reverted is None:
            _refuse_decided(review, order)
            raise DomainError(_("该订单不在风控审核中"))
        review.decision, review.decided_by, review.decided_at, review.note = "rejected", actor_id, now, reason
        if order.payment is not None and order.payment.status == "refund_due":
            payments.refund_payment(order.id, reason, now)  # the cash part goes back in this transaction
        audit.record(actor_id, "order.review_reject", target=f"order:{order.id}", order_no=order.order_no,
                     reason=reason, before={"status": "review"}, after={"status": "cancelled"},
                     points=order.points_total)
        messages.notify(order.user_id, "order.review_rejected",
                        {"order_id": order.id, "order_no": order.number, "name": order.product_name,
                         "reason": reason, "n": order.points_total},
                        key=f"review:{order.id}")
    return order


def save_rules(values, actor_id):
    """Store the thresholds (already checked by the form; checked again here) and audit the change."""
    clean = {"enabled": bool(values.get("enabled"))}
    for key, (low, high) in THRESHOLDS.items():
        value = values.get(key)
        if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
            raise DomainError(_("请填写 %(low)s 到 %(high)s 之间的整数", low=low, high=high), field=key)
        clean[key] = value
    with write_transaction():
        require_operator(actor_id)
        before = rules()
        put_setting(SETTING, clean)
        changed = sorted(k for k in clean if before.get(k) != clean[k])
        audit.record(actor_id, "settings.update", target="settings:risk",
                     before={k: before.get(k) for k in changed}, after={k: clean[k] for k in changed})
    return clean
