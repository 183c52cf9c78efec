"""The catalogue: categories, products (goods, virtual goods, coupons, merchant vouchers),
their images, the virtual-code pool and the home-page banners."""
from datetime import datetime

from sqlalchemy import CheckConstraint, event, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.extensions import db
from app.models.base import utcnow
from app.models.types import UTCDateTime

PRODUCT_KINDS = ("physical", "virtual", "coupon", "voucher")


class Category(db.Model):
    __tablename__ = "categories"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(20), unique=True)
    # A short symbol (an emoji) shown on the home page's category grid.
    symbol: Mapped[str | None] = mapped_column(String(8))
    position: Mapped[int] = mapped_column(default=0)
    is_active: Mapped[bool] = mapped_column(default=True)


class Product(db.Model):
    """Something members redeem for points (and optionally cash)."""

    __tablename__ = "products"
    __table_args__ = (
        CheckConstraint("kind IN ('physical', 'virtual', 'coupon', 'voucher')", name="kind_known"),
        CheckConstraint("stock >= 0", name="stock_not_negative"),
        CheckConstraint("sold >= 0", name="sold_not_negative"),
        CheckConstraint("points_price >= 0", name="points_not_negative"),
        CheckConstraint("cash_fen >= 0", name="cash_not_negative"),
        CheckConstraint("points_price + cash_fen > 0", name="has_a_price"),
        CheckConstraint("limit_day IS NULL OR limit_day > 0", name="limit_day_positive"),
        CheckConstraint("limit_month IS NULL OR limit_month > 0", name="limit_month_positive"),
        CheckConstraint("limit_total IS NULL OR limit_total > 0", name="limit_total_positive"),
        CheckConstraint("sale_starts_at IS NULL OR sale_ends_at IS NULL OR sale_starts_at < sale_ends_at",
                        name="sale_window_ordered"),
        CheckConstraint("kind <> 'voucher' OR merchant_id IS NOT NULL", name="voucher_has_merchant"),
        CheckConstraint("valid_days > 0", name="valid_days_positive"),
        Index("ix_products_active_category", "is_active", "category_id"),
        Index("ix_products_active_points", "is_active", "points_price"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    category_id: Mapped[int | None] = mapped_column(ForeignKey("categories.id"))
    name: Mapped[str] = mapped_column(String(60))
    subtitle: Mapped[str | None] = mapped_column(String(120))
    # Operator HTML, stored sanitised (nh3) and sanitised again when shown.
    description_html: Mapped[str | None] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(String(10), default="physical")
    points_price: Mapped[int]
    # The cash part of a points + cash price, in fen (0: points only).
    cash_fen: Mapped[int] = mapped_column(default=0)
    # What a coupon or voucher is worth, in fen (shown to members and in settlements).
    face_value_fen: Mapped[int] = mapped_column(default=0)
    # Coupons: the minimum spend the coupon needs, in fen (0: none).
    min_spend_fen: Mapped[int] = mapped_column(default=0)
    stock: Mapped[int] = mapped_column(default=0)
    sold: Mapped[int] = mapped_column(default=0)
    # Units put on the shelf other than by StockAdjustment entries: the stock the product was
    # created with (set on insert) plus supplier codes imported since. Reconciliation checks
    # stock + sold == received_stock + SUM(stock_adjustments.delta).
    received_stock: Mapped[int] = mapped_column(default=0, server_default="0")
    # Per-member limits on units redeemed (NULL: no limit); days and months are Shanghai ones.
    limit_day: Mapped[int | None]
    limit_month: Mapped[int | None]
    limit_total: Mapped[int | None]
    # Flash redemption (秒杀) window; either end may be open.
    sale_starts_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    sale_ends_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The lowest member level (a level key from the "levels" setting) allowed to redeem.
    min_level: Mapped[str | None] = mapped_column(String(16))
    # Vouchers: the store that honours them, and their validity: from issue for valid_days,
    # or inside a fixed window when valid_from / valid_until are set.
    merchant_id: Mapped[int | None] = mapped_column(ForeignKey("merchants.id"))
    valid_days: Mapped[int] = mapped_column(default=30)
    valid_from: Mapped[datetime | None] = mapped_column(UTCDateTime)
    valid_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    is_active: Mapped[bool] = mapped_column(default=True)
    is_hot: Mapped[bool] = mapped_column(default=False)
    position: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    category = relationship("Category", lazy="joined")
    merchant = relationship("Merchant", lazy="joined")
    images = relationship("ProductImage", order_by="ProductImage.position", lazy="selectin",
                          cascade="all, delete-orphan")

    @property
    def cover(self):
        """The first image's path under the upload dir, or None."""
        return self.images[0].path if self.images else None

    @property
    def is_flash(self):
        return self.sale_starts_at is not None or self.sale_ends_at is not None


@event.listens_for(Product, "before_insert")
def _record_received_stock(_mapper, _connection, product):
    """A new product's opening stock (and anything already sold) counts as received."""
    if not product.received_stock:
        product.received_stock = (product.stock or 0) + (product.sold or 0)


class ProductImage(db.Model):
    __tablename__ = "product_images"
    __table_args__ = (UniqueConstraint("product_id", "position", name="uq_product_images_product_position"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"))
    # Relative to UPLOAD_DIR, served under /static/uploads/.
    path: Mapped[str] = mapped_column(String(200))
    position: Mapped[int] = mapped_column(default=0)


class StockAdjustment(db.Model):
    """An operator's stock change for a product: a signed delta, why, who, and the stock after it.

    Stock is never overwritten: each change is a guarded relative UPDATE plus one of these rows.
    """

    __tablename__ = "stock_adjustments"
    __table_args__ = (
        CheckConstraint("delta <> 0", name="delta_not_zero"),
        CheckConstraint("stock_after >= 0", name="stock_after_not_negative"),
        Index("ix_stock_adjustments_product_created", "product_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"))
    delta: Mapped[int]
    reason: Mapped[str] = mapped_column(String(100))
    actor_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    stock_after: Mapped[int]
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    actor = relationship("User", lazy="joined")


class VirtualCode(db.Model):
    """A supplier's code for a virtual product; handed to one order, once."""

    __tablename__ = "virtual_codes"
    __table_args__ = (
        UniqueConstraint("product_id", "code", name="uq_virtual_codes_product_code"),
        Index("ix_virtual_codes_product_free", "product_id", "order_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"))
    code: Mapped[str] = mapped_column(String(64))
    order_id: Mapped[int | None] = mapped_column(ForeignKey("orders.id"), index=True)
    assigned_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Banner(db.Model):
    """A home-page banner: an image linking to a path on this site."""

    __tablename__ = "banners"

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(40))
    image: Mapped[str] = mapped_column(String(200))
    link: Mapped[str | None] = mapped_column(String(200))
    position: Mapped[int] = mapped_column(default=0)
    is_active: Mapped[bool] = mapped_column(default=True)
