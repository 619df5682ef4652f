"""The broker interface, and the queue through which a broker hands messages to one stream.

Publishing is synchronous and thread-safe (signals fire in sync code, in any thread).
Subscribing is asynchronous: a :class:`Listener` belongs to the event loop that created
it and hands messages to its stream through an ``asyncio.Queue``.

Channels (``REALTIME_CHANNEL_PREFIX``, default ``django_notify``, keeps two sites sharing
one Redis server from hearing each other — Redis pub/sub ignores the database number)::

    django_notify:user:<pk>  django_notify:team:<key>  django_notify:org:<key>
    django_notify:system
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Collection, Iterable, Sequence
from typing import Any

from ..framing import RESYNC_BROKER_MESSAGE, BrokerMessage

logger = logging.getLogger("django_notify.realtime")

#: Messages a listener holds for a stream that is not reading (a stalled client).
#: Beyond it the queue is replaced by one RESYNC: the stream catches up from the database.
QUEUE_LIMIT = 1000


class BrokerUnavailable(Exception):
    """The broker cannot be reached (Redis is down). Publishing logs and drops the message;
    the stream view answers "unavailable" so the widget polls instead."""


class Listener:
    """One stream's end of the broker: the messages published to a set of channels.

    ``deliver()`` may be called from any thread; ``get()`` and ``drain()`` from the
    listener's event loop only. ``close()`` is idempotent and thread-safe.
    """

    def __init__(self, channels: Iterable[str], loop: asyncio.AbstractEventLoop):
        self.channels = frozenset(channels)
        self.loop = loop
        self._queue: asyncio.Queue[BrokerMessage] = asyncio.Queue()
        self._closed = False
        self._on_close: list[Any] = []

    @property
    def closed(self) -> bool:
        return self._closed

    def deliver(self, message: BrokerMessage) -> None:
        """Queue ``message`` for the stream (thread-safe)."""
        if self._closed:
            return
        try:
            self.loop.call_soon_threadsafe(self._put, message)
        except RuntimeError:  # the loop is closed: its stream is gone
            self.close()

    def _put(self, message: BrokerMessage) -> None:
        if self._closed:
            return
        if self._queue.qsize() >= QUEUE_LIMIT:
            # A stalled reader: forget what it missed, tell it to re-read the database.
            self.drain()
            message = RESYNC_BROKER_MESSAGE
        self._queue.put_nowait(message)

    async def get(self, timeout: float | None = None) -> BrokerMessage | None:
        """The next message, or ``None`` after ``timeout`` seconds."""
        try:
            async with asyncio.timeout(timeout):
                return await self._queue.get()
        except TimeoutError:
            return None

    def drain(self) -> list[BrokerMessage]:
        """Every message already queued, without waiting."""
        messages = []
        while True:
            try:
                messages.append(self._queue.get_nowait())
            except asyncio.QueueEmpty:
                return messages

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        callbacks, self._on_close = self._on_close, []
        for callback in callbacks:
            try:
                callback(self)
            except Exception:
                logger.exception("closing a real-time subscription failed")

    def on_close(self, callback) -> None:
        self._on_close.append(callback)


class Broker:
    """The interface. Subclasses implement :meth:`publish_many` and :meth:`subscribe`."""

    channel_prefix = "django_notify"

    # --- channel names ---
    def user_channel(self, pk: Any) -> str:
        return f"{self.channel_prefix}:user:{pk}"

    def team_channel(self, key: Any) -> str:
        return f"{self.channel_prefix}:team:{key}"

    def organization_channel(self, key: Any) -> str:
        return f"{self.channel_prefix}:org:{key}"

    def system_channel(self) -> str:
        return f"{self.channel_prefix}:system"

    # --- publishing (sync, any thread) ---
    def publish(self, channel: str, message: BrokerMessage) -> None:
        self.publish_many([(channel, message)])

    def publish_many(self, items: Sequence[tuple[str, BrokerMessage]]) -> None:
        """Publish every ``(channel, message)``; raise :class:`BrokerUnavailable` if the
        broker cannot be reached."""
        raise NotImplementedError

    def listened_channels(self) -> Collection[str] | None:
        """The channels somebody listens to, when the broker knows them all (the
        in-process broker: its listeners are this process's streams); None when it
        cannot tell (a shared broker: another process may listen to any channel).
        Publishers skip the messages nobody would receive."""
        return None

    # --- subscribing (async, in the stream's event loop) ---
    async def subscribe(self, channels: Iterable[str]) -> Listener:
        """A listener that receives every message published to ``channels`` from the
        moment this returns. Raise :class:`BrokerUnavailable` if it cannot be set up."""
        raise NotImplementedError

    def close(self) -> None:
        """Release connections (tests, process shutdown)."""
