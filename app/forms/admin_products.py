"""Operator console forms: products, stock adjustments, images, categories, CSV import."""
import re
from datetime import datetime, timezone

from flask_babel import lazy_gettext as _l
from wtforms.fields.choices import SelectChoice
from wtforms import BooleanField, FileField, MultipleFileField, SelectField, StringField, TextAreaField
from wtforms.validators import AnyOf, DataRequired, InputRequired, Length, NumberRange, Optional

from app.forms.base import ActionForm, BaseForm
from app.forms.shop import WholeNumberField
from app.models.catalog import PRODUCT_KINDS
from app.services.clock import SHANGHAI, to_shanghai
from app.services.ids import parse_db_id
from app.services.product_admin import product_problems

_STRIP = [lambda v: v.strip() if isinstance(v, str) else v]
MAX_POINTS = 10_000_000
MAX_YUAN_FEN = 100_000_000  # 1,000,000 yuan


class YuanField(StringField):
    """An amount typed in yuan (up to 2 decimals), kept as integer fen; empty is 0."""

    def process_formdata(self, valuelist):
        raw = (valuelist[0] if valuelist else "") or ""
        raw = raw.strip() if isinstance(raw, str) else ""
        if raw == "":
            self.data = 0
            return
        match = re.fullmatch(r"(\d{1,9})(?:\.(\d{1,2}))?", raw)
        if not match:
            self.data = None
            raise ValueError(_l("请输入金额（元），最多两位小数，不能为负"))
        fen = int(match.group(1)) * 100 + int((match.group(2) or "0").ljust(2, "0"))
        if fen > MAX_YUAN_FEN:
            self.data = None
            raise ValueError(_l("金额太大"))
        self.data = fen

    def _value(self):
        if self.raw_data:
            return self.raw_data[0]
        fen = self.data or 0
        return "" if fen == 0 else (f"{fen // 100}" if fen % 100 == 0 else f"{fen / 100:.2f}")


class ShanghaiDateTimeField(StringField):
    """A Shanghai wall-clock time (YYYY-MM-DD HH:MM, or a date for 00:00) stored as aware UTC."""

    def process_formdata(self, valuelist):
        raw = (valuelist[0] if valuelist else "") or ""
        raw = raw.strip() if isinstance(raw, str) else ""
        if raw == "":
            self.data = None
            return
        for pattern in ("%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M", "%Y-%m-%d", "%Y/%m/%d %H:%M", "%Y/%m/%d"):
            try:
                local = datetime.strptime(raw, pattern)
            except ValueError:
                continue
            if not 2000 <= local.year <= 2100:
                break
            self.data = local.replace(tzinfo=SHANGHAI).astimezone(timezone.utc)
            return
        self.data = None
        raise ValueError(_l("时间格式应为 2026-01-31 10:00"))

    def _value(self):
        if self.raw_data:
            return self.raw_data[0]
        return to_shanghai(self.data).strftime("%Y-%m-%dT%H:%M") if self.data else ""


KIND_CHOICES = [("physical", _l("实物")), ("virtual", _l("虚拟商品")), ("coupon", _l("优惠券")),
                ("voucher", _l("商户券"))]
assert [key for key, _label in KIND_CHOICES] == list(PRODUCT_KINDS)


def _as_id(raw):
    return parse_db_id(raw) if isinstance(raw, str) else None


def _choices(pairs):
    return [SelectChoice(value, label) for value, label in pairs]


def _limit(label):
    return WholeNumberField(label, validators=[Optional(), NumberRange(1, 100_000, _l("须为 1 到 100000 之间的整数"))],
                            render_kw={"inputmode": "numeric"})


