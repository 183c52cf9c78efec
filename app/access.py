"""Who may do what: the one place that decides it.

Three kinds of account (app.models.members.ROLES):
- members earn and spend points and open the member pages;
- merchant staff act for their own merchant only, in the merchant console (/merchant/);
- operators run the mall from the operator console (/admin/).

Blueprints ask this module (the decorators and `guard_blueprint` below); services that
act for someone receive the actor's id and ask it too (`require_*`), so a role check is
never written a second time anywhere else.
"""
from functools import wraps

from flask import abort, redirect, request, url_for
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required

from app.extensions import db
from app.models import User
from app.services.errors import Forbidden

MEMBER, STAFF, OPERATOR = "member", "staff", "operator"

# Where each kind of account belongs after login, and where member pages send staff and operators.
HOME_ENDPOINTS = {MEMBER: "me.index", STAFF: "merchant.index", OPERATOR: "admin.index"}

MEMBERS_ONLY = _l("积分获取与兑换仅限会员账号使用")
OPERATORS_ONLY = _l("只有运营人员可以执行该操作")
STAFF_ONLY = _l("只有商户店员可以执行该操作")
OTHER_MERCHANT = _l("只能处理本店的业务")


# ---- rules (no request needed) ------------------------------------------------------------

def is_member(user):
    """An enabled member account (anonymous users and staff/operators are not)."""
    return bool(getattr(user, "is_authenticated", False)) and user.role == MEMBER and not user.is_disabled


def home_endpoint(user):
    """The page an account lands on after login."""
    return HOME_ENDPOINTS.get(getattr(user, "role", None), "main.home")


# The base template of each area; members and visitors get the mall's own (base.html).
CONSOLE_LAYOUTS = {STAFF: "merchant/base.html", OPERATOR: "admin/base.html"}


def layout_for(user):
    """The layout of the account's own area: shared pages (password, error pages) sit in it."""
    role = getattr(user, "role", None) if getattr(user, "is_authenticated", False) else None
    return CONSOLE_LAYOUTS.get(role, "base.html")


def check_member(user):
    """Raise Forbidden unless `user` is an enabled member (services call this on a locked row)."""
    if user is None or user.role != MEMBER or user.is_disabled:
        raise Forbidden(MEMBERS_ONLY)
    return user


def require_operator(actor_id):
    """The acting operator, or Forbidden."""
    actor = db.session.get(User, actor_id) if actor_id else None
    if actor is None or actor.role != OPERATOR or actor.is_disabled:
        raise Forbidden(OPERATORS_ONLY)
    return actor


def require_staff(actor_id, merchant_id=None):
    """The acting staff account, or Forbidden; with `merchant_id`, only staff of that merchant."""
    actor = db.session.get(User, actor_id) if actor_id else None
    if actor is None or actor.role != STAFF or actor.is_disabled or actor.merchant_id is None:
        raise Forbidden(STAFF_ONLY)
    if merchant_id is not None and actor.merchant_id != merchant_id:
        raise Forbidden(OTHER_MERCHANT)
    return actor


# ---- guards for routes --------------------------------------------------------------------

def _to_own_home():
    """A staff or operator account on a member page: page visits go to its own console,
    actions (POST ...) get a 403 page with the reason."""
    if request.method in ("GET", "HEAD") and current_user.role != MEMBER:
        return redirect(url_for(home_endpoint(current_user)))
    raise Forbidden(MEMBERS_ONLY)


def member_required(view):
    """Member pages and every earning or spending action: members only."""

    @wraps(view)
    @login_required
    def wrapped(*args, **kwargs):
        if not is_member(current_user):
            return _to_own_home()
        return view(*args, **kwargs)

    return wrapped


def _allowed(role):
    return current_user.is_authenticated and current_user.role == role and not current_user.is_disabled \
        and (role != STAFF or current_user.merchant_id is not None)


# What an account that must change its one-time password may still open.
_BEFORE_PASSWORD_CHANGE = {"auth.change_password", "auth.logout", "static", "health.healthz"}


def require_password_change():
    """Before every request: an account created with a one-time password (staff, operators)
    is sent to the password page until it has set a password of its own."""
    if (request.endpoint not in _BEFORE_PASSWORD_CHANGE  # first: static files need no account lookup
            and current_user.is_authenticated and current_user.must_change_password):
        return redirect(url_for("auth.change_password"), 303 if request.method not in ("GET", "HEAD") else 302)
    return None


def guard_blueprint(bp, role):
    """Every route of a console blueprint: log in first, then only `role` (staff: with a
    merchant); anyone else gets the 403 page."""

    @bp.before_request
    @login_required
    def _guard():
        if not _allowed(role):
            abort(403)
        return None

    return bp
