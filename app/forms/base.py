"""Form pieces shared by every area."""
import re
import uuid

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import HiddenField
from wtforms.validators import ValidationError

from app.services.accounts import normalize_phone

_KEY_RE = re.compile(r"^[0-9a-f]{32}$")


def _valid_key(form, field):
    if not _KEY_RE.match(field.data or ""):
        raise ValidationError(_l("页面已过期，请刷新后重试"))


class ActionForm(FlaskForm):
    """A bare POST button: CSRF plus a request key, so a double tap acts once."""

    request_key = HiddenField(default=lambda: uuid.uuid4().hex, validators=[_valid_key])


def mobile_phone(_form, field):
    """A mainland mobile number (the one rule in accounts.normalize_phone), stored as its 11 digits."""
    normalized = normalize_phone(field.data)
    if normalized is None:
        raise ValidationError(_l("请输入正确的11位手机号"))
    field.data = normalized
