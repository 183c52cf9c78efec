"""Shared column helpers."""
from datetime import datetime, timezone


def utcnow():
    """Timezone-aware now in UTC; used as a column default (a callable, never a value)."""
    return datetime.now(timezone.utc)
