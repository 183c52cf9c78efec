"""The operator console's landing page: the dashboard for a range of days, and its CSV."""
from datetime import date

from flask import request

from app.routes.admin import bp
from app.routes.web import csv_download, render_page
from app.services import overview
from app.services.clock import shanghai_today


def _date_arg(name):
    try:
        return date.fromisoformat(request.args.get(name, "")[:10])
    except ValueError:
        return None


def _chosen_range():
    return overview.resolve_range(request.args.get("range", "7d"), _date_arg("start"), _date_arg("end"))


@bp.get("/")
def index():
    rng = _chosen_range()
    return render_page("admin/index.html", overview=overview.operator_overview(), board=overview.dashboard(rng),
                       today=shanghai_today(), bars=_bars)


def _bars(figures):
    """(label, current value) rows for a bar chart."""
    return [(str(f.label), f.current) for f in figures]


@bp.get("/dashboard.csv")
def dashboard_export():
    board = overview.dashboard(_chosen_range())
    return csv_download(overview.dashboard_csv(board),
                        f"dashboard-{board.range.first:%Y%m%d}-{board.range.last:%Y%m%d}.csv")
