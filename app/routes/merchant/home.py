"""The merchant console's landing page."""
from flask_login import current_user

from app.routes.merchant import bp
from app.routes.web import render_page
from app.services.overview import merchant_overview


@bp.get("/")
def index():
    return render_page("merchant/index.html", overview=merchant_overview(current_user.merchant_id))
