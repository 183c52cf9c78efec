"""The catalogue: what members browse (home, list, detail) and how operators' content is made safe."""
from dataclasses import dataclass
from datetime import timedelta

import nh3
from flask_babel import gettext as _
from flask_babel import ngettext
from sqlalchemy import func, or_, select, update

from app.extensions import db
from app.models import Banner, Category, Order, Product, ProductImage, VirtualCode
from app.services import cache as shared_cache
from app.services.clock import utcnow
from app.services.errors import DomainError, NotFound
from app.services.ids import MAX_DB_ID, is_db_id, parse_int
from app.services.settings import get_setting
from app.services.tx import write_transaction

PER_PAGE = 10
MAX_PAGE = 1000
MAX_POINTS_FILTER = 10**9  # a points price filter beyond this matches nothing anyway
SORTS = ("default", "hot", "new", "points_asc", "points_desc")
KIND_NAMES = {"physical": "实物", "virtual": "虚拟", "coupon": "优惠券", "voucher": "商户券"}

_ALLOWED_TAGS = {"p", "br", "strong", "b", "em", "i", "u", "s", "ul", "ol", "li", "h3", "h4", "blockquote",
                 "span", "img", "a", "table", "thead", "tbody", "tr", "th", "td", "hr", "small"}
_ALLOWED_ATTRIBUTES = {"a": {"href", "title"}, "img": {"src", "alt", "width", "height"}, "td": {"colspan"},
                       "th": {"colspan"}}


def sanitize_html(html):
    """Operator HTML reduced to a safe subset: no scripts, styles, handlers or foreign schemes."""
    return nh3.clean(html or "", tags=_ALLOWED_TAGS, attributes=_ALLOWED_ATTRIBUTES,
                     url_schemes={"http", "https"}, clean_content_tags={"script", "style"},
                     link_rel="noopener noreferrer")


def points_tiers():
    """The low / mid / high points ranges offered as filters: [(key, label, min, max)]."""
    low, high = get_setting("shop.rules")["tiers"]
    return [
        ("low", ngettext("%(num)s 积分以下", "%(num)s 积分以下", low), None, low),
        ("mid", _("%(a)s-%(b)s 积分", a=low, b=high), low, high),
        ("high", ngettext("%(num)s 积分以上", "%(num)s 积分以上", high), high, None),
    ]


def sort_labels():
    return [("default", _("综合")), ("hot", _("热门")), ("new", _("新品")),
            ("points_asc", _("积分从低到高")), ("points_desc", _("积分从高到低"))]


@dataclass(frozen=True)
class ProductQuery:
    """Validated catalogue parameters; anything malformed falls back to 'no filter'."""

    category_id: int | None = None
    q: str = ""
    min_points: int | None = None
    max_points: int | None = None
    sort: str = "default"
    page: int = 1
    limited: bool = False  # 限时兑: only products on sale for a limited time, not over yet

    ARGS = ("category", "q", "min_points", "max_points", "sort", "page", "limited")  # what from_args reads

    @classmethod
    def from_args(cls, args):
        def number(name, lo=0, hi=MAX_POINTS_FILTER):
            return parse_int(args.get(name), lo=lo, hi=hi)

        sort = args.get("sort") or "default"
        return cls(category_id=number("category", 1, MAX_DB_ID), q=(args.get("q") or "").strip()[:40],
                   min_points=number("min_points"), max_points=number("max_points"),
                   sort=sort if sort in SORTS else "default", page=number("page", 1, MAX_PAGE) or 1,
                   limited=args.get("limited") == "1")

    def args(self, **changes):
        """Query-string arguments for a link with some values changed (None drops one)."""
        values = {"category": self.category_id, "q": self.q or None, "min_points": self.min_points,
                  "max_points": self.max_points, "sort": None if self.sort == "default" else self.sort,
                  "page": None, "limited": "1" if self.limited else None}
        values.update(changes)
        return {k: v for k, v in values.items() if v is not None}


