"""Operator forms for game and earning rules: each refuses a bad value at its field.

Each settings form knows its settings group: `load(values)` fills it from the current
values and `changes()` turns valid input into {setting key: new value} for the service.
"""
from datetime import date, datetime

from flask_babel import lazy_gettext as _l
from wtforms import (BooleanField, DateTimeLocalField, FieldList, Form, FormField, HiddenField, IntegerField,
                     SelectField, StringField, TextAreaField)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import AnyOf, InputRequired, Length, NumberRange, Optional, ValidationError

from app.forms.base import ActionForm, BaseForm, IdField
from app.services.clock import SHANGHAI
from app.services.referrals import PAY_ON
from app.services.rule_admin import MAX_COST, MAX_REWARD, MAX_STOCK, MAX_TIER, MAX_WEIGHT

_WHOLE = _l("请输入整数")


def _int(label, low, high, *, optional=False, message=None):
    """An integer field limited to low..high, with one message for every kind of bad value."""
    message = message or _l("请输入 %(low)s 到 %(high)s 之间的整数", low=low, high=high)
    checks = [Optional()] if optional else [InputRequired(message)]
    return IntegerField(label, validators=checks + [NumberRange(low, high, message)],
                        render_kw={"min": low, "max": high, "inputmode": "numeric"})


def _choice(label, choices, message):
    """A select whose unknown value gets `message` (not WTForms' 'Not a valid choice')."""
    return SelectField(label, choices=[SelectChoice(key, text) for key, text in choices], validate_choice=False,
                       validators=[AnyOf([key for key, _label in choices], message=message)])


class _Messages:
    """One friendly message for a field that did not parse (WTForms says 'Not a valid integer value')."""

    def validate(self, extra_validators=None):
        valid = super().validate(extra_validators)
        for field in self._all_fields():
            typed = field.raw_data and field.raw_data[0].strip()
            if field.errors and field.process_errors and typed and isinstance(field, IntegerField) \
                    and not isinstance(field, IdField):
                field.errors = [_WHOLE]
        return valid

    def _all_fields(self):
        pending = list(self)
        while pending:
            field = pending.pop()
            if isinstance(field, FieldList):
                pending.extend(field.entries)
            elif isinstance(field, FormField):
                pending.extend(field.form)
            else:
                yield field


# ---- settings groups ---------------------------------------------------------------------------

class CheckinRulesForm(_Messages, BaseForm):
    checkin_enabled = BooleanField(_l("开启每日签到"))
    rewards = StringField(_l("连续签到奖励（第 1 天、第 2 天……，用逗号分隔，之后循环）"),
                          validators=[InputRequired(_l("请填写每天的签到奖励"))], render_kw={"maxlength": 400})
    makeup_enabled = BooleanField(_l("允许补签"))
    makeup_cost = _int(_l("补签一天消耗积分"), 0, MAX_REWARD)
    makeup_per_month = _int(_l("每月最多补签次数"), 0, 31)
    makeup_window_days = _int(_l("可补签最近几天"), 1, 31)

    def validate_rewards(self, field):
        parts = [p for p in (field.data or "").replace("，", ",").replace(" ", ",").split(",") if p]
        if not parts or len(parts) > 31:
            raise ValidationError(_l("请填写 1 到 31 天的奖励"))
        if any(not p.isascii() or not p.isdigit() or not 1 <= int(p) <= MAX_REWARD for p in parts):
            raise ValidationError(_l("每天的奖励需为 1 到 %(n)s 之间的整数", n=MAX_REWARD))
        self.reward_list = [int(p) for p in parts]

    def load(self, values):
        checkin, makeup = values["earn.checkin"], values["earn.makeup"]
        self.checkin_enabled.data = bool(checkin.get("enabled"))
        self.rewards.data = ", ".join(str(n) for n in checkin.get("rewards") or [])
        self.makeup_enabled.data = bool(makeup.get("enabled"))
        self.makeup_cost.data = makeup.get("cost")
        self.makeup_per_month.data = makeup.get("per_month")
        self.makeup_window_days.data = makeup.get("window_days")

    def changes(self):
        return {"earn.checkin": {"enabled": self.checkin_enabled.data, "rewards": self.reward_list},
                "earn.makeup": {"enabled": self.makeup_enabled.data, "cost": self.makeup_cost.data,
                                "per_month": self.makeup_per_month.data,
                                "window_days": self.makeup_window_days.data}}


