"""A fake WeChat Pay API v3 on 127.0.0.1: JSAPI prepay, order query, close and refund, answering
with responses signed by a platform key pair made for the test run, and payment notifications
signed and AES-256-GCM encrypted as WeChat sends them. The app's real wechatpayv3 client talks to
it (WECHATPAY_API_BASE) and verifies every answer against the fake platform's public key.
"""
import json
import secrets
import threading
import time
from base64 import b64encode
from dataclasses import dataclass, field

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.asymmetric.padding import PKCS1v15
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.hashes import SHA256
from flask import Flask, Response, request
from werkzeug.serving import make_server

MCHID = "1900000109"
APIV3_KEY = "0123456789abcdef0123456789abcdef"  # 32 bytes, as WeChat's APIv3 keys are
PUBLIC_KEY_ID = "PUB_KEY_ID_0000000000000000000000000001"
CERT_SERIAL_NO = "5157F09EFDC096DE15EBE81A47057A7232F1B8E1"


def _pem_private(key):
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode()


def _pem_public(key):
    return key.public_key().public_bytes(serialization.Encoding.PEM,
                                         serialization.PublicFormat.SubjectPublicKeyInfo).decode()


@dataclass
class PayState:
    orders: dict = field(default_factory=dict)      # out_trade_no -> {"amount", "state", "transaction_id", "openid"}
    refunds: dict = field(default_factory=dict)     # out_refund_no -> {"refund_id", "amount"}
    closed: list = field(default_factory=list)
    prepay_calls: int = 0


class FakeWeChatPay:
    def __init__(self):
        self.platform_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.merchant_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.state = PayState()
        self._server = make_server("127.0.0.1", 0, self._app(), threaded=True)
        self.url = f"http://127.0.0.1:{self._server.server_port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    # keys as the app's configuration reads them
    def write_keys(self, directory):
        merchant, platform = directory / "apiclient_key.pem", directory / "pub_key.pem"
        merchant.write_text(_pem_private(self.merchant_key))
        platform.write_text(_pem_public(self.platform_key))
        return str(merchant), str(platform)

    def start(self):
        self._thread.start()
        return self

    def stop(self):
        self._server.shutdown()

    def reset(self):
        self.state.__init__()

    # ---- signing as the platform does ----------------------------------------------------------

    def sign(self, timestamp, nonce, body):
        message = f"{timestamp}\n{nonce}\n{body}\n".encode()
        return b64encode(self.platform_key.sign(message, PKCS1v15(), SHA256())).decode()

    def signed_headers(self, body, *, timestamp=None, nonce=None):
        timestamp = str(int(time.time()) if timestamp is None else timestamp)
        nonce = nonce or secrets.token_hex(16)
        return {"Wechatpay-Timestamp": timestamp, "Wechatpay-Nonce": nonce, "Wechatpay-Serial": PUBLIC_KEY_ID,
                "Wechatpay-Signature": self.sign(timestamp, nonce, body),
                "Wechatpay-Signature-Type": "WECHATPAY2-SHA256-RSA2048"}

    def notification(self, out_trade_no, *, state="SUCCESS", amount=None, timestamp=None, nonce=None,
                     mchid=MCHID):
        """(headers, body) of the notification WeChat would send for this payment."""
        order = self.state.orders.get(out_trade_no, {})
        resource = {"mchid": mchid, "out_trade_no": out_trade_no, "trade_state": state,
                    "transaction_id": order.get("transaction_id") or f"4200{secrets.token_hex(8)}",
                    "amount": {"total": order.get("amount") if amount is None else amount, "currency": "CNY"},
                    "payer": {"openid": order.get("openid", "")}}
        gcm_nonce, associated = secrets.token_hex(6), "transaction"
        ciphertext = AESGCM(APIV3_KEY.encode()).encrypt(gcm_nonce.encode(), json.dumps(resource).encode(),
                                                         associated.encode())
        body = json.dumps({
            "id": secrets.token_hex(8), "create_time": "2026-11-24T10:00:00+08:00",
            "event_type": "TRANSACTION.SUCCESS" if state == "SUCCESS" else "TRANSACTION.FAIL",
            "resource_type": "encrypt-resource",
            "resource": {"algorithm": "AEAD_AES_256_GCM", "ciphertext": b64encode(ciphertext).decode(),
                         "nonce": gcm_nonce, "associated_data": associated, "original_type": "transaction"},
        })
        return self.signed_headers(body, timestamp=timestamp, nonce=nonce), body

    def pay(self, out_trade_no):
        """The member paid in WeChat's sheet (the notification is sent separately, or late)."""
        self.state.orders[out_trade_no]["state"] = "SUCCESS"

    # ---- the API -------------------------------------------------------------------------------

    def _app(self):
        fake = Flask("fake_wechatpay")
        state = self.state

        def answer(payload, status=200):
            body = json.dumps(payload) if payload is not None else ""
            headers = self.signed_headers(body)
            return Response(body, status=status, headers=headers, content_type="application/json")

        @fake.post("/v3/pay/transactions/jsapi")
        def prepay():
            data = request.get_json()
            state.prepay_calls += 1
            order = state.orders.setdefault(data["out_trade_no"], {
                "amount": data["amount"]["total"], "state": "NOTPAY",
                "transaction_id": f"4200{secrets.token_hex(8)}", "openid": data["payer"]["openid"]})
            if order["state"] == "SUCCESS":
                return answer({"code": "ORDERPAID", "message": "该订单已支付"}, 403)
            return answer({"prepay_id": f"wx{data['out_trade_no'][:20]}"})

        @fake.get("/v3/pay/transactions/out-trade-no/<out_trade_no>")
        def query(out_trade_no):
            order = state.orders.get(out_trade_no)
            if order is None:
                return answer({"code": "ORDER_NOT_EXIST", "message": "订单不存在"}, 404)
            return answer({"out_trade_no": out_trade_no, "trade_state": order["state"], "mchid": MCHID,
                           "transaction_id": order["transaction_id"], "amount": {"total": order["amount"]}})

        @fake.post("/v3/pay/transactions/out-trade-no/<out_trade_no>/close")
        def close(out_trade_no):
            state.closed.append(out_trade_no)
            if out_trade_no in state.orders and state.orders[out_trade_no]["state"] != "SUCCESS":
                state.orders[out_trade_no]["state"] = "CLOSED"
            return answer(None, 204)

        @fake.post("/v3/refund/domestic/refunds")
        def refund():
            data = request.get_json()
            known = state.refunds.setdefault(data["out_refund_no"], {"refund_id": f"50{secrets.token_hex(8)}",
                                                                      "amount": data["amount"]["refund"]})
            return answer({"refund_id": known["refund_id"], "out_refund_no": data["out_refund_no"],
                           "status": "PROCESSING", "amount": {"refund": known["amount"]}})

        return fake