class ProductFields(BaseForm):
    """Every field a product has. Choices (categories, merchants, levels) are set by `with_choices`."""

    name = StringField(_l("商品名称"), filters=_STRIP, validators=[
        DataRequired(_l("请填写商品名称")), Length(max=60, message=_l("商品名称最多60个字"))])
    subtitle = StringField(_l("副标题"), filters=_STRIP, validators=[
        Length(max=120, message=_l("副标题最多120个字"))])
    kind = SelectField(_l("类型"), choices=_choices(KIND_CHOICES), default="physical",
                       validate_choice=False, validators=[AnyOf(PRODUCT_KINDS, message=_l("请选择商品类型"))])
    category_id = SelectField(_l("分类"), validate_choice=False)
    merchant_id = SelectField(_l("核销商户"), validate_choice=False)
    points_price = WholeNumberField(_l("积分价格"), bad_message=_l("积分须为整数"), validators=[
        InputRequired(_l("请填写积分价格")), NumberRange(0, MAX_POINTS, _l("积分须在 0 到 10000000 之间"))],
        render_kw={"inputmode": "numeric"})
    cash_yuan = YuanField(_l("现金部分（元）"), render_kw={"inputmode": "decimal", "placeholder": "0"})
    face_value_yuan = YuanField(_l("面值（元）"), render_kw={"inputmode": "decimal"})
    min_spend_yuan = YuanField(_l("最低消费（元）"), render_kw={"inputmode": "decimal"})
    stock = WholeNumberField(_l("初始库存"), bad_message=_l("库存须为整数"), default=0, validators=[
        InputRequired(_l("请填写库存")), NumberRange(0, 1_000_000, _l("库存须在 0 到 1000000 之间"))],
        render_kw={"inputmode": "numeric"})
    limit_day = _limit(_l("每人每日限兑"))
    limit_month = _limit(_l("每人每月限兑"))
    limit_total = _limit(_l("每人累计限兑"))
    sale_starts_at = ShanghaiDateTimeField(_l("限时兑换开始"), render_kw={"type": "datetime-local"})
    sale_ends_at = ShanghaiDateTimeField(_l("限时兑换结束"), render_kw={"type": "datetime-local"})
    valid_days = WholeNumberField(_l("有效天数"), default=30, bad_message=_l("有效天数须为整数"), validators=[
        InputRequired(_l("请填写有效天数")), NumberRange(1, 3650, _l("有效天数须在 1 到 3650 之间"))],
        render_kw={"inputmode": "numeric"})
    valid_from = ShanghaiDateTimeField(_l("固定有效期起"), render_kw={"type": "datetime-local"})
    valid_until = ShanghaiDateTimeField(_l("固定有效期止"), render_kw={"type": "datetime-local"})
    min_level = SelectField(_l("兑换等级"), validate_choice=False)
    position = WholeNumberField(_l("排序（大的在前）"), default=0, bad_message=_l("排序须为整数"), validators=[
        InputRequired(_l("请填写排序")), NumberRange(-100_000, 100_000, _l("排序须在 -100000 到 100000 之间"))],
        render_kw={"inputmode": "numeric"})
    is_hot = BooleanField(_l("热门推荐"))
    is_active = BooleanField(_l("上架"), default=True)
    description = TextAreaField(_l("商品详情（HTML）"), validators=[
        Length(max=20_000, message=_l("商品详情最多20000个字"))], render_kw={"rows": 8})

    def with_choices(self, categories, merchants, levels):
        self.category_id.choices = _choices([("", _l("不分类"))] + [(str(c.id), c.name) for c in categories])
        self.merchant_id.choices = _choices([("", _l("无"))] + [(str(m.id), m.name) for m in merchants])
        self.min_level.choices = _choices([("", _l("所有会员"))] + [(lv.key, lv.label) for lv in levels])
        return self

    def _choice_id(self, field, message):
        raw = field.data or ""
        if raw == "":
            return None
        if raw not in {choice.value for choice in field.choices}:
            field.errors.append(message)
            return None
        return int(raw)

    def values(self):
        """The form as product column values (valid only after validate())."""
        values = {
            "name": self.name.data, "subtitle": self.subtitle.data or None, "kind": self.kind.data,
            "category_id": _as_id(self.category_id.data), "merchant_id": _as_id(self.merchant_id.data),
            "points_price": self.points_price.data, "cash_fen": self.cash_yuan.data or 0,
            "face_value_fen": self.face_value_yuan.data or 0, "min_spend_fen": self.min_spend_yuan.data or 0,
            "limit_day": self.limit_day.data, "limit_month": self.limit_month.data,
            "limit_total": self.limit_total.data, "sale_starts_at": self.sale_starts_at.data,
            "sale_ends_at": self.sale_ends_at.data, "valid_days": self.valid_days.data,
            "valid_from": self.valid_from.data, "valid_until": self.valid_until.data,
            "min_level": self.min_level.data or None, "position": self.position.data,
            "is_hot": bool(self.is_hot.data), "is_active": bool(self.is_active.data),
            "description_html": self.description.data or "",
        }
        if self.stock is not None and "stock" in self._fields:
            values["stock"] = self.stock.data
        return values

    def validate(self, extra_validators=None):
        ok = super().validate(extra_validators)
        self._choice_id(self.category_id, _l("分类不存在"))
        self._choice_id(self.merchant_id, _l("商户不存在"))
        if (self.min_level.data or "") not in {choice.value for choice in self.min_level.choices}:
            self.min_level.errors.append(_l("会员等级不存在"))
        # Rules across fields too, so that a report lists every problem of a row at once
        # (a field that is wrong by itself keeps its own message).
        for name, message in product_problems(self.values()).items():
            if not self[name].errors:
                self[name].errors.append(message)
        return ok and not any(f.errors for f in self)


