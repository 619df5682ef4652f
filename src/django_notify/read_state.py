"""Per-user read and dismiss state.

Direct rows carry ``read_at``/``dismissed_at`` themselves; broadcast rows get a
receipt per user, created only when that user acts. Every change is a conditional
update, so a second call (or a concurrent one) changes nothing and signals nothing.

``mark_read``/``mark_unread`` need the row in the user's feed (``visible_to``): a row
the user dismissed raises :class:`NotVisible` like any other row they cannot see.
``dismiss`` needs it addressed to the user only, so a repeated dismiss (a
double-clicked button) is a quiet no-op rather than an error.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from django.db import connections, router, transaction
from django.utils import timezone

from . import signals
from .exceptions import NotVisible
from .models.receipt import NotificationReceipt
from .types import Scope
from .visibility import BRANCH_ALIAS, FeedQuery, FeedSpec

_SIGNALS = {"read_at": signals.notification_read, "dismissed_at": signals.notification_dismissed}
_BULK_SIGNALS = {
    "read_at": signals.notifications_read,
    "dismissed_at": signals.notifications_dismissed,
}
_CHUNK = 500


def _chunks(items: list[Any], size: int = _CHUNK) -> Iterator[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _require(notification, user, *, dismissed_ok: bool) -> None:
    """The row is in the user's feed, or (``dismissed_ok``) was before they dismissed it."""
    manager = type(notification)._default_manager
    rows = manager.addressed_to(user) if dismissed_ok else manager.visible_to(user)
    if not rows.filter(pk=notification.pk).exists():
        raise NotVisible(f"Notification {notification.pk} is not visible to this user.")


def _set(notification, user, field: str, value) -> bool:
    """Set ``field`` for one user on one row; True if it changed."""
    with transaction.atomic():
        _require(notification, user, dismissed_ok=field == "dismissed_at")
        if notification.scope == Scope.USER:
            manager = type(notification)._default_manager
            lookup = {f"{field}__isnull": value is not None}
            changed = manager.filter(pk=notification.pk, **lookup).update(**{field: value})
            if changed:
                setattr(notification, field, value)
        else:
            changed = _set_receipts([notification.pk], user, field, value)
        if changed and value is not None:
            _send(field, [notification], user)
    return bool(changed)


def _set_receipts(ids: list[Any], user, field: str, value) -> list[Any]:
    """Set ``field`` on the user's receipts for ``ids`` (creating missing ones).

    Returns the notification ids whose state changed. Safe against a concurrent call
    for the same user: missing receipts are first inserted empty (a conflict with one
    the other call inserted is ignored), then every receipt of the chunk is locked and
    only those still in the old state are updated and reported, so a race changes and
    signals each row once.
    """
    Receipt = NotificationReceipt
    changed: list[Any] = []
    for chunk in _chunks(ids):
        if value is not None:
            # No receipt already means unread and not dismissed: mark_unread needs none.
            Receipt.objects.bulk_create(
                [Receipt(notification_id=pk, user=user) for pk in chunk], ignore_conflicts=True
            )
        mine = Receipt.objects.select_for_update().filter(user=user, notification_id__in=chunk)
        stale = [
            pk
            for pk, current in mine.values_list("notification_id", field)
            if (current is None) != (value is None)
        ]
        if stale:
            Receipt.objects.filter(user=user, notification_id__in=stale).update(**{field: value})
            changed.extend(stale)
    return changed


def _send(field: str, notifications: Iterable[Any], user) -> None:
    signal = _SIGNALS[field]
    for notification in notifications:
        signal.send(sender=type(notification), notification=notification, user=user)


def mark_read(notification, user) -> bool:
    return _set(notification, user, "read_at", timezone.now())


def mark_unread(notification, user) -> bool:
    return _set(notification, user, "read_at", None)


def dismiss(notification, user) -> bool:
    return _set(notification, user, "dismissed_at", timezone.now())


