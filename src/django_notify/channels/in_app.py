"""The in-app channel: the notification row *is* the delivery.

Nothing is written per member of a broadcast. What this channel adds is the real-time
hook: after the row commits, :func:`publish` hands its id to the publisher named by
``DJANGO_NOTIFY["REALTIME_PUBLISHER"]`` (a callable taking ``notification_ids``) and sends
the :data:`~django_notify.signals.notification_published` signal, from whichever process
created the row (a web request or a Celery worker).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from django.utils.module_loading import import_string

from .. import signals
from ..conf import app_settings
from ..loading import get_notification_model
from .base import BaseChannel, Message

logger = logging.getLogger("django_notify.channels.in_app")


class InAppChannel(BaseChannel):
    label = "In-app"
    supports_html = True
    supports_digest = False
    per_user_address = False
    delivers_by_row = True

    def announce(self, notification_ids: list[Any]) -> None:
        """Push the new rows to live clients (ids only)."""
        publish(notification_ids)

    def build_payload(self, message: Message) -> list[Any]:
        return [message.notification.pk] if message.notification is not None else []

    def transmit(self, payload: list[Any], message: Message) -> dict:
        publish(payload)
        return {"published": payload}


def publish(notification_ids: Iterable[Any]) -> None:
    """Announce new rows to live clients, ids only. Never raises: the feed is the source
    of truth and a client that missed a push catches up on its next read."""
    ids = list(notification_ids)
    if not ids:
        return
    model = get_notification_model()
    try:
        signals.notification_published.send(sender=model, notification_ids=ids)
        path = app_settings.REALTIME_PUBLISHER
        if path:
            import_string(path)(notification_ids=ids)
    except Exception:
        logger.exception("publishing %d notification(s) failed", len(ids))
