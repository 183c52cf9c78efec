"""Domain events, sent inside the transaction of the use case that caused them.

Receivers run in that same transaction (they must not commit), so a reward that an
event triggers - a newbie task, a referral bonus - lands with its cause or not at all.
    member_registered(user_id, inviter_code, ip)
    points_spent(user_id, kind, entry_id)          e.g. first redemption, first draw
    profile_completed(user_id) / phone_bound(user_id)
"""
from blinker import Namespace

_signals = Namespace()

member_registered = _signals.signal("member-registered")
points_spent = _signals.signal("points-spent")
profile_completed = _signals.signal("profile-completed")
phone_bound = _signals.signal("phone-bound")
product_redeemed = _signals.signal("product-redeemed")
draw_played = _signals.signal("draw-played")
