"""WeChat: the identities members log in with, the shared access token and ticket, and the
template messages waiting to be sent."""
from datetime import datetime

from sqlalchemy import JSON, CheckConstraint, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db
from app.models.base import utcnow
from app.models.types import UTCDateTime


class UserIdentity(db.Model):
    """A third-party identity of a member: one openid per WeChat app (公众号, later a 小程序), and the
    unionid that is the same person across the apps of one open-platform account, so one person
    is one member whichever app they come through."""

    __tablename__ = "user_identities"
    __table_args__ = (
        UniqueConstraint("provider", "app_id", "openid", name="uq_user_identities_openid"),
        # A member has at most one identity per app: binding a second WeChat account is refused.
        UniqueConstraint("user_id", "provider", "app_id", name="uq_user_identities_user_app"),
        Index("ix_user_identities_unionid", "provider", "unionid"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    provider: Mapped[str] = mapped_column(String(16))  # "wechat"
    app_id: Mapped[str] = mapped_column(String(32))
    openid: Mapped[str] = mapped_column(String(64))
    unionid: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class WeChatCredential(db.Model):
    """The app's access token and JS-SDK ticket, shared by every worker; refreshed under a row lock."""

    __tablename__ = "wechat_credentials"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)  # "<app id>:access_token", ":jsapi_ticket"
    value: Mapped[str | None] = mapped_column(String(600))
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class TemplateMessage(db.Model):
    """A member message waiting to go out as a WeChat template message: written with the message
    in its event's transaction, sent after commit by `flask wechat send-templates`, retried with
    backoff, sent at most once (the message id is unique here and the send is claimed first)."""

    __tablename__ = "wechat_template_messages"
    __table_args__ = (
        CheckConstraint("status IN ('pending', 'sending', 'sent', 'failed')", name="status_known"),
        Index("ix_wechat_template_messages_due", "status", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    message_id: Mapped[int] = mapped_column(ForeignKey("messages.id", ondelete="CASCADE"), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    template_id: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(8), default="pending")
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class PaymentNonce(db.Model):
    """The nonce of every WeChat Pay notification acted on in the last day: one seen again is a replay."""

    __tablename__ = "wechatpay_nonces"

    nonce: Mapped[str] = mapped_column(String(64), primary_key=True)
    seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
