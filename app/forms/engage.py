"""Forms for earning: check-in and make-up buttons, profile, phone binding, shares."""
from flask_babel import lazy_gettext as _l
from wtforms import BooleanField, DateField, HiddenField, PasswordField, StringField
from wtforms.validators import DataRequired, InputRequired, Optional

from app.forms.base import ActionForm, BaseForm, IdField, mobile_phone


class CheckinForm(ActionForm):
    """The check-in button; `month` is the calendar month on screen ("YYYY-MM")."""

    month = HiddenField()


class MakeupForm(ActionForm):
    """A make-up button on a missed calendar day."""

    day = DateField(validators=[InputRequired(_l("请选择要补签的日期"))], format="%Y-%m-%d",
                    render_kw={"type": "hidden"})
    month = HiddenField()
    confirmed = HiddenField()  # "1" once the member saw the confirmation sheet of a costly make-up

    def validate(self, extra_validators=None):
        valid = super().validate(extra_validators)
        if self.day.errors:
            self.day.errors = [str(_l("请选择要补签的日期"))]
        return valid


class ProfileForm(BaseForm):
    nickname = StringField(_l("昵称"), validators=[DataRequired(_l("请填写昵称"))],
                           render_kw={"maxlength": 20, "autocomplete": "nickname"})
    birthday = DateField(_l("生日"), validators=[Optional()], format="%Y-%m-%d",
                         render_kw={"autocomplete": "bday"})
    streak_reminders = BooleanField(_l("连续签到快中断时提醒我（每晚20:00）"))

    def validate(self, extra_validators=None):
        valid = super().validate(extra_validators)
        if self.birthday.errors:  # a date that does not parse gets our message, not WTForms'
            self.birthday.errors = [str(_l("请选择正确的生日"))]
        return valid



class BindPhoneForm(BaseForm):
    phone = StringField(_l("手机号"), validators=[DataRequired(_l("请输入手机号")), mobile_phone],
                        render_kw={"inputmode": "numeric", "autocomplete": "tel", "maxlength": 16})


class ShareForm(BaseForm):
    """The share button on a product (CSRF travels in the htmx header)."""

    product_id = IdField(validators=[InputRequired()])


class DeleteAccountForm(BaseForm):
    """Deleting the account: the member types the confirmation word (and the password, if set)."""

    confirm = StringField(_l("确认注销"), validators=[DataRequired(_l("请输入确认文字"))],
                          render_kw={"autocomplete": "off", "maxlength": 10})
    password = PasswordField(_l("登录密码"), render_kw={"autocomplete": "current-password", "maxlength": 128})
