"""What a stream reads from the database: the channels to listen on, the state at
connect, and the answer to one batch of broker messages for one user. Synchronous; the
stream runs it through ``sync_to_async``, in its own thread or, for the checks of many
streams at once, in :mod:`django_notify.realtime.gathering`'s."""

from __future__ import annotations

from typing import Any

from django.db import connections
from django.db.models import Q
from django.utils import timezone

from ..loading import get_notification_model
from ..tenancy import as_key_set, get_adapter
from .brokers import Broker
from .framing import CURSOR_MAX_IDS, GRACE, Cursor, sort_key

#: A reconnecting client is sent at most this many missed notifications (the newest,
#: oldest first); the count that follows covers the rest.
CATCH_UP_LIMIT = 1000


def release_connections() -> None:
    """Give the connection back between batches as Django does at the end of a request:
    with the default CONN_MAX_AGE = 0 an idle stream holds no database connection."""
    for connection in connections.all(initialized_only=True):
        if not connection.in_atomic_block:
            connection.close_if_unusable_or_obsolete()


def _keys(value: Any) -> set[str]:
    """Adapter keys (one value, a list, or a one-column queryset) as strings."""
    if value is None:
        return set()
    if isinstance(value, str | int) or not hasattr(value, "__iter__"):
        return {str(value)}
    return as_key_set(value)


def channels_for(user, broker: Broker) -> list[str]:
    """Every channel a notification visible to ``user`` can be published on: their own,
    their teams', their organization's and the system channel. Read once at connect; a
    membership change takes effect at the next reconnect (at most SSE_MAX_SECONDS), and
    visibility is re-checked per event meanwhile, so a removed member sees nothing new."""
    try:
        adapter = get_adapter()
        channels = [broker.user_channel(user.pk), broker.system_channel()]
        channels += [broker.team_channel(k) for k in sorted(_keys(adapter.get_team_ids(user)))]
        organizations = _keys(adapter.get_organization_filter(user))
        channels += [broker.organization_channel(k) for k in sorted(organizations)]
        return channels
    finally:
        release_connections()


def _rows_above(visible, cursor: Cursor) -> list[tuple[Any, Any]]:
    """Visible rows the cursor has not been sent: above its floor, not among its pks;
    the newest CATCH_UP_LIMIT of them, oldest first."""
    if cursor.floor_pk is None:
        above = Q(created_at__gt=cursor.floor)
    else:
        above = Q(created_at__gt=cursor.floor) | Q(created_at=cursor.floor, pk__gt=cursor.floor_pk)
    rows = visible.filter(above)
    if cursor.sent:
        rows = rows.exclude(pk__in=list(cursor.sent))
    newest = rows.order_by("-created_at", "-pk").values_list("pk", "created_at")
    found = list(newest[:CATCH_UP_LIMIT])
    found.reverse()
    return found


def connect_state(user, cursor: Cursor | None) -> tuple[int, Cursor, list[tuple[Any, Any]]]:
    """At connect: the unread count, the cursor to start from and the rows to replay.

    Two queries: the count, and either the catch-up (a cursor was given) or the rows
    the count already covers near "now" (a fresh client's starting cursor).
    """
    try:
        manager = get_notification_model()._default_manager
        visible = manager.visible_to(user)
        count = manager.unread_count(user)
        if cursor is not None:
            return count, cursor, _rows_above(visible, cursor)
        now = timezone.now()
        recent = visible.filter(created_at__gt=now - GRACE, created_at__lte=now)
        recent = list(recent.values_list("pk", "created_at")[: CURSOR_MAX_IDS * 2])
        return count, Cursor.starting_at(now, recent), []
    finally:
        release_connections()


def batch_state(
    user, notification_ids: list[Any], cursor: Cursor | None, need_count: bool
) -> tuple[list[tuple[Any, Any]], int | None]:
    """For one batch of broker messages: which of ``notification_ids`` the user can see
    (plus, after a RESYNC, everything the cursor was not sent), oldest first, and the
    unread count when anything is to be sent.

    New notifications, the common batch, are one statement: the visible rows carry the
    count (``with_unread_count``), which matters when a broadcast wakes every stream of
    a process at once. A second query only when the count is needed and no row brought it
    (read/dismiss changes, nothing visible); a RESYNC adds the catch-up."""
    try:
        manager = get_notification_model()._default_manager
        visible = manager.visible_to(user)
        rows: dict[Any, Any] = {}
        count = None
        if notification_ids:
            found = (
                visible.filter(pk__in=notification_ids)
                .with_unread_count()
                .values_list("pk", "created_at", "feed_unread_count")
            )
            for pk, created_at, unread in found:
                rows[pk], count = created_at, unread
        if cursor is not None:
            rows.update(_rows_above(visible, cursor))
        ordered = sorted(rows.items(), key=lambda item: (item[1], sort_key(item[0])))
        if count is None and (ordered or need_count):
            count = manager.unread_count(user)
        return ordered, count
    finally:
        release_connections()
