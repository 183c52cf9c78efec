"""Forms of the games area: a draw button, the newbie-gift dismissal, buying treasure shares."""
import re

from flask_babel import lazy_gettext as _l
from wtforms import HiddenField, StringField
from wtforms.validators import ValidationError

from app.forms.base import ActionForm

# More digits than this cannot be a sensible share count; it is refused by the round's limit.
_MAX_DIGITS = 9
_INTEGER_RE = re.compile(r"^[+-]?\d+$")


class DrawForm(ActionForm):
    """The play button: CSRF plus a request key, so a double tap plays once."""

    confirmed = HiddenField()  # "1" once the member saw the confirmation sheet of a costly play


class DismissForm(ActionForm):
    """"No thanks" on the newbie-gift popup."""


def _share_quantity(form, field):
    raw = (field.raw_data[0] if field.raw_data else "").strip()
    if not raw:
        raise ValidationError(_l("请输入购买份数"))
    if not _INTEGER_RE.match(raw):
        raise ValidationError(_l("份数必须是整数"))
    significant = raw.lstrip("+-").lstrip("0")
    if raw.startswith("-") or not significant:
        raise ValidationError(_l("至少购买 1 份"))
    form.quantity_value = int(significant) if len(significant) <= _MAX_DIGITS else 10 ** _MAX_DIGITS


class TreasureBuyForm(ActionForm):
    confirmed = HiddenField()  # "1" once the member saw the confirmation sheet
    quantity = StringField(_l("购买份数"), default="1", validators=[_share_quantity],
                           render_kw={"inputmode": "numeric", "autocomplete": "off", "maxlength": 12})
    quantity_value = None
