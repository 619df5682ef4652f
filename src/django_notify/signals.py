"""Signals sent by django-notify.

Each is sent once per real change: marking an already-read notification read again
sends nothing. ``sender`` is the concrete notification model class for the notification
and event signals, and :class:`~django_notify.models.Delivery` for the delivery ones.
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
#: ``notifications`` (the created rows: a list, or for an audience larger than
#: ``BULK_BATCH_SIZE`` a sequence that reads them back in chunks as it is iterated).
event_processed = Signal()

#: A rule sync created subscriptions. kwargs: ``notification_type``, ``subscriptions``.
subscriptions_created_by_rule = Signal()

#: A rule sync removed subscriptions. kwargs: ``notification_type``, ``subscriptions``.
subscriptions_removed_by_rule = Signal()

#: New notification rows committed (for real-time push). kwargs: ``notification_ids``,
#: and ``notifications``: the rows themselves when the sender holds them (empty
#: otherwise), so a receiver can route them without reading them again. For an event's
#: audience larger than ``BULK_BATCH_SIZE`` each item carries only ``pk``, ``scope``,
#: ``recipient_id``, ``team_key`` and ``organization_key``.
notification_published = Signal()

#: A delivery is about to be sent (inside the sending worker). Raise
#: :class:`~django_notify.exceptions.DeliveryCancelled` to cancel it (marked ``skipped``).
#: kwargs: ``delivery``, ``message``.
pre_send = Signal()

#: A delivery (or a digest's deliveries) was sent. kwargs: ``delivery``, ``result``.
delivery_sent = Signal()

#: A delivery attempt failed. kwargs: ``delivery``, ``error``, ``will_retry`` (False
#: when the delivery is now ``dead``).
delivery_failed = Signal()

#: Several notifications were marked read in one call (``mark_all_read``,
#: ``mark_read_many``), sent once per call inside its transaction. kwargs: ``user``,
#: ``notification_ids`` (a tuple of the rows that changed), ``everything`` (True when
#: the call marked the whole feed), ``using`` (the database alias).
#: ``notification_read`` is not sent for these rows.
notifications_read = Signal()

#: Several notifications were dismissed in one call (``dismiss_all``, ``dismiss_many``).
#: kwargs as for ``notifications_read``.
notifications_dismissed = Signal()
