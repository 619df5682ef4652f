"""The signal receivers that push notification ids to the broker, after commit, never
raising into the caller. ``connect()`` (from ``AppConfig.ready()``) connects them.

- ``notification_published(notification_ids)`` (sent on commit for new rows): the rows'
  scopes are read in one query per 1,000 ids and one message per channel goes out —
  ``user:<recipient>``, ``team:<key>``, ``org:<key>`` or ``system``.
- ``notification_read`` / ``notification_dismissed`` (one row) and
  ``notifications_read`` / ``notifications_dismissed`` (one bulk call, with its ids):
  buffered per transaction and pushed on commit as one message per user and event,
  so ``mark_all_read`` of any number of rows is one message. A message for a whole-feed
  change (``everything``) carries no ids, only the flag: the stream sends the new count
  and the page marks every row. A rolled-back transaction (or savepoint) pushes
  nothing.

A failed push is logged and dropped: the feed is the source of truth, and a stream
that missed a push still shows the right count on its next event or reconnect.
"""

from __future__ import annotations

import logging
import threading
from collections import defaultdict
from collections.abc import Collection, Iterable, Sequence
from operator import attrgetter, itemgetter
from typing import Any

from django.db import DEFAULT_DB_ALIAS, router, transaction
from django.db.models import Model

from .. import signals
from ..loading import get_notification_model
from ..published import DirectPublished
from ..types import Scope
from .brokers import BrokerUnavailable, get_broker
from .framing import DISMISSED, NOTIFICATION, READ, BrokerMessage

logger = logging.getLogger("django_notify.realtime")

#: Ids per routing query: well below SQLite's host-parameter limit.
LOOKUP_CHUNK = 1000


def push(items: Sequence[tuple[str, BrokerMessage]]) -> bool:
    """Hand ``(channel, message)`` pairs to the configured broker now. Never raises;
    returns whether the broker took them."""
    if not items:
        return True
    try:
        get_broker().publish_many(items)
        return True
    except BrokerUnavailable as exc:
        logger.warning("real-time publish of %d message(s) dropped: %s", len(items), exc)
    except Exception:
        logger.exception("real-time publish of %d message(s) failed", len(items))
    return False


_ROUTING = ("pk", "scope", "recipient_id", "team_key", "organization_key")
_routing_of = attrgetter(*_ROUTING)  # one C call per row: a fan-out routes 10,000 at once
_USER, _TEAM, _ORGANIZATION = Scope.USER.value, Scope.TEAM.value, Scope.ORGANIZATION.value


def _routing(model, ids: list[Any], notifications: Sequence[Any]) -> Iterable[tuple]:
    """(pk, scope, recipient, team, organization) of each row: from the rows when the
    sender passed them, else read in one query per 1,000 ids."""
    if notifications:
        first = notifications[0]
        if getattr(type(first), "_fields", None) == _ROUTING:
            # Named tuples of exactly these fields (what the write path announces).
            return notifications
        if isinstance(first, Model):
            # A loaded row holds the values in its __dict__: read there in one C call,
            # without the fields' descriptors (four of the five are tracked fields,
            # whose descriptor is Python). A row missing one (deferred) reads them
            # through the model.
            loaded = itemgetter(model._meta.pk.attname, *_ROUTING[1:])
            try:
                return list(map(loaded, map(vars, notifications)))
            except KeyError:
                pass
        return list(map(_routing_of, notifications))
    return _read_routing(model, ids)


def _read_routing(model, ids: list[Any]):
    for start in range(0, len(ids), LOOKUP_CHUNK):
        chunk = ids[start : start + LOOKUP_CHUNK]
        yield from model._default_manager.filter(pk__in=chunk).order_by().values_list(*_ROUTING)


