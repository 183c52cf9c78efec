"""Demo catalogue for `flask seed-demo`: categories, banners, ~16 products of every kind with
pictures drawn by Pillow into UPLOAD_DIR, and a couple of orders for the demo member.
Idempotent: what exists (by name, or by request key for orders) is left alone."""
from datetime import datetime, time, timedelta

from sqlalchemy import select

from app.extensions import db
from app.models import Banner, Category, Merchant, Product, User
from app.services import addresses, catalog, images, shop
from app.services.clock import SHANGHAI, shanghai_today, utcnow
from app.seeds import pictures
from app.seeds.accounts import DEMO_MEMBER
from app.services.tx import write_transaction

CATEGORIES = [
    ("数码家电", "数码"), ("生活日用", "日用"), ("美食饮品", "美食"), ("卡券充值", "卡券"),
    ("本地生活", "本地"), ("美妆个护", "美妆"), ("母婴玩具", "母婴"),
]

_P = "<p>{}</p>"


def _products(now, merchants):
    opens = datetime.combine(shanghai_today(now) + timedelta(days=1), time(10), tzinfo=SHANGHAI)
    noodle, coffee = merchants["老街面馆"], merchants["晨光咖啡"]
    return [
        dict(name="小米充电宝 10000mAh", subtitle="22.5W 快充，双向充电", category="数码家电", kind="physical",
             points_price=2990, stock=50, is_hot=True, position=90, colors=("#4f7cff", "#2442b8"),
             description_html=_P.format("轻薄机身，<strong>22.5W 快充</strong>，支持双向充电。") +
             "<ul><li>容量：10000mAh</li><li>接口：USB-C / USB-A</li><li>包邮到家，7 天内发货</li></ul>"),
        dict(name="降噪蓝牙耳机", subtitle="积分 + 现金，超值换购", category="数码家电", kind="physical",
             points_price=1990, cash_fen=3900, stock=30, is_hot=True, position=80, limit_month=1,
             colors=("#2b2d42", "#5c6079"),
             description_html=_P.format("主动降噪，续航 30 小时。下单后 15 分钟内完成现金部分支付。")),
        dict(name="不锈钢保温杯 500ml", subtitle="12 小时长效保温", category="生活日用", kind="physical",
             points_price=1200, stock=100, limit_month=2, colors=("#43c59e", "#1f8a6d"),
             description_html=_P.format("316 不锈钢内胆，一键开盖。")),
        dict(name="加厚抽纸 24 包", subtitle="原生木浆，家庭囤货装", category="生活日用", kind="physical",
             points_price=800, stock=200, is_hot=True, position=70, colors=("#f7b267", "#f4845f")),
        dict(name="五常大米 5kg", subtitle="当季新米，产地直发", category="美食饮品", kind="physical",
             points_price=1500, stock=80, colors=("#d4a373", "#a47148")),
        dict(name="精品挂耳咖啡 10 包", subtitle="中深烘焙，香醇不苦", category="美食饮品", kind="physical",
             points_price=600, stock=150, colors=("#7f5539", "#3e2723")),
        dict(name="每日坚果 30 袋（限时兑）", subtitle="限时 48 小时，每人限兑 1 件", category="美食饮品", kind="physical",
             points_price=399, stock=20, limit_total=1, is_hot=True, position=100,
             sale_starts_at=now - timedelta(hours=1), sale_ends_at=now + timedelta(hours=47),
             colors=("#ff6b35", "#d62828")),
        # The copy and the countdown come from one moment: 10:00 (Shanghai) tomorrow, as seeded.
        dict(name="洗衣凝珠 52 颗（限时开抢）", subtitle=f"{opens:%m}月{opens:%d}日 10:00 开抢，手慢无", category="生活日用",
             kind="physical", points_price=299, stock=30, limit_total=1,
             sale_starts_at=opens, sale_ends_at=opens + timedelta(days=2),
             colors=("#48cae4", "#0077b6")),
        dict(name="话费充值卡 10 元", subtitle="全国通用，兑换码即时到账", category="卡券充值", kind="virtual",
             points_price=1000, stock=0, limit_day=1, codes=[f"HF10-2026-{i:04d}-{(i * 7919) % 10000:04d}" for i in range(1, 31)],
             colors=("#06d6a0", "#118ab2")),
        dict(name="视频会员月卡", subtitle="银卡及以上会员专享", category="卡券充值", kind="virtual",
             points_price=1500, stock=0, min_level="silver", limit_month=1,
             codes=[f"VIP-{i:03d}-{(i * 104729) % 1000000:06d}" for i in range(1, 21)],
             colors=("#8338ec", "#3a0ca3")),
        dict(name="外卖满 30 减 10 券", subtitle="兑换后 30 天内有效", category="卡券充值", kind="coupon",
             points_price=300, stock=500, face_value_fen=1000, min_spend_fen=3000, valid_days=30, limit_day=2,
             colors=("#ffbe0b", "#fb5607")),
        dict(name="咖啡饮品立减 5 元券", subtitle="无门槛，30 天有效", category="卡券充值", kind="coupon",
             points_price=150, stock=300, face_value_fen=500, valid_days=30,
             colors=("#bc6c25", "#6f4518")),
        dict(name="老街面馆 200 元代金券", subtitle="限量 5 张，每人限兑 1 张", category="本地生活", kind="voucher",
             merchant=noodle, points_price=9900, stock=5, limit_total=1, face_value_fen=20000, is_hot=True, position=95,
             sale_starts_at=now - timedelta(days=1), sale_ends_at=now + timedelta(days=21),
             valid_from=now, valid_until=now + timedelta(days=90), colors=("#e63946", "#9d0208"),
             description_html=_P.format("老街面馆 1000 元餐费，拆成 5 张 200 元代金券限时兑换。") +
             "<ul><li>到店出示券码，由店员扫码核销</li><li>每桌每次限用 1 张，不找零</li>"
             "<li>地址：上海市黄浦区南京东路 100 号</li></ul>"),
        dict(name="老街面馆 招牌牛肉面券", subtitle="单人份，到店核销", category="本地生活", kind="voucher",
             merchant=noodle, points_price=680, stock=100, limit_month=4, face_value_fen=2800, valid_days=30,
             colors=("#f77f00", "#d62828")),
        dict(name="晨光咖啡 拿铁兑换券", subtitle="中杯拿铁一杯", category="本地生活", kind="voucher",
             merchant=coffee, points_price=450, stock=200, limit_day=1, face_value_fen=2600, valid_days=30,
             colors=("#a98467", "#6c584c")),
        dict(name="声波电动牙刷", subtitle="金卡及以上会员专享", category="美妆个护", kind="physical",
             points_price=3990, stock=40, min_level="gold", colors=("#90e0ef", "#0096c7")),
        dict(name="益智积木 300 颗粒", subtitle="适合 6 岁以上", category="母婴玩具", kind="physical",
             points_price=2200, stock=60, colors=("#ffd166", "#ef476f")),
    ]


