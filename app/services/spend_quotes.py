"""Spends a member confirms before they happen: a redemption, share purchase, paid draw or
make-up check-in of at least `shop.rules` confirm_points points (or with a cash part) is shown
on a confirmation sheet first (a page without JavaScript); the request key stays the same, so
a double tap on 确认 is still one spend."""
from dataclasses import dataclass

from app.extensions import db
from app.models import User
from app.services.errors import InsufficientPoints
from app.services.settings import get_setting


@dataclass(frozen=True)
class SpendQuote:
    """What a spend will cost, for the sheet: what it buys, the points, the balance after."""
    title: str
    points_total: int
    balance_after: int


def confirm_threshold():
    """Spends of at least this many points (or with a cash part) are confirmed before they happen."""
    return int((get_setting("shop.rules") or {}).get("confirm_points", 100))


def needs_confirmation(points_total, cash_total_fen=0):
    return points_total >= confirm_threshold() or cash_total_fen > 0


def quote(user_id, title, points_total, short_message):
    """The quote of a spend the member can afford, else InsufficientPoints(short_message)."""
    balance = db.session.get(User, user_id).points_balance
    if balance < points_total:
        raise InsufficientPoints(short_message)
    return SpendQuote(title=title, points_total=points_total, balance_after=balance - points_total)


__all__ = ["SpendQuote", "confirm_threshold", "needs_confirmation", "quote"]
