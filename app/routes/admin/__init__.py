"""The operator console (/admin/): desktop layout, operators only.

One module per page group (home today; products, orders, members, settings ... next),
each adding its routes to `bp`. The guard below covers every route of the package.
"""
from flask import Blueprint
from flask_babel import lazy_gettext as _l

from app.access import OPERATOR, guard_blueprint

bp = guard_blueprint(Blueprint("admin", __name__, url_prefix="/admin"), OPERATOR)

# The side navigation: (position, endpoint, label); each page group adds its own entry
# with nav_entry() so that groups never edit one shared list.
NAV = []


def nav_entry(endpoint, label, position):
    """Put a page group in the side navigation, ordered by position (0 first)."""
    NAV.append((position, endpoint, label))
    NAV.sort(key=lambda row: row[0])


nav_entry("admin.index", _l("概览"), 0)


@bp.app_context_processor
def _console_context():
    return {"admin_nav": [(endpoint, label) for _position, endpoint, label in NAV]}


from app.routes.admin import home  # noqa: E402,F401  (the page groups add their routes to bp)
from app.routes.admin import audit, members, merchants, operators  # noqa: E402,F401
from app.routes.admin import orders  # noqa: E402,F401
from app.routes.admin import rules  # noqa: E402,F401
from app.routes.admin import aftersales  # noqa: E402,F401
from app.routes.admin import products  # noqa: E402,F401
from app.routes.admin import review  # noqa: E402,F401
from app.routes.admin import liability  # noqa: E402,F401
from app.routes.admin import reconcile  # noqa: E402,F401
from app.routes.admin import charts  # noqa: E402,F401
