"""The operator console's reconciliation page: the same checks as `flask points reconcile`."""
from flask_babel import lazy_gettext as _l

from app.routes.admin import bp, nav_entry
from app.routes.web import render_page
from app.services import reconcile

nav_entry("admin.reconcile", _l("对账"), 85)


@bp.get("/reconcile", endpoint="reconcile")
def reconcile_page():
    return render_page("admin/reconcile.html", report=reconcile.run())
