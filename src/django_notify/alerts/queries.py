"""Reading alerts: the severity order as SQL, the open alerts, the stat-card figures."""

from __future__ import annotations

from datetime import datetime, time
from typing import Any

from django.db import models
from django.db.models import Case, Count, Q, Value, When
from django.utils import timezone

from ..models.alert import PlatformAlert, Severity
from .validation import SEVERITY_RANK


def severity_rank_expression() -> Case:
    """An integer expression, higher for more severe alerts (for ``order_by``)."""
    return Case(
        *(When(severity=name, then=Value(rank)) for name, rank in SEVERITY_RANK.items()),
        default=Value(0),
        output_field=models.IntegerField(),
    )


def with_severity_rank(queryset: models.QuerySet) -> models.QuerySet:
    """``queryset`` annotated with ``severity_rank`` (1 = info … 4 = critical)."""
    return queryset.annotate(severity_rank=severity_rank_expression())


def active_alerts() -> models.QuerySet:
    """Unresolved alerts, most severe first, then most recently seen."""
    return with_severity_rank(PlatformAlert._default_manager.filter(is_resolved=False)).order_by(
        "-severity_rank", "-last_occurred_at", "-id"
    )


def _start_of_today() -> datetime:
    today = timezone.localdate()
    return timezone.make_aware(datetime.combine(today, time.min))


def statistics() -> dict[str, Any]:
    """The figures of the alert stat cards, in one query::

        {"active": 3, "critical": 1, "resolved_today": 2,
         "by_severity": {"info": 0, "warning": 1, "error": 1, "critical": 1},
         "by_type": {"integration": 2, "security": 1}}

    ``active``, ``critical`` and both breakdowns count unresolved alerts; ``by_severity``
    always has the four severities. ``resolved_today`` counts alerts resolved since
    midnight in the current time zone.
    """
    rows = (
        PlatformAlert._default_manager.filter(
            Q(is_resolved=False) | Q(is_resolved=True, resolved_at__gte=_start_of_today())
        )
        .values("is_resolved", "severity", "alert_type")
        .annotate(n=Count("id"))
        .order_by()
    )
    by_severity = dict.fromkeys(SEVERITY_RANK, 0)
    by_type: dict[str, int] = {}
    resolved_today = 0
    for row in rows:
        if row["is_resolved"]:
            resolved_today += row["n"]
            continue
        by_severity[row["severity"]] = by_severity.get(row["severity"], 0) + row["n"]
        by_type[row["alert_type"]] = by_type.get(row["alert_type"], 0) + row["n"]
    return {
        "active": sum(by_severity.values()),
        "critical": by_severity[Severity.CRITICAL],
        "resolved_today": resolved_today,
        "by_severity": by_severity,
        "by_type": dict(sorted(by_type.items(), key=lambda item: (-item[1], item[0]))),
    }
