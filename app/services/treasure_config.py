"""Setting points-treasure items up (seeders and the operator console); rounds are played in treasure.py."""
from flask_babel import gettext as _

from app.models import TreasureItem
from app.services.errors import DomainError
from app.services.treasure import open_round
from app.services.tx import write_transaction


def create_item(name, total_shares, share_price, *, prize_points=0, product_id=None, round_hours=72,
                description=None, now=None):
    """A new treasure item with its first open round (points prize, or a product prize)."""
    if total_shares < 2 or share_price < 1 or round_hours < 1:
        raise DomainError(_("份数至少 2 份，每份至少 1 积分"))
    prize_kind = "product" if product_id is not None else "points"
    with write_transaction() as session:  # OutOfStock (a DomainError) when the product has none to set aside
        item = TreasureItem(name=name, description=description, total_shares=total_shares,
                            share_price=share_price, prize_kind=prize_kind, prize_points=prize_points,
                            product_id=product_id, round_hours=round_hours)
        session.add(item)
        session.flush()
        open_round(item, now)
    return item
