"""``REALTIME_BROKER = "inprocess"``: fan-out inside one process, the embedded default."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterable, Sequence

from ..framing import BrokerMessage
from .base import Broker, Listener


class InProcessBroker(Broker):
    """Fan-out inside one process: enough for one web process (``runserver``, a single
    uvicorn/daphne worker). Messages published by another process (a Celery worker,
    a second web worker) never arrive here: use :class:`~.redis.RedisBroker` for that."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._listeners: dict[str, set[Listener]] = {}

    def publish_many(self, items: Sequence[tuple[str, BrokerMessage]]) -> None:
        with self._lock:
            targets = [(message, tuple(self._listeners.get(ch, ()))) for ch, message in items]
        for message, listeners in targets:
            for listener in listeners:
                listener.deliver(message)

    def listened_channels(self) -> frozenset[str]:
        with self._lock:
            return frozenset(self._listeners)

    async def subscribe(self, channels: Iterable[str]) -> Listener:
        listener = Listener(channels, asyncio.get_running_loop())
        with self._lock:
            for channel in listener.channels:
                self._listeners.setdefault(channel, set()).add(listener)
        listener.on_close(self._remove)
        return listener

    def _remove(self, listener: Listener) -> None:
        with self._lock:
            for channel in listener.channels:
                listeners = self._listeners.get(channel)
                if listeners is not None:
                    listeners.discard(listener)
                    if not listeners:
                        del self._listeners[channel]

    def subscriber_count(self, channel: str) -> int:
        with self._lock:
            return len(self._listeners.get(channel, ()))
