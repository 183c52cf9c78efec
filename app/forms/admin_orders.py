"""Console forms for orders: the list's filters (GET), ship, cancel/refund with a reason, bulk ship."""
from flask_babel import lazy_gettext as _l
from flask_wtf.file import FileField
from wtforms import BooleanField, DateField, HiddenField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional, ValidationError

from app.forms.base import BaseForm
from app.services.accounts import normalize_phone
from app.services.ids import parse_db_id
from app.services.order_console import OrderFilter, kind_choices, status_choices

MAX_SHIP_FILE_BYTES = 1024 * 1024


class ShanghaiDateField(DateField):
    """A yyyy-mm-dd day whose parse error is in the reader's language."""

    def process_formdata(self, valuelist):
        if valuelist and valuelist[0]:
            try:
                super().process_formdata(valuelist)
            except ValueError:
                raise ValueError(_l("请输入正确的日期，如 2026-11-23")) from None


class OrderFilterForm(BaseForm):
    """The filter bar above the console's order list; read from the query string."""

    class Meta:
        csrf = False

    status = SelectField(_l("状态"), validators=[Optional()], validate_choice=False)
    kind = SelectField(_l("类型"), validators=[Optional()], validate_choice=False)
    member = StringField(_l("会员"), validators=[Optional(), Length(max=20)],
                         description=_l("手机号或会员ID"))
    product = StringField(_l("商品"), validators=[Optional(), Length(max=60)], description=_l("商品ID或名称"))
    number = StringField(_l("订单号"), validators=[Optional(), Length(max=24)])
    date_from = ShanghaiDateField(_l("下单日期从"), validators=[Optional()])
    date_to = ShanghaiDateField(_l("至"), validators=[Optional()])

    def __init__(self, args):
        super().__init__(formdata=args)
        self.status.choices = [("", _l("全部状态"))] + status_choices()
        self.kind.choices = [("", _l("全部类型"))] + kind_choices()

    def validate_member(self, field):
        if field.data and normalize_phone(field.data) is None and parse_db_id(field.data.strip()) is None:
            raise ValidationError(_l("请输入会员的11位手机号或会员ID"))

    def validate_number(self, field):
        if field.data and not field.data.strip().isdigit():
            raise ValidationError(_l("订单号只含数字"))

    def validate_date_to(self, field):
        if field.data and self.date_from.data and field.data < self.date_from.data:
            raise ValidationError(_l("结束日期不能早于开始日期"))

    def to_filter(self):
        """The filter the valid fields describe (an invalid field filters nothing)."""
        ok = lambda f: f.data if not f.errors and f.data else None  # noqa: E731
        text = lambda f: (f.data or "").strip() or None if not f.errors else None  # noqa: E731
        return OrderFilter(status=ok(self.status), kind=ok(self.kind), member=text(self.member),
                           product=text(self.product), number=text(self.number),
                           date_from=ok(self.date_from), date_to=ok(self.date_to))


class ShipForm(BaseForm):
    """Ship a goods order: the carrier and its tracking number."""

    carrier = StringField(_l("快递公司"), validators=[DataRequired(_l("请填写快递公司")), Length(max=40)])
    tracking_no = StringField(_l("快递单号"), validators=[DataRequired(_l("请填写快递单号")), Length(max=40)])


def _reason_field(label, missing):
    return TextAreaField(label, validators=[DataRequired(missing), Length(max=100, message=_l("原因最多100个字"))])


class CancelForm(BaseForm):
    """Cancel an order: the reason is required and the member reads it."""

    cancel_reason = _reason_field(_l("取消原因"), _l("请填写取消原因"))

    @property
    def reason(self):
        return self.cancel_reason


class RefundForm(BaseForm):
    """Refund an order: the reason is required and the member reads it."""

    refund_reason = _reason_field(_l("退款原因"), _l("请填写退款原因"))

    @property
    def reason(self):
        return self.refund_reason


class RefundCashForm(BaseForm):
    """Return the cash of a closed order whose payment is still due back."""

    cash_reason = _reason_field(_l("退款原因"), _l("请填写退款原因"))

    @property
    def reason(self):
        return self.cash_reason


class ShipImportForm(BaseForm):
    """Bulk shipping: a CSV file (or, from the report page, its text again) and the valid-rows choice."""

    file = FileField(_l("CSV 文件"))
    content = HiddenField()
    ship_valid = BooleanField(_l("文件有错误时，仍发货有效的行"))

    def validate_file(self, field):
        if not (field.data and getattr(field.data, "filename", None)) and not self.content.data:
            raise ValidationError(_l("请选择 CSV 文件"))

    def data_to_ship(self):
        """The file's bytes, or the resubmitted text; DomainError-free (size checked here)."""
        if self.file.data and getattr(self.file.data, "filename", None):
            return self.file.data.read(MAX_SHIP_FILE_BYTES + 1)
        return self.content.data or ""

    def validate_content(self, field):
        if field.data and len(field.data) > MAX_SHIP_FILE_BYTES:
            raise ValidationError(_l("文件不能超过 1 MB"))
