"""Register, log in, log out."""
import secrets

from flask import (Blueprint, abort, current_app, flash, g, make_response, redirect, render_template, request,
                   session, url_for)
from flask_babel import gettext as _
from flask_login import current_user, login_required, login_user, logout_user

from app.access import home_endpoint, is_member, layout_for
from app.extensions import limiter
from app.forms.auth import ChangePasswordForm, LoginForm, RegisterForm
from app.services import accounts, wechat
from app.services.accounts import AccountError
from app.services.settings import get_setting
from app.routes.web import absolute_url, safe_next
from app.services.errors import DomainError

bp = Blueprint("auth", __name__)



def _login_limit():
    return current_app.config["LOGIN_RATE_LIMIT"]


def _register_limit():
    return current_app.config["REGISTER_RATE_LIMIT"]


DEVICE_COOKIE = "did"
DEVICE_COOKIE_DAYS = 400  # browsers cap cookie lifetimes at about 400 days
_HEX = set("0123456789abcdef")


def device_id():
    """This browser's device id: the random id of its `did` cookie, or a new one (the caller sets it).

    Lasts across logouts and registrations, so several accounts registered from one phone share it
    (the risk rule 同设备多账号). It identifies a browser, not a person, and is never shown."""
    value = request.cookies.get(DEVICE_COOKIE, "")
    if len(value) == 32 and set(value) <= _HEX:
        return value
    return g.setdefault("new_device_id", secrets.token_hex(16))


def remember_device(response):
    """Set the `did` cookie when this request made up a new device id."""
    if "new_device_id" in g:
        response.set_cookie(DEVICE_COOKIE, g.new_device_id, max_age=DEVICE_COOKIE_DAYS * 86400, httponly=True,
                            samesite="Lax", secure=current_app.config["SESSION_COOKIE_SECURE"])
    return response


def _start_session(user):
    """Log `user` in on a fresh session: nothing from before the login (a planted CSRF token,
    stale keys) survives, and Flask-WTF issues a new CSRF token."""
    session.clear()
    g.pop("csrf_token", None)  # Flask-WTF caches the signed token for this request in g
    login_user(user, remember=True)


@bp.route("/register", methods=["GET", "POST"])
@limiter.limit(_register_limit, methods=["POST"])
def register():
    if current_user.is_authenticated:
        return redirect(url_for(home_endpoint(current_user)))
    form = RegisterForm()
    device = device_id()
    if request.method == "GET":
        form.invite.data = request.args.get("invite") or request.cookies.get("invite") or ""
    if form.validate_on_submit():
        try:
            user = accounts.register_member(form.phone.data, form.password.data, ip=request.remote_addr,
                                            inviter_code=form.invite.data or None, device=device)
        except AccountError as error:
            getattr(form, error.field or "phone").errors.append(str(error.message))
        else:
            _start_session(user)
            flash(_("注册成功，注册礼积分已到账"), "success")
            return remember_device(redirect(url_for("me.index"), 303))
    gift = get_setting("earn.register")
    page = render_template("auth/register.html", form=form, gift=gift)
    return remember_device(make_response(page, 422 if form.errors else 200))


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(_login_limit, methods=["POST"])
def login():
    if current_user.is_authenticated:
        return redirect(safe_next(request.args.get("next"), fallback=home_endpoint(current_user)))
    form = LoginForm()
    if request.method == "GET":
        form.next.data = request.args.get("next", "")
    if form.validate_on_submit():
        try:
            user = accounts.authenticate(form.phone.data, form.password.data)
        except AccountError as error:
            getattr(form, error.field or "password").errors.append(str(error.message))
        else:
            _start_session(user)
            if user.must_change_password:  # a one-time password from an operator: set one's own first
                flash(_("首次登录，请先设置自己的密码"), "info")
                return redirect(url_for("auth.change_password"), 303)
            return redirect(safe_next(form.next.data, fallback=home_endpoint(user)), 303)
    wechat_login = wechat.configured() and wechat.in_wechat(request.user_agent.string)
    return render_template("auth/login.html", form=form, wechat_login=wechat_login), (422 if form.errors else 200)


@bp.post("/logout")
@login_required
def logout():
    """Log out everywhere: the account's session token is replaced, so this browser's session
    and remember cookie, and those of every other device, stop working."""
    user_id = current_user.id
    session.clear()
    logout_user()
    accounts.end_all_sessions(user_id)
    flash(_("已退出登录"), "info")
    return redirect(url_for("main.home"), 303)


