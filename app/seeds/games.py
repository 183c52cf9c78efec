"""Demo games for `flask seed-demo` (idempotent): a big wheel and a nine-grid with real prizes,
the newbie-gift draw, and two treasure items with open rounds.

Product prizes are off-shelf products (a prize, not for sale), created here if missing and
granted through services.fulfilment when won.
"""
from sqlalchemy import select

from app.extensions import db
from app.models import Draw, Merchant, Product, TreasureItem
from app.services import draw_config, treasure_config
from app.services.tx import write_transaction

PRIZE_PRODUCTS = {
    "band": dict(name="小米手环9 NFC版", kind="physical", points_price=2999, stock=5,
                 subtitle="抽奖、夺宝奖品"),
    "coffee": dict(name="晨光咖啡 美式咖啡券", kind="voucher", points_price=280, stock=100, face_value_fen=2800,
                   valid_days=30, subtitle="到店出示二维码核销", merchant="晨光咖啡"),
}


def _points(name, points, weight, *, tier=None, stock=None, kind="points"):
    return {"name": name, "kind": kind, "points": points, "weight": weight, "tier": tier, "stock": stock}


def _thanks(weight):
    return {"name": "谢谢参与", "kind": "thanks", "weight": weight}


def _product(name, product_id, weight, *, tier, stock=None):
    return {"name": name, "kind": "product", "product_id": product_id, "weight": weight, "tier": tier, "stock": stock}


def _prize_product(key):
    """The off-shelf product behind a prize, created once; None if its merchant is missing."""
    spec = dict(PRIZE_PRODUCTS[key])
    found = db.session.execute(select(Product.id).where(Product.name == spec["name"])).scalar_one_or_none()
    if found is not None:
        return found
    merchant_name = spec.pop("merchant", None)
    if merchant_name:
        spec["merchant_id"] = db.session.execute(
            select(Merchant.id).where(Merchant.name == merchant_name)).scalar_one_or_none()
        if spec["merchant_id"] is None:
            return None
    with write_transaction() as session:
        product = Product(is_active=False, **spec)
        session.add(product)
        session.flush()
        return product.id


def _draw_specs(band, coffee):
    """The three demo draws; weights add up to 10,000 so the odds page reads in round numbers."""
    coffee_prize = (_product("美式咖啡券", coffee, 30, tier=2, stock=50) if coffee
                    else _points("188积分", 188, 30, tier=2, stock=100))
    band_prize = (_product("小米手环9", band, 2, tier=1, stock=2) if band
                  else _points("2888积分", 2888, 2, tier=1, stock=5))
    wheel = dict(
        name="幸运大转盘", skin="wheel", cost=10, daily_limit=10, pity_after=9, pity_tier=3,
        description="转一转，最高赢888积分；10次保底必中三等奖及以上",
        prizes=[_points("888积分", 888, 3, tier=1, stock=20), _points("5积分", 5, 2367), coffee_prize,
                _thanks(2500), _points("50积分", 50, 300, tier=3), _points("10积分", 10, 1500),
                _points("20积分", 20, 800), _thanks(2500)],
    )
    grid = dict(
        name="天天九宫格", skin="grid", cost=20, daily_limit=5,
        description="每一格都有奖，手环、积分等你拿",
        prizes=[band_prize, _points("10积分", 10, 2500), _points("100积分", 100, 98, tier=2, stock=200),
                _points("5积分", 5, 2600), _points("50积分", 50, 400, tier=3),
                _points("安慰奖 1积分", 1, 2000, kind="consolation"), _points("30积分", 30, 900),
                _points("20积分", 20, 1500)],
    )
    newbie = dict(
        name="新人专享礼包", skin="wheel", cost=10, purpose="newbie",
        description="新会员专享一次：仅需10积分，100%中奖",
        prizes=[(_product("小米手环9", band, 1, tier=1, stock=1) if band else _points("8888积分", 8888, 1, tier=1, stock=3)),
                _points("20积分", 20, 5000), _points("188积分", 188, 99, tier=2), _points("30积分", 30, 3000),
                _points("50积分", 50, 1900, tier=3)],
    )
    return wheel, grid, newbie


def seed_games():
    """Create the demo draws and treasure items that do not exist yet (matched by name)."""
    band, coffee = _prize_product("band"), _prize_product("coffee")
    for spec in _draw_specs(band, coffee):
        if db.session.execute(select(Draw.id).where(Draw.name == spec["name"])).first() is None:
            draw_config.create_draw(**spec)
    items = [
        dict(name="1000积分大红包", total_shares=50, share_price=25, prize_points=1000, round_hours=72,
             description="50份满员即开奖，中奖者独得1000积分"),
        (dict(name="小米手环9 NFC版", total_shares=100, share_price=30, product_id=band, round_hours=168,
              description="100份满员即开奖，包邮到家；7天内未满员全额退回") if band else
         dict(name="5000积分豪华礼包", total_shares=200, share_price=30, prize_points=5000, round_hours=168,
              description="200份满员即开奖，7天内未满员全额退回")),
    ]
    for spec in items:
        if db.session.execute(select(TreasureItem.id).where(TreasureItem.name == spec["name"])).first() is None:
            treasure_config.create_item(**spec)
