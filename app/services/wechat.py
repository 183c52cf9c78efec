"""WeChat 公众号: web authorization login and binding, the shared access token and JS-SDK ticket.

Off unless WECHAT_APP_ID and WECHAT_APP_SECRET are set; then phone + password stays for
everyone outside WeChat. OAuth goes through wechatpy's WeChatOAuth (authorize URL, code
exchange, userinfo, its error codes); the access token and the jsapi ticket are ours
(`credential`): wechatpy keeps them per process (or in Redis without a refresh lock), while
several gunicorn workers must share one token and refresh it once (WeChat invalidates the
previous token on every refresh). The same thin client sends template messages.
"""
import secrets
import time
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import urlencode

import requests
from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from wechatpy.exceptions import WeChatOAuthException
from wechatpy.oauth import WeChatOAuth
from wechatpy.utils import WeChatSigner

from app.extensions import db
from app.models import User, UserIdentity, WeChatCredential
from app.services import accounts, audit
from app.services.clock import utcnow
from app.services.errors import DomainError
from app.services.tx import write_transaction

PROVIDER = "wechat"
TIMEOUT = 5  # seconds for any call to WeChat
STATE_TTL = 600  # an authorization must come back within 10 minutes
# Errors meaning "this access token is no longer valid": refresh once and retry.
TOKEN_ERRORS = {40001, 40014, 42001}
TOKEN_MARGIN = timedelta(minutes=5)  # refresh before WeChat's expiry, never race it
JS_API_LIST = ["updateAppMessageShareData", "updateTimelineShareData", "onMenuShareAppMessage",
               "onMenuShareTimeline", "scanQRCode"]


class WeChatUnavailable(DomainError):
    """WeChat did not answer, or answered with an error the member cannot fix."""


def configured():
    config = current_app.config
    return bool(config.get("WECHAT_APP_ID") and config.get("WECHAT_APP_SECRET"))


def in_wechat(user_agent):
    return "MicroMessenger" in (user_agent or "")


def app_id():
    return current_app.config["WECHAT_APP_ID"]


# ---- OAuth ------------------------------------------------------------------------------------

class _OAuth(WeChatOAuth):
    """wechatpy's client on our configured hosts (the fake server in tests) with a timeout."""

    def __init__(self, redirect_uri="", scope="snsapi_base", state=""):
        config = current_app.config
        self.API_BASE_URL = config["WECHAT_API_BASE"].rstrip("/") + "/"
        self.OAUTH_BASE_URL = config["WECHAT_OPEN_BASE"].rstrip("/") + "/connect/"
        super().__init__(config["WECHAT_APP_ID"], config["WECHAT_APP_SECRET"], redirect_uri, scope, state)

    def _request(self, method, url_or_endpoint, **kwargs):
        kwargs.setdefault("timeout", TIMEOUT)
        return super()._request(method, url_or_endpoint, **kwargs)


def authorize_url(redirect_uri, scope, state):
    """Where to send the member's browser: WeChat's authorize page, back to redirect_uri with a code."""
    return _OAuth(redirect_uri, scope, state).authorize_url


def new_state(scope, next_url, invite=None, bind_user_id=None):
    """A single-use state for the session: random, with what to do when WeChat sends the member back."""
    return {"state": secrets.token_urlsafe(24), "scope": scope, "next": next_url, "invite": invite,
            "bind": bind_user_id, "expires": int(time.time()) + STATE_TTL}


def check_state(stored, given):
    """The stored state if `given` is it and it has not expired; DomainError otherwise."""
    if not stored or not given or not secrets.compare_digest(str(stored.get("state", "")), str(given)):
        raise DomainError(_("登录链接已失效，请重新进入"))
    if int(stored.get("expires", 0)) < time.time():
        raise DomainError(_("登录已超时，请重新进入"))
    return stored


@dataclass(frozen=True)
class WeChatUser:
    openid: str
    unionid: str | None
    nickname: str | None = None
    avatar_url: str | None = None


def exchange_code(code, scope):
    """Trade the authorization code for the member's openid (and, with snsapi_userinfo, the profile)."""
    oauth = _OAuth(scope=scope)
    try:
        token = oauth.fetch_access_token(code)
        profile = {}
        if scope == "snsapi_userinfo":
            profile = oauth.get_user_info(token["openid"], token["access_token"])
    except WeChatOAuthException as error:
        if error.errcode in (40029, 40163, 41008):  # invalid, used or missing code
            raise DomainError(_("微信授权已失效，请重新进入")) from None
        raise WeChatUnavailable(_("微信登录暂时不可用，请稍后再试或使用手机号登录")) from None
    except requests.RequestException:
        raise WeChatUnavailable(_("微信登录暂时不可用，请稍后再试或使用手机号登录")) from None
    return WeChatUser(token["openid"], token.get("unionid") or profile.get("unionid"),
                      (profile.get("nickname") or "")[:20] or None, profile.get("headimgurl") or None)