@bp.route("/me/password", methods=["GET", "POST"])
@login_required
@limiter.limit(_login_limit, methods=["POST"])
def change_password():
    """Change the password (any kind of account); every other device is logged out, this one stays in."""
    form = ChangePasswordForm()
    if form.validate_on_submit():
        try:
            user = accounts.change_password(current_user.id, form.old_password.data, form.new_password.data)
        except AccountError as error:
            getattr(form, error.field or "old_password").errors.append(str(error.message))
        else:
            _start_session(user)
            flash(_("密码已修改，其他设备需重新登录"), "success")
            return redirect(url_for(home_endpoint(user)), 303)
    return (render_template("auth/password.html", form=form, layout=layout_for(current_user),
                            first_time=current_user.must_change_password),
            422 if form.errors else 200)


# ---- WeChat web authorization (微信网页授权) ------------------------------------------------------

OAUTH_SESSION_KEY = "wx_oauth"


def _wechat_authorize(scope, next_url, invite=None, bind_user_id=None):
    """Remember a fresh single-use state in the session and send the browser to WeChat."""
    stored = wechat.new_state(scope, next_url, invite=invite, bind_user_id=bind_user_id)
    session[OAUTH_SESSION_KEY] = stored
    return redirect(wechat.authorize_url(absolute_url("auth.wechat_callback"), scope, stored["state"]), 302)


@bp.get("/auth/wechat")
def wechat_start():
    """Log in (or, with ?bind=1, bind the logged-in member's account) through WeChat: silently with
    snsapi_base first; a newcomer comes round once more with snsapi_userinfo for a nickname and avatar."""
    if not wechat.configured():
        abort(404)
    next_url = safe_next(request.args.get("next"), fallback="me.index")
    if request.args.get("bind"):
        if not (current_user.is_authenticated and current_user.role == "member"):
            return redirect(url_for("auth.login", next=url_for("auth.wechat_start", bind=1)))
        return _wechat_authorize("snsapi_base", url_for("engage.profile"), bind_user_id=current_user.id)
    if current_user.is_authenticated:
        return redirect(next_url)
    invite = request.args.get("invite") or request.cookies.get("invite")
    return _wechat_authorize("snsapi_base", next_url, invite=invite)


@bp.get("/auth/wechat/callback")
def wechat_callback():
    if not wechat.configured():
        abort(404)
    stored = session.pop(OAUTH_SESSION_KEY, None)  # single use, whatever happens next
    try:
        state = wechat.check_state(stored, request.args.get("state"))
        code = request.args.get("code")
        if not code:  # the member declined on WeChat's page
            raise DomainError(_("你取消了微信授权，可以使用手机号登录"))
        wx_user = wechat.exchange_code(code[:128], state["scope"])
        if state.get("bind"):
            return _bind_wechat(state, wx_user)
        member = wechat.find_member(wx_user)
        if member is None and state["scope"] == "snsapi_base":
            return _wechat_authorize("snsapi_userinfo", state["next"], invite=state.get("invite"))
        member, created = wechat.log_in_member(wx_user, ip=request.remote_addr, inviter_code=state.get("invite"),
                                               device=device_id())
    except DomainError as refusal:
        flash(str(refusal.message), "error")
        # A member binding WeChat goes back to the profile; everybody else to the login page.
        back = "engage.profile" if is_member(current_user) else "auth.login"
        return redirect(url_for(back), 303)
    if member.role != "member" or member.is_disabled:
        flash(_("该账号已被停用，请联系客服"), "error")
        return redirect(url_for("auth.login"), 303)
    _start_session(member)
    if created:
        flash(_("注册成功，注册礼积分已到账"), "success")
    return remember_device(redirect(safe_next(state["next"], fallback="me.index"), 303))


def _bind_wechat(state, wx_user):
    if not current_user.is_authenticated or current_user.id != state["bind"]:
        raise DomainError(_("请先登录要绑定的账号"))
    if wechat.bind(current_user.id, wx_user):
        flash(_("微信绑定成功，以后在微信里打开即可自动登录"), "success")
    else:
        flash(_("该微信已绑定你的账号"), "info")
    return redirect(url_for("engage.profile"), 303)


@bp.get("/password-help")
def password_help():
    """Forgot the password: how to get back in (customer service resets it; WeChat logs in without one)."""
    return render_template("auth/password_help.html", wechat_login=wechat.configured())
