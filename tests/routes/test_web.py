"""Shared web helpers: money formatting (role checks: tests/routes/test_authorization.py)."""
import pytest

from app.routes.web import _fen


@pytest.mark.parametrize("fen, text", [(0, "0.00"), (3900, "39.00"), (5, "0.05"), (123456, "1234.56"), (-150, "-1.50")])
def test_fen_shown_as_yuan(fen, text):
    assert _fen(fen) == text
