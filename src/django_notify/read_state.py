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

from django.db import transaction
from django.utils import timezone

from . import signals
from .exceptions import NotVisible
from .types import Scope

_SIGNALS = {"read_at": signals.notification_read, "dismissed_at": signals.notification_dismissed}
_CHUNK = 500


def _receipt_model():
    from .models import NotificationReceipt

    return NotificationReceipt


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
    Receipt = _receipt_model()
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


def mark_many(visible, user, field: str) -> int:
    """Set ``field`` (read_at or dismissed_at) on every row of a visible_to() queryset."""
    now = timezone.now()
    model = visible.model
    targets = visible.filter(user_read_at__isnull=True) if field == "read_at" else visible
    with transaction.atomic():
        rows = list(targets.values_list("pk", "scope"))
        direct = [pk for pk, scope in rows if scope == Scope.USER]
        broadcast = [pk for pk, scope in rows if scope != Scope.USER]
        changed: list[Any] = []
        for chunk in _chunks(direct):
            pending = model._default_manager.select_for_update().filter(
                pk__in=chunk, **{f"{field}__isnull": True}
            )
            ids = list(pending.values_list("pk", flat=True))
            model._default_manager.filter(pk__in=ids).update(**{field: now})
            changed.extend(ids)
        changed.extend(_set_receipts(broadcast, user, field, now))
        signal = _SIGNALS[field]
        if changed and signal.has_listeners(model):
            for chunk in _chunks(changed):
                _send(field, model._default_manager.filter(pk__in=chunk), user)
    return len(changed)