def find_member(wx_user):
    """The member this WeChat user is: by this app's openid, else by unionid (another app of ours)."""
    identity = db.session.execute(
        select(UserIdentity).where(UserIdentity.provider == PROVIDER, UserIdentity.app_id == app_id(),
                                   UserIdentity.openid == wx_user.openid)
    ).scalar_one_or_none()
    if identity is None and wx_user.unionid:
        identity = db.session.execute(
            select(UserIdentity).where(UserIdentity.provider == PROVIDER, UserIdentity.unionid == wx_user.unionid)
            .order_by(UserIdentity.id)
        ).scalars().first()
    return db.session.get(User, identity.user_id) if identity is not None else None


def _identity_for(user_id, wx_user):
    return UserIdentity(user_id=user_id, provider=PROVIDER, app_id=app_id(), openid=wx_user.openid,
                        unionid=wx_user.unionid)


def log_in_member(wx_user, *, ip=None, inviter_code=None, device=None):
    """The member for this WeChat user, created (registration gift, newbie gift, referral) if new.

    Returns (user, created). Two callbacks for the same new openid at once create one member:
    the identity's unique key refuses the second, whose whole registration rolls back.
    """
    member = find_member(wx_user)
    if member is not None:
        if not any(i.app_id == app_id() for i in _identities(member.id)):
            _attach(member.id, wx_user)  # known by unionid from another app: remember this app's openid too
        return member, False
    try:
        member = accounts.register_member(None, None, ip=ip, inviter_code=inviter_code, nickname=wx_user.nickname,
                                          device=device, avatar_url=wx_user.avatar_url,
                                          identity=_identity_for(None, wx_user))
    except IntegrityError:
        db.session.rollback()
        member = find_member(wx_user)
        if member is None:
            raise
        return member, False
    return member, True


def _identities(user_id):
    return db.session.execute(select(UserIdentity).where(UserIdentity.user_id == user_id)).scalars().all()


def _attach(user_id, wx_user):
    try:
        with write_transaction() as session:
            session.add(_identity_for(user_id, wx_user))
    except IntegrityError:
        db.session.rollback()


def bind(user_id, wx_user):
    """Bind this WeChat account to a member who registered by phone. Refused, never merged, when the
    WeChat account already belongs to another member or the member already has another one."""
    owner = find_member(wx_user)
    if owner is not None and owner.id == user_id:
        return False
    if owner is not None:
        raise DomainError(_("这个微信已绑定另一个会员账号（%(name)s），不能重复绑定。如需合并账号请联系客服。",
                            name=owner.display_name))
    if any(i.app_id == app_id() for i in _identities(user_id)):
        raise DomainError(_("你的账号已绑定了另一个微信，不能再绑定"))
    try:
        with write_transaction() as session:
            session.add(_identity_for(user_id, wx_user))
            audit.record(user_id, "member.bind_wechat", target=f"user:{user_id}")
    except IntegrityError:
        db.session.rollback()
        raise DomainError(_("这个微信已绑定另一个会员账号，不能重复绑定。如需合并账号请联系客服。")) from None
    return True


def bound(user_id):
    """True when the member has a WeChat identity of this app."""
    return configured() and any(i.app_id == app_id() for i in _identities(user_id))


def openid_of(user_id):
    """The member's openid for this app, or None (template messages, JSAPI payments)."""
    if not configured():
        return None
    return db.session.execute(
        select(UserIdentity.openid).where(UserIdentity.user_id == user_id, UserIdentity.provider == PROVIDER,
                                          UserIdentity.app_id == app_id())
    ).scalar_one_or_none()


# ---- the shared access token and JS-SDK ticket -----------------------------------------------

def _api(method, path, **kwargs):
    """Call WeChat's API; returns the JSON body (with errcode when WeChat refused)."""
    url = current_app.config["WECHAT_API_BASE"].rstrip("/") + path
    try:
        response = requests.request(method, url, timeout=TIMEOUT, **kwargs)
        response.raise_for_status()
        return response.json()
    except (requests.RequestException, ValueError):
        raise WeChatUnavailable(_("微信服务暂时不可用")) from None


