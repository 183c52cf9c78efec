"""WeChat Pay (API v3, JSAPI) for the cash part of points + cash orders, behind the provider
interface of services/payments.py. PAYMENT_PROVIDER=wechat selects it.

wechatpayv3 does the protocol: request signing, response and notification signature checks
(platform public key, or platform certificates it downloads), AES-256-GCM decryption and the
JSAPI paySign. It does not check a notification's age, nor whether its nonce was seen before:
`handle_notification` refuses anything older than 5 minutes and any nonce it has recorded
(`wechatpay_nonces`), so a captured notification cannot be replayed. Money only moves through
payments.complete_payment (a guarded update: a repeated notification changes nothing) and
payments.refund_payment.
"""
import json
import secrets
import threading
import time
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from flask import current_app
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError
from wechatpayv3 import WeChatPay, WeChatPayType

from app.extensions import db
from app.models import Order, PaymentNonce
from app.services import payments, wechat
from app.services.clock import to_shanghai, utcnow
from app.services.errors import DomainError
from app.services.tx import write_transaction

NOTIFY_MAX_AGE = 300  # seconds: WeChat signs a timestamp; older notifications are refused
NONCE_KEEP = timedelta(days=1)
_clients = {}
_clients_lock = threading.Lock()


class NotificationRefused(Exception):
    """A payment notification we do not act on; `status` is the HTTP answer WeChat gets."""

    def __init__(self, reason, status=400):
        super().__init__(reason)
        self.reason, self.status = reason, status


def _read(path):
    return Path(path).read_text(encoding="utf-8") if path else None


def client():
    """The wechatpayv3 client for the configured merchant, built once per process."""
    config = current_app.config
    key = tuple(config.get(name) for name in ("WECHATPAY_MCHID", "WECHATPAY_CERT_SERIAL_NO",
                                              "WECHATPAY_PRIVATE_KEY_PATH", "WECHATPAY_API_BASE",
                                              "WECHATPAY_PUBLIC_KEY_ID", "WECHATPAY_CERT_DIR"))
    with _clients_lock:
        if key not in _clients:
            try:
                pay = WeChatPay(
                    wechatpay_type=WeChatPayType.JSAPI, mchid=config["WECHATPAY_MCHID"],
                    private_key=_read(config["WECHATPAY_PRIVATE_KEY_PATH"]),
                    cert_serial_no=config["WECHATPAY_CERT_SERIAL_NO"],
                    appid=config["WECHATPAY_APPID"] or config["WECHAT_APP_ID"],
                    apiv3_key=config["WECHATPAY_APIV3_KEY"], notify_url=notify_url(),
                    cert_dir=config.get("WECHATPAY_CERT_DIR") or None,
                    public_key=_read(config.get("WECHATPAY_PUBLIC_KEY_PATH")),
                    public_key_id=config.get("WECHATPAY_PUBLIC_KEY_ID") or None,
                    timeout=(5, 10),
                )
            except Exception as error:  # noqa: BLE001 - the library raises bare Exception on bad keys
                raise payments.PaymentUnavailable(_("微信支付配置有误，暂不可用")) from error
            # The one place the gateway is changed: tests and local development use a fake on 127.0.0.1.
            pay._core._gate_way = config["WECHATPAY_API_BASE"].rstrip("/")
            _clients[key] = pay
        return _clients[key]


def notify_url():
    config = current_app.config
    return config.get("WECHATPAY_NOTIFY_URL") or config["SITE_URL"].rstrip("/") + "/pay/wechat/notify"


def _answer(result):
    code, body = result
    try:
        return code, json.loads(body) if body else {}
    except (TypeError, ValueError):
        return code, {}


def _call(method, *args, **kwargs):
    """Call the API; PaymentUnavailable when WeChat cannot be reached or its answer cannot be trusted."""
    try:
        return _answer(getattr(client(), method)(*args, **kwargs))
    except payments.PaymentUnavailable:
        raise
    except Exception as error:  # noqa: BLE001 - network errors and failed signature checks alike
        current_app.logger.warning("wechat pay %s failed: %s", method, error)
        raise payments.PaymentUnavailable(_("微信支付暂时不可用，请稍后再试")) from error


