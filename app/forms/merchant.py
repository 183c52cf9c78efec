"""Merchant console forms. The rules on what is typed (amount, receipt, member) live in
app.services.consumption, which reports a refusal with the field it belongs to."""
from flask_babel import lazy_gettext as _l
from wtforms import HiddenField, StringField

from app.forms.base import BaseForm


class AwardForm(BaseForm):
    """Confirm a consumption-points award: the member (scanned code or phone), amount, receipt.

    Safe to send twice: the receipt number makes a second send show the first award."""

    member = HiddenField()
    amount = StringField(_l("消费金额（元）"))
    receipt_no = StringField(_l("小票号"))
