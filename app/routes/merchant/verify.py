"""Voucher verification at the counter (核销): scan or type a code, see the voucher, confirm.

GET /merchant/verify?code=… looks the code up (a read; a refusal is audited); the confirm
button POSTs to /merchant/verify/confirm and, done, lands on /merchant/verify?done=<id>.
Everything works without JavaScript; with it, htmx swaps only the result panel.
"""
from flask import redirect, request, url_for
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from app.forms.verify import ConfirmRedeemForm
from app.routes.merchant import action_entry, bp
from app.routes.params import id_arg
from app.routes.web import is_htmx_fragment_request, render_page
from app.services import vouchers
from app.services.errors import DomainError

action_entry("merchant.verify", _l("核销券码"), 10)

MAX_CODE_INPUT = 512


def _verify_page(code="", found=None, refusal=None, receipt=None, form=None, status=200):
    """The verify page, or its result panel for htmx."""
    return render_page("merchant/verify.html", block="verify_result", status=status, code=code, found=found,
                       refusal=refusal, reason=vouchers.refusal_reason(refusal) if refusal else None,
                       receipt=receipt, form=form or ConfirmRedeemForm(formdata=None), grouped=vouchers.grouped)


@bp.get("/verify")
def verify():
    receipt = vouchers.counter_receipt(id_arg("done"), current_user.id)
    code = (request.args.get("code") or "").strip()[:MAX_CODE_INPUT]
    if receipt is not None or not code:
        return _verify_page(receipt=receipt)
    try:
        found = vouchers.check_voucher(code, current_user.id)
    except DomainError as refusal:
        return _verify_page(code=code, refusal=refusal)
    form = ConfirmRedeemForm(formdata=None, code=found.voucher.code)
    return _verify_page(code=code, found=found, form=form)


@bp.post("/verify/confirm")
def verify_confirm():
    form = ConfirmRedeemForm()
    if not form.validate_on_submit():
        refusal = DomainError(next(iter(form.errors.values()))[0])
        return _verify_page(refusal=refusal, status=200 if is_htmx_fragment_request() else 422)
    try:
        voucher = vouchers.redeem_voucher(form.code.data, current_user.id, form.request_key.data)
    except DomainError as refusal:
        return _verify_page(code=form.code.data, refusal=refusal,
                            status=200 if is_htmx_fragment_request() else refusal.status)
    if is_htmx_fragment_request():
        return _verify_page(receipt=vouchers.counter_receipt(voucher.id, current_user.id))
    return redirect(url_for("merchant.verify", done=voucher.id), 303)