class TaskRulesForm(_Messages, BaseForm):
    newbie_enabled = BooleanField(_l("开启新手任务"))
    profile = _int(_l("完善个人资料"), 0, MAX_REWARD)
    phone = _int(_l("绑定手机号"), 0, MAX_REWARD)
    first_redeem = _int(_l("首次兑换商品"), 0, MAX_REWARD)
    first_draw = _int(_l("首次参与抽奖"), 0, MAX_REWARD)
    daily_enabled = BooleanField(_l("开启每日任务"))
    share = _int(_l("分享商品（每天一次）"), 0, MAX_REWARD)
    browse = _int(_l("逛逛活动专区（每天一次）"), 0, MAX_REWARD)
    browse_seconds = _int(_l("逛活动专区需停留秒数"), 1, 600)

    NEWBIE = ("profile", "phone", "first_redeem", "first_draw")
    DAILY = ("share", "browse", "browse_seconds")

    def load(self, values):
        newbie, daily = values["earn.newbie"], values["earn.daily"]
        self.newbie_enabled.data = bool(newbie.get("enabled"))
        self.daily_enabled.data = bool(daily.get("enabled"))
        for name in self.NEWBIE:
            self[name].data = newbie.get(name)
        for name in self.DAILY:
            self[name].data = daily.get(name)

    def changes(self):
        return {"earn.newbie": {"enabled": self.newbie_enabled.data, **{n: self[n].data for n in self.NEWBIE}},
                "earn.daily": {"enabled": self.daily_enabled.data, **{n: self[n].data for n in self.DAILY}}}


PAY_ON_LABELS = {"register": _l("被邀请人注册时发放"), "first_redeem": _l("被邀请人首次兑换时发放")}


class RewardRulesForm(_Messages, BaseForm):
    register_enabled = BooleanField(_l("开启注册礼"))
    register_points = _int(_l("注册礼积分"), 1, MAX_REWARD)
    invite_enabled = BooleanField(_l("开启邀请奖励"))
    invite_points = _int(_l("邀请人获得积分"), 1, MAX_REWARD)
    invite_pay_on = _choice(_l("发放时机"), [(key, PAY_ON_LABELS[key]) for key in PAY_ON], _l("请选择发放时机"))
    invite_per_ip_daily = _int(_l("同一 IP 每天最多计奖的注册数"), 1, 1000)
    birthday_enabled = BooleanField(_l("开启生日礼"))
    birthday_points = _int(_l("生日礼积分"), 1, MAX_REWARD)

    def load(self, values):
        register, invite, birthday = values["earn.register"], values["earn.invite"], values["earn.birthday"]
        self.register_enabled.data, self.register_points.data = bool(register.get("enabled")), register.get("points")
        self.invite_enabled.data, self.invite_points.data = bool(invite.get("enabled")), invite.get("points")
        self.invite_pay_on.data, self.invite_per_ip_daily.data = invite.get("pay_on"), invite.get("per_ip_daily")
        self.birthday_enabled.data, self.birthday_points.data = bool(birthday.get("enabled")), birthday.get("points")

    def changes(self):
        return {"earn.register": {"enabled": self.register_enabled.data, "points": self.register_points.data},
                "earn.invite": {"enabled": self.invite_enabled.data, "points": self.invite_points.data,
                                "pay_on": self.invite_pay_on.data, "per_ip_daily": self.invite_per_ip_daily.data},
                "earn.birthday": {"enabled": self.birthday_enabled.data, "points": self.birthday_points.data}}


class LevelRowForm(_Messages, Form):
    """One level; its key stays as it is (members' stored level names refer to it)."""

    name = StringField(_l("等级名称"), validators=[InputRequired(_l("请填写等级名称")),
                                               Length(max=20, message=_l("等级名称最多 20 个字"))])
    min_growth = _int(_l("成长值门槛"), 0, 100_000_000)
    multiplier_pct = _int(_l("积分倍率（%）"), 100, 1000, message=_l("积分倍率需为 100 到 1000 之间的整数（百分比）"))
    discount_pct = _int(_l("兑换折扣（%）"), 1, 100, message=_l("兑换折扣需为 1 到 100 之间的整数（百分比）"))
    # After-sales (售后) window after delivery, a level perk; left empty, the stored value stays.
    aftersale_days = _int(_l("售后天数"), 1, 365, optional=True, message=_l("售后天数需为 1 到 365 之间的整数"))


