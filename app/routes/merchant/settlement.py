"""The merchant's settlement (结算) page and its CSV export; always the staff member's own merchant."""
from flask import request
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from app.routes.merchant import action_entry, bp
from app.routes.web import csv_download, render_page
from app.services import settlement as settlements

action_entry("merchant.settlement", _l("结算"), 30)


@bp.get("/settlement")
def settlement():
    period, start, end, errors = settlements.requested(request.args)
    result = settlements.merchant_settlement(current_user.merchant_id, period, start, end)
    return render_page("merchant/settlement.html", status=422 if errors else 200, result=result,
                       errors=errors, periods=settlements.PERIODS, args=request.args)


@bp.get("/settlement.csv")
def settlement_csv():
    period, start, end, _errors = settlements.requested(request.args)
    result = settlements.merchant_settlement(current_user.merchant_id, period, start, end)
    return csv_download(settlements.settlement_csv(result), settlements.csv_filename(result))
