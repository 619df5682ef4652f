"""The in-app channel: the notification row *is* the delivery.

Nothing is written per member of a broadcast. What this channel adds is the real-time
hook: after the row commits, :func:`publish` hands its id to the publisher named by
``DJANGO_NOTIFY["REALTIME_PUBLISHER"]`` (a callable taking ``notification_ids``) and sends
the :data:`~django_notify.signals.notification_published` signal, from whichever process
created the row (a web request or a Celery worker).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from typing import Any

from django.utils.module_loading import import_string

from .. import signals
from ..conf import app_settings
from ..loading import get_notification_model
from ..published import DirectPublished, published_ids
from .base import BaseChannel, Message

logger = logging.getLogger("django_notify.channels.in_app")


class InAppChannel(BaseChannel):
    label = "In-app"
    supports_html = True
    supports_digest = False
    per_user_address = False
    delivers_by_row = True

    def announce(self, notifications: Sequence[Any]) -> None:
        """Push the new rows to live clients (ids only, routed from the rows)."""
        publish(published_ids(notifications), notifications=notifications)

    def build_payload(self, message: Message) -> list[Any]:
        return [message.notification.pk] if message.notification is not None else []

    def transmit(self, payload: list[Any], message: Message) -> dict:
        publish(payload)
        return {"published": payload}


def publish(notification_ids: Iterable[Any], *, notifications: Sequence[Any] = ()) -> None:
    """Announce new rows to live clients, ids only. ``notifications``: the rows, when the
    caller holds them, so receivers route without reading them again. Never raises: the
    feed is the source of truth and a client that missed a push catches up on its next
    read."""
    ids = list(notification_ids)
    if not ids:
        return
    model = get_notification_model()
    if not isinstance(notifications, DirectPublished):  # a view is immutable as it is
        notifications = list(notifications)
    try:
        signals.notification_published.send(
            sender=model, notification_ids=ids, notifications=notifications
        )
        path = app_settings.REALTIME_PUBLISHER
        if path:
            import_string(path)(notification_ids=ids)
    except Exception:
        logger.exception("publishing %d notification(s) failed", len(ids))