def route(
    model,
    notification_ids: Iterable[Any],
    notifications: Sequence[Any] = (),
    *,
    only: Collection[str] | None = None,
) -> list[tuple[str, BrokerMessage]]:
    """One ``notification`` message per channel the rows are addressed to; with
    ``only``, per channel among those (the ones someone listens to)."""
    if only is not None and not only:
        return []
    broker = get_broker()
    user_channel = broker.user_channel
    per_channel: dict[str, list[Any]] = defaultdict(list)
    if isinstance(notifications, DirectPublished):
        # A fan-out's columns: every row is direct, so only the recipient routes it.
        for pk, recipient_id in zip(notifications.pks, notifications.recipient_ids, strict=True):
            per_channel[user_channel(recipient_id)].append(pk)
    else:
        ids = [] if notifications else list(dict.fromkeys(notification_ids))
        for pk, scope, recipient_id, team_key, organization_key in _routing(
            model, ids, notifications
        ):
            if scope == _USER:
                channel = user_channel(recipient_id)
            elif scope == _TEAM:
                channel = broker.team_channel(team_key)
            elif scope == _ORGANIZATION:
                channel = broker.organization_channel(organization_key)
            else:
                channel = broker.system_channel()
            per_channel[channel].append(pk)
    return [
        (channel, BrokerMessage(NOTIFICATION, tuple(pks)))
        for channel, pks in per_channel.items()
        if only is None or channel in only
    ]


def push_notifications(
    model, notification_ids: Iterable[Any], notifications: Sequence[Any] = ()
) -> None:
    """Route and push new rows now. Never raises. A broker that knows its listeners
    (the in-process one) gets messages only for those: a fan-out to ten thousand users
    nobody in this process is watching costs no routing at all."""
    try:
        broker = get_broker()
        items = route(model, notification_ids, notifications, only=broker.listened_channels())
    except Exception:
        logger.exception("routing new notifications for real-time push failed")
        return
    push(items)


# --- receivers ------------------------------------------------------------------------------


def on_notification_published(sender, notification_ids=(), notifications=(), **kwargs) -> None:
    """New rows are committed (the signal is sent on commit). If a host sends the signal
    inside a transaction of its own, the push still waits for that commit."""
    ids = list(notification_ids or ())
    if not ids:
        return
    try:
        # A fan-out's view is immutable; anything else is copied as it is now.
        rows = (
            notifications
            if isinstance(notifications, DirectPublished)
            else list(notifications or ())
        )
        transaction.on_commit(lambda: push_notifications(sender, ids, rows), robust=True)
    except Exception:
        logger.exception("scheduling a real-time publish failed")


class _StateBuffer:
    """The read/dismiss changes of one transaction (one savepoint level of it)."""

    def __init__(self, alias: str) -> None:
        self.alias = alias
        # dicts as ordered sets: adding is O(1), whatever the number of rows.
        self.changes: dict[tuple[Any, str], dict[Any, None]] = defaultdict(dict)
        self.everything: set[tuple[Any, str]] = set()

        # One function object per buffer, so the buffer can tell whether its callback
        # is still pending in the connection (a rollback removes it).
        def flush() -> None:
            self.flush()

        self.callback = flush

    def add(self, user_pk: Any, event: str, notification_pks: Iterable[Any], everything: bool):
        key = (user_pk, event)
        if everything:
            self.everything.add(key)
            self.changes.setdefault(key, {})
        elif key not in self.everything:
            self.changes[key].update(dict.fromkeys(notification_pks))

    def pending(self) -> bool:
        connection = transaction.get_connection(self.alias)
        return any(entry[1] is self.callback for entry in connection.run_on_commit)

    def flush(self) -> None:
        _forget(self)
        push(_state_messages(self.changes, self.everything))


