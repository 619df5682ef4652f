"""Platform alerts for staff: list, raise (create or count an occurrence),
resolve, statistics. The service is :mod:`django_notify.alerts`; these views only parse,
check and answer."""

from __future__ import annotations

from ...alerts.queries import statistics
from ...alerts.serialise import to_dict
from ...alerts.service import raise_alert, resolve
from ...alerts.validation import MAX_AFFECTED, MAX_AFFECTED_ENTRY, MAX_TEXT
from ...models import PlatformAlert, Severity
from ..base import ApiView, operation
from ..errors import get_or_404
from ..pagination import page
from ..schema import AnyOf, Bool, Enum, Int, JSONObject, List, Object, Query, Str
from ..serializers import ALERT, ALERT_PAGE, ALERT_STATS
from .params import cursor_param, limit_param

ALERTS = ("alerts",)

ALERT_QUERY = Query(
    {
        "resolved": Bool(description="true: resolved only; false: open only."),
        "severity": Enum(Severity.values),
        "alert_type": Str(max_length=50),
        "cursor": cursor_param(),
        "limit": limit_param(),
    }
)


def _affected() -> List:
    entry = AnyOf(
        Str(min_length=1, max_length=MAX_AFFECTED_ENTRY), Int(min_value=0)
    )  # organization keys are often pks
    return List(entry, max_items=MAX_AFFECTED)


ALERT_CREATE = Object(
    {
        "alert_type": Str(
            min_length=1,
            max_length=50,
            required=True,
            description="security, performance, capacity, integration, data, system, or your own.",
        ),
        "severity": Enum(Severity.values, required=True),
        "title": Str(min_length=1, max_length=255, required=True),
        "message": Str(max_length=MAX_TEXT),
        "fingerprint": Str(
            max_length=200, description="Dedup key; default: SHA-256 of type and title."
        ),
        "affected_systems": _affected(),
        "affected_organizations": _affected(),
        "meta_data": JSONObject(),
    },
    name="AlertCreate",
)
RESOLVE_BODY = Object({"notes": Str(max_length=MAX_TEXT)}, name="AlertResolve")


class AlertListView(ApiView):
    @operation(
        summary="List platform alerts (staff)",
        description="Most recently seen first.",
        query=ALERT_QUERY,
        responses={200: ALERT_PAGE},
        staff=True,
        tags=ALERTS,
    )
    def get(self, request, *, user, query, body):
        rows = PlatformAlert.objects.select_related("resolved_by").order_by(
            "-last_occurred_at", "-pk"
        )
        if "resolved" in query:
            rows = rows.filter(is_resolved=query["resolved"])
        for name in ("severity", "alert_type"):
            if name in query:
                rows = rows.filter(**{name: query[name]})
        found, next_cursor = page(
            rows, query["limit"], cursor=query.get("cursor"), field="last_occurred_at"
        )
        return {"results": [to_dict(a) for a in found], "next_cursor": next_cursor}

    @operation(
        summary="Raise an alert (staff)",
        description="Creates it (201), or counts another occurrence of the open alert with "
        "the same fingerprint (200).",
        body=ALERT_CREATE,
        responses={201: ALERT, 200: ALERT},
        staff=True,
        tags=ALERTS,
    )
    def post(self, request, *, user, query, body):
        fields = dict(body)
        alert_type, severity, title = (
            fields.pop("alert_type"),
            fields.pop("severity"),
            fields.pop("title"),
        )
        alert, created = raise_alert(alert_type, severity, title, **fields)
        return (201 if created else 200), to_dict(alert)


class AlertResolveView(ApiView):
    @operation(
        summary="Resolve an alert (staff)",
        description="Resolving a resolved alert changes nothing and answers it as stored.",
        body=RESOLVE_BODY,
        responses={200: ALERT},
        errors=(404,),
        staff=True,
        tags=ALERTS,
    )
    def post(self, request, *, user, query, body, pk):
        alert = get_or_404(PlatformAlert.objects.select_related("resolved_by"), pk)
        return to_dict(resolve(alert, user, body.get("notes", "")))


class AlertStatsView(ApiView):
    @operation(
        summary="Alert statistics (staff)",
        responses={200: ALERT_STATS},
        staff=True,
        tags=ALERTS,
    )
    def get(self, request, *, user, query, body):
        return statistics()