class LevelRulesForm(_Messages, BaseForm):
    levels = FieldList(FormField(LevelRowForm), min_entries=1, max_entries=10)

    def validate_levels(self, field):
        rows = [entry.form for entry in field.entries]
        if any(row.min_growth.errors or row.min_growth.data is None for row in rows):
            return
        if rows[0].min_growth.data != 0:
            rows[0].min_growth.errors = list(rows[0].min_growth.errors) + [_l("第一个等级的门槛必须是 0")]
            raise ValidationError(_l("请检查等级门槛"))
        for previous, row in zip(rows, rows[1:]):
            if row.min_growth.data <= previous.min_growth.data:
                row.min_growth.errors = list(row.min_growth.errors) + [_l("门槛必须逐级严格递增")]
                raise ValidationError(_l("请检查等级门槛"))

    def load(self, values):
        while len(self.levels.entries) < len(values["levels"]):
            self.levels.append_entry()
        for entry, level in zip(self.levels.entries, values["levels"]):
            for name in ("name", "min_growth", "multiplier_pct", "discount_pct"):
                entry.form[name].data = level.get(name)
            entry.form.aftersale_days.data = level.get("aftersale_days", 7)

    def changes(self):
        rows = []
        for entry in self.levels.entries:
            row = {name: entry.form[name].data.strip() if name == "name" else entry.form[name].data
                   for name in ("name", "min_growth", "multiplier_pct", "discount_pct")}
            if entry.form.aftersale_days.data is not None:
                row["aftersale_days"] = entry.form.aftersale_days.data
            rows.append(row)
        return {"levels": rows}


class DoublePointsForm(_Messages, BaseForm):
    days = TextAreaField(_l("双倍积分日（每行一个日期，格式 2026-12-12）"), render_kw={"rows": 6, "maxlength": 4000})
    factor = _int(_l("倍数"), 2, 10)

    def validate_days(self, field):
        parts = [p.strip() for p in (field.data or "").replace(",", "\n").replace("，", "\n").splitlines() if p.strip()]
        if len(parts) > 366:
            raise ValidationError(_l("最多设置 366 个日期"))
        days = set()
        for part in parts:
            try:
                if len(part) != 10:
                    raise ValueError(part)
                days.add(date.fromisoformat(part))
            except ValueError:
                raise ValidationError(_l("「%(text)s」不是有效日期，请按 2026-12-12 的格式填写",
                                         text=part[:20])) from None
        self.day_list = [day.isoformat() for day in sorted(days)]

    def load(self, values):
        self.days.data = "\n".join(values["double_points.days"] or [])
        self.factor.data = values["double_points.factor"]

    def changes(self):
        return {"double_points.days": self.day_list, "double_points.factor": self.factor.data}


class ExpiryForm(_Messages, BaseForm):
    expiry_months = _int(_l("积分有效期（月）"), 1, 120)
    packet_expiry_days = _int(_l("红包积分领取后有效天数"), 1, 365)

    def load(self, values):
        self.expiry_months.data = values["points.expiry_months"]
        self.packet_expiry_days.data = values["points.packet_expiry_days"]

    def changes(self):
        return {"points.expiry_months": self.expiry_months.data,
                "points.packet_expiry_days": self.packet_expiry_days.data}


SETTINGS_FORMS = {"checkin": CheckinRulesForm, "tasks": TaskRulesForm, "rewards": RewardRulesForm,
                  "levels": LevelRulesForm, "double": DoublePointsForm, "expiry": ExpiryForm}


# ---- windows in Shanghai time ------------------------------------------------------------------

def shanghai_field(label, required=True):
    """A datetime-local input read as Shanghai wall time."""
    checks = [InputRequired(_l("请选择时间"))] if required else [Optional()]
    return DateTimeLocalField(label, validators=checks, format=["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S"])


def as_utc(value):
    """A naive Shanghai wall time from a form as an aware datetime (None stays None)."""
    return value.replace(tzinfo=SHANGHAI) if value is not None else None


def as_local(value):
    """An aware datetime for a datetime-local input (Shanghai wall time, naive)."""
    return value.astimezone(SHANGHAI).replace(tzinfo=None) if value is not None else None


class _Window:
    """Refuses a window that ends before (or when) it starts, at the end field; friendly parse errors."""

    def validate(self, extra_validators=None):
        valid = super().validate(extra_validators)
        for field in (self.starts_at, self.ends_at):
            if field.errors and field.raw_data and field.raw_data[0]:
                field.errors = [_l("请选择正确的时间")]
        if self.starts_at.data and self.ends_at.data and self.ends_at.data <= self.starts_at.data:
            self.ends_at.errors = list(self.ends_at.errors) + [_l("结束时间需晚于开始时间")]
            valid = False
        for field in (self.starts_at, self.ends_at):
            if field.data and not 2000 <= field.data.year <= 2100:
                field.errors = list(field.errors) + [_l("请选择正确的时间")]
                valid = False
        return valid


