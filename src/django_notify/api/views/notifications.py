"""The feed and its read state: list, detail, unread count, recent, mark read / unread,
mark all read, dismiss, dismiss all, statistics.

Every read goes through ``visible_to(user)``: a row the user cannot see is a 404 whether
it exists or not.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models import BooleanField as BooleanOutput
from django.db.models import Case, Count, Value, When

from ...loading import get_notification_model
from ...types import Priority, notification_types
from .. import errors
from ..base import ApiView, operation
from ..errors import get_or_404
from ..pagination import page
from ..schema import Bool, DateTime, Enum, Id, List, Object, Query
from ..serializers import (
    CHANGED,
    DISMISSED,
    MARKED,
    NOTIFICATION,
    NOTIFICATION_PAGE,
    PRIORITY_NAMES,
    RECENT,
    STATS,
    UNREAD_COUNT,
    notification_json,
    priority_name,
)
from .params import cursor_param, level_codes, limit_param, type_keys

NOTIFICATIONS = ("notifications",)


def _category_keys() -> list[str]:
    return [c.key for c in notification_types.categories()]


def _feed(user):
    return get_notification_model().objects.visible_to(user)


def _unread_count(user) -> int:
    return get_notification_model().objects.unread_count(user)


def _page_unread_count(rows, user) -> int:
    """The count a page read along (``with_unread_count()``); a query if it is empty."""
    return rows[0].feed_unread_count if rows else _unread_count(user)


def _visible_row(user, pk: int):
    """The row if ``user`` sees it; 404 otherwise (never "exists, but not yours")."""
    return get_or_404(_feed(user), pk)


# --- the feed --------------------------------------------------------------------------------

LIST_QUERY = Query(
    {
        "unread": Bool(description="true: unread only; false: read only."),
        "level": Enum(level_codes, description="Level code (the answer's type)."),
        "type": Enum(type_keys, description="Registered notification type key."),
        "category": Enum(_category_keys, description="Category key of the type."),
        "priority": List(
            Enum(PRIORITY_NAMES),
            max_items=len(PRIORITY_NAMES),
            description="Repeat the parameter or separate with commas.",
        ),
        "since": DateTime(description="Only rows created at or after this instant."),
        "cursor": cursor_param(),
        "limit": limit_param(),
    }
)


class NotificationListView(ApiView):
    @operation(
        summary="List the feed",
        description="Newest first, keyset-paginated: follow next_cursor until it is null.",
        query=LIST_QUERY,
        responses={200: NOTIFICATION_PAGE},
        tags=NOTIFICATIONS,
    )
    def get(self, request, *, user, query, body):
        rows = _feed(user)
        if "unread" in query:
            rows = rows.unread() if query["unread"] else rows.read()
        if "level" in query:
            rows = rows.filter(level=query["level"])
        if "type" in query:
            rows = rows.filter(notification_type=query["type"])
        if "category" in query:
            keys = [
                t.key
                for t in notification_types
                if t.category is not None and t.category.key == query["category"]
            ]
            rows = rows.filter(notification_type__in=keys)
        if query.get("priority"):
            rows = rows.filter(priority__in=[Priority[p.upper()] for p in query["priority"]])
        if "since" in query:
            rows = rows.filter(created_at__gte=query["since"])
        found, next_cursor = page(
            rows.with_unread_count(), query["limit"], cursor=query.get("cursor"), field="created_at"
        )
        return {
            "results": [notification_json(n) for n in found],
            "next_cursor": next_cursor,
            "unread_count": _page_unread_count(found, user),
        }


class NotificationDetailView(ApiView):
    @operation(
        summary="One notification",
        responses={200: NOTIFICATION},
        errors=(404,),
        tags=NOTIFICATIONS,
    )
    def get(self, request, *, user, query, body, pk):
        return notification_json(_visible_row(user, pk))

    @operation(
        summary="Dismiss a notification",
        description="Same as POST …/dismiss/.",
        responses={200: CHANGED},
        errors=(404,),
        tags=NOTIFICATIONS,
    )
    def delete(self, request, *, user, query, body, pk):
        return _dismiss(user, pk)


class UnreadCountView(ApiView):
    @operation(summary="Unread count", responses={200: UNREAD_COUNT}, tags=NOTIFICATIONS)
    def get(self, request, *, user, query, body):
        return {"unread_count": _unread_count(user)}


class RecentView(ApiView):
    @operation(
        summary="The latest notifications and the unread count (the bell's dropdown)",
        query=Query({"limit": limit_param(default=10)}),
        responses={200: RECENT},
        tags=NOTIFICATIONS,
    )
    def get(self, request, *, user, query, body):
        rows = list(_feed(user).with_unread_count()[: query["limit"]])
        return {
            "results": [notification_json(n) for n in rows],
            "unread_count": _page_unread_count(rows, user),
        }


# --- read state ------------------------------------------------------------------------------

MARK_READ_BODY = Object(
    {"ids": List(Id(), min_items=1, max_items=100, required=True)}, name="MarkReadRequest"
)


class MarkReadView(ApiView):
    @operation(
        summary="Mark several notifications read",
        description="All or nothing: if any id is not visible, the answer is 404 and "
        "nothing changes.",
        body=MARK_READ_BODY,
        responses={200: MARKED},
        errors=(404,),
        tags=NOTIFICATIONS,
    )
    def post(self, request, *, user, query, body):
        ids = set(body["ids"])
        manager = get_notification_model().objects
        with transaction.atomic():
            if _feed(user).filter(pk__in=ids).count() != len(ids):
                raise errors.not_found("One or more notifications were not found.")
            marked = manager.mark_read_many(user, ids)
        return {"marked": marked, "unread_count": _unread_count(user)}


class ReadView(ApiView):
    state = "read"

    @operation(
        summary="Mark one notification read",
        responses={200: CHANGED},
        errors=(404,),
        tags=NOTIFICATIONS,
    )
    def post(self, request, *, user, query, body, pk):
        row = _visible_row(user, pk)
        changed = row.mark_read(user) if self.state == "read" else row.mark_unread(user)
        return {"changed": changed, "unread_count": _unread_count(user)}


class UnreadView(ReadView):
    state = "unread"

    @operation(
        summary="Mark one notification unread",
        responses={200: CHANGED},
        errors=(404,),
        tags=NOTIFICATIONS,
    )
    def post(self, request, *, user, query, body, pk):
        return super().post(request, user=user, query=query, body=body, pk=pk)


class MarkAllReadView(ApiView):
    @operation(summary="Mark everything visible read", responses={200: MARKED}, tags=NOTIFICATIONS)
    def post(self, request, *, user, query, body):
        marked = get_notification_model().objects.mark_all_read(user)
        return {"marked": marked, "unread_count": _unread_count(user)}


def _dismiss(user, pk: int) -> dict[str, Any]:
    # addressed_to(): the feed's audience before dismissals, so dismissing twice (a
    # double click) answers changed=false instead of a 404.
    row = get_or_404(get_notification_model().objects.addressed_to(user), pk)
    changed = row.dismiss(user)
    return {"changed": changed, "unread_count": _unread_count(user)}


class DismissView(ApiView):
    @operation(
        summary="Dismiss a notification",
        description="Hides it from this user's feed (others still see a broadcast).",
        responses={200: CHANGED},
        errors=(404,),
        tags=NOTIFICATIONS,
    )
    def post(self, request, *, user, query, body, pk):
        return _dismiss(user, pk)


class DismissAllView(ApiView):
    @operation(summary="Dismiss everything visible", responses={200: DISMISSED}, tags=NOTIFICATIONS)
    def post(self, request, *, user, query, body):
        dismissed = get_notification_model().objects.dismiss_all(user)
        return {"dismissed": dismissed, "unread_count": _unread_count(user)}


# --- statistics ------------------------------------------------------------------------------


class StatsView(ApiView):
    @operation(
        summary="Counts by read state, type, priority and level",
        responses={200: STATS},
        tags=NOTIFICATIONS,
    )
    def get(self, request, *, user, query, body):
        # One grouped query: the groups are bounded by types × priorities × levels.
        groups = (
            _feed(user)
            .order_by()
            .annotate(
                is_unread=Case(
                    When(user_read_at__isnull=True, then=Value(True)),
                    default=Value(False),
                    output_field=BooleanOutput(),
                )
            )
            .values("notification_type", "priority", "level", "action_required", "is_unread")
            .annotate(n=Count("pk"))
        )
        stats: dict[str, Any] = {
            "total": 0, "unread": 0, "read": 0, "by_type": {}, "by_priority": {},
            "by_level": {}, "action_required": 0,
        }  # fmt: skip
        for group in groups:
            n = group["n"]
            stats["total"] += n
            stats["unread" if group["is_unread"] else "read"] += n
            if group["action_required"] and group["is_unread"]:
                stats["action_required"] += n
            for key, value in (
                ("by_type", group["notification_type"] or ""),
                ("by_priority", priority_name(group["priority"])),
                ("by_level", group["level"]),
            ):
                stats[key][value] = stats[key].get(value, 0) + n
        return stats