def _state_messages(
    changes: dict[tuple[Any, str], Iterable[Any]], everything: set[tuple[Any, str]] = frozenset()
) -> list[tuple[str, BrokerMessage]]:
    try:
        broker = get_broker()
    except Exception:
        logger.exception("the real-time broker is misconfigured")
        return []
    return [
        (
            broker.user_channel(user_pk),
            BrokerMessage(event, everything=True)
            if (user_pk, event) in everything
            else BrokerMessage(event, tuple(pks)),
        )
        for (user_pk, event), pks in changes.items()
    ]


_local = threading.local()


def _buffers() -> dict[tuple[str, tuple[str, ...]], _StateBuffer]:
    buffers = getattr(_local, "buffers", None)
    if buffers is None:
        buffers = _local.buffers = {}
    return buffers


def _forget(buffer: _StateBuffer) -> None:
    buffers = _buffers()
    for key, value in list(buffers.items()):
        if value is buffer:
            del buffers[key]


def _buffer_for(alias: str) -> _StateBuffer:
    """The pending buffer of the current transaction at its current savepoint level.

    Keyed by the savepoint ids, because Django drops on-commit callbacks registered
    inside a savepoint that rolls back: a buffer per level rolls back with its level.
    """
    connection = transaction.get_connection(alias)
    key = (alias, tuple(connection.savepoint_ids))
    buffers = _buffers()
    buffer = buffers.get(key)
    if buffer is not None and buffer.pending():
        return buffer
    # Left behind by rolled-back transactions on this thread: drop them.
    for stale_key, stale in list(buffers.items()):
        if stale_key[0] == alias and not stale.pending():
            del buffers[stale_key]
    buffer = buffers[key] = _StateBuffer(alias)
    transaction.on_commit(buffer.callback, using=alias, robust=True)
    return buffer


def _state_changed(
    event: str, user, notification_pks: Sequence[Any], *, alias: str, everything: bool = False
) -> None:
    try:
        if not transaction.get_connection(alias).in_atomic_block:
            key = (user.pk, event)
            push(_state_messages({key: notification_pks}, {key} if everything else set()))
            return
        _buffer_for(alias).add(user.pk, event, notification_pks, everything)
    except Exception:
        logger.exception("queueing a real-time %s event failed", event)


def _alias(notification) -> str:
    return getattr(notification._state, "db", None) or DEFAULT_DB_ALIAS


def on_notification_read(sender, notification=None, user=None, **kwargs) -> None:
    if notification is not None and user is not None:
        _state_changed(READ, user, [notification.pk], alias=_alias(notification))


def on_notification_dismissed(sender, notification=None, user=None, **kwargs) -> None:
    if notification is not None and user is not None:
        _state_changed(DISMISSED, user, [notification.pk], alias=_alias(notification))


def on_notifications_read(sender, user=None, notification_ids=(), everything=False, **kwargs):
    if user is not None:
        alias = kwargs.get("using") or router.db_for_write(sender)
        _state_changed(READ, user, notification_ids, alias=alias, everything=everything)


def on_notifications_dismissed(
    sender, user=None, notification_ids=(), everything=False, **kwargs
) -> None:
    if user is not None:
        alias = kwargs.get("using") or router.db_for_write(sender)
        _state_changed(DISMISSED, user, notification_ids, alias=alias, everything=everything)


def connect() -> None:
    """Connect the receivers (``AppConfig.ready()``), for the active notification model."""
    model = get_notification_model()
    signals.notification_published.connect(
        on_notification_published, sender=model, dispatch_uid="django_notify.realtime.published"
    )
    signals.notification_read.connect(
        on_notification_read, sender=model, dispatch_uid="django_notify.realtime.read"
    )
    signals.notification_dismissed.connect(
        on_notification_dismissed, sender=model, dispatch_uid="django_notify.realtime.dismissed"
    )
    signals.notifications_read.connect(
        on_notifications_read, sender=model, dispatch_uid="django_notify.realtime.bulk_read"
    )
    signals.notifications_dismissed.connect(
        on_notifications_dismissed,
        sender=model,
        dispatch_uid="django_notify.realtime.bulk_dismissed",
    )
