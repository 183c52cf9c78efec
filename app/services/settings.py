"""Operator-changeable settings: a value in the database, else the default here."""
from flask import g, has_app_context

from sqlalchemy import select

from app.extensions import db
from app.models import Setting
from app.services import cache as shared_cache

DEFAULTS = {
    # Points earned expire this many calendar months after they were earned.
    "points.expiry_months": 12,
    # Claim-to-receive packet points expire this many days after claiming.
    "points.packet_expiry_days": 7,
    # What one point is worth in fen, for liability reports.
    "points.fen_per_point": 1,
    "earn.register": {"enabled": True, "points": 500},
    # Check-in: reward by streak position, cycling after the last; make-up (补签) for a missed day.
    "earn.checkin": {"enabled": True, "rewards": [5, 5, 10, 10, 15, 15, 30]},
    "earn.makeup": {"enabled": True, "cost": 20, "per_month": 2, "window_days": 7},
    # Newbie tasks pay once each (0 turns one off); daily tasks once a Shanghai day.
    "earn.newbie": {"enabled": True, "profile": 50, "phone": 50, "first_redeem": 100, "first_draw": 50},
    "earn.daily": {"enabled": True, "share": 50, "browse": 10, "browse_seconds": 5},
    # Referral: pay_on "register" or "first_redeem"; paid referrals per invitee IP per day.
    "earn.invite": {"enabled": True, "points": 100, "pay_on": "register", "per_ip_daily": 5},
    "earn.packet": {"enabled": True},
    "earn.birthday": {"enabled": True, "points": 200},
    # Consumption points (消费积分) awarded by merchant staff; ratio and caps are per merchant.
    "earn.consumption": {"enabled": True},
    # Levels by growth value; multiplier_pct scales earnings, discount_pct scales prices,
    # aftersale_days is how long after delivery a member may ask for after-sales (a level perk).
    "levels": [
        {"key": "normal", "name": "普通会员", "min_growth": 0, "multiplier_pct": 100, "discount_pct": 100, "aftersale_days": 7},
        {"key": "silver", "name": "银卡会员", "min_growth": 5000, "multiplier_pct": 110, "discount_pct": 98, "aftersale_days": 10},
        {"key": "gold", "name": "金卡会员", "min_growth": 10000, "multiplier_pct": 120, "discount_pct": 95, "aftersale_days": 15},
        {"key": "diamond", "name": "钻石会员", "min_growth": 20000, "multiplier_pct": 150, "discount_pct": 90, "aftersale_days": 30},
    ],
    # Shanghai dates (YYYY-MM-DD) on which boosted earnings are multiplied.
    "double_points.days": [],
    "double_points.factor": 2,
    # Risk review (app.services.risk): a redemption waits for an operator when an order is worth more
    # points than order_points_over, its member registered from an IP with ip_accounts_per_day accounts
    # that day, an inviter has invitee_burst invitees within a day, or an account younger than
    # new_account_minutes spends new_account_share_pct % of its balance on an order worth at least
    # new_account_min_points (high-value goods, above the registration gift). 0 turns a rule off.
    "risk.rules": {"enabled": True, "order_points_over": 20000, "ip_accounts_per_day": 3,
                   "device_accounts_per_day": 3, "invitee_burst": 10,
                   "new_account_minutes": 30, "new_account_share_pct": 80,
                   "new_account_min_points": 2000, "draws_week_factor": 5, "draws_week_min": 50,
                   "makeups_month": 8},
    # per order; unpaid cash orders; points filters; shipped orders confirmed received after this many days
    # confirm_points: a redemption of at least this many points (or with cash) is confirmed first.
    "shop.rules": {"max_quantity": 10, "pay_minutes": 15, "tiers": [500, 2000], "auto_complete_days": 10,
                   "confirm_points": 100},
}


_SETTINGS = shared_cache.watch("settings")


def get_setting(key):
    """The operator's value for `key`, or the default.

    All settings are read in one query and shared between requests until one changes; a
    transaction that has just stored a setting reads its own value.
    """
    if not has_app_context():
        row = db.session.get(Setting, key)
        return row.value if row is not None else DEFAULTS.get(key)
    values = g.get("_settings_cache")
    if values is None:
        load = lambda: {row.key: row.value for row in db.session.execute(select(Setting)).scalars()}  # noqa: E731
        values = load() if g.get("_settings_written") else shared_cache.shared("settings", _SETTINGS, load)
        g._settings_cache = values
    return values[key] if key in values else DEFAULTS.get(key)


def put_setting(key, value):
    """Store a setting inside the caller's transaction (the caller audits and commits)."""
    row = db.session.get(Setting, key)
    if row is None:
        db.session.add(Setting(key=key, value=value))
    else:
        row.value = value
    if has_app_context():
        g.pop("_settings_cache", None)
        g._settings_written = True