def mark_many(model, user, field: str, *, ids: Iterable[Any] | None = None, using=None) -> int:
    """Set ``field`` (``read_at`` or ``dismissed_at``) for ``user`` on every row of their
    feed that is not in that state yet, or only on those of ``ids``. Returns how many
    rows changed.

    A constant number of statements whatever the count: one ``UPDATE … RETURNING`` for
    the direct rows and one ``INSERT … SELECT … ON CONFLICT DO UPDATE … RETURNING`` for
    the broadcast receipts, both conditional on the old state, so a concurrent call
    changes (and reports) each row once. One bulk signal per call carries the ids.
    """
    if not (user is not None and getattr(user, "is_authenticated", False) and user.pk):
        return 0
    if ids is not None:
        ids = tuple(dict.fromkeys(ids))
        if not ids:
            return 0
    now = timezone.now()
    spec = FeedSpec.for_user(user, now, unread=field == "read_at", ids=ids)
    using = using or router.db_for_write(model)
    connection = connections[using]
    feed = FeedQuery(model, spec, connection)
    with transaction.atomic(using=using):
        if _writes_return_rows(connection):
            changed = _fetch_ids(connection, _direct_update(feed, field, now))
            changed += _fetch_ids(connection, _receipt_upsert(feed, field, now))
        else:
            changed = _mark_in_chunks(feed, field, now, user, using)
        if changed:
            _BULK_SIGNALS[field].send(
                sender=model,
                user=user,
                notification_ids=tuple(changed),
                everything=ids is None,
                using=using,
            )
    return len(changed)


def _writes_return_rows(connection) -> bool:
    """``UPDATE``/``INSERT … ON CONFLICT DO UPDATE`` with ``RETURNING``: PostgreSQL, and
    SQLite from 3.35. Other databases take the chunked path."""
    return connection.vendor in ("postgresql", "sqlite") and bool(
        connection.features.can_return_columns_from_insert
    )


def _fetch_ids(connection, statement: tuple[str, list[Any]]) -> list[Any]:
    sql, params = statement
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return [row[0] for row in cursor.fetchall()]


def _direct_update(feed: FeedQuery, field: str, now) -> tuple[str, list[Any]]:
    """``UPDATE`` the user's direct rows still in the old state, ``RETURNING`` their ids."""
    n, qn = feed.n, feed.connection.ops.quote_name
    where, params = feed.direct_where()
    column = qn(feed.model._meta.get_field(field).column)
    stamp = feed.connection.ops.adapt_datetimefield_value(now)
    return (
        f"UPDATE {n.table} AS {qn(BRANCH_ALIAS)} SET {column} = %s WHERE {where} "
        f"RETURNING {n.pk_column}",
        [stamp, *params],
    )


def _receipt_upsert(feed: FeedQuery, field: str, now) -> tuple[str, list[Any]]:
    """One receipt per broadcast row still in the old state: inserted with ``field`` set,
    or (a receipt left by ``mark_unread``) updated while ``field`` is still empty.
    ``RETURNING`` reports exactly the rows that changed."""
    n, qn = feed.n, feed.connection.ops.quote_name
    ids, ids_params = feed.broadcast_ids()
    meta = NotificationReceipt._meta
    notification, user, read_at, dismissed_at = (
        qn(meta.get_field(name).column)
        for name in ("notification", "user", "read_at", "dismissed_at")
    )
    column = read_at if field == "read_at" else dismissed_at
    stamp = feed.connection.ops.adapt_datetimefield_value(now)
    values = [feed.user, stamp, None] if field == "read_at" else [feed.user, None, stamp]
    # "WHERE 1 = 1": without a WHERE, SQLite reads "ON CONFLICT" as a join's ON.
    sql = (
        f"INSERT INTO {n.receipts} ({notification}, {user}, {read_at}, {dismissed_at}) "
        f"SELECT {qn('b')}.{n.pk_column}, %s, %s, %s FROM ({ids}) {qn('b')} WHERE 1 = 1 "
        f"ON CONFLICT ({notification}, {user}) DO UPDATE SET {column} = excluded.{column} "
        f"WHERE {n.receipts}.{column} IS NULL RETURNING {notification}"
    )
    return sql, [*values, *ids_params]


def _mark_in_chunks(feed: FeedQuery, field: str, now, user, using) -> list[Any]:
    """The same change for databases without ``RETURNING`` on writes: lock, re-check
    and update per chunk of 500 rows."""
    n, connection = feed.n, feed.connection
    manager = feed.model._base_manager.db_manager(using)
    changed: list[Any] = []
    where, params = feed.direct_where()
    direct = _fetch_ids(connection, (f"SELECT {n.pk} FROM {n.source} WHERE {where}", params))
    for chunk in _chunks(direct):
        pending = manager.select_for_update().filter(pk__in=chunk, **{f"{field}__isnull": True})
        locked = list(pending.values_list("pk", flat=True))
        manager.filter(pk__in=locked).update(**{field: now})
        changed.extend(locked)
    broadcast = _fetch_ids(connection, feed.broadcast_ids())
    changed.extend(_set_receipts(broadcast, user, field, now))
    return changed
