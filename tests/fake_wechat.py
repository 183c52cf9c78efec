"""A fake WeChat on 127.0.0.1 for tests and local development: the authorize page, code exchange,
userinfo, access token, jsapi ticket and template messages, answering as WeChat documents them.

Tests drive the real client code (wechatpy's OAuth, services/wechat.py) against it: point
WECHAT_API_BASE and WECHAT_OPEN_BASE at `server.url`. `server.state` is what the fake knows and
counts; tests arrange users, expire codes or tokens and read what was sent.

Run it by hand for local development:  python -m tests.fake_wechat 5088
"""
import itertools
import secrets
import sys
import threading
from dataclasses import dataclass, field
from urllib.parse import urlencode

from flask import Flask, jsonify, redirect, request
from werkzeug.serving import make_server

APP_ID, APP_SECRET = "wxfake0000000001", "fake-secret"


@dataclass
class FakeState:
    # openid -> {"unionid", "nickname", "headimgurl"}: who the "phone" in the fake is
    users: dict = field(default_factory=dict)
    next_openid: str = "o-fake-member-1"            # who the authorize page logs in as
    codes: dict = field(default_factory=dict)         # code -> (openid, scope)
    used_codes: set = field(default_factory=set)
    tokens_issued: int = 0
    tickets_issued: int = 0
    valid_tokens: set = field(default_factory=set)
    templates_sent: list = field(default_factory=list)
    template_failures: int = 0                        # fail this many sends with a system error first
    token_expires_in: int = 7200

    def add_user(self, openid, unionid=None, nickname="微信用户", headimgurl="https://wx.qlogo.cn/fake.png"):
        self.users[openid] = {"unionid": unionid, "nickname": nickname, "headimgurl": headimgurl}

    def code_for(self, openid, scope="snsapi_base"):
        code = secrets.token_hex(8)
        self.codes[code] = (openid, scope)
        return code

    def revoke_tokens(self):
        """WeChat invalidated every token (refreshed elsewhere, or expired early)."""
        self.valid_tokens.clear()


def create_fake(state):
    fake = Flask("fake_wechat")
    counter = itertools.count(1)

    def error(errcode, errmsg):
        return jsonify({"errcode": errcode, "errmsg": errmsg})

    @fake.get("/connect/oauth2/authorize")
    def authorize():
        """WeChat's authorize page: the member agrees at once and goes back with a code."""
        if request.args.get("appid") != APP_ID:
            return "bad appid", 400
        scope = request.args.get("scope", "snsapi_base")
        code = state.code_for(state.next_openid, scope)
        target = request.args["redirect_uri"]
        sep = "&" if "?" in target else "?"
        return redirect(f"{target}{sep}{urlencode({'code': code, 'state': request.args.get('state', '')})}")

    @fake.get("/sns/oauth2/access_token")
    def oauth_token():
        if request.args.get("appid") != APP_ID or request.args.get("secret") != APP_SECRET:
            return error(40125, "invalid appsecret")
        code = request.args.get("code", "")
        if code not in state.codes or code in state.used_codes:
            return error(40029, "invalid code")
        state.used_codes.add(code)
        openid, scope = state.codes[code]
        user = state.users.setdefault(openid, {"unionid": None, "nickname": "微信用户", "headimgurl": ""})
        body = {"access_token": f"user-token-{openid}", "expires_in": 7200, "refresh_token": "r",
                "openid": openid, "scope": scope}
        if user.get("unionid"):
            body["unionid"] = user["unionid"]
        return jsonify(body)

    @fake.get("/sns/userinfo")
    def userinfo():
        openid = request.args.get("openid", "")
        if request.args.get("access_token") != f"user-token-{openid}" or openid not in state.users:
            return error(40003, "invalid openid")
        user = state.users[openid]
        body = {"openid": openid, "nickname": user["nickname"], "headimgurl": user["headimgurl"]}
        if user.get("unionid"):
            body["unionid"] = user["unionid"]
        return jsonify(body)

    @fake.get("/cgi-bin/token")
    def token():
        if request.args.get("appid") != APP_ID or request.args.get("secret") != APP_SECRET:
            return error(40125, "invalid appsecret")
        state.tokens_issued += 1
        value = f"access-token-{next(counter)}"
        state.valid_tokens = {value}  # a new token replaces the old one, as on WeChat
        return jsonify({"access_token": value, "expires_in": state.token_expires_in})

    @fake.get("/cgi-bin/ticket/getticket")
    def ticket():
        if request.args.get("access_token") not in state.valid_tokens:
            return error(40001, "invalid credential, access_token is invalid or not latest")
        state.tickets_issued += 1
        return jsonify({"errcode": 0, "errmsg": "ok", "ticket": f"jsapi-ticket-{next(counter)}",
                        "expires_in": 7200})

    @fake.post("/cgi-bin/message/template/send")
    def template_send():
        if request.args.get("access_token") not in state.valid_tokens:
            return error(40001, "invalid credential, access_token is invalid or not latest")
        if state.template_failures:
            state.template_failures -= 1
            return error(-1, "system error")
        state.templates_sent.append(request.get_json())
        return jsonify({"errcode": 0, "errmsg": "ok", "msgid": next(counter)})

    return fake


class FakeWeChat:
    """The fake served on 127.0.0.1 in a thread; `url` is its base."""

    def __init__(self, port=0):
        self.state = FakeState()
        self._server = make_server("127.0.0.1", port, create_fake(self.state), threaded=True)
        self.url = f"http://127.0.0.1:{self._server.server_port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def start(self):
        self._thread.start()
        return self

    def reset(self):
        self.state.__init__()

    def stop(self):
        self._server.shutdown()


if __name__ == "__main__":  # local development: WECHAT_API_BASE=WECHAT_OPEN_BASE=http://127.0.0.1:<port>
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 5088
    fake = FakeWeChat(port)
    print(f"fake WeChat on {fake.url}: WECHAT_APP_ID={APP_ID} WECHAT_APP_SECRET={APP_SECRET}")
    fake._server.serve_forever()
