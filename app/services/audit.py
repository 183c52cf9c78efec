"""The audit log: every operator action, written in the action's own transaction."""
import json
from dataclasses import dataclass

from flask import has_request_context, request
from flask_babel import gettext, lazy_pgettext
from sqlalchemy import or_, select

from app.extensions import db
from app.models import AuditLog, Merchant, User
from app.services.clock import day_bounds_utc
from app.services.ids import is_db_id, parse_ref
from app.services.listing import paginate
from app.services.money import yuan


# What each action is called on the log page (the stored action stays as it was written: a code).
# In their own context, as a log's past tense: the same words elsewhere are buttons ("Adjust stock").
ACTIONS = {
    "user.create": lazy_pgettext("audit log", "新建账号"),
    "user.reset_password": lazy_pgettext("audit log", "重置密码"),
    "user.disable": lazy_pgettext("audit log", "停用账号"),
    "user.enable": lazy_pgettext("audit log", "启用账号"),
    "user.adjust_points": lazy_pgettext("audit log", "调整积分"),
    "member.deleted": lazy_pgettext("audit log", "会员注销账号"),
    "member.bind_wechat": lazy_pgettext("audit log", "绑定微信"),
    "merchant.create": lazy_pgettext("audit log", "新建商户"),
    "merchant.update": lazy_pgettext("audit log", "修改商户"),
    "product.create": lazy_pgettext("audit log", "新建商品"),
    "product.update": lazy_pgettext("audit log", "修改商品"),
    "product.stock": lazy_pgettext("audit log", "调整库存"),
    "product.shelf": lazy_pgettext("audit log", "上架或下架"),
    "product.import": lazy_pgettext("audit log", "导入商品"),
    "product.images": lazy_pgettext("audit log", "修改商品图片"),
    "category.create": lazy_pgettext("audit log", "新建分类"),
    "category.update": lazy_pgettext("audit log", "修改分类"),
    "category.move": lazy_pgettext("audit log", "调整分类顺序"),
    "order.ship": lazy_pgettext("audit log", "发货"),
    "order.cancel": lazy_pgettext("audit log", "取消订单"),
    "order.refund": lazy_pgettext("audit log", "退款"),
    "order.review_approve": lazy_pgettext("audit log", "审核通过"),
    "order.review_reject": lazy_pgettext("audit log", "审核拒绝"),
    "payment.refund": lazy_pgettext("audit log", "退回现金"),
    "risk.flag": lazy_pgettext("audit log", "风控拦截"),
    "aftersale.approve": lazy_pgettext("audit log", "同意售后"),
    "aftersale.receive": lazy_pgettext("audit log", "确认收到退货"),
    "aftersale.complete": lazy_pgettext("audit log", "完成售后"),
    "aftersale.reject": lazy_pgettext("audit log", "拒绝售后"),
    "draw.create": lazy_pgettext("audit log", "新建抽奖"),
    "draw.update": lazy_pgettext("audit log", "修改抽奖"),
    "draw.prize_add": lazy_pgettext("audit log", "添加奖品"),
    "draw.prize_remove": lazy_pgettext("audit log", "移除奖品"),
    "draw.prizes_update": lazy_pgettext("audit log", "修改奖池"),
    "treasure_item.create": lazy_pgettext("audit log", "新建夺宝商品"),
    "treasure_item.update": lazy_pgettext("audit log", "修改夺宝商品"),
    "treasure_round.open": lazy_pgettext("audit log", "开启新一期"),
    "packet.create": lazy_pgettext("audit log", "发布红包"),
    "packet.update": lazy_pgettext("audit log", "修改红包"),
    "settings.update": lazy_pgettext("audit log", "修改规则"),
    "consumption.award": lazy_pgettext("audit log", "消费积分奖励"),
    "consumption.award_repeated": lazy_pgettext("audit log", "重复提交的消费奖励"),
    "consumption.refused": lazy_pgettext("audit log", "消费奖励被拒"),
    "voucher.redeem": lazy_pgettext("audit log", "核销券码"),
    "voucher.refused": lazy_pgettext("audit log", "核销被拒"),
}
# What every action of one kind of object is called in the filter ("merchant." = every merchant action).
OBJECTS = {
    "user": lazy_pgettext("audit log", "账号"),
    "member": lazy_pgettext("audit log", "会员自助"),
    "merchant": lazy_pgettext("audit log", "商户"),
    "product": lazy_pgettext("audit log", "商品"),
    "category": lazy_pgettext("audit log", "分类"),
    "order": lazy_pgettext("audit log", "订单"),
    "payment": lazy_pgettext("audit log", "支付"),
    "risk": lazy_pgettext("audit log", "风控"),
    "aftersale": lazy_pgettext("audit log", "售后"),
    "draw": lazy_pgettext("audit log", "抽奖"),
    "treasure_item": lazy_pgettext("audit log", "夺宝商品"),
    "treasure_round": lazy_pgettext("audit log", "夺宝期次"),
    "packet": lazy_pgettext("audit log", "积分红包"),
    "settings": lazy_pgettext("audit log", "规则"),
    "consumption": lazy_pgettext("audit log", "消费积分"),
    "voucher": lazy_pgettext("audit log", "券码"),
}

