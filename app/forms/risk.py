"""Risk review (风控审核) forms: the rules' thresholds, and the rejection of a held order."""
from flask_babel import lazy_gettext as _l
from wtforms import BooleanField, TextAreaField
from wtforms.validators import DataRequired, Length

from app.forms.base import ActionForm, BaseForm
from app.forms.rules import _int, _Messages
from app.services.risk import REJECT_REASON_MAX, THRESHOLDS


def _strip(value):
    return (value or "").strip()


def _threshold(key, label):
    low, high = THRESHOLDS[key]
    return _int(label, low, high)


class RiskRulesForm(_Messages, BaseForm):
    enabled = BooleanField(_l("启用风控审核"))
    order_points_over = _threshold("order_points_over", _l("订单积分超过（0 关闭）"))
    ip_accounts_per_day = _threshold("ip_accounts_per_day", _l("同一IP一天内注册账号数达到（0 关闭）"))
    device_accounts_per_day = _threshold("device_accounts_per_day", _l("同一设备一天内注册账号数达到（0 关闭）"))
    invitee_burst = _threshold("invitee_burst", _l("同一邀请人一天内邀请人数达到（0 关闭）"))
    draws_week_factor = _threshold("draws_week_factor", _l("近7天抽奖次数超过平均值的几倍（0 关闭）"))
    draws_week_min = _threshold("draws_week_min", _l("抽奖异常：且近7天至少抽奖多少次"))
    makeups_month = _threshold("makeups_month", _l("近30天补签次数达到（0 关闭）"))
    new_account_minutes = _threshold("new_account_minutes", _l("新账号：注册不到几分钟（0 关闭）"))
    new_account_share_pct = _threshold("new_account_share_pct", _l("新账号：一单花掉余额的百分比达到"))
    new_account_min_points = _threshold("new_account_min_points", _l("新账号：且这一单至少多少积分"))

    def values(self):
        return {name: field.data for name, field in self._fields.items() if name != "csrf_token"}


class ReviewRejectForm(ActionForm):
    reason = TextAreaField(_l("拒绝原因（会员可见）"), filters=[_strip],
                           validators=[DataRequired(_l("请填写拒绝原因")),
                                       Length(max=REJECT_REASON_MAX, message=_l("原因最多100个字"))],
                           render_kw={"maxlength": REJECT_REASON_MAX, "rows": 2})