_ORDERINGS = {
    "default": (Product.position.desc(), Product.is_hot.desc(), Product.id.desc()),
    "hot": (Product.sold.desc(), Product.id.desc()),
    "new": (Product.id.desc(),),
    "points_asc": (Product.points_price, Product.id),
    "points_desc": (Product.points_price.desc(), Product.id.desc()),
}


def search_products(query):
    """One page of products on the shelf matching the query; returns (products, has_more)."""
    stmt = select(Product).where(Product.is_active.is_(True))
    if query.category_id:
        stmt = stmt.where(Product.category_id == query.category_id)
    if query.q:
        pattern = "%" + query.q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        stmt = stmt.where(or_(Product.name.ilike(pattern, escape="\\"), Product.subtitle.ilike(pattern, escape="\\")))
    if query.min_points is not None:
        stmt = stmt.where(Product.points_price >= query.min_points)
    if query.max_points is not None:
        stmt = stmt.where(Product.points_price < query.max_points)
    if query.limited:
        stmt = stmt.where(Product.sale_ends_at.is_not(None), Product.sale_ends_at > utcnow())
    stmt = stmt.order_by(*_ORDERINGS[query.sort]).offset((query.page - 1) * PER_PAGE).limit(PER_PAGE + 1)
    build = lambda: db.session.execute(stmt).unique().scalars().all()  # noqa: E731
    # Browsing (no search words) is shared between members; a search's words are too varied to keep.
    rows = build() if query.q else shared_cache.shared(f"products:{query.args(page=query.page)}", PRODUCT_TABLES,
                                                       build, until=next_window_change)
    return rows[:PER_PAGE], len(rows) > PER_PAGE


def shown_product(product_id):
    """get_product() for pages that only show a product: a detached snapshot, shared between
    requests until a product changes (redeeming, editing) - stock and sold included."""
    product = shared_cache.shared(f"product:{product_id}", PRODUCT_TABLES,
                                  lambda: db.session.get(Product, product_id)) if is_db_id(product_id) else None
    if product is None or not product.is_active:
        raise NotFound(_("商品不存在或已下架"))
    return product


def get_product(product_id, *, include_inactive=False):
    """A product on the shelf (or any, for staff use), else NotFound."""
    product = db.session.get(Product, product_id) if is_db_id(product_id) else None
    if product is None or (not product.is_active and not include_inactive):
        raise NotFound(_("商品不存在或已下架"))
    return product


# The tables a product card is drawn from: a write to any of them redraws shared product lists.
PRODUCT_TABLES = shared_cache.watch("products", "product_images", "categories", "merchants")
shared_cache.watch("banners")


def categories():
    """The categories on the shelf (shared between requests until one changes)."""
    return shared_cache.shared("categories", ("categories",), lambda: db.session.execute(
        select(Category).where(Category.is_active.is_(True)).order_by(Category.position, Category.id)
    ).scalars().all())


def get_category(category_id):
    """An active category by id, or None."""
    return next((c for c in categories() if c.id == category_id), None) if is_db_id(category_id) else None


def banners():
    """The home page's banners (shared until one changes)."""
    return shared_cache.shared("banners", ("banners",), lambda: db.session.execute(
        select(Banner).where(Banner.is_active.is_(True)).order_by(Banner.position, Banner.id)
    ).scalars().all())


def hot_products(limit=6):
    """On-shelf products with stock, hot-flagged first, then the best sellers (shared)."""
    return shared_cache.shared(f"hot:{limit}", PRODUCT_TABLES, lambda: db.session.execute(
        select(Product).where(Product.is_active.is_(True), Product.stock > 0)
        .order_by(Product.is_hot.desc(), Product.sold.desc(), Product.id.desc()).limit(limit)
    ).unique().scalars().all(), until=next_window_change)