# What the detail's keys are called on the page, in their own context (the same words name other
# things elsewhere); a key without a name here is shown as written. Amounts in fen (keys ending in
# _fen) are shown as yuan.
FIELDS = {
    "merchant_id": lazy_pgettext("audit field", "商户"),
    "member_id": lazy_pgettext("audit field", "会员"),
    "user_id": lazy_pgettext("audit field", "会员"),
    "reason": lazy_pgettext("audit field", "原因"),
    "amount_fen": lazy_pgettext("audit field", "金额"),
    "points": lazy_pgettext("audit field", "积分"),
    "receipt_no": lazy_pgettext("audit field", "小票号"),
    "receipt_text": lazy_pgettext("audit field", "输入的小票号"),
    "order_no": lazy_pgettext("audit field", "订单号"),
    "order_id": lazy_pgettext("audit field", "订单"),
    "status": lazy_pgettext("audit field", "状态"),
    "order_status": lazy_pgettext("audit field", "订单状态"),
    "code_prefix": lazy_pgettext("audit field", "券码开头"),
    "stage": lazy_pgettext("audit field", "环节"),
    "uncapped_points": lazy_pgettext("audit field", "封顶前积分"),
    "carrier": lazy_pgettext("audit field", "快递公司"),
    "tracking_no": lazy_pgettext("audit field", "运单号"),
    "field": lazy_pgettext("audit field", "字段"),
    "delta": lazy_pgettext("audit field", "调整数量"),
    "stock": lazy_pgettext("audit field", "库存"),
    "value_fen": lazy_pgettext("audit field", "券面价值"),
    "face_value_fen": lazy_pgettext("audit field", "券面价值"),
    "cash_fen": lazy_pgettext("audit field", "现金"),
    "is_active": lazy_pgettext("audit field", "启用"),
    "enabled": lazy_pgettext("audit field", "启用"),
    "is_disabled": lazy_pgettext("audit field", "已停用"),
    "name": lazy_pgettext("audit field", "名称"),
    "title": lazy_pgettext("audit field", "标题"),
    "entry_id": lazy_pgettext("audit field", "积分流水"),
    "points_balance": lazy_pgettext("audit field", "积分余额"),
    "refund_id": lazy_pgettext("audit field", "退款单号"),
    "position": lazy_pgettext("audit field", "排序"),
    "points_price": lazy_pgettext("audit field", "积分价格"),
    "category_id": lazy_pgettext("audit field", "分类"),
    "description_html": lazy_pgettext("audit field", "商品详情"),
    "description": lazy_pgettext("audit field", "说明"),
    "is_hot": lazy_pgettext("audit field", "热门"),
    "kind": lazy_pgettext("audit field", "类型"),
    "limit_day": lazy_pgettext("audit field", "每日限兑"),
    "limit_month": lazy_pgettext("audit field", "每月限兑"),
    "limit_total": lazy_pgettext("audit field", "每人限兑"),
    "min_level": lazy_pgettext("audit field", "最低会员等级"),
    "min_spend_fen": lazy_pgettext("audit field", "使用门槛"),
    "sale_starts_at": lazy_pgettext("audit field", "开售时间"),
    "sale_ends_at": lazy_pgettext("audit field", "停售时间"),
    "subtitle": lazy_pgettext("audit field", "副标题"),
    "valid_days": lazy_pgettext("audit field", "有效天数"),
    "valid_from": lazy_pgettext("audit field", "生效日期"),
    "valid_until": lazy_pgettext("audit field", "失效日期"),
    "source": lazy_pgettext("audit field", "来源"),
    "phone": lazy_pgettext("audit field", "电话"),
    "address": lazy_pgettext("audit field", "地址"),
    "nickname": lazy_pgettext("audit field", "昵称"),
    "role": lazy_pgettext("audit field", "角色"),
    "images": lazy_pgettext("audit field", "图片"),
    "return_instructions": lazy_pgettext("audit field", "退货说明"),
    "reject_reason": lazy_pgettext("audit field", "拒绝原因"),
    "starts_at": lazy_pgettext("audit field", "开始时间"),
    "ends_at": lazy_pgettext("audit field", "结束时间"),
    "refund_cash_fen": lazy_pgettext("audit field", "退回现金"),
    "refund_points": lazy_pgettext("audit field", "退回积分"),
    "restocked": lazy_pgettext("audit field", "已退回库存"),
    "created": lazy_pgettext("audit field", "新建"),
    "skipped": lazy_pgettext("audit field", "跳过"),
    "points_ratio_pct": lazy_pgettext("audit field", "积分比例（%）"),
    "daily_cap_points": lazy_pgettext("audit field", "每人每日上限（积分）"),
    "max_amount_fen": lazy_pgettext("audit field", "单笔最高金额"),
    "total": lazy_pgettext("audit field", "总数"),
    "cost": lazy_pgettext("audit field", "每次消耗积分"),
    "daily_limit": lazy_pgettext("audit field", "每日次数"),
    "written_off": lazy_pgettext("audit field", "注销的积分"),
    "must_change_password": lazy_pgettext("audit field", "须修改密码"),
    "share_price": lazy_pgettext("audit field", "每份积分"),
    "total_shares": lazy_pgettext("audit field", "总份数"),
    "prize_points": lazy_pgettext("audit field", "奖品积分"),
    "round_hours": lazy_pgettext("audit field", "每期时长（小时）"),
    "product_id": lazy_pgettext("audit field", "商品"),
    "rule": lazy_pgettext("audit field", "规则"),
    "threshold": lazy_pgettext("audit field", "阈值"),
}


