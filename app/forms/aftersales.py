"""After-sales forms: the member's request, and the operator's steps."""
from flask_babel import lazy_gettext as _l
from wtforms import BooleanField, MultipleFileField, RadioField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, Optional, ValidationError

from app.forms.base import ActionForm
from app.services.aftersales import KIND_LABELS, MAX_PHOTO_BYTES, MAX_PHOTOS, REASON_MAX


def _strip(value):
    return (value or "").strip()


def _photo_files(field):
    """The files actually chosen (a browser sends one empty part when none is)."""
    return [f for f in (field.data or []) if getattr(f, "filename", None)]


class AfterSaleRequestForm(ActionForm):
    """A member's after-sales request: type, reason, up to three photos."""

    kind = RadioField(_l("售后类型"), choices=[SelectChoice(value, label) for value, label in KIND_LABELS.items()],
                      validate_choice=False,  # validate_kind says it in the member's words
                      validators=[DataRequired(_l("请选择售后类型"))])
    reason = TextAreaField(_l("原因"), filters=[_strip],
                           validators=[DataRequired(_l("请填写售后原因")),
                                       Length(max=REASON_MAX, message=_l("原因最多200个字"))],
                           render_kw={"maxlength": REASON_MAX, "rows": 4,
                                      "placeholder": _l("请描述商品的问题，如破损、错发、质量问题")})
    photos = MultipleFileField(_l("照片（最多3张）"), render_kw={"accept": "image/*"})

    def validate_kind(self, field):
        if field.data not in KIND_LABELS:
            raise ValidationError(_l("请选择售后类型"))

    def validate_photos(self, field):
        files = _photo_files(field)
        if len(files) > MAX_PHOTOS:
            raise ValidationError(_l("最多上传3张照片"))
        contents = []
        for storage in files:
            data = storage.read(MAX_PHOTO_BYTES + 1)
            if len(data) > MAX_PHOTO_BYTES:
                raise ValidationError(_l("每张照片不能超过5MB"))
            contents.append(data)
        self.photo_bytes = contents


class ApproveForm(ActionForm):
    instructions = TextAreaField(_l("退回地址和说明"), filters=[_strip],
                                 validators=[Optional(), Length(max=300, message=_l("说明最多300个字"))],
                                 render_kw={"maxlength": 300, "rows": 3,
                                            "placeholder": _l("如：请寄回 上海市黄浦区南京东路100号 售后部 收，电话 021-12345678")})


class CompleteForm(ActionForm):
    restock = BooleanField(_l("商品退回库存"))
    carrier = StringField(_l("快递公司"), filters=[_strip], render_kw={"maxlength": 40})
    tracking_no = StringField(_l("快递单号"), filters=[_strip], render_kw={"maxlength": 40})


class RejectForm(ActionForm):
    reason = TextAreaField(_l("拒绝原因"), filters=[_strip],
                           validators=[DataRequired(_l("请填写拒绝原因")),
                                       Length(max=REASON_MAX, message=_l("原因最多200个字"))],
                           render_kw={"maxlength": REASON_MAX, "rows": 3})
