"""The merchant console (/merchant/): phone layout, staff of a merchant only.

Staff act for their own merchant only (app.access.require_staff); the guard below
covers every route of the package.
"""
from flask import Blueprint

from app.access import STAFF, guard_blueprint

bp = guard_blueprint(Blueprint("merchant", __name__, url_prefix="/merchant"), STAFF)

# The console's actions (the landing's big buttons and the bottom bar): (position, endpoint,
# label); each page group adds its own with action_entry().
ACTIONS = []


def action_entry(endpoint, label, position):
    """Offer a page group on the landing and in the bottom bar, ordered by position."""
    ACTIONS.append((position, endpoint, label))
    ACTIONS.sort(key=lambda row: row[0])


@bp.app_context_processor
def _console_context():
    return {"merchant_actions": [(endpoint, label) for _position, endpoint, label in ACTIONS]}

from app.routes.merchant import home  # noqa: E402,F401  (the page groups add their routes to bp)
from app.routes.merchant import verify  # noqa: E402,F401
from app.routes.merchant import award, settlement  # noqa: E402,F401
