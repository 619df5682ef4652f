"""The notification centre pages.

The views render the page shells and what only the server knows (the registered types,
the user's current preferences, the time zones); the browser widget (``pages.js``)
drives them through the JSON API, so the pages and any other front end share one
code path for reading and changing state.
"""

from __future__ import annotations

import zoneinfo
from functools import lru_cache
from typing import Any

from django.conf import settings
from django.contrib.auth.mixins import LoginRequiredMixin
from django.http import QueryDict
from django.utils.translation import gettext as _
from django.views.generic import TemplateView

from ..channels import channels
from ..delivery.preferences import get_preferences
from ..models import AlertType, Frequency, Severity
from ..types import Priority, notification_types

#: Names ``zoneinfo`` lists that are not places a person lives in.
_NOT_ZONES = {"Factory", "localtime"}

READ_STATES = (("", "All"), ("unread", "Unread"), ("read", "Read"))
#: The Alerts tab's status filter; "active" is the default and stays out of the URL.
ALERT_STATES = (("active", "Active"), ("resolved", "Resolved"), ("all", "All"))
TABS = ("notifications", "alerts")


@lru_cache(maxsize=1)
def time_zones() -> tuple[str, ...]:
    """Every IANA zone name this system knows, sorted (read once per process)."""
    return tuple(sorted(zoneinfo.available_timezones() - _NOT_ZONES))


def type_choices() -> list[dict[str, str]]:
    """The registered types, for the type filter and for labelling rows."""
    return sorted(
        (
            {
                "key": ntype.key,
                "label": str(ntype.get_label()),
                "category": ntype.category.name if ntype.category else "",
            }
            for ntype in notification_types
        ),
        key=lambda t: (t["category"], t["label"].lower()),
    )


class FilterReader:
    """The page's filters from the query string. A value the page does not offer is
    dropped (the list shows unfiltered on that filter) and noted, so the page can say
    which parameter it ignored instead of failing or filtering on nonsense."""

    def __init__(self, query: QueryDict) -> None:
        self.query = query
        self.ignored: list[str] = []

    def choice(
        self,
        name: str,
        allowed: list[str] | tuple[str, ...],
        default: str = "",
        described: str = "",
    ) -> str:
        value = self.query.get(name)
        if value is None or value == "" or value == default:
            return default
        if value in allowed:
            return value
        offered = described or ", ".join(v for v in allowed if v)
        self.ignored.append(
            _("The filter “%(name)s” was ignored: “%(value)s” is not one of %(offered)s.")
            % {"name": name, "value": value, "offered": offered}
        )
        return default


class NotificationsPageView(LoginRequiredMixin, TemplateView):
    """The notifications page: stat cards, filters, bulk actions and the list,
    plus the Alerts tab for staff (alerts are staff-only everywhere)."""

    template_name = "django_notify/notifications_page.html"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        show_alerts = bool(self.request.user.is_staff)
        reader = FilterReader(self.request.GET)
        priorities = [(p.name.lower(), str(p.label)) for p in Priority]
        types = type_choices()
        # A user who is not staff asking for the Alerts tab gets the list: not an error,
        # the tab is just not theirs.
        tab = reader.choice("tab", TABS, default="notifications")
        context.update(
            show_alerts=show_alerts,
            active_tab="alerts" if show_alerts and tab == "alerts" else "notifications",
            priorities=priorities,
            types=types,
            type_labels={t["key"]: t["label"] for t in types},
            read_states=READ_STATES,
            # The initial filters, so a reload, back/forward or a shared link keeps them.
            filters={
                "priority": reader.choice("priority", [p for p, _ in priorities]),
                "type": reader.choice(
                    "type", [t["key"] for t in types], described=_("the registered types")
                ),
                "state": reader.choice("state", [s for s, _ in READ_STATES]),
            },
        )
        if show_alerts:
            context.update(
                severities=Severity.choices,
                alert_types=AlertType.choices,
                alert_states=ALERT_STATES,
                alert_filters={
                    "status": reader.choice(
                        "status", [s for s, _ in ALERT_STATES], default="active"
                    ),
                    "severity": reader.choice("severity", Severity.values),
                    "alert_type": reader.choice("alert_type", AlertType.values),
                },
            )
        context["ignored_filters"] = reader.ignored
        return context


def channel_columns(types: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The channels any type is delivered on, with their label and digest support (read
    from the backend class, so no channel is built or opened to draw a table)."""

    used = {name for row in types for name in row["channels"]}
    columns = []
    # In-app first (every type has it, and it is what this page's bell shows), then the
    # others by alias.
    # The channels that deliver by the row (in-app) first, then the others by alias.
    by_row = set(channels.row_channels())
    for alias, spec in sorted(channels.items(), key=lambda item: (item[0] not in by_row, item[0])):
        if alias in used:
            backend = spec.backend
            columns.append(
                {
                    "name": alias,
                    "label": backend.label or alias,
                    "supports_digest": bool(backend.supports_digest),
                }
            )
    return columns


def preference_groups(
    types: list[dict[str, Any]], columns: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """``get_preferences()["types"]`` as table rows grouped by category: one cell per
    channel column, ``None`` where the type is not delivered on that channel."""
    categories = {c.key: c for c in notification_types.categories()}
    groups: dict[str, dict[str, Any]] = {}
    for row in types:
        ntype = (
            notification_types.get(row["notification_type"])
            if row["notification_type"] in notification_types
            else None
        )
        category = categories.get(row["category"])
        group = groups.setdefault(
            row["category"],
            {
                "key": row["category"],
                "name": category.name if category else "Other",
                "description": category.description if category else "",
                "rows": [],
            },
        )
        cells = []
        for column in columns:
            state = row["channels"].get(column["name"])
            cells.append(
                None
                if state is None
                else {
                    **state,
                    "channel": column["name"],
                    "channel_label": column["label"],
                    "supports_digest": column["supports_digest"],
                }
            )
        group["rows"].append(
            {
                "key": row["notification_type"],
                "label": row["label"],
                "description": ntype.description if ntype else "",
                "cells": cells,
            }
        )
    # Named categories first, alphabetically; types without one last.
    return sorted(groups.values(), key=lambda g: (g["key"] == "", g["name"].lower()))


class PreferencesPageView(LoginRequiredMixin, TemplateView):
    """The preferences page: type × channel switches (required ones locked), digest
    frequency where the channel sends digests, quiet hours, time zone and language."""

    template_name = "django_notify/preferences_page.html"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        preferences = get_preferences(self.request.user)
        columns = channel_columns(preferences["types"])
        zones = list(time_zones())
        current_zone = preferences["timezone"]
        if current_zone and current_zone not in zones:
            zones.insert(0, current_zone)  # keep showing what is stored
        languages = list(settings.LANGUAGES)
        current_language = preferences["language"]
        if current_language and current_language not in dict(languages):
            languages.insert(0, (current_language, current_language))
        context.update(
            columns=columns,
            groups=preference_groups(preferences["types"], columns),
            frequencies=Frequency.choices,
            quiet_hours=preferences["quiet_hours"] or {"start": "", "end": ""},
            timezone=current_zone,
            time_zones=zones,
            site_time_zone=settings.TIME_ZONE,
            language=current_language,
            languages=languages,
        )
        return context