def _fetch(name, token=None):
    config = current_app.config
    if name == "access_token":
        body = _api("GET", "/cgi-bin/token", params={"grant_type": "client_credential",
                                                      "appid": config["WECHAT_APP_ID"],
                                                      "secret": config["WECHAT_APP_SECRET"]})
        return body.get("access_token"), body.get("expires_in"), body.get("errcode")
    body = _api("GET", "/cgi-bin/ticket/getticket", params={"access_token": token, "type": "jsapi"})
    return body.get("ticket"), body.get("expires_in"), body.get("errcode")


def credential(name, *, stale=None):
    """The shared access token ("access_token") or jsapi ticket ("jsapi_ticket"), fetched once for
    all workers: a valid stored one is used as is; otherwise the row is locked, read again (another
    worker may have refreshed it meanwhile) and only then fetched. `stale`: a value WeChat has just
    rejected, refreshed even if it has not expired."""
    key = f"{app_id()}:{name}"[:32]
    row = db.session.get(WeChatCredential, key)
    if row is not None and row.value and row.expires_at > utcnow() + TOKEN_MARGIN and row.value != stale:
        return row.value
    # The ticket is fetched with the token: take the token first, outside the ticket's lock.
    token = credential("access_token") if name == "jsapi_ticket" else None
    with write_transaction() as session:
        row = session.execute(select(WeChatCredential).where(WeChatCredential.name == key).with_for_update()
                              .execution_options(populate_existing=True)).scalar_one_or_none()
        if row is None:  # the first time ever: several workers may insert it at once, one wins
            try:
                with session.begin_nested():
                    session.add(WeChatCredential(name=key))
            except IntegrityError:
                pass
            row = session.execute(select(WeChatCredential).where(WeChatCredential.name == key).with_for_update()
                                  .execution_options(populate_existing=True)).scalar_one()
        if row.value and row.expires_at > utcnow() + TOKEN_MARGIN and row.value != stale:
            return row.value
        value, expires_in, errcode = _fetch(name, token)
        if name == "jsapi_ticket" and errcode in TOKEN_ERRORS:
            raise _TokenRejected()
        if not value:
            raise WeChatUnavailable(_("微信服务暂时不可用"))
        row.value, row.expires_at = value, utcnow() + timedelta(seconds=int(expires_in or 7200))
        return value


class _TokenRejected(Exception):
    """WeChat refused the access token we hold (expired early, or refreshed elsewhere)."""


def call_with_token(call):
    """Run call(access_token) -> JSON body; if WeChat says the token is invalid, refresh it once and retry."""
    token = credential("access_token")
    body = call(token)
    if body.get("errcode") in TOKEN_ERRORS:
        body = call(credential("access_token", stale=token))
    return body


def jsapi_ticket():
    try:
        return credential("jsapi_ticket")
    except _TokenRejected:
        token = credential("access_token")
        credential("access_token", stale=token)
        return credential("jsapi_ticket")


def jsapi_signature(ticket, noncestr, timestamp, url):
    """WeChat's JS-SDK signature: sha1 of the four fields sorted and joined with & (wechatpy's signer)."""
    signer = WeChatSigner(delimiter=b"&")
    signer.add_data(f"jsapi_ticket={ticket}", f"noncestr={noncestr}", f"timestamp={timestamp}",
                    f"url={url.split('#')[0]}")
    return signer.signature


def js_config(url):
    """The wx.config of a page at `url` (without its #fragment), signed with the shared ticket."""
    noncestr, timestamp = secrets.token_hex(8), int(time.time())
    return {"appId": app_id(), "timestamp": timestamp, "nonceStr": noncestr,
            "signature": jsapi_signature(jsapi_ticket(), noncestr, timestamp, url), "jsApiList": JS_API_LIST}


def send_template(openid, template_id, data, url):
    """Send one template message; returns WeChat's answer (errcode 0 when sent)."""
    payload = {"touser": openid, "template_id": template_id, "url": url, "data": data}
    return call_with_token(lambda token: _api("POST", "/cgi-bin/message/template/send",
                                              params={"access_token": token}, json=payload))


def oauth_query(**values):
    return urlencode({key: value for key, value in values.items() if value})


__all__ = ["WeChatUnavailable", "WeChatUser", "authorize_url", "bind", "bound", "call_with_token", "check_state",
           "configured", "credential", "exchange_code", "find_member", "in_wechat", "js_config", "jsapi_signature",
           "jsapi_ticket",
           "log_in_member", "new_state", "openid_of", "send_template"]