class PacketForm(_Window, _Messages, BaseForm):
    title = StringField(_l("标题"), validators=[InputRequired(_l("请填写标题")),
                                              Length(max=60, message=_l("标题最多 60 个字"))])
    points = _int(_l("每人可领积分"), 1, MAX_REWARD)
    starts_at = shanghai_field(_l("开始领取"))
    ends_at = shanghai_field(_l("截止领取"))
    total = _int(_l("份数（不限量请留空）"), 1, 10_000_000, optional=True)
    enabled = BooleanField(_l("启用"), default=True)

    def values(self):
        return {"title": self.title.data, "points": self.points.data, "starts_at": as_utc(self.starts_at.data),
                "ends_at": as_utc(self.ends_at.data), "total": self.total.data, "enabled": self.enabled.data}


class NewPacketForm(PacketForm, ActionForm):
    """Creating a packet: the request key makes a second submit return the first packet."""


class PacketSwitchForm(ActionForm):
    """Switch a packet on or off: the wanted state is sent, so a second submit changes nothing."""

    enabled = HiddenField()


# ---- draws -------------------------------------------------------------------------------------

SKIN_CHOICES = [("wheel", _l("大转盘")), ("grid", _l("九宫格"))]
PURPOSE_CHOICES = [("normal", _l("普通抽奖")), ("newbie", _l("新手礼包"))]
KIND_CHOICES = [("points", _l("积分")), ("consolation", _l("安慰奖积分")), ("product", _l("商品")),
                ("thanks", _l("谢谢参与"))]


class DrawForm(_Window, _Messages, BaseForm):
    name = StringField(_l("名称"), validators=[InputRequired(_l("请填写名称")),
                                             Length(max=60, message=_l("名称最多 60 个字"))])
    description = StringField(_l("说明（选填）"), validators=[Optional(), Length(max=200, message=_l("说明最多 200 个字"))])
    skin = _choice(_l("样式"), SKIN_CHOICES, _l("请选择抽奖样式"))
    cost = _int(_l("每次消耗积分"), 1, MAX_COST)
    daily_limit = _int(_l("每人每天次数（0 为不限）"), 0, 1000)
    pity_after = _int(_l("保底：连续未中次数（选填）"), 1, 1000, optional=True)
    pity_tier = _int(_l("保底：至少获得几等奖"), 1, MAX_TIER, optional=True)
    starts_at = shanghai_field(_l("开始时间（选填）"), required=False)
    ends_at = shanghai_field(_l("结束时间（选填）"), required=False)
    is_active = BooleanField(_l("上线（会员可见可玩）"))

    def validate(self, extra_validators=None):
        valid = super().validate(extra_validators)
        if (self.pity_after.data is None) != (self.pity_tier.data is None) and not (
                self.pity_after.errors or self.pity_tier.errors):
            self.pity_tier.errors = list(self.pity_tier.errors) + [_l("保底需同时填写次数和奖品等级，或都留空")]
            valid = False
        return valid

    def values(self):
        return {"name": self.name.data.strip(), "description": (self.description.data or "").strip() or None,
                "skin": self.skin.data, "cost": self.cost.data, "daily_limit": self.daily_limit.data,
                "pity_after": self.pity_after.data, "pity_tier": self.pity_tier.data,
                "starts_at": as_utc(self.starts_at.data), "ends_at": as_utc(self.ends_at.data),
                "is_active": self.is_active.data if self.is_active is not None else False}

    def load(self, draw):
        for name in ("name", "description", "skin", "cost", "daily_limit", "pity_after", "pity_tier", "is_active"):
            self[name].data = getattr(draw, name)
        self.starts_at.data, self.ends_at.data = as_local(draw.starts_at), as_local(draw.ends_at)


class NewDrawForm(DrawForm, ActionForm):
    purpose = _choice(_l("用途"), PURPOSE_CHOICES, _l("请选择用途"))
    slots = _int(_l("奖品格数（九宫格 8 个，大转盘 4 到 12 个）"), 4, 12)
    is_active = None  # a new draw starts switched off, with its prize pool still to fill in

    def values(self):
        values = {**super().values(), "purpose": self.purpose.data, "slots": self.slots.data}
        values.pop("is_active")
        return values

    def validate_slots(self, field):
        if self.skin.data == "grid" and field.data != 8:
            raise ValidationError(_l("九宫格需要恰好 8 个奖品"))