def action_label(action):
    """An action's name in the reader's language; an action without one (a code written by newer
    code, or by code since removed) is shown as its code. A prefix ending in "." names a group."""
    if action.endswith("."):
        kind = OBJECTS.get(action[:-1])
        return gettext("%(kind)s：全部操作", kind=kind) if kind is not None else action + "*"
    label = ACTIONS.get(action)
    return str(label) if label is not None else action


def record(actor_id, action, target=None, **detail):
    """Add an audit row to the caller's transaction."""
    ip = request.remote_addr if has_request_context() else None
    db.session.add(AuditLog(actor_id=actor_id, action=action, target=target, detail=detail or None, ip=ip))


def history(target, limit=10):
    """The newest audit rows about one object ("user:12", "merchant:3"), newest first."""
    return db.session.execute(
        select(AuditLog).where(AuditLog.target == target).order_by(AuditLog.id.desc()).limit(limit)
    ).scalars().all()


def search(*, actor_id=None, action=None, target=None, day_from=None, day_to=None, number=1):
    """One page of the log, newest first. action: an exact action or a prefix ending in "."
    ("merchant." for every merchant action); target: an exact object ("user:12") or, without a
    colon, every object of a kind ("merchant"); days: Shanghai calendar days, both included."""
    stmt = select(AuditLog)
    if actor_id is not None:
        stmt = stmt.where(AuditLog.actor_id == actor_id)
    if action:
        stmt = stmt.where(AuditLog.action.startswith(action, autoescape=True) if action.endswith(".")
                          else AuditLog.action == action)
    if target:
        stmt = stmt.where(AuditLog.target == target if ":" in target
                          else AuditLog.target.startswith(f"{target}:", autoescape=True))
    if day_from is not None:
        stmt = stmt.where(AuditLog.created_at >= day_bounds_utc(day_from)[0])
    if day_to is not None:
        stmt = stmt.where(AuditLog.created_at < day_bounds_utc(day_to)[1])
    return paginate(stmt.order_by(AuditLog.id.desc()), number)


def known_actions():
    """Every action the log holds, for the filter's choices."""
    return db.session.execute(select(AuditLog.action).distinct().order_by(AuditLog.action)).scalars().all()


