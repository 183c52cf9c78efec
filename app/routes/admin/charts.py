"""What the console's server-rendered charts (templates/admin/_charts.html) compute in Python."""
import math

from app.routes.admin import bp

_STEPS = (1, 2, 2.5, 3, 4, 5, 10)


@bp.app_template_global()
def axis_steps(peak, lines=4):
    """The values of a chart's `lines` + 1 gridlines, 0 first: whole, round and all different
    (0, 500, 1,000, 1,500, 2,000 for a peak of 1,835; 0 to 4 for a peak of 1), the top at or above
    the peak. The series' counts and points are whole numbers, so a step is never below 1."""
    raw = max(peak, 1) / lines
    magnitude = 10 ** math.floor(math.log10(raw)) if raw >= 1 else 1
    step = next(s * magnitude for s in _STEPS if s * magnitude >= raw and (s * magnitude) % 1 == 0)
    return [int(step * i) for i in range(lines + 1)]
