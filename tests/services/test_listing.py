"""Console lists: pages of a query with the total, clamped to the pages that exist."""
from sqlalchemy import select

from app.models import User
from app.services.listing import paginate


def test_pages_split_the_rows_and_count_them_all(db, make_member):
    ids = [make_member() for _ in range(5)]
    stmt = select(User).where(User.id.in_(ids)).order_by(User.id)

    first = paginate(stmt, 1, per_page=2)
    last = paginate(stmt, 3, per_page=2)

    assert [u.id for u in first.items] == ids[:2]
    assert (first.total, first.pages, first.has_prev, first.has_next) == (5, 3, False, True)
    assert [u.id for u in last.items] == ids[4:]
    assert (last.has_prev, last.has_next) == (True, False)


def test_a_page_out_of_range_shows_the_nearest_page(db, make_member):
    ids = [make_member() for _ in range(3)]
    stmt = select(User).where(User.id.in_(ids)).order_by(User.id)

    assert paginate(stmt, 99, per_page=2).number == 2
    assert paginate(stmt, -4, per_page=2).number == 1
    assert paginate(select(User).where(User.id == -1), 5).items == []
