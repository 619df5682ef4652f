from __future__ import annotations

from ..conf import NOTIFICATION_MODEL_SETTING
from .base import AbstractNotification


class Notification(AbstractNotification):
    """The default notification model; swap it with ``DJANGO_NOTIFY_NOTIFICATION_MODEL``."""

    class Meta(AbstractNotification.Meta):
        swappable = NOTIFICATION_MODEL_SETTING
