"""Registration and login forms (fields `phone` and `password` are part of the product)."""
from flask_babel import lazy_gettext as _l
from wtforms import HiddenField, PasswordField, StringField
from wtforms.validators import DataRequired, EqualTo, Length

from app.forms.base import BaseForm, mobile_phone
from app.services.accounts import MAX_PASSWORD, MIN_PASSWORD


class LoginForm(BaseForm):
    phone = StringField(_l("手机号"), validators=[DataRequired(_l("请输入手机号")), mobile_phone],
                        render_kw={"inputmode": "numeric", "autocomplete": "tel", "maxlength": 16})
    password = PasswordField(_l("密码"), validators=[DataRequired(_l("请输入密码"))],
                             render_kw={"autocomplete": "current-password"})
    next = HiddenField()


class RegisterForm(BaseForm):
    phone = StringField(_l("手机号"), validators=[DataRequired(_l("请输入手机号")), mobile_phone],
                        render_kw={"inputmode": "numeric", "autocomplete": "tel", "maxlength": 16})
    password = PasswordField(
        _l("密码"),
        validators=[DataRequired(_l("请输入密码")),
                    Length(min=MIN_PASSWORD, max=MAX_PASSWORD, message=_l("密码长度需为8到128位"))],
        render_kw={"autocomplete": "new-password"},
    )
    invite = HiddenField()


class ChangePasswordForm(BaseForm):
    old_password = PasswordField(_l("当前密码"), validators=[DataRequired(_l("请输入当前密码"))],
                                 render_kw={"autocomplete": "current-password"})
    new_password = PasswordField(
        _l("新密码"),
        validators=[DataRequired(_l("请输入新密码")),
                    Length(min=MIN_PASSWORD, max=MAX_PASSWORD, message=_l("密码长度需为8到128位"))],
        render_kw={"autocomplete": "new-password"},
    )
    confirm = PasswordField(
        _l("确认新密码"),
        validators=[DataRequired(_l("请再次输入新密码")), EqualTo("new_password", message=_l("两次输入的新密码不一致"))],
        render_kw={"autocomplete": "new-password"},
    )
