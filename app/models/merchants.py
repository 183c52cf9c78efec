"""Merchants (stores) whose staff redeem vouchers at the counter."""
from datetime import datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db
from app.models.base import utcnow
from app.models.types import UTCDateTime


class Merchant(db.Model):
    __tablename__ = "merchants"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(80))
    address: Mapped[str | None] = mapped_column(String(200))
    phone: Mapped[str | None] = mapped_column(String(20))
    is_active: Mapped[bool] = mapped_column(default=True)
    # Consumption points (消费积分): points per yuan paid, in hundredths (100 = 1 point a yuan);
    # at most daily_cap_points a member per day at this merchant; one amount at most max_amount_fen.
    points_ratio_pct: Mapped[int] = mapped_column(default=100, server_default="100")
    daily_cap_points: Mapped[int] = mapped_column(default=2000, server_default="2000")
    max_amount_fen: Mapped[int] = mapped_column(default=500000, server_default="500000")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
