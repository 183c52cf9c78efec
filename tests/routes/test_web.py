"""Shared web helpers: money formatting (role checks: tests/routes/test_authorization.py)."""
import pytest

from app.routes.web import _fen
from tests.shop_factories import make_merchant  # noqa: F401  (fixture)


@pytest.mark.parametrize("fen, text", [(0, "0.00"), (3900, "39.00"), (5, "0.05"), (123456, "1234.56"), (-150, "-1.50")])
def test_fen_shown_as_yuan(fen, text):
    assert _fen(fen) == text


@pytest.mark.parametrize("role, inside, outside", [
    ("operator", 'class="console-nav"', 'class="tabbar"'),
    ("staff", 'class="merchant-bar"', 'class="tabbar"'),
])
def test_staff_and_operators_see_error_pages_inside_their_console(client, make_account, make_merchant, role,
                                                                  inside, outside):
    from tests.conftest import login_as

    extra = {"merchant_id": make_merchant()} if role == "staff" else {}
    login_as(client, make_account(role, **extra))
    for path in ("/admin/orders/999999", "/merchant/no-such-page", "/no-such-page"):
        response = client.get(path)
        page = response.get_data(as_text=True)
        assert response.status_code in (403, 404), path
        assert inside in page and outside not in page, path
    home = {"operator": "/admin/", "staff": "/merchant/"}[role]
    assert f'href="{home}"' in page


def test_members_and_visitors_see_error_pages_in_the_mall(client, make_member):
    from tests.conftest import login_as

    assert 'class="console-nav"' not in client.get("/no-such-page").get_data(as_text=True)
    login_as(client, make_member())
    page = client.get("/no-such-page").get_data(as_text=True)
    assert "页面不存在" in page and 'class="console-nav"' not in page and 'class="merchant-bar"' not in page
