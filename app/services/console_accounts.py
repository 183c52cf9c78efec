"""Staff and operator accounts made by operators in the console, with one-time passwords.

The password is generated here (secrets), handed back once for the operator to pass on, and
only its hash is stored; the account must set its own password at first login
(User.must_change_password, enforced by app.access.require_password_change). A lost one-time
password is replaced by a reset, never shown again.
"""
import secrets
from dataclasses import dataclass

from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import lazyload

from app.access import require_operator
from app.extensions import db
from app.models import Merchant, User
from app.models.members import new_session_token
from app.services import audit
from app.services.accounts import AccountError, _new_invite_code, hash_password, normalize_phone
from app.services.errors import NotFound
from app.services.idempotency import claim_request, remember_result
from app.services.ids import is_db_id, parse_db_id
from app.services.listing import paginate
from app.services.tx import write_transaction

# No 0/O, 1/l/I: the operator reads the password out or types it into a chat.
PASSWORD_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZabcdefghijkmnpqrstuvwxyz23456789"
ONE_TIME_LENGTH = 12
MAX_NAME = 40


@dataclass(frozen=True)
class IssuedPassword:
    """An account and its one-time password; `password` is None when a retried request found the
    work done already (the password was shown to the first request only)."""

    user_id: int
    password: str | None


def one_time_password():
    """A random password for a new or reset account (12 characters, about 70 bits)."""
    return "".join(secrets.choice(PASSWORD_ALPHABET) for _ in range(ONE_TIME_LENGTH))


def clean_name(name):
    """A person's name as typed, trimmed; AccountError at the field when empty or too long."""
    name = (name or "").strip()
    if not name:
        raise AccountError(_("请填写姓名"), field="name")
    if len(name) > MAX_NAME:
        raise AccountError(_("姓名最多40个字"), field="name")
    return name


def _phone_in_use(session, phone):
    return session.execute(select(User.id).where(User.phone == phone)).first() is not None


def add_account(actor_id, role, phone, name, key, *, merchant_id=None):
    """An operator adds a staff account (of `merchant_id`) or an operator account with a
    one-time password. One transaction, audited; a retry with the same request key adds nothing."""
    if role not in ("staff", "operator"):
        raise AccountError(_("未知角色"), field="role")
    normalized = normalize_phone(phone)
    if normalized is None:
        raise AccountError(_("请输入正确的11位手机号"), field="phone")
    name = clean_name(name)
    password = one_time_password()
    password_hash = hash_password(password)  # slow on purpose: before the write lock
    scope = f"account.add.{role}"
    try:
        with write_transaction() as session:
            require_operator(actor_id)
            done = claim_request(actor_id, scope, key)
            if done is not None:
                return IssuedPassword(parse_db_id(done), None)
            if role == "staff" and (not is_db_id(merchant_id) or session.get(Merchant, merchant_id) is None):
                raise NotFound(_("商户不存在"))
            if _phone_in_use(session, normalized):
                raise AccountError(_("该手机号已被其他账号使用"), field="phone")
            user = User(phone=normalized, password_hash=password_hash, role=role, nickname=name,
                        merchant_id=merchant_id if role == "staff" else None, invite_code=_new_invite_code(),
                        must_change_password=True)
            session.add(user)
            session.flush()
            remember_result(actor_id, scope, key, user.id)
            audit.record(actor_id, "user.create", target=f"user:{user.id}", before={},
                         after={"role": role, "phone": normalized, "nickname": name, "merchant_id": user.merchant_id})
    except IntegrityError as exc:  # the same phone added at the same moment by another request
        db.session.rollback()
        if _phone_in_use(db.session, normalized):
            raise AccountError(_("该手机号已被其他账号使用"), field="phone") from exc
        raise
    return IssuedPassword(user.id, password)


def reset_password(actor_id, user_id, role, key):
    """An operator gives an account a new one-time password: the old password and every session
    stop working, and the account must set its own password at next login. For members this is
    the forgotten-password path (the member asks customer service, who checks who they are)."""
    password = one_time_password()
    password_hash = hash_password(password)
    scope = "account.reset"
    with write_transaction() as session:
        require_operator(actor_id)
        done = claim_request(actor_id, scope, key)
        if done is not None:
            return IssuedPassword(parse_db_id(done), None)
        user = session.execute(
            select(User).where(User.id == user_id).options(lazyload(User.merchant))
            .with_for_update(of=User).execution_options(populate_existing=True)
        ).scalar_one_or_none() if is_db_id(user_id) else None
        if user is None or user.role != role or role not in ("member", "staff", "operator"):
            raise NotFound(_("账号不存在"))
        if user.deleted_at is not None:
            raise AccountError(_("该会员已注销，不能重置密码"))
        if user.id == actor_id:
            raise AccountError(_("请在“修改密码”页修改自己的密码"))
        before = user.must_change_password
        user.password_hash = password_hash
        user.must_change_password = True
        user.session_token = new_session_token()
        remember_result(actor_id, scope, key, user.id)
        audit.record(actor_id, "user.reset_password", target=f"user:{user.id}",
                     before={"must_change_password": before}, after={"must_change_password": True})
    return IssuedPassword(user.id, password)


def get_account(user_id, role):
    """A staff or operator account by id, or NotFound."""
    user = db.session.get(User, user_id) if is_db_id(user_id) else None
    if user is None or user.role != role:
        raise NotFound(_("账号不存在"))
    return user


def operators_page(number):
    """Operator accounts, oldest first, one page."""
    return paginate(select(User).where(User.role == "operator").order_by(User.id), number)


def merchant_staff(merchant_id):
    """A merchant's staff accounts, oldest first."""
    return db.session.execute(
        select(User).where(User.role == "staff", User.merchant_id == merchant_id).order_by(User.id)
    ).scalars().all()
