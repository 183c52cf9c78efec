"""Setting lucky draws up (seeders and the operator console); playing them is in draws.py."""
from flask_babel import gettext as _
from flask_babel import ngettext

from app.models import Draw, DrawPrize
from app.services.errors import DomainError
from app.services.tx import write_transaction

GRID_SLOTS = 8
WHEEL_SLOTS = (4, 12)


def create_draw(name, skin, prizes, *, cost=10, daily_limit=0, pity_after=None, pity_tier=None,
                purpose="normal", description=None, is_active=True):
    """Create a draw with its prizes (dicts of DrawPrize columns, in slot order)."""
    if skin == "grid" and len(prizes) != GRID_SLOTS:
        raise DomainError(ngettext("九宫格需要恰好 %(num)s 个奖品", "九宫格需要恰好 %(num)s 个奖品", GRID_SLOTS), field="prizes")
    if skin == "wheel" and not WHEEL_SLOTS[0] <= len(prizes) <= WHEEL_SLOTS[1]:
        raise DomainError(_("大转盘需要 %(a)s 到 %(b)s 个奖品", a=WHEEL_SLOTS[0], b=WHEEL_SLOTS[1]), field="prizes")
    if sum(p.get("weight", 0) for p in prizes) <= 0:
        raise DomainError(_("奖品权重之和必须大于 0"), field="prizes")
    with write_transaction() as session:
        draw = Draw(name=name, skin=skin, cost=cost, daily_limit=daily_limit, pity_after=pity_after,
                    pity_tier=pity_tier, purpose=purpose, description=description, is_active=is_active)
        session.add(draw)
        session.flush()
        for position, spec in enumerate(prizes):
            session.add(DrawPrize(draw_id=draw.id, position=position, **spec))
        session.flush()
    return draw