def actors():
    """Every account that has an audit row or is an operator, for the filter's choices."""
    logged = select(AuditLog.actor_id).where(AuditLog.actor_id.is_not(None)).distinct()
    return db.session.execute(
        select(User).where(or_(User.role == "operator", User.id.in_(logged))).order_by(User.id)
    ).scalars().all()


@dataclass(frozen=True)
class Shown:
    """An audit row's detail laid out for the log page: changed fields side by side
    (field, before, after), and every other detail key as (key, value); values as text."""

    changes: list
    extra: list


# Detail keys that hold the id of an account or a merchant, shown with its name ("小李 #4").
NAMED_IDS = {"member_id": "user", "user_id": "user", "merchant_id": "merchant", "inviter_id": "user"}


def _is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


def _text(value, key="", names=None):
    if value is None:
        return "—"
    if key.endswith("_fen") and _is_int(value):
        return f"¥{yuan(value)}"
    name = (names or {}).get((NAMED_IDS.get(key), value)) if _is_int(value) else None
    if name:
        return f"{name} #{value}"
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)


def shown(detail, names=None):
    """Lay out any stored detail: {"before": {...}, "after": {...}, ...} as the convention says, and
    whatever else other code wrote (no before/after, one side only, non-dict sides, a list, a string).
    names: {("user" | "merchant", id): name} for the ids the detail holds (see NAMED_IDS)."""
    if not isinstance(detail, dict):
        return Shown([], [] if detail is None else [("", _text(detail))])
    before, after = detail.get("before"), detail.get("after")
    before_map = before if isinstance(before, dict) else {}
    after_map = after if isinstance(after, dict) else {}
    changes = [(str(key), _text(before_map[key], str(key), names) if key in before_map else "",
                _text(after_map[key], str(key), names) if key in after_map else "")
               for key in dict.fromkeys([*before_map, *after_map])]
    # A side that is not a dict (a list, a number, text) is shown whole on its own row.
    loose_before = _text(before) if before is not None and not isinstance(before, dict) else ""
    loose_after = _text(after) if after is not None and not isinstance(after, dict) else ""
    if loose_before or loose_after:
        changes.append(("", loose_before, loose_after))
    extra = [(str(key), _text(value, str(key), names)) for key, value in detail.items()
             if key not in ("before", "after")]
    return Shown(changes, extra)


@dataclass(frozen=True)
class Row:
    """An audit entry as the console shows it: who (the account, None if gone), and its detail laid out."""

    entry: AuditLog
    actor: User | None
    detail: Shown
    target_name: str | None = None  # the account's or the merchant's name, when the object is one

    @property
    def action(self):
        return action_label(self.entry.action)

    @staticmethod
    def field(key):
        """What a detail key is called in the reader's language; None: shown as its code."""
        return FIELDS.get(key)


def _named(entry):
    """(kind, id) of every account and merchant an entry names: its object, and ids in its detail."""
    key = _target_key(entry.target)
    if key is not None:
        yield key
    detail = entry.detail if isinstance(entry.detail, dict) else {}
    sides = [side for side in (detail.get("before"), detail.get("after")) if isinstance(side, dict)]
    for values in (detail, *sides):
        for key, value in values.items():
            if key in NAMED_IDS and is_db_id(value):
                yield NAMED_IDS[key], value


def present(entries):
    """Audit entries ready for the console's tables: who did it, and the names of the accounts and
    merchants each names (one query for the accounts, one for the merchants)."""
    named = {pair for entry in entries for pair in _named(entry)}
    user_ids = {entry.actor_id for entry in entries if entry.actor_id is not None}
    user_ids |= {number for kind, number in named if kind == "user"}
    merchant_ids = {number for kind, number in named if kind == "merchant"}
    accounts = {user.id: user for user in db.session.execute(
        select(User).where(User.id.in_(user_ids))).scalars()} if user_ids else {}
    names = {("user", user.id): user.display_name for user in accounts.values()}
    if merchant_ids:
        names.update((("merchant", merchant_id), name) for merchant_id, name in db.session.execute(
            select(Merchant.id, Merchant.name).where(Merchant.id.in_(merchant_ids))))
    return [Row(entry, accounts.get(entry.actor_id), shown(entry.detail, names),
                names.get(_target_key(entry.target))) for entry in entries]


def _target_key(target):
    """("user" | "merchant", id) of an object that is an account or a merchant, else None."""
    kind, object_id = parse_ref(target)
    return (kind, object_id) if kind in ("user", "merchant") and object_id else None