def flash_products(now=None, limit=4):
    """Flash-window products whose window has not ended, soonest first (shared until a product
    changes or the first shown window opens or closes; an explicit `now` is never cached)."""
    def build():
        return db.session.execute(
            select(Product).where(Product.is_active.is_(True), Product.sale_ends_at.is_not(None),
                                  Product.sale_ends_at > (now or utcnow()))
            .order_by(Product.sale_ends_at).limit(limit)
        ).unique().scalars().all()
    return build() if now is not None else shared_cache.shared(f"flash:{limit}", PRODUCT_TABLES, build,
                                                               until=next_window_change)


def next_window_change(products):
    """When the first of these products' sale windows opens or closes: shared lists expire then."""
    return shared_cache.earliest_future([m for p in products for m in (p.sale_starts_at, p.sale_ends_at)])


LEADERBOARD_SECONDS = 60


def leaderboard(days=30, limit=5, now=None):
    """The exchange leaderboard: products by units redeemed in the last `days` days."""
    def build():
        since = (now or utcnow()) - timedelta(days=days)
        units = func.sum(Order.quantity).label("units")
        rows = db.session.execute(
            select(Product, units)
            .join(Order, Order.product_id == Product.id)
            .where(Order.created_at >= since, Order.source == "redeem",
                   Order.status.not_in(("cancelled", "refunded")), Product.is_active.is_(True))
            .group_by(Product.id).order_by(units.desc(), Product.id).limit(limit)
        ).unique().all()
        return [(product, int(n)) for product, n in rows]
    if now is not None:
        return build()
    # Orders are written all the time: the board is recounted every LEADERBOARD_SECONDS, not per order.
    return shared_cache.shared(f"leaderboard:{days}:{limit}", PRODUCT_TABLES, build, timeout=LEADERBOARD_SECONDS)


def sale_state(product, now=None):
    """upcoming | on_sale | ended | sold_out - what the redeem button can do now."""
    now = now or utcnow()
    if product.sale_starts_at and now < product.sale_starts_at:
        return "upcoming"
    if product.sale_ends_at and now >= product.sale_ends_at:
        return "ended"
    if product.stock <= 0:
        return "sold_out"
    return "on_sale"


def create_product(*, description_html=None, images=(), codes=(), **columns):
    """Add a product (description sanitised, images and supplier codes attached). One transaction."""
    with write_transaction() as session:
        product = Product(description_html=sanitize_html(description_html), **columns)
        session.add(product)
        session.flush()
        for position, path in enumerate(images):
            session.add(ProductImage(product_id=product.id, path=path, position=position))
        if codes:
            _add_codes(product, codes)
        session.flush()
    return product


def add_virtual_codes(product_id, codes):
    """Load supplier codes for a virtual product; its stock grows by the new codes. One transaction."""
    with write_transaction():
        product = get_product(product_id, include_inactive=True)
        if product.kind != "virtual":
            raise DomainError(_("只有虚拟商品可以导入兑换码"))
        return _add_codes(product, codes)


def _add_codes(product, codes):
    session = db.session
    clean = {c.strip() for c in codes if c and c.strip()}
    known = set(session.execute(
        select(VirtualCode.code).where(VirtualCode.product_id == product.id, VirtualCode.code.in_(clean))
    ).scalars())
    new = sorted(clean - known)
    for code in new:
        if len(code) > 64:
            raise DomainError(_("兑换码太长（最多64个字符）"))
        session.add(VirtualCode(product_id=product.id, code=code))
    session.execute(update(Product).where(Product.id == product.id)
                    .values(stock=Product.stock + len(new), received_stock=Product.received_stock + len(new))
                    .execution_options(synchronize_session=False))
    return len(new)


__all__ = [
    "KIND_NAMES", "PER_PAGE", "ProductQuery", "SORTS", "add_virtual_codes", "banners", "categories",
    "create_product", "flash_products", "get_category", "get_product", "next_window_change", "shown_product", "hot_products", "leaderboard",
    "points_tiers", "sale_state", "sanitize_html", "search_products", "sort_labels",
]
