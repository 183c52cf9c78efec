"""Accounts: members, merchant staff and operators."""
import hmac
import secrets
from datetime import date, datetime

from flask_babel import lazy_gettext as _l
from flask_login import UserMixin
from sqlalchemy import CheckConstraint, ForeignKey, Index, String, false, true
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.extensions import db
from app.models.base import utcnow
from app.models.types import UTCDateTime

ROLES = ("member", "staff", "operator")


def new_session_token():
    """A fresh random session token (32 hex characters)."""
    return secrets.token_hex(16)


class User(UserMixin, db.Model):
    __tablename__ = "users"
    __table_args__ = (
        CheckConstraint("points_balance >= 0", name="balance_not_negative"),
        CheckConstraint("growth >= 0", name="growth_not_negative"),
        CheckConstraint("role IN ('member', 'staff', 'operator')", name="role_known"),
        Index("ix_users_created_at", "created_at"),
        Index("ix_users_register_device", "register_device", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    phone: Mapped[str | None] = mapped_column(String(11), unique=True)
    password_hash: Mapped[str | None] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(16), default="member")
    nickname: Mapped[str | None] = mapped_column(String(40))
    openid: Mapped[str | None] = mapped_column(String(64), unique=True)
    avatar_url: Mapped[str | None] = mapped_column(String(500))
    birthday: Mapped[date | None]
    # Cached balance: always equal to the sum of this member's ledger entries.
    points_balance: Mapped[int] = mapped_column(default=0)
    # Growth value: points ever earned (never reduced by spending); decides the level.
    growth: Mapped[int] = mapped_column(default=0)
    is_disabled: Mapped[bool] = mapped_column(default=False)
    # Set for a staff or operator account created with a one-time password: every page sends it to
    # the password page until the password is changed (app.access.require_password_change).
    must_change_password: Mapped[bool] = mapped_column(default=False, server_default=false())
    # The evening 签到提醒 when a streak of 3+ days is at risk; a member may turn it off in the profile.
    streak_reminders: Mapped[bool] = mapped_column(default=True, server_default=true())
    # Part of the id in every session and remember cookie; replacing it ends them all
    # (logout, password change, disabling the account).
    # The server default '' never matches (has_session_token), so a row inserted without a token
    # cannot be logged into.
    session_token: Mapped[str] = mapped_column(String(32), default=new_session_token, server_default="")
    invite_code: Mapped[str | None] = mapped_column(String(16), unique=True)
    inviter_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    merchant_id: Mapped[int | None] = mapped_column(ForeignKey("merchants.id"))
    register_ip: Mapped[str | None] = mapped_column(String(45))
    # The device cookie of the browser the account was registered from (routes/auth.py device_id):
    # several accounts from one device in a day are a risk signal (services/risk.py).
    register_device: Mapped[str | None] = mapped_column(String(32))
    # Set when the member deleted the account: the row stays for the books, anonymised
    # (services/data_rights.py); it can never log in again.
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    merchant = relationship("Merchant", lazy="joined")

    def get_id(self):
        """The session id Flask-Login stores: "<id>:<session token>", stale once the token changes."""
        return f"{self.id}:{self.session_token}"

    def has_session_token(self, token):
        """True if `token` is this account's current session token (constant-time compare)."""
        return bool(self.session_token) and hmac.compare_digest(self.session_token.encode(), (token or "").encode())

    @property
    def is_active(self):
        """Flask-Login refuses disabled accounts."""
        return not self.is_disabled

    @property
    def display_name(self):
        if self.deleted_at is not None:
            return str(_l("已注销用户"))
        if self.nickname:
            return self.nickname
        if self.phone:
            return f"{self.phone[:3]}****{self.phone[-4:]}"
        return f"#{self.id}"

    @property
    def is_operator(self):
        return self.role == "operator"

    @property
    def is_staff(self):
        return self.role == "staff"
