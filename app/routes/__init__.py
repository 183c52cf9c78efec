"""Blueprints, one per area. Add a new area's blueprint to BLUEPRINTS."""
from importlib import import_module

BLUEPRINTS = [
    "app.routes.health",
    "app.routes.auth",
    "app.routes.main",
    "app.routes.me",
    "app.routes.shop",
    "app.routes.aftersales",
    "app.routes.games",
    "app.routes.engage",
    "app.routes.merchant",
    "app.routes.admin",
    "app.routes.pay",
]


def register_blueprints(app):
    for module in BLUEPRINTS:
        app.register_blueprint(import_module(module).bp)
