"""The audit log page: every operator action, searchable by operator, action, object and day."""
from datetime import date

from flask import request
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from app.routes.admin import bp, nav_entry
from app.routes.admin.members import page_number
from app.routes.web import render_page
from app.services import audit
from app.services.ids import parse_db_id

nav_entry("admin.audit", _l("审计日志"), 80)


def _day(name, errors):
    """?from= / ?to= as a date (YYYY-MM-DD), or None; a malformed one gets a message at its field."""
    text = request.args.get(name, "").strip()
    if not text:
        return None
    try:
        value = date.fromisoformat(text) if len(text) == 10 else None
    except ValueError:
        value = None
    if value is None or not 2000 <= value.year <= 2999:
        errors[name] = _("请输入正确的日期，如 2026-11-23")
    return value if name not in errors else None


def _action_choices(chosen):
    """(value, name) of every logged action, each kind of object's actions together ("merchant." =
    every merchant action) first, and the chosen one even when the log has none of it yet."""
    actions = audit.known_actions()
    groups = sorted({action.split(".", 1)[0] + "." for action in actions if "." in action})
    choices = groups + actions
    if chosen and chosen not in choices:
        choices.append(chosen)
    return [(action, audit.action_label(action)) for action in choices]


@bp.get("/audit", endpoint="audit")
def audit_log():
    errors = {}
    args = request.args
    actor_text, action, target = args.get("actor", ""), args.get("action", "")[:48].strip(), args.get("target", "")[:64].strip()
    actor_id = parse_db_id(actor_text) if actor_text else None
    if actor_text and actor_id is None:
        errors["actor"] = _("请选择操作人")
    day_from, day_to = _day("from", errors), _day("to", errors)
    if day_from and day_to and day_to < day_from:
        errors["to"] = _("结束日期不能早于开始日期")
        day_to = None
    page = audit.search(actor_id=actor_id, action=action or None, target=target or None,
                        day_from=day_from, day_to=day_to, number=page_number())
    return render_page(
        "admin/audit.html", page=page, rows=audit.present(page.items), errors=errors,
        actors=audit.actors(), actions=_action_choices(action),
        filters={"actor": actor_id, "action": action, "target": target,
                 "from": args.get("from", "")[:10], "to": args.get("to", "")[:10]},
    )
