"""The operator console's landing page."""
from app.routes.admin import bp
from app.routes.web import render_page
from app.services.overview import operator_overview


@bp.get("/")
def index():
    return render_page("admin/index.html", overview=operator_overview())
