"""Console lists: one page of a query's rows, with the total, for tables with pagination."""
from dataclasses import dataclass

from sqlalchemy import func, select

from app.extensions import db

PER_PAGE = 20


@dataclass
class Page:
    items: list
    number: int
    per_page: int
    total: int

    @property
    def pages(self):
        return max(1, -(-self.total // self.per_page))

    @property
    def has_prev(self):
        return self.number > 1

    @property
    def has_next(self):
        return self.number < self.pages


def paginate(stmt, number=1, per_page=PER_PAGE):
    """Page `number` (from 1; out of range is clamped) of `stmt`, which must already be ordered."""
    total = db.session.execute(select(func.count()).select_from(stmt.order_by(None).subquery())).scalar_one()
    pages = max(1, -(-total // per_page))
    number = min(max(1, number or 1), pages)
    items = db.session.execute(stmt.limit(per_page).offset((number - 1) * per_page)).scalars().all()
    return Page(items=items, number=number, per_page=per_page, total=total)
