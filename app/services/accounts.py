"""Accounts: registration (with its gift), login checks, staff and operator accounts."""
import re
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from flask import current_app
from flask_babel import gettext as _
from flask_babel import ngettext
from sqlalchemy import select, update
from sqlalchemy.orm import lazyload
from sqlalchemy.exc import IntegrityError

from app.access import OPERATORS_ONLY, require_operator
from app.extensions import db
from app.models import User
from app.models.members import new_session_token
from app.services import audit, events, ledger
from app.services import cache as shared_cache
from app.services.errors import DomainError, Forbidden, NotFound
from app.services.ids import is_db_id
from app.services.settings import get_setting
from app.services.tx import write_transaction

PHONE_RE = re.compile(r"^1[3-9][0-9]{9}$")  # ASCII digits: \d would take "０" and "٣"
MIN_PASSWORD = 8
MAX_PASSWORD = 128


class AccountError(DomainError):
    pass


shared_cache.watch_rows("users")
_OWN_ROW = (lazyload(User.merchant),)  # built once: an option is as costly to build as the copy is to use


def signed_in_account(user_id):
    """The account a logged-in request acts as, or None: this process's copy of its row while no
    write has touched the row since (a balance, a level, a new session token at logout or a password
    change, disabling), so a page that needs nothing else from the database reads none of it. A staff
    account's store is not kept with it: it is read when used, as fresh as any other row."""
    return shared_cache.kept_row(User, user_id, options=_OWN_ROW)


def normalize_phone(raw):
    """Strip spaces, dashes and a +86 prefix; return the 11 digits or None if malformed."""
    phone = re.sub(r"[\s-]", "", raw or "")
    if phone.startswith("+86"):
        phone = phone[3:]
    elif phone.startswith("86") and len(phone) == 13:
        phone = phone[2:]
    return phone if PHONE_RE.match(phone) else None


def _password_hasher():
    """The app's hasher (costs from ARGON2_* config) and a dummy hash made with it, built once per app.

    The dummy hash is verified when the phone is unknown, so timing does not reveal accounts;
    it must cost what a real hash costs, hence the same hasher.
    """
    built = current_app.extensions.get("password_hasher")
    if built is None:
        config = current_app.config
        hasher = PasswordHasher(time_cost=config["ARGON2_TIME_COST"], memory_cost=config["ARGON2_MEMORY_COST"],
                                parallelism=config["ARGON2_PARALLELISM"])
        # Two threads may build it at once on a cold start; either result is as good.
        built = current_app.extensions.setdefault("password_hasher", (hasher, hasher.hash("not-a-real-password")))
    return built


def hash_password(password):
    """An argon2id hash of `password` at the app's configured cost."""
    return _password_hasher()[0].hash(password)


def check_password(user, password):
    """True if `password` matches; rehashes transparently is left to login."""
    hasher, dummy = _password_hasher()
    try:
        # A stored hash carries its own parameters, so hashes made at another cost still verify.
        return hasher.verify(user.password_hash or dummy, password)
    except (VerificationError, InvalidHashError):
        return False


def _new_invite_code():
    return secrets.token_urlsafe(6).replace("-", "x").replace("_", "y")[:8]


def register_member(phone, password, *, ip=None, inviter_code=None, nickname=None, device=None, avatar_url=None,
                    identity=None):
    """Create a member, pay the registration gift, announce the registration. One transaction.

    identity: a UserIdentity (WeChat) the member registers with instead of phone + password;
    its unique key makes a second registration of the same openid fail (IntegrityError).
    """
    normalized = None
    if identity is None or phone is not None:
        normalized = normalize_phone(phone)
        if normalized is None:
            raise AccountError(_("请输入正确的11位手机号"), field="phone")
    if identity is None and len(password or "") < MIN_PASSWORD:
        raise AccountError(ngettext("密码至少需要%(num)d位", "密码至少需要%(num)d位", MIN_PASSWORD), field="password")
    try:
        with write_transaction() as session:
            user = User(phone=normalized, password_hash=hash_password(password) if password else None, role="member",
                        nickname=nickname, invite_code=_new_invite_code(), register_ip=ip,
                        register_device=device, avatar_url=avatar_url)
            session.add(user)
            session.flush()
            if identity is not None:
                identity.user_id = user.id
                session.add(identity)
                session.flush()
            gift = get_setting("earn.register")
            if gift.get("enabled") and int(gift.get("points", 0)) > 0:
                ledger.earn(user.id, int(gift["points"]), "register", key="register")
            events.member_registered.send(None, user_id=user.id, inviter_code=inviter_code, ip=ip)
    except IntegrityError as exc:
        db.session.rollback()
        if normalized is not None and _phone_taken(normalized):
            raise AccountError(_("该手机号已注册，请直接登录"), field="phone") from exc
        raise
    return user


def _phone_taken(phone):
    return db.session.execute(select(User.id).where(User.phone == phone)).first() is not None


