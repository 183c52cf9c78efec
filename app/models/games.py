"""Games that spend points: lucky draws (with the newbie gift) and points treasure rounds."""
import hashlib
from datetime import date, datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.extensions import db
from app.models.base import utcnow
from app.models.types import UTCDateTime

DRAW_SKINS = ("wheel", "grid")
PRIZE_KINDS = ("points", "consolation", "thanks", "product")


class Draw(db.Model):
    """A lucky draw: a skin, a cost per play, a daily limit and an optional pity rule."""

    __tablename__ = "draws"
    __table_args__ = (
        CheckConstraint("skin IN ('wheel', 'grid')", name="skin_known"),
        CheckConstraint("purpose IN ('normal', 'newbie')", name="purpose_known"),
        CheckConstraint("cost > 0", name="cost_positive"),
        CheckConstraint("daily_limit >= 0", name="daily_limit_not_negative"),
        CheckConstraint("(pity_after IS NULL AND pity_tier IS NULL) OR (pity_after > 0 AND pity_tier > 0)",
                        name="pity_complete"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(60))
    description: Mapped[str | None] = mapped_column(String(200))
    skin: Mapped[str] = mapped_column(String(8), default="wheel")
    # "newbie": the once-per-member newbie gift draw offered on the home page.
    purpose: Mapped[str] = mapped_column(String(8), default="normal")
    cost: Mapped[int] = mapped_column(default=10)
    # Plays per member per Shanghai day; 0 means no limit.
    daily_limit: Mapped[int] = mapped_column(default=0)
    # Pity (保底): after `pity_after` plays in a row without a prize of tier <= pity_tier,
    # the next play is drawn only among those prizes.
    pity_after: Mapped[int | None]
    pity_tier: Mapped[int | None]
    is_active: Mapped[bool] = mapped_column(default=True)
    # The schedule: members may play from starts_at until ends_at (NULL: no bound on that side).
    starts_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    ends_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    prizes = relationship("DrawPrize", order_by="DrawPrize.position", back_populates="draw")


class DrawPrize(db.Model):
    """One slot of a draw: what it gives, its weight and its stock (NULL: unlimited)."""

    __tablename__ = "draw_prizes"
    __table_args__ = (
        UniqueConstraint("draw_id", "position", name="uq_draw_prizes_draw_position"),
        CheckConstraint("kind IN ('points', 'consolation', 'thanks', 'product')", name="kind_known"),
        CheckConstraint("weight >= 0", name="weight_not_negative"),
        CheckConstraint("stock >= 0", name="stock_not_negative"),
        CheckConstraint("awarded >= 0", name="awarded_not_negative"),
        CheckConstraint("position >= 0", name="position_not_negative"),
        CheckConstraint(
            "(kind IN ('points', 'consolation') AND points > 0) OR kind = 'thanks'"
            " OR (kind = 'product' AND product_id IS NOT NULL)",
            name="payload_matches_kind",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    draw_id: Mapped[int] = mapped_column(ForeignKey("draws.id"), index=True)
    position: Mapped[int]
    name: Mapped[str] = mapped_column(String(40))
    kind: Mapped[str] = mapped_column(String(12))
    points: Mapped[int] = mapped_column(default=0)
    # A shop product (goods, coupon or voucher) granted through services.fulfilment.
    product_id: Mapped[int | None] = mapped_column(ForeignKey("products.id"))
    # 1 is the top tier (一等奖); NULL for untiered prizes (consolation, thanks).
    tier: Mapped[int | None]
    weight: Mapped[int] = mapped_column(default=0)
    stock: Mapped[int | None]
    awarded: Mapped[int] = mapped_column(default=0)

    draw = relationship("Draw", back_populates="prizes")
    product = relationship("Product")

    @property
    def wins(self):
        """True for anything but 'thanks for playing'."""
        return self.kind != "thanks"


class DrawPlay(db.Model):
    """One play: decided, charged and recorded in one transaction."""

    __tablename__ = "draw_plays"
    __table_args__ = (
        # The daily limit as a database fact: a member's n-th play of a day exists once.
        UniqueConstraint("draw_id", "user_id", "day", "day_seq", name="uq_draw_plays_daily_seq"),
        CheckConstraint("day_seq >= 1", name="day_seq_positive"),
        CheckConstraint("misses >= 0", name="misses_not_negative"),
        Index("ix_draw_plays_user_draw", "user_id", "draw_id", "id"),
        Index("ix_draw_plays_created", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    draw_id: Mapped[int] = mapped_column(ForeignKey("draws.id"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    prize_id: Mapped[int] = mapped_column(ForeignKey("draw_prizes.id"))
    day: Mapped[date]
    day_seq: Mapped[int]
    # Plays in a row without a pity-tier prize, this one included (0 when it won one).
    misses: Mapped[int] = mapped_column(default=0)
    was_pity: Mapped[bool] = mapped_column(default=False)
    cost: Mapped[int]
    spend_entry_id: Mapped[int] = mapped_column(ForeignKey("point_entries.id"))
    award_entry_id: Mapped[int | None] = mapped_column(ForeignKey("point_entries.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    prize = relationship("DrawPrize", lazy="joined")
    draw = relationship("Draw")
    # What a points prize paid (the level multiplier and double-points days included).
    award_entry = relationship("PointEntry", foreign_keys=[award_entry_id])


class NewbieGift(db.Model):
    """A member's once-only newbie gift: used (played) or dismissed, never both, never twice."""

    __tablename__ = "newbie_gifts"
    __table_args__ = (CheckConstraint("status IN ('used', 'dismissed')", name="status_known"),)

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), primary_key=True)
    status: Mapped[str] = mapped_column(String(10))
    play_id: Mapped[int | None] = mapped_column(ForeignKey("draw_plays.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class TreasureItem(db.Model):
    """Something offered as points treasure (积分夺宝); each round splits it into shares."""

    __tablename__ = "treasure_items"
    __table_args__ = (
        CheckConstraint("total_shares >= 2", name="total_shares_min"),
        CheckConstraint("share_price > 0", name="share_price_positive"),
        CheckConstraint("round_hours > 0", name="round_hours_positive"),
        CheckConstraint(
            "(prize_kind = 'points' AND prize_points > 0) OR (prize_kind = 'product' AND product_id IS NOT NULL)",
            name="prize_matches_kind",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(60))
    description: Mapped[str | None] = mapped_column(String(300))
    total_shares: Mapped[int]
    share_price: Mapped[int]
    prize_kind: Mapped[str] = mapped_column(String(8))
    prize_points: Mapped[int] = mapped_column(default=0)
    product_id: Mapped[int | None] = mapped_column(ForeignKey("products.id"))
    # How long a round stays open before its shares are refunded.
    round_hours: Mapped[int] = mapped_column(default=72)
    is_active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class TreasureRound(db.Model):
    """One period (期) of an item: open until sold out (won) or past its deadline (refunded)."""

    __tablename__ = "treasure_rounds"
    __table_args__ = (
        UniqueConstraint("item_id", "period", name="uq_treasure_rounds_item_period"),
        CheckConstraint("sold >= 0", name="sold_not_negative"),
        CheckConstraint("sold <= total_shares", name="sold_within_total"),
        CheckConstraint("status IN ('open', 'won', 'refunded')", name="status_known"),
        CheckConstraint("status <> 'won' OR (winner_id IS NOT NULL AND winning_share_no IS NOT NULL"
                        " AND sold = total_shares)", name="won_complete"),
        # At most one open round per item.
        Index("uq_treasure_rounds_open_item", "item_id", unique=True,
              sqlite_where=text("status = 'open'"), postgresql_where=text("status = 'open'")),
        Index("ix_treasure_rounds_status_deadline", "status", "deadline"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("treasure_items.id"))
    period: Mapped[int]
    # Copied from the item when the round opens, so a later edit does not change a running round.
    name: Mapped[str] = mapped_column(String(60))
    total_shares: Mapped[int]
    share_price: Mapped[int]
    prize_kind: Mapped[str] = mapped_column(String(8))
    prize_points: Mapped[int] = mapped_column(default=0)
    product_id: Mapped[int | None] = mapped_column(ForeignKey("products.id"))
    # A product prize's unit is taken from stock when the round opens, so the round can
    # always be won; it goes back if the round is refunded.
    prize_reserved: Mapped[bool] = mapped_column(default=False, server_default=text("false"))
    sold: Mapped[int] = mapped_column(default=0)
    status: Mapped[str] = mapped_column(String(10), default="open")
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    deadline: Mapped[datetime] = mapped_column(UTCDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    winning_share_no: Mapped[int | None]
    winner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    # A secret random seed drawn when the round opens; only its SHA-256 (the commitment) is
    # shown until the round closes, so nobody - not the last buyer - can foresee the winner.
    seed: Mapped[str | None] = mapped_column(String(64))
    digest: Mapped[str | None] = mapped_column(String(64))
    prize_entry_id: Mapped[int | None] = mapped_column(ForeignKey("point_entries.id"))

    item = relationship("TreasureItem", lazy="joined")
    winner = relationship("User")

    @property
    def remaining(self):
        return self.total_shares - self.sold

    @property
    def seed_commitment(self):
        """SHA-256 of the seed, published from the round's opening on (None for old rounds)."""
        return hashlib.sha256(self.seed.encode("ascii")).hexdigest() if self.seed else None


class TreasurePurchase(db.Model):
    """One purchase of consecutive shares, charged by one ledger entry (refunded as one)."""

    __tablename__ = "treasure_purchases"
    __table_args__ = (
        CheckConstraint("quantity > 0", name="quantity_positive"),
        CheckConstraint("first_share_no >= 1", name="first_share_positive"),
        Index("ix_treasure_purchases_user_round", "user_id", "round_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    round_id: Mapped[int] = mapped_column(ForeignKey("treasure_rounds.id"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    quantity: Mapped[int]
    first_share_no: Mapped[int]
    spend_entry_id: Mapped[int] = mapped_column(ForeignKey("point_entries.id"))
    refund_entry_id: Mapped[int | None] = mapped_column(ForeignKey("point_entries.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    user = relationship("User")

    @property
    def last_share_no(self):
        return self.first_share_no + self.quantity - 1


class TreasureShare(db.Model):
    """One share of a round; its number is unique within the round and feeds the draw."""

    __tablename__ = "treasure_shares"
    __table_args__ = (
        UniqueConstraint("round_id", "share_no", name="uq_treasure_shares_round_no"),
        CheckConstraint("share_no >= 1", name="share_no_positive"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    round_id: Mapped[int] = mapped_column(ForeignKey("treasure_rounds.id"))
    share_no: Mapped[int]
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    purchase_id: Mapped[int] = mapped_column(ForeignKey("treasure_purchases.id"), index=True)
