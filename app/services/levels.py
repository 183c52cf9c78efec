"""Member levels from growth value (points ever earned)."""
from dataclasses import dataclass

from flask_babel import lazy_gettext as _l

from app.services.settings import get_setting

# Names of the default levels in the user's language; operator-named levels show as typed.
_DEFAULT_NAMES = {
    "normal": ("普通会员", _l("普通会员")),
    "silver": ("银卡会员", _l("银卡会员")),
    "gold": ("金卡会员", _l("金卡会员")),
    "diamond": ("钻石会员", _l("钻石会员")),
}


@dataclass(frozen=True)
class Level:
    key: str
    name: str
    min_growth: int
    multiplier_pct: int
    discount_pct: int
    # Days after delivery a member of this level may ask for after-sales (售后); 7 when unset.
    aftersale_days: int = 7

    @property
    def label(self):
        """The name in the user's language when it is an untouched default level."""
        return level_label(self.key, self.name)


def level_label(key, name):
    """A level's name in the user's language when it is an untouched default level, else as typed."""
    default = _DEFAULT_NAMES.get(key)
    if default is not None and default[0] == name:
        return str(default[1])
    return name


def all_levels():
    """Levels in ascending order of the growth they need."""
    return sorted((Level(**row) for row in get_setting("levels")), key=lambda lv: lv.min_growth)


def level_for(growth):
    """The highest level whose threshold `growth` reaches."""
    levels = all_levels()
    current = levels[0]
    for level in levels:
        if growth >= level.min_growth:
            current = level
    return current


def next_level(growth):
    """The next level up and the growth still needed, or (None, 0) at the top."""
    for level in all_levels():
        if level.min_growth > growth:
            return level, level.min_growth - growth
    return None, 0


def discounted_points(points, growth):
    """A points price after the member's level discount (rounded up: never below cost)."""
    pct = level_for(growth).discount_pct
    return -(-points * pct // 100)