def product_initial(product):
    """Form data for a stored product (the edit page's first view)."""
    return {
        "name": product.name, "subtitle": product.subtitle, "kind": product.kind,
        "category_id": str(product.category_id or ""), "merchant_id": str(product.merchant_id or ""),
        "points_price": product.points_price, "cash_yuan": product.cash_fen,
        "face_value_yuan": product.face_value_fen, "min_spend_yuan": product.min_spend_fen,
        "limit_day": product.limit_day, "limit_month": product.limit_month, "limit_total": product.limit_total,
        "sale_starts_at": product.sale_starts_at, "sale_ends_at": product.sale_ends_at,
        "valid_days": product.valid_days, "valid_from": product.valid_from, "valid_until": product.valid_until,
        "min_level": product.min_level or "", "position": product.position, "is_hot": product.is_hot,
        "is_active": product.is_active, "description": product.description_html or "",
    }


class ProductForm(ProductFields, ActionForm):
    """Create a product (with its initial stock); a double submit creates one."""


class ProductEditForm(ProductFields):
    """Edit a product: stock changes only through adjustments."""

    stock = None


class ShelfForm(ActionForm):
    on = StringField(validators=[AnyOf(("1", "0"), message=_l("请求有误，请检查后重试"))])


class StockForm(ActionForm):
    delta = WholeNumberField(_l("调整数量（正数增加，负数减少）"), bad_message=_l("调整数量须为整数"), validators=[
        InputRequired(_l("请填写调整数量")), NumberRange(-1_000_000, 1_000_000, _l("调整数量须在 ±1000000 以内"))],
        render_kw={"inputmode": "numeric"})
    reason = StringField(_l("原因"), filters=_STRIP, validators=[
        DataRequired(_l("请填写调整原因")), Length(max=100, message=_l("原因最多100个字"))])


class ImageForm(ActionForm):
    image = MultipleFileField(_l("商品图片"), render_kw={"accept": "image/jpeg,image/png,image/webp,image/gif"})


class MoveForm(ActionForm):
    direction = StringField(validators=[AnyOf(("up", "down"), message=_l("请求有误，请检查后重试"))])


class CategoryForm(BaseForm):
    name = StringField(_l("分类名称"), filters=_STRIP, validators=[
        DataRequired(_l("请填写分类名称")), Length(max=20, message=_l("分类名称最多20个字"))])
    symbol = StringField(_l("图标（一个表情符号）"), filters=_STRIP, validators=[
        Length(max=8, message=_l("图标最多8个字符"))])
    position = WholeNumberField(_l("排序（小的在前）"), bad_message=_l("排序须为整数"), validators=[
        Optional(), NumberRange(-100_000, 100_000, _l("排序须在 -100000 到 100000 之间"))],
        render_kw={"inputmode": "numeric"})
    is_active = BooleanField(_l("启用"), default=True)

    def values(self):
        return {"name": self.name.data, "symbol": self.symbol.data or None, "position": self.position.data,
                "is_active": bool(self.is_active.data)}


class NewCategoryForm(CategoryForm, ActionForm):
    pass


class ImportForm(ActionForm):
    file = FileField(_l("CSV 文件"), render_kw={"accept": ".csv,text/csv"})
    valid_only = BooleanField(_l("只导入没有错误的行"))
