"""The counter's voucher form: confirm the redemption of the code staff looked up."""
from flask_babel import lazy_gettext as _l
from wtforms import HiddenField
from wtforms.validators import InputRequired, Length

from app.forms.base import ActionForm


class ConfirmRedeemForm(ActionForm):
    """核销 button: CSRF, a request key (a double tap redeems once) and the code being redeemed."""

    code = HiddenField(validators=[InputRequired(_l("请输入券码")),
                                   Length(max=512, message=_l("券码无效，请核对后重新输入"))])
