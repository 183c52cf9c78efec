"""Form pieces shared by every area."""
import re
import uuid

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import HiddenField
from wtforms.validators import ValidationError

_KEY_RE = re.compile(r"^[0-9a-f]{32}$")


def _valid_key(form, field):
    if not _KEY_RE.match(field.data or ""):
        raise ValidationError(_l("页面已过期，请刷新后重试"))


class ActionForm(FlaskForm):
    """A bare POST button: CSRF plus a request key, so a double tap acts once."""

    request_key = HiddenField(default=lambda: uuid.uuid4().hex, validators=[_valid_key])
