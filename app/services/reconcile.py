"""Reconciliation: the books checked against themselves (the console page and `flask points reconcile`).

- Members: users.points_balance == SUM(point_entries.amount) == SUM(point_lots.remaining)
  (ledger.reconcile()).
- Products: stock + sold == received_stock + SUM(stock_adjustments.delta). `sold` counts units
  taken by orders, prizes and open treasure rounds (the reserved ones) and goes back down when
  units are returned; received_stock is the stock at creation plus imported supplier codes;
  every other change is an operator's StockAdjustment entry.
- Draw prizes: awarded == the number of plays that won the prize. A prize's remaining stock is
  set by the operator in the rules console (no history of additions is kept), so the check is the
  awarded counter against the plays themselves.
"""
from dataclasses import dataclass

from sqlalchemy import text

from app.extensions import db
from app.services import ledger


@dataclass(frozen=True)
class StockMismatch:
    product_id: int
    name: str
    stock: int
    sold: int
    received: int
    adjusted: int

    @property
    def expected(self):
        return self.received + self.adjusted

    @property
    def difference(self):
        return self.stock + self.sold - self.expected


@dataclass(frozen=True)
class PrizeMismatch:
    prize_id: int
    draw_id: int
    name: str
    awarded: int
    plays: int


@dataclass(frozen=True)
class Report:
    members: list
    products: list
    prizes: list

    @property
    def clean(self):
        return not (self.members or self.products or self.prizes)

    @property
    def count(self):
        return len(self.members) + len(self.products) + len(self.prizes)


def product_mismatches():
    rows = db.session.execute(text("""
        SELECT p.id, p.name, p.stock, p.sold, p.received_stock, COALESCE(a.total, 0)
        FROM products p
        LEFT JOIN (SELECT product_id, SUM(delta) AS total FROM stock_adjustments GROUP BY product_id) a
               ON a.product_id = p.id
        WHERE p.stock + p.sold <> p.received_stock + COALESCE(a.total, 0)
        ORDER BY p.id
    """)).all()
    return [StockMismatch(*row) for row in rows]


def prize_mismatches():
    rows = db.session.execute(text("""
        SELECT z.id, z.draw_id, z.name, z.awarded, COALESCE(c.n, 0)
        FROM draw_prizes z
        LEFT JOIN (SELECT prize_id, COUNT(*) AS n FROM draw_plays GROUP BY prize_id) c ON c.prize_id = z.id
        WHERE z.awarded <> COALESCE(c.n, 0)
        ORDER BY z.id
    """)).all()
    return [PrizeMismatch(*row) for row in rows]


def run():
    """Every difference in the books right now (read only)."""
    return Report(members=ledger.reconcile(), products=product_mismatches(), prizes=prize_mismatches())


__all__ = ["PrizeMismatch", "Report", "StockMismatch", "prize_mismatches", "product_mismatches", "run"]
