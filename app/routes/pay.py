"""WeChat Pay: the notification endpoint WeChat calls, and the member's return from the pay sheet."""
from flask import Blueprint, current_app, flash, jsonify, redirect, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from app.access import member_required
from app.extensions import csrf
from app.services import payments, shop, wechat_pay
from app.services.errors import DomainError

bp = Blueprint("pay", __name__)


@bp.post("/pay/wechat/notify")
@csrf.exempt  # WeChat signs it: wechat_pay.handle_notification checks signature, age and nonce
def wechat_notify():
    """WeChat Pay's payment notification; answers as WeChat expects (200 SUCCESS, or 4xx FAIL to be retried)."""
    try:
        outcome = wechat_pay.handle_notification(request.headers, request.get_data(as_text=True))
    except wechat_pay.NotificationRefused as refused:
        current_app.logger.warning("wechat pay notification refused: %s", refused.reason)
        return jsonify({"code": "FAIL", "message": refused.reason}), refused.status
    except payments.PaymentUnavailable:
        return jsonify({"code": "FAIL", "message": "payment provider not configured"}), 503
    current_app.logger.info("wechat pay notification %s %s", outcome.out_trade_no, outcome.trade_state)
    return jsonify({"code": "SUCCESS", "message": "OK"}), 200


@bp.get("/orders/<id:order_id>/pay/return")
@member_required
def wechat_return(order_id):
    """Back from WeChat's pay sheet: settle with an order query if the notification is late."""
    order = shop.get_order(order_id, current_user.id)  # another member's or a missing order: 404
    try:
        payment = wechat_pay.settle_on_return(order)
    except DomainError as refusal:  # WeChat unreachable: the notification will still come
        flash(str(refusal.message), "error")
    else:
        if payment is None:
            pass
        elif payment.status == "succeeded":
            flash(_("支付成功"), "success")
        elif payment.status == "failed":
            flash(_("支付未成功，可在订单超时前重新支付"), "error")
        else:
            flash(_("支付结果确认中，请稍后刷新"), "info")
    return redirect(url_for("shop.order", order_id=order_id), 303)
