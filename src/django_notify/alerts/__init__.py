"""Platform alerts: one row per recurring problem, counted, resolved with notes.

An alert is not a notification. A notification tells a person something; an alert
records that the *platform* has a problem, for staff to look at and resolve. Raising
the same problem again while it is open counts an occurrence on the open row instead
of adding one::

    from django_notify import alerts

    alert, created = alerts.raise_alert(
        "integration", "error", "Letzshop sync failed",
        message=str(exc), affected_systems=["letzshop"], meta_data={"job": job.pk},
    )
    ...
    alerts.resolve(alert, request.user, notes="API key rotated")

Identity is the *fingerprint*: by default a SHA-256 of the alert type and the title
(case- and whitespace-insensitive); pass ``fingerprint=`` to group differently. At most
one unresolved alert per fingerprint exists (a partial unique constraint), so two
processes raising the same problem at once still make one row with a count of two.
Once resolved, the next occurrence opens a new alert: the problem came back.

To tell staff about alerts (by e-mail, in the bell...), connect :data:`alert_raised`.
"""

from __future__ import annotations

from ..models.alert import AlertType, PlatformAlert, Severity
from .queries import active_alerts, severity_rank_expression, statistics, with_severity_rank
from .serialise import to_dict
from .service import can_manage_alerts, raise_alert, resolve, resolve_many
from .signals import alert_raised, alert_resolved
from .validation import (
    MAX_AFFECTED,
    MAX_AFFECTED_ENTRY,
    MAX_TEXT,
    SEVERITY_RANK,
    clean_alert,
    default_fingerprint,
)

__all__ = [
    "AlertType",
    "PlatformAlert",
    "Severity",
    "SEVERITY_RANK",
    "MAX_AFFECTED",
    "MAX_AFFECTED_ENTRY",
    "MAX_TEXT",
    "alert_raised",
    "alert_resolved",
    "active_alerts",
    "can_manage_alerts",
    "clean_alert",
    "default_fingerprint",
    "raise_alert",
    "resolve",
    "resolve_many",
    "severity_rank_expression",
    "statistics",
    "to_dict",
    "with_severity_rank",
]
