"""``REALTIME_BROKER = "redis"``: Redis pub/sub, across every web process and Celery worker.

redis is an optional extra (``django-notify-kit[realtime]``): it is imported when a
:class:`RedisBroker` is created, so importing this module never needs it.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Iterable, Sequence

from ...conf import app_settings
from ...exceptions import NotifyConfigurationError
from ..framing import RESYNC_BROKER_MESSAGE, BrokerMessage
from .base import Broker, BrokerUnavailable, Listener

logger = logging.getLogger("django_notify.realtime")


def _redis():
    try:
        import redis
        import redis.asyncio
    except ImportError as exc:
        raise NotifyConfigurationError(
            'DJANGO_NOTIFY["REALTIME_BROKER"] = "redis" needs the redis package: '
            'pip install "django-notify-kit[realtime]"'
        ) from exc
    return redis


class RedisBroker(Broker):
    """Redis pub/sub. Publishing uses one synchronous client (a thread-safe connection
    pool); every process that streams keeps ONE subscriber connection per event loop,
    shared by all its streams (see :class:`_RedisHub`), not one per open stream.

    ``url`` defaults to ``DJANGO_NOTIFY["REDIS_URL"]``.
    """

    #: Seconds to connect and to wait for an answer: a dead Redis must not hold a
    #: request that just committed its notifications for long.
    socket_timeout = 2.0
    #: After a failed publish, skip publishing for this long (logging once) instead of
    #: paying the connect timeout on every send while Redis is down.
    backoff_after_failure = 5.0
    #: An idle subscriber connection sends a PING this often and is re-established when
    #: the answer does not come within another interval (half-open TCP connections).
    health_interval = 15.0

    @property
    def subscriber_name(self) -> str:
        """CLIENT SETNAME of the subscriber connections, to find them in CLIENT LIST."""
        return f"{self.channel_prefix}.stream"

    def __init__(self, url: str | None = None) -> None:
        self.url = url or app_settings.REDIS_URL
        self._redis = _redis()
        self._client = None
        self._client_lock = threading.Lock()
        self._down_until = 0.0
        self._hubs: dict[asyncio.AbstractEventLoop, _RedisHub] = {}
        self._hubs_lock = threading.Lock()

    # --- publishing ---
    def _sync_client(self):
        with self._client_lock:
            if self._client is None:
                self._client = self._redis.Redis.from_url(
                    self.url,
                    socket_timeout=self.socket_timeout,
                    socket_connect_timeout=self.socket_timeout,
                    health_check_interval=30,
                )
            return self._client

    def publish_many(self, items: Sequence[tuple[str, BrokerMessage]]) -> None:
        if not items:
            return
        if time.monotonic() < self._down_until:
            raise BrokerUnavailable(f"Redis at {self.url} failed recently; not retrying yet")
        try:
            # One round trip for a whole fan-out, not one per channel.
            pipe = self._sync_client().pipeline(transaction=False)
            for channel, message in items:
                pipe.publish(channel, message.encode())
            pipe.execute()
        except self._redis.RedisError as exc:
            self._down_until = time.monotonic() + self.backoff_after_failure
            raise BrokerUnavailable(f"Redis at {self.url}: {exc}") from exc

    # --- subscribing ---
    async def subscribe(self, channels: Iterable[str]) -> Listener:
        loop = asyncio.get_running_loop()
        with self._hubs_lock:
            hub = self._hubs.get(loop)
            if hub is None:
                hub = self._hubs[loop] = _RedisHub(self, loop)
        listener = Listener(channels, loop)
        await hub.add(listener)
        return listener

    def _forget(self, hub: _RedisHub) -> None:
        with self._hubs_lock:
            if self._hubs.get(hub.loop) is hub:
                del self._hubs[hub.loop]

    def _async_client(self):
        from redis.asyncio.retry import Retry
        from redis.backoff import NoBackoff

        # No silent retries inside redis-py: the hub reconnects itself so it knows when
        # messages may have been missed and can tell its streams to catch up.
        return self._redis.asyncio.Redis.from_url(
            self.url,
            socket_connect_timeout=self.socket_timeout,
            socket_keepalive=True,
            retry=Retry(NoBackoff(), 0),
            client_name=self.subscriber_name,
        )

    def close(self) -> None:
        with self._client_lock:
            if self._client is not None:
                self._client.close()
                self._client = None


class _RedisHub:
    """One process's (one event loop's) subscriber connection, shared by every stream.

    Channels are reference-counted: the first stream needing a channel SUBSCRIBEs (and
    waits for Redis to confirm, so nothing published afterwards is missed), the last
    one leaving UNSUBSCRIBEs; with no stream left the connection is closed. One reader
    task fans messages out. When the connection breaks, the reader reconnects with
    backoff, re-subscribes every channel and sends each stream a RESYNC: the stream
    re-reads the database for what it may have missed.
    """

    def __init__(self, broker: RedisBroker, loop: asyncio.AbstractEventLoop):
        self.broker = broker
        self.loop = loop
        self.channels: dict[str, set[Listener]] = {}
        self.lock = asyncio.Lock()
        self.client = None
        self.pubsub = None
        self.reader: asyncio.Task | None = None
        self.confirmations: dict[str, asyncio.Future] = {}
        self._tasks: set[asyncio.Task] = set()

    async def add(self, listener: Listener) -> None:
        async with self.lock:
            new = sorted(c for c in listener.channels if c not in self.channels)
            for channel in listener.channels:
                self.channels.setdefault(channel, set()).add(listener)
            try:
                waiting = await self._subscribe(new) if new else []
            except BaseException:
                self._discard(listener)
                await self._stop_if_idle()
                raise
        listener.on_close(self._closed)
        if waiting:
            try:
                await asyncio.wait_for(asyncio.gather(*waiting), timeout=self.broker.socket_timeout)
            except BaseException as exc:
                listener.close()
                if isinstance(exc, TimeoutError):
                    raise BrokerUnavailable("Redis did not confirm the subscription") from exc
                raise

    async def _subscribe(self, channels: list[str]) -> list[asyncio.Future]:
        """SUBSCRIBE ``channels``; futures that resolve when Redis confirms each."""
        waiting = []
        for channel in channels:
            future = self.confirmations.get(channel)
            if future is None or future.done():
                future = self.confirmations[channel] = self.loop.create_future()
            waiting.append(future)
        fresh = self.pubsub is None
        try:
            if fresh:
                await self._connect(channels)
            else:
                await self.pubsub.subscribe(*channels)
        except (self.broker._redis.RedisError, OSError) as exc:
            for channel in channels:
                self.confirmations.pop(channel, None)
            if fresh:
                await self._disconnect()
            # else: other streams share the connection; if it is broken, the reader
            # notices, reconnects with the channels still wanted and resyncs them.
            raise BrokerUnavailable(f"Redis at {self.broker.url}: {exc}") from exc
        return waiting

    async def _connect(self, channels: Iterable[str]) -> None:
        """A new connection subscribed to ``channels``, and the reader task. Subscribing
        before the reader starts: the first SUBSCRIBE must not race a pending read."""
        self.client = self.broker._async_client()
        self.pubsub = self.client.pubsub()
        await self.pubsub.subscribe(*channels)
        self.reader = self.loop.create_task(self._read(self.pubsub))

    async def _disconnect(self) -> None:
        reader, self.reader = self.reader, None
        if reader is not None and reader is not asyncio.current_task():
            reader.cancel()
        pubsub, client, self.pubsub, self.client = self.pubsub, self.client, None, None
        for closeable in (pubsub, client):
            if closeable is not None:
                try:
                    await closeable.aclose()
                except Exception:
                    logger.debug("closing a Redis subscriber connection failed", exc_info=True)

    def _closed(self, listener: Listener) -> None:
        """A stream went away (any thread): release its channels on the hub's loop."""
        if self.loop.is_closed():
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is self.loop:
            self._spawn(self._remove(listener))
        else:
            self.loop.call_soon_threadsafe(self._spawn, self._remove(listener))

    def _spawn(self, coroutine) -> None:
        task = self.loop.create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _discard(self, listener: Listener) -> list[str]:
        gone = []
        for channel in listener.channels:
            members = self.channels.get(channel)
            if members is None:
                continue
            members.discard(listener)
            if not members:
                del self.channels[channel]
                gone.append(channel)
        return gone

    async def _remove(self, listener: Listener) -> None:
        async with self.lock:
            gone = self._discard(listener)
            if not self.channels:
                await self._stop_if_idle()
            elif gone and self.pubsub is not None:
                try:
                    await self.pubsub.unsubscribe(*gone)
                except self.broker._redis.RedisError:
                    # The reader notices the broken connection and reconnects with the
                    # channels still wanted; these are simply not among them.
                    logger.debug("UNSUBSCRIBE failed", exc_info=True)

    async def _stop_if_idle(self) -> None:
        if not self.channels:
            await self._disconnect()
            self.confirmations.clear()
            self.broker._forget(self)

    async def _read(self, pubsub) -> None:
        redis = self.broker._redis
        delay = 0.2
        while True:
            try:
                await self._read_until_broken(pubsub)
                return
            except asyncio.CancelledError:
                raise
            except (redis.RedisError, OSError) as exc:
                logger.warning("Redis subscriber connection lost (%s); reconnecting", exc)
            # Reconnect with backoff, under the lock so no stream subscribes meanwhile.
            while True:
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
                async with self.lock:
                    if not self.channels or self.pubsub is not pubsub:
                        return  # every stream left, or a newer connection took over
                    try:
                        await pubsub.aclose()
                    except Exception:
                        logger.debug("closing the broken connection failed", exc_info=True)
                    client = self.broker._async_client()
                    try:
                        fresh = client.pubsub()
                        await fresh.subscribe(*self.channels)
                    except (redis.RedisError, OSError) as exc:
                        logger.warning("Redis still unreachable (%s)", exc)
                        await client.aclose()
                        continue
                    old_client, self.client, self.pubsub = self.client, client, fresh
                    pubsub = fresh
                    if old_client is not None:
                        await old_client.aclose()
                    delay = 0.2
                    # Whatever was published while we were away is in the database:
                    # every stream re-reads it.
                    for listener in {s for subs in self.channels.values() for s in subs}:
                        listener.deliver(RESYNC_BROKER_MESSAGE)
                    break

    async def _read_until_broken(self, pubsub) -> None:
        interval = self.broker.health_interval
        pinged = False
        while True:
            message = await pubsub.get_message(timeout=interval)
            if message is None:
                if pinged:
                    raise self.broker._redis.ConnectionError(
                        f"no answer to PING within {interval:g}s"
                    )
                await pubsub.ping()
                pinged = True
                continue
            pinged = False
            kind = message["type"]
            if kind == "message":
                channel = message["channel"].decode()
                decoded = BrokerMessage.decode(message["data"])
                if decoded is None:
                    logger.warning("ignored a malformed message on %s", channel)
                    continue
                for listener in tuple(self.channels.get(channel, ())):
                    listener.deliver(decoded)
            elif kind == "subscribe":
                future = self.confirmations.pop(message["channel"].decode(), None)
                if future is not None and not future.done():
                    future.set_result(True)
