"""``GET stream/``: one user's Server-Sent Events stream (docs/realtime.md).

Under ASGI the response streams: ``retry: 3000``, a ``count`` event, the catch-up of a
reconnecting client (``Last-Event-ID``), then live ``notification`` / ``read`` /
``dismissed`` events, ``: heartbeat`` comments when idle, and the end after
``SSE_MAX_SECONDS`` (the browser reconnects with its last event id). Under WSGI, or when
the broker is unreachable, it answers ``204`` with ``X-Notify-Stream: unavailable``: a
WSGI worker would be held for the whole stream, and EventSource does not reconnect after
a 204, so the widget falls back to polling.

Every notification id coming from the broker is re-checked against
``visible_to(user)`` before anything is sent, and the unread count is recomputed per
batch of messages, not per message.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Iterable
from typing import Any

from asgiref.sync import sync_to_async
from django.db import models
from django.http import HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.views.decorators.csrf import csrf_exempt

from ..api.auth import bearer_key
from ..conf import app_settings
from ..loading import get_notification_model
from ..models import ApiToken
from ..validation import MAX_ID, ascii_int
from .brokers import BrokerUnavailable, Listener, get_broker
from .feed_state import batch_state, channels_for, connect_state
from .framing import (
    COUNT,
    DISMISSED,
    NOTIFICATION,
    READ,
    RESYNC,
    BrokerMessage,
    Cursor,
    sse,
    sse_comment,
    sse_retry,
)
from .gathering import gathering

logger = logging.getLogger("django_notify.realtime")

#: What EventSource waits before reconnecting (the ``retry:`` field), in milliseconds.
RETRY_MS = 3000
#: Minimum time between two batches of a stream during a burst. A message that arrives
#: alone is handled at once; when several are already queued, the rest of this window
#: is waited out and everything is handled as one batch, so a storm of 500 rows costs a
#: handful of visibility + count queries instead of 500.
COALESCE_SECONDS = 0.1
#: Query parameters the stream accepts: ``last_event_id`` is for EventSource polyfills
#: that cannot send the Last-Event-ID header.
QUERY_PARAMS = {"last_event_id"}
UNAVAILABLE_HEADER = "X-Notify-Stream"


# --- answers other than the stream ---------------------------------------------------------


def error_response(
    status: int, code: str, message: str, fields: dict | None = None, **headers: str
) -> JsonResponse:
    response = JsonResponse(
        {"error": {"code": code, "message": message, "fields": fields or {}}}, status=status
    )
    for name, value in headers.items():
        response[name.replace("_", "-")] = value
    return response


def unavailable() -> HttpResponse:
    response = HttpResponse(status=204)
    response[UNAVAILABLE_HEADER] = "unavailable"
    response["Cache-Control"] = "no-cache"
    return response


def _running_under_wsgi(request: HttpRequest) -> bool:
    # WSGI servers (and Django's test Client) put wsgi.version in the environ; an ASGI
    # scope never has it.
    return "wsgi.version" in request.META


async def _authenticate(request: HttpRequest):
    """The user of a ``Bearer`` token, else of the session; ``None`` if neither.

    A Bearer header that does not authenticate is a 401 even with a session cookie:
    a script with a revoked token must find out.
    """
    key = bearer_key(request)
    if key is not None:
        return await sync_to_async(ApiToken.authenticate)(key)
    auser = getattr(request, "auser", None)
    if auser is None:  # AuthenticationMiddleware is not installed
        return None
    user = await auser()
    return user if user.is_authenticated else None


def pk_reader(model) -> Any:
    """``to_pk`` for :meth:`Cursor.decode`: the pk field's ``to_python``, and for an
    integer pk only an int or ASCII digits within 64 bits (``to_python`` would read
    ``"١٢"`` as 12, and a query with ``10**30`` overflows in SQLite's driver)."""
    field = model._meta.pk
    if not isinstance(field, models.IntegerField):
        return field.to_python

    def read(value: Any) -> int:
        number = ascii_int(value, signed=False, min_value=1, max_value=MAX_ID)
        if number is None:
            raise ValueError(f"not a primary key: {value!r}")
        return number

    return read


# --- the stream -------------------------------------------------------------------------------


class EventStream:
    """The events of one connection. Iterating it yields SSE text; the listener is
    closed whatever ends the iteration (the deadline, a client disconnect cancelling the
    task, an error)."""

    def __init__(
        self,
        user,
        listener: Listener,
        cursor: Cursor | None,
        *,
        heartbeat: float,
        max_seconds: float,
    ) -> None:
        self.user = user
        self.listener = listener
        self.resume_from = cursor
        self.cursor: Cursor | None = None
        # A zero or negative setting must not turn the loop into a busy wait.
        self.heartbeat = max(heartbeat, 0.1)
        self.max_seconds = max_seconds

    def __aiter__(self) -> AsyncIterator[str]:
        return self.events()

    async def events(self) -> AsyncIterator[str]:
        loop = asyncio.get_running_loop()
        try:
            deadline = loop.time() + self.max_seconds
            yield sse_retry(RETRY_MS)
            count, self.cursor, replay = await sync_to_async(connect_state)(
                self.user, self.resume_from
            )
            # The id makes even a client that never gets a notification resume from here.
            yield sse(COUNT, {"unread_count": count}, self.cursor.encode())
            if self.resume_from is not None:
                yield self._notifications(replay, count) + sse(
                    COUNT, {"unread_count": count}, self.cursor.encode()
                )
            next_beat = loop.time() + self.heartbeat
            last_batch = float("-inf")
            while True:
                now = loop.time()
                if now >= deadline:
                    return
                message = await self.listener.get(min(deadline, next_beat) - now)
                if message is None:
                    if loop.time() >= next_beat:
                        yield sse_comment("heartbeat")
                        next_beat = loop.time() + self.heartbeat
                    continue
                batch = [message, *self.listener.drain()]
                # Throttle bursts only: after a quiet spell a message goes out at once.
                # A message within COALESCE_SECONDS of the previous batch (or several
                # already waiting) means a burst is under way: it is gathered until the
                # window ends, so a storm costs at most one batch per window however
                # quickly each batch is handled.
                wait = min(last_batch + COALESCE_SECONDS, deadline) - loop.time()
                if wait > 0:
                    await asyncio.sleep(wait)
                    batch += self.listener.drain()
                text = await self._handle(batch)
                last_batch = loop.time()
                if text:
                    yield text
                    next_beat = loop.time() + self.heartbeat
        finally:
            self.listener.close()

    async def _handle(self, batch: Iterable[BrokerMessage]) -> str:
        # dicts as ordered sets: ids in arrival order, each once.
        notification_ids: dict[Any, None] = {}
        changes: dict[str, dict[Any, None]] = {READ: {}, DISMISSED: {}}
        everything: set[str] = set()  # events that covered the whole feed
        resync = False
        for message in batch:
            if message.event == RESYNC:
                resync = True
            elif message.event == NOTIFICATION:
                notification_ids.update(dict.fromkeys(message.ids))
            elif message.event in changes:
                changes[message.event].update(dict.fromkeys(message.ids))
                if message.everything:
                    everything.add(message.event)
        need_count = resync or bool(everything) or any(changes.values())
        if resync:
            rows, count = await sync_to_async(batch_state)(
                self.user, list(notification_ids), self.cursor, need_count
            )
        else:  # answered with the other streams of the process woken by the same message
            rows, count = await gathering().check(self.user, list(notification_ids), need_count)
        if count is None:
            return ""  # nothing this user can see changed
        text = self._notifications(rows, count)
        for event in (READ, DISMISSED):
            if event in everything:
                text += sse(event, {"ids": "all", "unread_count": count})
            elif changes[event]:
                text += sse(event, {"ids": list(changes[event]), "unread_count": count})
        if resync:
            text += sse(COUNT, {"unread_count": count}, self.cursor.encode())
        return text

    def _notifications(self, rows: list[tuple[Any, Any]], count: int) -> str:
        """``notification`` events for rows not sent yet, each carrying the cursor."""
        text = ""
        for pk, created_at in rows:
            if self.cursor.seen(pk):
                continue  # already sent (a catch-up and a live message can overlap)
            self.cursor.add(pk, created_at)
            text += sse(NOTIFICATION, {"id": pk, "unread_count": count}, self.cursor.encode())
        return text


class EventStreamResponse(StreamingHttpResponse):
    """Closes the listener with the response, even if nothing ever iterated it."""

    def __init__(self, stream: EventStream) -> None:
        super().__init__(stream, content_type="text/event-stream")
        self._listener = stream.listener
        self["Cache-Control"] = "no-cache"
        # nginx (and proxies that honour it) must pass each event on as it is written.
        self["X-Accel-Buffering"] = "no"

    def close(self) -> None:
        try:
            super().close()
        finally:
            self._listener.close()


@csrf_exempt
async def stream(request: HttpRequest) -> HttpResponse:
    """The view behind ``django_notify:stream``.

    CSRF-exempt: it changes nothing and answers only GET (which CSRF never checks); any
    other method gets the JSON 405 below instead of Django's HTML CSRF page."""
    if request.method != "GET":
        return error_response(
            405,
            "method_not_allowed",
            f"Method {request.method} is not allowed here.",
            Allow="GET",
        )
    unknown = sorted(set(request.GET) - QUERY_PARAMS)
    if unknown:
        return error_response(
            400,
            "invalid",
            "Unknown query parameters.",
            {name: ["Unknown field."] for name in unknown},
        )
    user = await _authenticate(request)
    if user is None:
        return error_response(
            401,
            "not_authenticated",
            "Authentication credentials were not provided or are not valid.",
            WWW_Authenticate='Bearer realm="notifications"',
        )
    if _running_under_wsgi(request):
        return unavailable()
    model = get_notification_model()
    last_event_id = request.headers.get("Last-Event-ID") or request.GET.get("last_event_id")
    # A bad, stale or out-of-range id is ignored: the client starts afresh.
    cursor = Cursor.decode(last_event_id, pk_reader(model))
    broker = get_broker()
    channels = await sync_to_async(channels_for)(user, broker)
    try:
        listener = await broker.subscribe(channels)
    except BrokerUnavailable as exc:
        logger.warning("event stream unavailable: %s", exc)
        return unavailable()
    return EventStreamResponse(
        EventStream(
            user,
            listener,
            cursor,
            heartbeat=app_settings.SSE_HEARTBEAT,
            max_seconds=app_settings.SSE_MAX_SECONDS,
        )
    )
