"""Reconciliation (issue 10 item 4): the console page and `flask points reconcile` catch corrupted
member balances, lots, product stock and draw prize counters, and stay clean on honest books."""
import pytest
from sqlalchemy import text

from app.extensions import db
from app.services import product_admin
from app.services.tx import write_transaction
from tests.conftest import login_as
from tests.games_factories import key, make_draw
from tests.shop_factories import make_product  # noqa: F401  (fixture)


@pytest.fixture()
def operator(client, make_account):
    user_id = make_account("operator")
    login_as(client, user_id)
    return user_id


@pytest.fixture()
def books(app, make_member, make_product, operator):
    """Honest books: members with points, a product created with stock, adjusted and sold from, a draw."""
    members = [make_member(points=50), make_member(points=30)]
    product_id = make_product(stock=10)
    with app.app_context():
        product_admin.adjust_stock(operator, product_id, 5, "补货", key())
        with write_transaction():
            from app.services import fulfilment
            fulfilment.take_stock(product_id, 2)
        db.session.remove()
    draw_id = make_draw(app)
    return {"members": members, "product": product_id, "draw": draw_id}


def _cli(app):
    with app.app_context():
        result = app.test_cli_runner().invoke(args=["points", "reconcile"])
        db.session.remove()
    return result


def _corrupt(app, sql, **params):
    with app.app_context():
        with write_transaction() as session:
            session.execute(text(sql), params)
        db.session.remove()


def test_honest_books_reconcile_on_the_page_and_in_the_cli(app, client, books):
    page = client.get("/admin/reconcile")
    assert page.status_code == 200
    assert "账目一致" in page.get_data(as_text=True)
    result = _cli(app)
    assert result.exit_code == 0, result.output
    assert "all stock reconciles" in result.output


def test_corrupted_balance_lot_stock_and_prize_are_each_caught(app, client, books):
    rich, other = books["members"]
    _corrupt(app, "UPDATE users SET points_balance = points_balance + 7 WHERE id = :id", id=rich)
    _corrupt(app, "UPDATE point_lots SET remaining = remaining - 1 WHERE user_id = :id", id=other)
    _corrupt(app, "UPDATE products SET stock = stock + 3 WHERE id = :id", id=books["product"])
    _corrupt(app, "UPDATE draw_prizes SET awarded = awarded + 1 WHERE draw_id = :id AND position = 0",
             id=books["draw"])

    html = client.get("/admin/reconcile").get_data(as_text=True)
    assert "发现 4 处差异" in html
    assert f'href="/admin/members/{rich}"' in html
    assert f'href="/admin/members/{other}"' in html
    assert f'href="/admin/products/{books["product"]}"' in html
    assert f'href="/admin/rules/draws/{books["draw"]}"' in html
    assert "+3" in html

    result = _cli(app)
    assert result.exit_code == 1
    assert f"member {rich}: balance " in result.output
    assert f"member {other}: " in result.output
    assert f"product {books['product']}: stock 16 + sold 2 != received 10 + adjustments 5" in result.output
    assert "draw prize " in result.output and "awarded 1, plays 0" in result.output


def test_imported_codes_count_as_received_stock(app, make_product, books):
    from app.models import Product
    from app.services import catalog
    product_id = make_product(kind="virtual", stock=0)
    with app.app_context():
        with write_transaction():
            catalog._add_codes(db.session.get(Product, product_id), ["A-1", "B-2"])
        db.session.remove()
    assert _cli(app).exit_code == 0
