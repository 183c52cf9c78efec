"""The merchant console (/merchant/): phone layout, staff of a merchant only.

Staff act for their own merchant only (app.access.require_staff); the guard below
covers every route of the package.
"""
from flask import Blueprint

from app.access import STAFF, guard_blueprint

bp = guard_blueprint(Blueprint("merchant", __name__, url_prefix="/merchant"), STAFF)

from app.routes.merchant import home  # noqa: E402,F401  (the page groups add their routes to bp)
