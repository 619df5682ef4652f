"""What travels where: broker messages (ids only), the stream's cursor, SSE framing.

A broker message is ``{"event": "notification" | "read" | "dismissed", "ids": [...]}``
as JSON, with ``"all": true`` (and no ids) when a read or dismiss covered the user's
whole feed. It never carries content: the stream re-reads visibility and the count from
the database for the user it serves, and the browser fetches content through the API.

The ``id:`` of the stream's events is a :class:`Cursor`, opaque to clients (base64url of
a small JSON object). It records a *floor* (a ``created_at`` with an optional pk) and the
pks of the notifications sent above it. On reconnect the stream replays every visible
notification above the floor that is not among those pks. The floor trails the newest
sent notification by :data:`GRACE` seconds, so a row whose transaction committed late
(its ``created_at`` is older than a row already sent) is still replayed, and a row sent
before the disconnect is never sent twice.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

from django.core.exceptions import ValidationError
from django.core.serializers.json import DjangoJSONEncoder
from django.utils import timezone

NOTIFICATION = "notification"
READ = "read"
DISMISSED = "dismissed"
COUNT = "count"
#: Internal, never on the wire: the listener may have missed messages (its queue
#: overflowed, or the broker connection was re-established); the stream catches up.
RESYNC = "resync"

BROKER_EVENTS = (NOTIFICATION, READ, DISMISSED)

#: How far the cursor's floor trails the newest notification sent (see the module doc):
#: the longest a notification's transaction may stay open, plus clock skew between the
#: process that created the row and the one streaming it, and still be caught up.
GRACE = timedelta(seconds=10)
#: At most this many pks in a cursor, so the Last-Event-ID header stays small (~0.5 kB).
#: When more notifications than this arrive within GRACE, the floor rises to the oldest
#: pk kept: a late commit below it is then only counted, not replayed.
CURSOR_MAX_IDS = 50
#: Longest Last-Event-ID accepted; anything longer is ignored like any invalid cursor.
CURSOR_MAX_LENGTH = 2048


class BrokerMessage(NamedTuple):
    """One broker message: an event name and notification pks, or ``everything`` for a
    change to the whole feed (``mark_all_read``, ``dismiss_all``).

    A named tuple rather than a frozen dataclass: a fan-out to 10,000 users makes one
    per user, and a frozen dataclass took 0.7 µs each to build (7 ms of such a
    ``notify()``), a named tuple a third of that."""

    event: str
    ids: tuple[Any, ...] = ()
    everything: bool = False

    def encode(self) -> bytes:
        data: dict[str, Any] = {"event": self.event, "ids": list(self.ids)}
        if self.everything:
            data["all"] = True
        return json.dumps(data, cls=DjangoJSONEncoder).encode()

    @classmethod
    def decode(cls, raw: bytes | str) -> BrokerMessage | None:
        """The message in ``raw``, or ``None`` if it is not one of ours."""
        try:
            data = json.loads(raw)
        except (TypeError, ValueError):
            return None
        if not isinstance(data, dict) or data.get("event") not in BROKER_EVENTS:
            return None
        ids = data.get("ids")
        if not isinstance(ids, list) or not all(isinstance(i, int | str) for i in ids):
            return None
        return cls(data["event"], tuple(ids), everything=data.get("all") is True)


RESYNC_BROKER_MESSAGE = BrokerMessage(RESYNC)


# --- the cursor (Last-Event-ID) -----------------------------------------------------------


@dataclass
class Cursor:
    """Which notifications a client has been sent (see the module doc).

    Invariant: every notification sent with ``(created_at, pk)`` above the floor has its
    pk in ``sent``. ``floor_pk`` is ``None`` when the floor is a bare time (everything at
    that instant and before is below it).
    """

    floor: datetime
    floor_pk: Any = None
    #: pk → created_at of the notifications sent above the floor.
    sent: dict[Any, datetime] = field(default_factory=dict)

    @classmethod
    def starting_at(cls, moment: datetime, recent: Iterable[tuple[Any, datetime]] = ()):
        """A fresh client's cursor: it knows (through the count) every row up to
        ``moment``; ``recent`` are the rows above ``moment - GRACE`` it counts already."""
        cursor = cls(floor=moment - GRACE)
        for pk, created_at in recent:
            cursor.sent[pk] = created_at
        cursor.advance(moment)
        return cursor

    def add(self, pk: Any, created_at: datetime) -> None:
        """Record a sent notification."""
        if self._above_floor(pk, created_at):
            self.sent[pk] = created_at
            newest = max(self.sent.values())
            self.advance(newest)

    def advance(self, newest: datetime) -> None:
        """Raise the floor to ``newest - GRACE`` and keep at most CURSOR_MAX_IDS pks."""
        floor = newest - GRACE
        if floor > self.floor:
            self.floor, self.floor_pk = floor, None
        self.sent = {pk: at for pk, at in self.sent.items() if self._above_floor(pk, at)}
        if len(self.sent) > CURSOR_MAX_IDS:
            ordered = sorted(self.sent.items(), key=lambda item: (item[1], sort_key(item[0])))
            dropped = ordered[: len(ordered) - CURSOR_MAX_IDS]
            # The newest dropped row becomes the floor: everything at or below it that was
            # sent is no longer listed, so none of it may be replayed.
            self.floor_pk, self.floor = dropped[-1][0], dropped[-1][1]
            self.sent = dict(ordered[len(dropped) :])

    def seen(self, pk: Any) -> bool:
        return pk in self.sent

    def _above_floor(self, pk: Any, created_at: datetime) -> bool:
        if created_at != self.floor:
            return created_at > self.floor
        return self.floor_pk is not None and sort_key(pk) > sort_key(self.floor_pk)

    # --- wire form ---
    def encode(self) -> str:
        data = {
            "f": self.floor.isoformat(),
            "k": self.floor_pk,
            "s": [[pk, at.isoformat()] for pk, at in self.sent.items()],
        }
        raw = json.dumps(data, separators=(",", ":"), cls=DjangoJSONEncoder).encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    @classmethod
    def decode(cls, value: str | None, to_pk: Callable[[Any], Any] = lambda pk: pk):
        """The cursor in a Last-Event-ID, or ``None`` when there is none or it is not one
        of ours (a stale or tampered id starts the client afresh rather than failing).

        ``to_pk`` turns a pk read from JSON into the model's pk type (``to_python`` of the
        pk field) and raises ``ValueError`` or ``ValidationError`` for a bad one.
        """
        if not value or len(value) > CURSOR_MAX_LENGTH:
            return None
        try:
            raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
            data = json.loads(raw)
            floor = _aware(data["f"])
            floor_pk = data["k"]
            pairs = data["s"]
            if not isinstance(pairs, list) or len(pairs) > CURSOR_MAX_IDS:
                return None
            if not all(isinstance(pk, int | str) for pk, _ in pairs):
                return None
            if floor_pk is not None:
                if not isinstance(floor_pk, int | str):
                    return None
                floor_pk = to_pk(floor_pk)
            sent = {to_pk(pk): _aware(at) for pk, at in pairs}
        except (
            binascii.Error, ValueError, TypeError, KeyError, AttributeError, ValidationError,
            OverflowError, RecursionError,
        ):  # fmt: skip
            return None
        return cls(floor=floor, floor_pk=floor_pk, sent=sent)


def _aware(value: str) -> datetime:
    """An aware ISO 8601 timestamp, in UTC, that the cursor can move by GRACE either
    way. A forged ``9999-12-31T23:59:59-14:00`` overflows converting to UTC (the query
    would fail mid-stream); ``+23:00`` is beyond what PostgreSQL accepts. Raises
    ``ValueError`` or ``OverflowError`` (the caller ignores such a cursor)."""
    if not isinstance(value, str) or not value.isascii():
        raise ValueError("a cursor's timestamps are ASCII ISO 8601 text")
    moment = datetime.fromisoformat(value)
    if timezone.is_naive(moment):
        raise ValueError("naive datetime in a cursor")
    moment = moment.astimezone(UTC)
    if not _EARLIEST <= moment <= _LATEST:
        raise OverflowError("a cursor's timestamp is at the end of the calendar")
    return moment


_EARLIEST = datetime.min.replace(tzinfo=UTC) + GRACE
_LATEST = datetime.max.replace(tzinfo=UTC) - GRACE


def sort_key(pk: Any) -> tuple[int, Any]:
    """Integer pks compare as numbers, anything else as text (UUID pks)."""
    return (0, pk) if isinstance(pk, int) else (1, str(pk))


# --- Server-Sent Events framing --------------------------------------------------------------


def sse(event: str, data: dict, event_id: str | None = None) -> str:
    """One SSE block. ``data`` is JSON on one line, so no field can span lines."""
    lines = []
    if event_id is not None:
        lines.append(f"id: {event_id}")
    lines.append(f"event: {event}")
    lines.append("data: " + json.dumps(data, separators=(",", ":"), cls=DjangoJSONEncoder))
    return "\n".join(lines) + "\n\n"


def sse_comment(text: str) -> str:
    return f": {text}\n\n"


def sse_retry(milliseconds: int) -> str:
    return f"retry: {milliseconds}\n\n"