def authenticate(phone, password):
    """The user for these credentials, or an AccountError naming the problem."""
    normalized = normalize_phone(phone)
    if normalized is None:
        raise AccountError(_("请输入正确的11位手机号"), field="phone")
    user = db.session.execute(select(User).where(User.phone == normalized)).scalar_one_or_none()
    if user is None or not check_password(user, password or ""):
        if user is None:
            check_password(User(), password or "")  # same work either way
        raise AccountError(_("手机号或密码错误"), field="password")
    if user.is_disabled:
        raise AccountError(_("该账号已被停用，请联系客服"), field="phone")
    return user


def create_account(phone, password, role, *, nickname=None, merchant_id=None, must_change_password=False):
    """Create a staff or operator account (CLI and operator console)."""
    normalized = normalize_phone(phone)
    if normalized is None:
        raise AccountError(_("请输入正确的11位手机号"), field="phone")
    if role not in ("member", "staff", "operator"):
        raise AccountError(_("未知角色"), field="role")
    if len(password or "") < MIN_PASSWORD:
        raise AccountError(ngettext("密码至少需要%(num)d位", "密码至少需要%(num)d位", MIN_PASSWORD), field="password")
    try:
        with write_transaction() as session:
            user = User(phone=normalized, password_hash=hash_password(password), role=role,
                        nickname=nickname, merchant_id=merchant_id, invite_code=_new_invite_code(),
                        must_change_password=must_change_password)
            session.add(user)
    except IntegrityError as exc:
        db.session.rollback()
        raise AccountError(_("该手机号已注册，请直接登录"), field="phone") from exc
    return user


def end_all_sessions(user_id):
    """Log the account out everywhere (logout): sessions and remember cookies saved before are worthless."""
    with write_transaction() as session:
        session.execute(update(User).where(User.id == user_id).values(session_token=new_session_token()))


def change_password(user_id, old, new):
    """Check the current password, set a new one and end every other session. One transaction.

    Returns the user, whose new session id the caller logs the current browser in with.
    """
    if len(new or "") < MIN_PASSWORD or len(new) > MAX_PASSWORD:
        raise AccountError(_("密码长度需为8到128位"), field="new_password")
    user = db.session.get(User, user_id)
    if user is None or user.is_disabled:
        raise AccountError(_("该账号已被停用，请联系客服"), field="old_password")
    # The slow hashing happens before the write lock; the update below is guarded by the
    # hash that was checked, so a concurrent change makes this one fail instead of winning.
    old_hash = user.password_hash
    if not check_password(user, old or ""):
        raise AccountError(_("当前密码不正确"), field="old_password")
    if check_password(user, new):
        raise AccountError(_("新密码不能与当前密码相同"), field="new_password")
    new_hash = hash_password(new)
    with write_transaction() as session:
        changed = session.execute(
            update(User)
            .where(User.id == user_id, User.password_hash == old_hash, User.is_disabled.is_(False))
            .values(password_hash=new_hash, session_token=new_session_token(), must_change_password=False)
        ).rowcount
        if not changed:
            raise AccountError(_("密码已被修改，请重新输入当前密码"), field="old_password")
    db.session.expire(user)
    return user


def set_disabled(user_id, disabled, *, actor_id, role=None):
    """Disable (or re-enable) an account for an operator; disabling ends its sessions. Audited.

    role: the kind of account the console page is about (a member page disables members only).
    An operator never disables their own account, so at least one enabled operator always remains
    (the enabled operators are locked first, so two operators cannot disable each other at once).
    Returns False when the account was already in that state (nothing written).
    """
    disabled = bool(disabled)
    with write_transaction() as session:
        require_operator(actor_id)
        found = session.execute(select(User.role).where(User.id == user_id)).scalar_one_or_none() \
            if is_db_id(user_id) else None
        if found is None or (role is not None and found != role):
            raise NotFound(_("账号不存在"))
        if found == "operator" and disabled:
            _check_operator_may_go(session, actor_id, user_id)
        user = session.execute(
            select(User).where(User.id == user_id).options(lazyload(User.merchant))
            .with_for_update(of=User).execution_options(populate_existing=True)
        ).scalar_one()
        if user.is_disabled == disabled:
            return False
        if user.deleted_at is not None:
            raise AccountError(_("该会员已注销，账号不能再启用"))
        user.is_disabled = disabled
        user.session_token = new_session_token()
        audit.record(actor_id, "user.disable" if disabled else "user.enable", target=f"user:{user_id}",
                     before={"is_disabled": not disabled}, after={"is_disabled": disabled})
    return True


def _check_operator_may_go(session, actor_id, user_id):
    """Refuse to disable oneself or the last enabled operator, with the enabled operators locked."""
    if user_id == actor_id:
        raise AccountError(_("不能停用自己的账号"))
    enabled = session.execute(
        select(User.id).where(User.role == "operator", User.is_disabled.is_(False))
        .order_by(User.id).with_for_update()
    ).scalars().all()
    if actor_id not in enabled:  # disabled meanwhile by another operator
        raise Forbidden(OPERATORS_ONLY)
    if not [operator_id for operator_id in enabled if operator_id != user_id]:
        raise AccountError(_("至少要保留一个可用的运营账号"))
