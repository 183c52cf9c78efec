"""Form pieces shared by every area. Every form derives from BaseForm."""
import functools
import json
import re
import uuid

from babel import support
from flask import request
from flask_babel import get_locale
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.form import _Auto
from werkzeug.datastructures import ImmutableMultiDict, MultiDict
from wtforms import FileField, HiddenField, IntegerField
from wtforms.i18n import messages_path
from wtforms.validators import ValidationError

from app.services.accounts import normalize_phone
from app.services.ids import parse_db_id

_KEY_RE = re.compile(r"^[0-9a-f]{32}$")


@functools.cache
def _wtforms_messages(locale):
    return support.Translations.load(messages_path(), [locale], domain="wtforms")


def share_wtforms_messages():
    """before_request: WTForms' own messages in the reader's language, read from disk once per
    language (Flask-WTF reads that catalogue again in every request that builds a form, unless the
    request already carries it)."""
    request.wtforms_translations = _wtforms_messages(str(get_locale()))


def _as_text(value):
    """A JSON scalar as a browser form would have sent it; None for null, objects and arrays."""
    if isinstance(value, str):
        return value
    if isinstance(value, (bool, int, float)):
        return json.dumps(value)  # true, 12, 1.5, Infinity: text the fields parse (or refuse) as typed
    return None


def _json_as_form(body):
    """A JSON object as form data: every value text, an array a repeated field; anything else no data."""
    pairs = []
    if isinstance(body, dict):
        for name, value in body.items():
            for item in value if isinstance(value, list) else [value]:
                text = _as_text(item)
                if text is not None:
                    pairs.append((name, text))
    return ImmutableMultiDict(pairs)


class BaseForm(FlaskForm):
    """A Flask-WTF form whose text fields only ever receive text.

    Flask-WTF hands a JSON body's values to the fields as they are (an int, a list, a dict: then
    `.strip()` or a regex on them is a 500) and an uploaded file to whatever field shares its
    name. Here a JSON body is read as the equivalent form, and files reach file fields only.
    """

    class Meta:
        def wrap_formdata(self, form, formdata):
            if formdata is not _Auto:
                return formdata
            if request.method not in ("POST", "PUT", "PATCH", "DELETE"):
                return None
            if request.files:
                data = MultiDict(request.form)
                for name, field in form._fields.items():
                    if isinstance(field, FileField):
                        data.setlist(name, request.files.getlist(name))
                return data
            if request.form:
                return request.form
            if request.is_json:
                return _json_as_form(request.get_json())
            return None


class IdField(IntegerField):
    """A database id as ASCII digits (1..2^31-1); anything else leaves data None and the field invalid."""

    def process_formdata(self, valuelist):
        if not valuelist:
            return
        self.data = parse_db_id(valuelist[0])
        if self.data is None:
            raise ValueError(_l("编号无效"))


def _valid_key(form, field):
    # The key must come with the request: one made up here (the field's default) would make
    # a retried POST without it a second, different request.
    if not field.raw_data or not _KEY_RE.match(field.data or ""):
        raise ValidationError(_l("页面已过期，请刷新后重试"))


def new_request_key():
    """A fresh request key for one rendering of a form (a page with several buttons may share it)."""
    return uuid.uuid4().hex


class ActionForm(BaseForm):
    """A bare POST button: CSRF plus a request key, so a double tap acts once."""

    request_key = HiddenField(default=new_request_key, validators=[_valid_key])


def mobile_phone(_form, field):
    """A mainland mobile number (the one rule in accounts.normalize_phone), stored as its 11 digits."""
    normalized = normalize_phone(field.data)
    if normalized is None:
        raise ValidationError(_l("请输入正确的11位手机号"))
    field.data = normalized