def _merchant(name, address, phone):
    merchant = db.session.execute(select(Merchant).where(Merchant.name == name)).scalar_one_or_none()
    if merchant is None:
        with write_transaction() as session:
            merchant = Merchant(name=name, address=address, phone=phone)
            session.add(merchant)
    return merchant.id


# What each demo product's pictures show (app/seeds/pictures.py SHAPES).
SHAPES_BY_PRODUCT = {
    "小米充电宝 10000mAh": "powerbank", "降噪蓝牙耳机": "headphones", "不锈钢保温杯 500ml": "thermos",
    "加厚抽纸 24 包": "tissues", "五常大米 5kg": "rice", "精品挂耳咖啡 10 包": "coffee",
    "每日坚果 30 袋（限时兑）": "jar", "洗衣凝珠 52 颗（限时开抢）": "pods", "话费充值卡 10 元": "card",
    "视频会员月卡": "play", "外卖满 30 减 10 券": "coupon", "咖啡饮品立减 5 元券": "coupon",
    "老街面馆 200 元代金券": "voucher", "老街面馆 招牌牛肉面券": "bowl", "晨光咖啡 拿铁兑换券": "latte",
    "声波电动牙刷": "toothbrush", "益智积木 300 颗粒": "blocks",
}


def seed_shop():
    """Categories, banners, products (with pictures) and two demo orders."""
    now = utcnow()
    merchants = {"老街面馆": _merchant("老街面馆", "上海市黄浦区南京东路 100 号", "021-63210000"),
                 "晨光咖啡": _merchant("晨光咖啡", "上海市徐汇区衡山路 8 号", "021-64330000")}
    with write_transaction() as session:
        for position, (name, symbol) in enumerate(CATEGORIES):
            if session.execute(select(Category.id).where(Category.name == name)).first() is None:
                session.add(Category(name=name, symbol=symbol, position=position))
    category_ids = dict(db.session.execute(select(Category.name, Category.id)).all())
    for index, spec in enumerate(_products(now, merchants)):
        spec = dict(spec)
        if db.session.execute(select(Product.id).where(Product.name == spec["name"])).first():
            continue
        colors = spec.pop("colors")
        spec["category_id"] = category_ids[spec.pop("category")]
        spec["merchant_id"] = spec.pop("merchant", None)
        shape = SHAPES_BY_PRODUCT[spec["name"]]
        cover = pictures.draw_product(f"item-{index + 1}", shape, colors)
        detail = pictures.draw_product(f"item-{index + 1}-b", shape, colors, close_up=True)
        catalog.create_product(images=[cover, detail], **spec)
    _seed_banners(category_ids)
    _seed_demo_orders()


def _seed_banners(category_ids):
    voucher = db.session.execute(select(Product.id).where(Product.name == "老街面馆 200 元代金券")).scalar_one()
    banners = [
        ("老街面馆 200 元代金券 限时兑", ("#e63946", "#9d0208"), ("限时兑", "老街面馆 200元代金券"), f"/products/{voucher}"),
        ("积分 + 现金 超值换购", ("#4f7cff", "#2442b8"), ("积分+现金", "好物超值换购"), "/products?sort=hot"),
        ("卡券充值 即兑即用", ("#06d6a0", "#118ab2"), ("卡券充值", "话费 会员 外卖券"),
         f"/products?category={category_ids['卡券充值']}"),
    ]
    with write_transaction() as session:
        for position, (title, colors, art, link) in enumerate(banners):
            if session.execute(select(Banner.id).where(Banner.title == title)).first():
                continue
            path = images.draw_picture(f"banner-{position + 1}", art[0], art[1], colors, size=(750, 300))
            session.add(Banner(title=title, image=path, link=link, position=position))


def _seed_demo_orders():
    """The demo member redeems a coupon and a noodle voucher (once: fixed request keys)."""

    member = db.session.execute(select(User).where(User.phone == DEMO_MEMBER[0])).scalar_one_or_none()
    if member is None:
        return
    if not addresses.list_addresses(member.id):
        addresses.add_address(member.id, name="小李", phone=DEMO_MEMBER[0], region="上海市 静安区",
                         detail="南京西路 1266 号 8 楼", make_default=True)
    for key, name in (("0" * 31 + "1", "外卖满 30 减 10 券"), ("0" * 31 + "2", "老街面馆 招牌牛肉面券")):
        product_id = db.session.execute(select(Product.id).where(Product.name == name)).scalar_one()
        shop.redeem_product(member.id, product_id, 1, key)
