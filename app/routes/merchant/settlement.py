"""The merchant's settlement (结算) page and its CSV export; always the staff member's own merchant."""
from flask import make_response, request
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from app.routes.merchant import action_entry, bp
from app.routes.web import render_page
from app.services import settlement as settlements
from app.services.errors import DomainError

action_entry("merchant.settlement", _l("结算"), 30)


def _query():
    """(period, start, end, errors by field) from the query string; bad values fall back to defaults."""
    period = request.args.get("period", "day")
    if period not in settlements.PERIODS:
        period = "day"
    start, end = settlements.default_range()
    errors = {}
    for name in ("start", "end"):
        if request.args.get(name):
            try:
                value = settlements.parse_day(request.args[name], name)
            except DomainError as refusal:
                errors[name] = refusal.message
                continue
            start, end = (value, end) if name == "start" else (start, value)
    try:
        settlements.check_range(start, end)
    except DomainError as refusal:
        errors[refusal.field] = refusal.message
        start, end = settlements.default_range()
    return period, start, end, errors


@bp.get("/settlement")
def settlement():
    period, start, end, errors = _query()
    result = settlements.merchant_settlement(current_user.merchant_id, period, start, end)
    return render_page("merchant/settlement.html", status=422 if errors else 200, result=result,
                       errors=errors, periods=settlements.PERIODS, args=request.args)


@bp.get("/settlement.csv")
def settlement_csv():
    period, start, end, _errors = _query()
    result = settlements.merchant_settlement(current_user.merchant_id, period, start, end)
    response = make_response(settlements.settlement_csv(result).encode("utf-8"))
    response.headers["Content-Type"] = "text/csv; charset=utf-8"
    response.headers["Content-Disposition"] = (
        f'attachment; filename="settlement-{start:%Y%m%d}-{end:%Y%m%d}.csv"')
    return response
