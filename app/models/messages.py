"""The in-app message centre."""
from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db
from app.models.base import utcnow
from app.models.types import UTCDateTime


class Message(db.Model):
    """A notice to a member: a message id and its parameters, put into words when shown
    (in the reader's language; see app.services.messages.MESSAGES)."""

    __tablename__ = "messages"
    __table_args__ = (
        # A key makes a notice (e.g. this month's expiry reminder) arrive once.
        UniqueConstraint("user_id", "key", name="uq_messages_user_key"),
        Index("ix_messages_user_unread", "user_id", "read_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    kind: Mapped[str] = mapped_column(String(20))
    msgid: Mapped[str] = mapped_column(String(60))
    params: Mapped[dict] = mapped_column(JSON, default=dict)
    key: Mapped[str | None] = mapped_column(String(80))
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
