"""Signals sent by django-notify.

Each is sent once per real change: marking an already-read notification read again
sends nothing. ``sender`` is always the concrete notification model class.
"""

from django.dispatch import Signal

#: A notification row was created. kwargs: ``notification``, ``created_by`` (the
#: sending user, or ``None`` for trusted host-code sends).
notification_created = Signal()

#: A user read a notification. kwargs: ``notification``, ``user``.
notification_read = Signal()

#: A user dismissed a notification. kwargs: ``notification``, ``user``.
notification_dismissed = Signal()

#: ``emit()`` recorded an event (sent inside the caller's transaction). kwargs: ``event``.
event_emitted = Signal()

#: An event was turned into notifications (sent after that commit). kwargs: ``event``,
#: ``notifications`` (the created rows).
event_processed = Signal()

#: A rule sync created subscriptions. kwargs: ``notification_type``, ``subscriptions``.
subscriptions_created_by_rule = Signal()

#: A rule sync removed subscriptions. kwargs: ``notification_type``, ``subscriptions``.
subscriptions_removed_by_rule = Signal()
