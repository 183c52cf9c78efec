"""Points liability and breakage: outstanding points by expiry month, monthly flows, breakage rate; CSV."""
from flask_babel import lazy_gettext as _l

from app.routes.admin import bp, nav_entry
from app.routes.web import csv_download, render_page
from app.services import liability as liability_service
from app.services.clock import shanghai_today

nav_entry("admin.liability", _l("积分负债"), 5)


@bp.get("/liability")
def liability():
    return render_page("admin/liability.html", report=liability_service.liability())


@bp.get("/liability.csv")
def liability_export():
    return csv_download(liability_service.liability_csv(liability_service.liability()),
                        f"points-liability-{shanghai_today():%Y%m%d}.csv")
