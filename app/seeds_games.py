"""Demo games for `flask seed-demo` (idempotent): two draws, the newbie gift, two treasure items."""
from sqlalchemy import select

from app.extensions import db
from app.models import Draw, TreasureItem
from app.services import draws, treasure


def _points(name, points, weight, *, tier=None, stock=None, kind="points"):
    return {"name": name, "kind": kind, "points": points, "weight": weight, "tier": tier, "stock": stock}


def _thanks(weight):
    return {"name": "谢谢参与", "kind": "thanks", "weight": weight}


# Weights add up to 10,000 so the odds page reads in round numbers.
WHEEL = dict(
    name="幸运大转盘", skin="wheel", cost=10, daily_limit=10, pity_after=9, pity_tier=3,
    description="每次10积分，每天10次；连续9次未中三等奖及以上，第10次必中",
    prizes=[
        _points("888积分", 888, 3, tier=1, stock=20),
        _points("5积分", 5, 2367),
        _points("188积分", 188, 30, tier=2, stock=100),
        _thanks(2500),
        _points("50积分", 50, 300, tier=3),
        _points("10积分", 10, 1500),
        _points("20积分", 20, 800),
        _thanks(2500),
    ],
)

GRID = dict(
    name="天天九宫格", skin="grid", cost=20, daily_limit=5,
    description="100%中奖，最高2888积分",
    prizes=[
        _points("2888积分", 2888, 2, tier=1, stock=5),
        _points("10积分", 10, 2500),
        _points("100积分", 100, 98, tier=2, stock=200),
        _points("5积分", 5, 2600),
        _points("50积分", 50, 400, tier=3),
        _points("安慰奖 1积分", 1, 2000, kind="consolation"),
        _points("30积分", 30, 900),
        _points("20积分", 20, 1500),
    ],
)

NEWBIE = dict(
    name="新人专享礼包", skin="wheel", cost=10, purpose="newbie",
    description="新会员专享一次：仅需10积分，100%中奖",
    prizes=[
        _points("8888积分", 8888, 1, tier=1, stock=3),
        _points("20积分", 20, 5000),
        _points("188积分", 188, 99, tier=2),
        _points("30积分", 30, 3000),
        _points("50积分", 50, 1900, tier=3),
    ],
)

TREASURE = [
    dict(name="1000积分大红包", total_shares=50, share_price=25, prize_points=1000, round_hours=72,
         description="50份满员即开奖，中奖者独得1000积分"),
    dict(name="5000积分豪华礼包", total_shares=200, share_price=30, prize_points=5000, round_hours=168,
         description="200份满员即开奖，7天内未满员全额退回"),
]


def seed_games():
    """Create the demo draws and treasure items that do not exist yet (matched by name)."""
    for spec in (WHEEL, GRID, NEWBIE):
        if db.session.execute(select(Draw.id).where(Draw.name == spec["name"])).first() is None:
            draws.create_draw(**spec)
    for spec in TREASURE:
        if db.session.execute(select(TreasureItem.id).where(TreasureItem.name == spec["name"])).first() is None:
            treasure.create_item(**spec)
