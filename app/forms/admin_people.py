"""Operator console forms for people: members, merchants and their staff, operators, the audit filter."""
import re

from flask_babel import lazy_gettext as _l
from wtforms import BooleanField, HiddenField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional, ValidationError

from app.forms.base import ActionForm, mobile_phone
from app.services.merchant_admin import MAX_AMOUNT_FEN, MAX_DAILY_CAP, MAX_RATIO_PCT, MerchantTerms
from app.services.member_admin import MAX_ADJUST, MAX_REASON

_SIGNED_INT = re.compile(r"^[+-]?[0-9]{1,9}$")
_HUNDREDTHS = re.compile(r"^([0-9]{1,9})(?:\.([0-9]{1,2}))?$")
_PLAIN_INT = re.compile(r"^[0-9]{1,9}$")
_CONTACT_PHONE = re.compile(r"^\+?[0-9][0-9 \-]{4,18}[0-9]$")


def hundredths(text):
    """'1', '1.5', '0.05' as an integer count of hundredths (100, 150, 5); None if not such a number."""
    match = _HUNDREDTHS.match((text or "").strip())
    if not match:
        return None
    whole, part = match.group(1), (match.group(2) or "").ljust(2, "0")
    return int(whole) * 100 + int(part)


class AdjustPointsForm(ActionForm):
    delta = StringField(_l("调整积分"), validators=[DataRequired(_l("请填写调整积分"))],
                        render_kw={"inputmode": "numeric", "maxlength": 12})
    reason = TextAreaField(_l("调整原因"), validators=[DataRequired(_l("请填写调整原因")),
                                                    Length(max=MAX_REASON, message=_l("调整原因最多200个字"))],
                           render_kw={"rows": 2, "maxlength": MAX_REASON})

    def validate_delta(self, field):
        text = (field.data or "").strip()
        if not _SIGNED_INT.match(text):
            raise ValidationError(_l("请填写整数，加分为正数，扣分为负数"))
        value = int(text)
        if value == 0:
            raise ValidationError(_l("调整积分不能为0"))
        if abs(value) > MAX_ADJUST:
            raise ValidationError(_l("单次调整不能超过±10,000,000积分"))
        field.data = value

    def validate_reason(self, field):
        field.data = (field.data or "").strip()
        if not field.data:
            raise ValidationError(_l("请填写调整原因"))


class MerchantForm(ActionForm):
    name = StringField(_l("商户名称"), validators=[DataRequired(_l("请填写商户名称")),
                                                Length(max=80, message=_l("商户名称最多80个字"))],
                       render_kw={"maxlength": 80})
    address = StringField(_l("地址"), validators=[Optional(), Length(max=200, message=_l("地址最多200个字"))],
                          render_kw={"maxlength": 200})
    phone = StringField(_l("联系电话"), validators=[Optional()], render_kw={"maxlength": 20, "inputmode": "tel"})
    is_active = BooleanField(_l("营业中（店员可核销、可发放消费积分）"), default=True)
    points_per_yuan = StringField(_l("每消费1元获得积分"), default="1",
                                  validators=[DataRequired(_l("请填写每元积分"))],
                                  render_kw={"inputmode": "decimal", "maxlength": 12})
    daily_cap_points = StringField(_l("每位会员每日上限（积分）"), default="2000",
                                   validators=[DataRequired(_l("请填写每日上限"))],
                                   render_kw={"inputmode": "numeric", "maxlength": 12})
    max_amount_yuan = StringField(_l("单笔最高金额（元）"), default="5000",
                                  validators=[DataRequired(_l("请填写单笔最高金额"))],
                                  render_kw={"inputmode": "decimal", "maxlength": 14})

    def validate_phone(self, field):
        text = (field.data or "").strip()
        if text and not _CONTACT_PHONE.match(text):
            raise ValidationError(_l("请输入正确的联系电话，如 021-12345678 或 13812345678"))
        field.data = text or None

    def validate_points_per_yuan(self, field):
        value = hundredths(field.data)
        if value is None or not 1 <= value <= MAX_RATIO_PCT:
            raise ValidationError(_l("每元积分需在0.01到100之间，最多两位小数"))
        field.parsed = value

    def validate_daily_cap_points(self, field):
        text = (field.data or "").strip()
        if not _PLAIN_INT.match(text) or not 1 <= int(text) <= MAX_DAILY_CAP:
            raise ValidationError(_l("每日上限需为1到1,000,000之间的整数"))
        field.parsed = int(text)

    def validate_max_amount_yuan(self, field):
        value = hundredths(field.data)
        if value is None or not 1 <= value <= MAX_AMOUNT_FEN:
            raise ValidationError(_l("单笔最高金额需在0.01到1,000,000元之间，最多两位小数"))
        field.parsed = value

    def terms(self):
        """The validated form as the service's MerchantTerms."""
        return MerchantTerms(
            name=self.name.data.strip(), address=(self.address.data or "").strip() or None, phone=self.phone.data,
            is_active=bool(self.is_active.data), points_ratio_pct=self.points_per_yuan.parsed,
            daily_cap_points=self.daily_cap_points.parsed, max_amount_fen=self.max_amount_yuan.parsed,
        )

    def fill(self, merchant):
        """Show a merchant's stored values in the form's units."""
        self.name.data, self.address.data, self.phone.data = merchant.name, merchant.address, merchant.phone
        self.is_active.data = merchant.is_active
        self.points_per_yuan.data = _from_hundredths(merchant.points_ratio_pct)
        self.daily_cap_points.data = str(merchant.daily_cap_points)
        self.max_amount_yuan.data = _from_hundredths(merchant.max_amount_fen)


def _from_hundredths(value):
    whole, part = divmod(int(value), 100)
    return f"{whole}" if not part else f"{whole}.{part:02d}".rstrip("0")


class AccountForm(ActionForm):
    """A new staff or operator account: the phone it logs in with and the person's name."""

    phone = StringField(_l("手机号"), validators=[DataRequired(_l("请输入手机号")), mobile_phone],
                        render_kw={"inputmode": "numeric", "autocomplete": "off", "maxlength": 16})
    name = StringField(_l("姓名"), validators=[DataRequired(_l("请填写姓名")),
                                            Length(max=40, message=_l("姓名最多40个字"))],
                       render_kw={"maxlength": 40, "autocomplete": "off"})


class ConfirmForm(ActionForm):
    """A console button that changes an account names its action in the form (`confirm`), so a
    bare or stray POST to the same address does nothing."""

    confirm = HiddenField()

    def confirms(self, action):
        """True for a valid submission of the button for `action`; otherwise the errors say why."""
        if not self.validate_on_submit():
            return False
        if self.confirm.data != action:
            self.confirm.errors.append(_l("页面已过期，请刷新后重试"))
            return False
        return True
