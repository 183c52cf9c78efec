"""The operator console (/admin/): desktop layout, operators only.

One module per page group (home today; products, orders, members, settings ... next),
each adding its routes to `bp`. The guard below covers every route of the package.
"""
from flask import Blueprint
from flask_babel import lazy_gettext as _l

from app.access import OPERATOR, guard_blueprint

bp = guard_blueprint(Blueprint("admin", __name__, url_prefix="/admin"), OPERATOR)

# The side navigation: (endpoint, label); a page group adds its entry here.
NAV = [
    ("admin.index", _l("概览")),
]


@bp.app_context_processor
def _console_context():
    return {"admin_nav": NAV}


from app.routes.admin import home  # noqa: E402,F401  (the page groups add their routes to bp)
