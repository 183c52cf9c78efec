"""Daily rollups of the figures the operator dashboard shows, one row per Shanghai day, metric and dimension."""
from datetime import date, datetime

from sqlalchemy import BigInteger, PrimaryKeyConstraint, String
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db
from app.models.base import utcnow
from app.models.types import UTCDateTime


class DailyStat(db.Model):
    """One figure of one Shanghai calendar day, e.g. (2026-11-20, points_issued, checkin) = 1,250.

    Written only by `flask stats rollup` (app/services/stats.py), which replaces a day's rows as a whole."""

    __tablename__ = "daily_stats"
    __table_args__ = (PrimaryKeyConstraint("day", "metric", "dimension", name="pk_daily_stats"),)

    day: Mapped[date]
    metric: Mapped[str] = mapped_column(String(32))
    # A breakdown key (an entry kind, a product id), '' when the metric has none.
    dimension: Mapped[str] = mapped_column(String(40), default="")
    value: Mapped[int] = mapped_column(BigInteger)
    computed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
