"""Factories and helpers shared by the games tests (draws, newbie gift, treasure)."""
import uuid

from app.extensions import db
from app.services import draw_config, treasure, treasure_config

# Chi-square critical values at significance 0.0001 by degrees of freedom (checked against
# the regularized incomplete gamma function); a correct sampler fails 1 run in 10,000.
CHI2_CRITICAL_0001 = {1: 15.137, 2: 18.421, 3: 21.108, 4: 23.513, 5: 25.745, 6: 27.856, 7: 29.877}


def chi_square(observed, expected):
    """Pearson's statistic: sum of (observed - expected)^2 / expected."""
    return sum((o - e) ** 2 / e for o, e in zip(observed, expected))


def key():
    """A fresh request key, as a form would carry."""
    return uuid.uuid4().hex


def prize(name, weight, kind="points", points=None, tier=None, stock=None, product_id=None):
    if points is None:
        points = 0 if kind in ("thanks", "product") else 5
    return {"name": name, "kind": kind, "points": points, "weight": weight, "tier": tier, "stock": stock,
            "product_id": product_id}


def simple_prizes():
    """A 4-slot wheel: a rare top prize with stock, two points prizes, thanks."""
    return [
        prize("一等奖 100积分", 1, points=100, tier=1, stock=3),
        prize("20积分", 20, points=20, tier=2),
        prize("5积分", 39, points=5),
        prize("谢谢参与", 40, kind="thanks"),
    ]


def make_draw(app, prizes=None, **options):
    """Create a draw through the service and return its id."""
    options.setdefault("skin", "wheel")
    prizes = list(prizes or simple_prizes())
    # A wheel needs at least 4 slots; pad small test pools with slots that can never be won.
    prizes += [prize(f"空位{i}", 0, kind="thanks") for i in range(4 - len(prizes))]
    with app.app_context():
        draw_id = draw_config.create_draw(options.pop("name", "测试转盘"), options.pop("skin"),
                                    prizes, **options).id
        db.session.remove()
    return draw_id


def make_item(app, **options):
    """Create a treasure item with its first round; returns (item_id, round_id)."""
    options.setdefault("total_shares", 10)
    options.setdefault("share_price", 10)
    if "product_id" not in options:
        options.setdefault("prize_points", 500)
    with app.app_context():
        item = treasure_config.create_item(options.pop("name", "测试夺宝"), **options)
        ids = item.id, treasure.current_round_of(item.id).id
        db.session.remove()
    return ids
