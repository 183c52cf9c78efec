"""A member's own profile: nickname and birthday, and binding a phone to an account without one."""
import re
from datetime import date

from flask_babel import gettext as _
from flask_babel import ngettext
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from app.extensions import db
from app.models import User
from app.services import events
from app.services.accounts import normalize_phone
from app.services.clock import shanghai_today
from app.services.errors import DomainError
from app.services.tasks import profile_is_complete
from app.services.members import lock_member
from app.services.tx import write_transaction

NICKNAME_MAX = 20
_CONTROL = re.compile(r"[\x00-\x1f\x7f\u200b-\u200f\u2028-\u202e]")


def clean_nickname(raw):
    """A nickname without control characters or surrounding blanks; DomainError if unusable."""
    nickname = _CONTROL.sub("", raw or "").strip()
    if not nickname:
        raise DomainError(_("请填写昵称"), field="nickname")
    if len(nickname) > NICKNAME_MAX:
        raise DomainError(ngettext("昵称最多%(num)d个字", "昵称最多%(num)d个字", NICKNAME_MAX), field="nickname")
    return nickname


def check_birthday(birthday, today=None):
    """A plausible birthday: not in the future, not before 1900."""
    today = today or shanghai_today()
    if birthday is not None and (birthday > today or birthday < date(1900, 1, 1)):
        raise DomainError(_("请选择正确的生日"), field="birthday")
    return birthday


def update_profile(user_id, nickname, birthday=None, *, streak_reminders=None, today=None):
    """Save nickname and (once) birthday; announce profile_completed when both become filled.

    The birthday cannot be changed once set: the birthday gift depends on it. Returns True
    when this save completed the profile.
    """
    nickname = clean_nickname(nickname)
    check_birthday(birthday, today)
    with write_transaction():
        member = lock_member(user_id)
        was_complete = profile_is_complete(member)
        if member.birthday is not None and birthday is not None and birthday != member.birthday:
            raise DomainError(_("生日设置后不能修改，如需更正请联系客服"), field="birthday")
        member.nickname = nickname
        if streak_reminders is not None:
            member.streak_reminders = bool(streak_reminders)
        if member.birthday is None and birthday is not None:
            member.birthday = birthday
        db.session.flush()
        completed = not was_complete and profile_is_complete(member)
        if completed:
            events.profile_completed.send(None, user_id=user_id)
    return completed


def bind_phone(user_id, phone):
    """Bind a phone to an account that has none (e.g. WeChat-only); announce phone_bound."""
    normalized = normalize_phone(phone)
    if normalized is None:
        raise DomainError(_("请输入正确的11位手机号"), field="phone")
    taken = DomainError(_("该手机号已被其他账号绑定"), field="phone")
    try:
        with write_transaction() as session:
            member = lock_member(user_id)
            if member.phone:
                raise DomainError(_("你已经绑定了手机号"), field="phone")
            if session.execute(select(User.id).where(User.phone == normalized)).first() is not None:
                raise taken
            bound = session.execute(
                update(User).where(User.id == user_id, User.phone.is_(None)).values(phone=normalized)
                .execution_options(synchronize_session=False)
            ).rowcount
            if bound != 1:
                raise DomainError(_("你已经绑定了手机号"), field="phone")
            events.phone_bound.send(None, user_id=user_id)
    except IntegrityError as exc:  # a concurrent bind of the same phone by another account
        raise taken from exc
    return normalized


__all__ = ["bind_phone", "check_birthday", "clean_nickname", "update_profile"]
