"""Shared web helpers: money formatting, role checks."""
import pytest
from flask import Blueprint

from app import create_app
from app.config import TestConfig
from app.routes.access import role_required
from app.routes.web import _fen
from tests.conftest import login_as


@pytest.mark.parametrize("fen, text", [(0, "0.00"), (3900, "39.00"), (5, "0.05"), (123456, "1234.56"), (-150, "-1.50")])
def test_fen_shown_as_yuan(fen, text):
    assert _fen(fen) == text


def test_role_required_gates_by_role(app, make_member, make_account):
    class Config(TestConfig):
        SQLALCHEMY_DATABASE_URI = app.config["SQLALCHEMY_DATABASE_URI"]

    gated = create_app(Config)  # its own app: a used app takes no new blueprints
    bp = Blueprint("gate_test", __name__)

    @bp.get("/_gate")
    @role_required("operator")
    def only_ops():
        return "ops only"

    gated.register_blueprint(bp)
    client = gated.test_client()
    assert client.get("/_gate").status_code == 302  # to login
    login_as(client, make_member())
    assert client.get("/_gate").status_code == 403
    login_as(client, make_account("operator"))
    assert client.get("/_gate").get_data(as_text=True) == "ops only"
    with gated.app_context():
        from app.extensions import db

        db.engine.dispose()
