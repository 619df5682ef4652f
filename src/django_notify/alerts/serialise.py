"""An alert as JSON: the shape the API answers with."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ..models.alert import PlatformAlert


def _user_json(user: Any) -> dict[str, Any] | None:
    if user is None:
        return None
    name = user.get_full_name() if hasattr(user, "get_full_name") else ""
    return {"id": user.pk, "name": name or user.get_username()}


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def to_dict(alert: PlatformAlert) -> dict[str, Any]:
    """The JSON shape of an alert, as the API answers it. Select ``resolved_by`` with the rows
    (``select_related("resolved_by")``) when serialising a list."""
    return {
        "id": alert.pk,
        "alert_type": alert.alert_type,
        "severity": alert.severity,
        "title": alert.title,
        "message": alert.message,
        "fingerprint": alert.fingerprint,
        "affected_systems": list(alert.affected_systems or []),
        "affected_organizations": list(alert.affected_organizations or []),
        "meta_data": alert.meta_data or {},
        "occurrence_count": alert.occurrence_count,
        "first_occurred_at": _iso(alert.first_occurred_at),
        "last_occurred_at": _iso(alert.last_occurred_at),
        "is_resolved": alert.is_resolved,
        "resolved_at": _iso(alert.resolved_at),
        "resolved_by": _user_json(alert.resolved_by) if alert.resolved_by_id else None,
        "resolution_notes": alert.resolution_notes,
    }
