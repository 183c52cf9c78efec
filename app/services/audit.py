"""The audit log: every operator action, written in the action's own transaction."""
from flask import has_request_context, request

from app.extensions import db
from app.models import AuditLog


def record(actor_id, action, target=None, **detail):
    """Add an audit row to the caller's transaction."""
    ip = request.remote_addr if has_request_context() else None
    db.session.add(AuditLog(actor_id=actor_id, action=action, target=target, detail=detail or None, ip=ip))
