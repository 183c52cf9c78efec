"""Shop forms: redeem, shipping address, sandbox payment."""
import re

from flask_babel import lazy_gettext as _l
from wtforms import BooleanField, HiddenField, IntegerField, StringField
from wtforms.validators import AnyOf, DataRequired, InputRequired, Length, Optional

from app.forms.base import ActionForm, mobile_phone


class WholeNumberField(IntegerField):
    """An integer field whose parse error is in the member's language."""

    def __init__(self, *args, bad_message=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.bad_message = _l("请输入整数") if bad_message is None else bad_message  # a lazy text, not translated here

    def process_formdata(self, valuelist):
        if not valuelist or valuelist[0] in ("", None):
            self.data = None
            return
        raw = str(valuelist[0]).strip()
        if not re.fullmatch(r"[+-]?\d{1,40}", raw):
            self.data = None
            raise ValueError(self.bad_message)
        # A whole number too long for any column still gets the range message, as 11 would.
        self.data = int(raw) if len(raw.lstrip("+-")) <= 12 else (-1 if raw.startswith("-") else 1) * 10**12


class RedeemForm(ActionForm):
    """Redeem a product: how many, and (goods only) where to ship them."""

    quantity = WholeNumberField(
        _l("数量"), default=1, bad_message=_l("数量须为整数"),
        validators=[InputRequired(_l("请填写数量"))],  # the range is a shop rule: services.shop decides
    )
    address_id = WholeNumberField(_l("收货地址"), bad_message=_l("收货地址不存在，请重新选择"),
                                  validators=[Optional()])
    # "1" once the member has seen the confirmation sheet (or page) of a spend above the threshold.
    confirmed = HiddenField()


class OrderAddressForm(ActionForm):
    address_id = WholeNumberField(_l("收货地址"), bad_message=_l("收货地址不存在，请重新选择"),
                                  validators=[InputRequired(_l("请选择收货地址"))])


class SandboxPayForm(ActionForm):
    """The sandbox's two buttons: name="outcome", value "success" or "fail"."""

    outcome = StringField(validators=[AnyOf(("success", "fail"), message=_l("请选择支付结果"))])



class AddressForm(ActionForm):
    name = StringField(_l("收货人"), filters=[lambda v: (v or "").strip()],
                       validators=[DataRequired(_l("请填写收货人")), Length(max=20, message=_l("收货人最多20个字"))],
                       render_kw={"autocomplete": "name", "maxlength": 20})
    phone = StringField(_l("手机号"), validators=[DataRequired(_l("请填写手机号")), mobile_phone],
                        render_kw={"inputmode": "numeric", "autocomplete": "tel", "maxlength": 16})
    region = StringField(_l("所在地区"), filters=[lambda v: (v or "").strip()],
                         validators=[DataRequired(_l("请填写省市区")), Length(max=60, message=_l("地区最多60个字"))],
                         render_kw={"placeholder": _l("如：上海市 黄浦区"), "maxlength": 60})
    detail = StringField(_l("详细地址"), filters=[lambda v: (v or "").strip()],
                         validators=[DataRequired(_l("请填写详细地址")),
                                     Length(min=4, max=120, message=_l("详细地址需为4到120个字"))],
                         render_kw={"placeholder": _l("街道、门牌号"), "maxlength": 120})
    make_default = BooleanField(_l("设为默认地址"))