class PrizeRowForm(_Messages, Form):
    prize_id = IdField(validators=[InputRequired()], widget=HiddenField.widget)
    name = StringField(_l("奖品名称"), validators=[InputRequired(_l("请填写奖品名称")),
                                                Length(max=40, message=_l("奖品名称最多 40 个字"))])
    kind = _choice(_l("类型"), KIND_CHOICES, _l("请选择奖品类型"))
    points = _int(_l("积分"), 0, MAX_REWARD, optional=True)
    product_id = IdField(_l("商品编号"), validators=[Optional()])
    tier = _int(_l("等级"), 1, MAX_TIER, optional=True)
    weight = _int(_l("权重"), 0, MAX_WEIGHT)
    stock = _int(_l("库存（不限请留空）"), 0, MAX_STOCK, optional=True)

    def validate(self, extra_validators=None):
        valid = super().validate(extra_validators)
        # Optional() ends these fields' checks when empty; what the kind needs is checked here.
        if self.kind.data in ("points", "consolation") and not self.points.data and not self.points.errors:
            self.points.errors = [_l("积分奖品需在 1 到 %(n)s 积分之间", n=MAX_REWARD)]
            valid = False
        if self.kind.data == "product" and self.product_id.data is None and not self.product_id.errors:
            self.product_id.errors = [_l("请填写商品编号")]
            valid = False
        return valid


class PrizePoolForm(_Messages, BaseForm):
    prizes = FieldList(FormField(PrizeRowForm), min_entries=1, max_entries=12)

    def validate_prizes(self, field):
        rows = [entry.form for entry in field.entries]
        if any(row.weight.errors or row.weight.data is None for row in rows):
            return
        if sum(row.weight.data for row in rows) <= 0:
            raise ValidationError(_l("奖品权重之和必须大于 0"))

    def load(self, prizes):
        while len(self.prizes.entries) < len(prizes):
            self.prizes.append_entry()
        for entry, prize in zip(self.prizes.entries, prizes):
            entry.form.prize_id.data = prize.id
            for name in ("name", "kind", "points", "product_id", "tier", "weight", "stock"):
                entry.form[name].data = getattr(prize, name)
            if prize.kind not in ("points", "consolation"):
                entry.form.points.data = None

    def rows(self):
        return [{"prize_id": e.form.prize_id.data, "name": e.form.name.data, "kind": e.form.kind.data,
                 "points": e.form.points.data or 0, "product_id": e.form.product_id.data, "tier": e.form.tier.data,
                 "weight": e.form.weight.data, "stock": e.form.stock.data} for e in self.prizes.entries]


# ---- treasure ----------------------------------------------------------------------------------

class TreasureItemForm(_Messages, BaseForm):
    name = StringField(_l("名称"), validators=[InputRequired(_l("请填写名称")),
                                             Length(max=60, message=_l("名称最多 60 个字"))])
    description = StringField(_l("说明（选填）"), validators=[Optional(), Length(max=300, message=_l("说明最多 300 个字"))])
    total_shares = _int(_l("每期份数"), 2, 100_000)
    share_price = _int(_l("每份积分"), 1, MAX_COST)
    prize_points = _int(_l("奖品积分（积分奖品）"), 1, 10_000_000, optional=True)
    round_hours = _int(_l("每期时长（小时）"), 1, 24 * 90)
    is_active = BooleanField(_l("启用（开奖后自动开启下一期）"), default=True)

    def values(self):
        return {"name": self.name.data, "description": (self.description.data or "").strip() or None,
                "total_shares": self.total_shares.data, "share_price": self.share_price.data,
                "prize_points": self.prize_points.data, "round_hours": self.round_hours.data,
                "is_active": self.is_active.data if self.is_active is not None else True}

    def load(self, item):
        for name in ("name", "description", "total_shares", "share_price", "round_hours", "is_active"):
            self[name].data = getattr(item, name)
        self.prize_points.data = item.prize_points or None


class NewTreasureItemForm(TreasureItemForm, ActionForm):
    product_id = IdField(_l("奖品商品编号（商品奖品时填写，积分奖品留空）"), validators=[Optional()])
    is_active = None

    def values(self):
        return {**super().values(), "product_id": self.product_id.data}

    def validate(self, extra_validators=None):
        valid = super().validate(extra_validators)
        if self.product_id.data is None and not self.prize_points.data and not (
                self.product_id.errors or self.prize_points.errors):
            self.prize_points.errors = [_l("积分奖品请填写奖品积分，商品奖品请填写商品编号")]
            valid = False
        return valid


def now_local():
    """Now as a datetime-local value (Shanghai), for a new packet's default window."""
    return as_local(datetime.now(SHANGHAI)).replace(second=0, microsecond=0)
