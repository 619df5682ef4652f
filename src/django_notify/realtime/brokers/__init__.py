"""Brokers: how a message published in one place reaches the streams subscribed to it.

``DJANGO_NOTIFY["REALTIME_BROKER"]`` picks one: ``"inprocess"`` (fan-out inside one
process, the embedded default), ``"redis"`` (Redis pub/sub, across every web process and
Celery worker), or a dotted path to a :class:`Broker` subclass.

- :mod:`.base`: the :class:`Broker` interface, :class:`Listener` (one stream's queue),
  :class:`BrokerUnavailable`.
- :mod:`.in_process`: :class:`InProcessBroker`.
- :mod:`.redis`: :class:`RedisBroker` (needs the ``realtime`` extra).

``django_notify.realtime.brokers.Broker``, ``.InProcessBroker`` and ``.RedisBroker`` are
the dotted paths settings and subclasses use.
"""

from __future__ import annotations

import threading

from ...conf import app_settings
from ...loading import load_class
from .base import QUEUE_LIMIT, Broker, BrokerUnavailable, Listener
from .in_process import InProcessBroker
from .redis import RedisBroker

__all__ = [
    "QUEUE_LIMIT",
    "Broker",
    "BrokerUnavailable",
    "InProcessBroker",
    "Listener",
    "RedisBroker",
    "get_broker",
    "reset_brokers",
]

_brokers: dict[tuple[str, str, str], Broker] = {}
_brokers_lock = threading.Lock()


def get_broker() -> Broker:
    """The broker ``DJANGO_NOTIFY["REALTIME_BROKER"]`` names (one instance per setting
    value, so ``override_settings`` in tests gets its own)."""
    path = app_settings.REALTIME_BROKER
    key = (path, app_settings.REDIS_URL, app_settings.REALTIME_CHANNEL_PREFIX)
    with _brokers_lock:
        broker = _brokers.get(key)
        if broker is None:
            setting = 'DJANGO_NOTIFY["REALTIME_BROKER"]'
            broker = load_class(path, base=Broker, setting=setting)()
            # Redis pub/sub ignores the database number: two sites sharing a server
            # keep apart by prefix (REALTIME_CHANNEL_PREFIX).
            broker.channel_prefix = app_settings.REALTIME_CHANNEL_PREFIX
            _brokers[key] = broker
    return broker


def reset_brokers() -> None:
    """Close and forget every broker instance (tests)."""
    with _brokers_lock:
        brokers = list(_brokers.values())
        _brokers.clear()
    for broker in brokers:
        broker.close()