class WeChatPayProvider:
    """微信支付 (JSAPI): the member pays in WeChat's own sheet; the result arrives by notification."""

    name = "wechat"
    label = _l("微信支付")
    template = "shop/_pay_wechat.html"

    def __init__(self, app):
        needed = ("WECHATPAY_MCHID", "WECHATPAY_CERT_SERIAL_NO", "WECHATPAY_PRIVATE_KEY_PATH", "WECHATPAY_APIV3_KEY")
        if not all(app.config.get(name) for name in needed):
            raise payments.PaymentUnavailable(_("微信支付未配置"))

    def checkout(self, payment):
        """The JSAPI parameters for WeixinJSBridge, or why the member cannot pay here."""
        order = db.session.get(Order, payment.order_id)
        openid = wechat.openid_of(order.user_id)
        if openid is None:
            return {"payment": payment, "needs_wechat": True}
        deadline = order.pay_deadline or utcnow() + timedelta(minutes=15)
        code, body = _call("pay", description=order.product_name[:127], out_trade_no=payment.out_trade_no,
                           amount={"total": payment.amount_fen, "currency": "CNY"}, payer={"openid": openid},
                           time_expire=to_shanghai(deadline).isoformat(timespec="seconds"))
        if code != 200 or not body.get("prepay_id"):
            current_app.logger.warning("wechat pay prepay refused: %s %s", code, body)
            return {"payment": payment, "unavailable": True}
        app_id = current_app.config["WECHATPAY_APPID"] or current_app.config["WECHAT_APP_ID"]
        timestamp, nonce, package = str(int(time.time())), secrets.token_hex(16), f"prepay_id={body['prepay_id']}"
        return {"payment": payment, "jsapi": {
            "appId": app_id, "timeStamp": timestamp, "nonceStr": nonce, "package": package, "signType": "RSA",
            "paySign": client().sign([app_id, timestamp, nonce, package]),
        }}

    def refund(self, payment, amount_fen):
        """Ask WeChat to return the cash; the same out_refund_no makes a retry the same refund."""
        code, body = _call("refund", out_refund_no=payment.out_refund_no, out_trade_no=payment.out_trade_no,
                           amount={"refund": amount_fen, "total": payment.amount_fen, "currency": "CNY"})
        if code != 200 or body.get("status") not in ("SUCCESS", "PROCESSING"):
            raise payments.PaymentUnavailable(_("微信支付退款未受理：%(why)s", why=body.get("message", code)))
        return body.get("refund_id") or payment.out_refund_no

    def query(self, payment):
        """WeChat's view of the payment: (trade_state, transaction_id, amount in fen)."""
        code, body = _call("query", out_trade_no=payment.out_trade_no)
        if code != 200:
            return None, None, None
        return body.get("trade_state"), body.get("transaction_id"), (body.get("amount") or {}).get("total")

    def close(self, payment):
        """Close an unpaid WeChat order (the order timed out): nobody can pay it any more."""
        code, _body = _call("close", out_trade_no=payment.out_trade_no)
        return code in (200, 204)


payments.PROVIDERS["wechat"] = WeChatPayProvider


# ---- notifications and the return from the pay sheet --------------------------------------------

@dataclass(frozen=True)
class Outcome:
    out_trade_no: str
    trade_state: str


def _remember_nonce(nonce, now):
    """Record a notification's nonce; NotificationRefused if it was seen before (a replay)."""
    try:
        with write_transaction() as session:
            session.execute(delete(PaymentNonce).where(PaymentNonce.seen_at < now - NONCE_KEEP))
            session.add(PaymentNonce(nonce=nonce[:64], seen_at=now))
    except IntegrityError:
        db.session.rollback()
        raise NotificationRefused("nonce seen before", 401) from None


def handle_notification(headers, body, now=None):
    """Verify a payment notification from WeChat and act on it; returns the Outcome.

    Refused (NotificationRefused, nothing changes) when the signature does not verify, the
    timestamp is more than 5 minutes old, the nonce was seen before, the body does not decrypt,
    or the amount or merchant does not match the payment. A payment notified twice is paid once.
    """
    now = now or utcnow()
    header = {key.lower(): value for key, value in headers.items()}
    try:
        sent_at = int(header.get("wechatpay-timestamp", ""))
    except ValueError:
        raise NotificationRefused("no timestamp", 401) from None
    if abs(time.time() - sent_at) > NOTIFY_MAX_AGE:
        raise NotificationRefused("stale notification", 401)
    try:
        data = client().callback(header, body)
    except payments.PaymentUnavailable:
        raise
    except Exception:  # noqa: BLE001 - wechatpayv3 raises bare Exception on an unknown signature type
        data = None
    if not data or not isinstance(data.get("resource"), dict):
        raise NotificationRefused("signature or body does not verify", 401)
    _remember_nonce(header.get("wechatpay-nonce", ""), now)
    resource = data["resource"]
    out_trade_no, state = str(resource.get("out_trade_no", "")), resource.get("trade_state")
    if resource.get("mchid") and resource["mchid"] != current_app.config["WECHATPAY_MCHID"]:
        raise NotificationRefused("another merchant's payment")
    total = (resource.get("amount") or {}).get("total")
    try:
        if state == "SUCCESS":
            payments.complete_payment(out_trade_no, amount_fen=total, provider_txn_id=resource.get("transaction_id"),
                                      now=now)
        elif state in ("PAYERROR", "CLOSED", "REVOKED"):
            payments.fail_payment(out_trade_no, now=now)
    except DomainError as refusal:  # unknown out_trade_no, or the amount does not match
        raise NotificationRefused(str(refusal.message)) from None
    return Outcome(out_trade_no, state)


def settle_on_return(order, now=None):
    """The member is back from WeChat's pay sheet: if the notification has not arrived yet, ask
    WeChat (order query) and settle the payment the same way. Returns the order's payment (None
    for an order without a cash part)."""
    payment = order.payment
    if payment is None or payment.provider != WeChatPayProvider.name or payment.status not in ("pending", "failed"):
        return payment
    state, transaction_id, total = payments.get_provider(payment.provider).query(payment)
    if state == "SUCCESS":
        return payments.complete_payment(payment.out_trade_no, amount_fen=total, provider_txn_id=transaction_id,
                                         now=now)
    if state == "PAYERROR":
        return payments.fail_payment(payment.out_trade_no, now=now)
    return payment


__all__ = ["NotificationRefused", "Outcome", "WeChatPayProvider", "client", "handle_notification", "notify_url",
           "settle_on_return"]
