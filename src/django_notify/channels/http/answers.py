"""What an HTTP answer means: the recorded part of a response and ``Retry-After``."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

from ...conf import app_settings

#: Response headers kept on the delivery row (the rest may carry cookies or tokens).
RECORDED_HEADERS = (
    "content-type",
    "date",
    "location",
    "retry-after",
    "request-id",
    "x-request-id",
    "x-ms-request-id",
    "x-slack-req-id",
)
BODY_EXCERPT = 1000


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds or an HTTP-date), or None.

    Capped at ``RETRY_BACKOFF_MAX`` (6 hours by default): the delivery's own backoff never
    waits longer, and a receiver asking for a year should not park a delivery for a year.
    A date in the past means "now" (0).
    """
    if not value:
        return None
    value = value.strip()
    cap = app_settings.RETRY_BACKOFF_MAX
    if value.isascii() and value.isdigit():
        return cap if len(value) > 9 else min(float(value), cap)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    seconds = (when - (now or datetime.now(UTC))).total_seconds()
    return min(max(seconds, 0.0), cap)


@dataclass
class HttpResponse:
    """What :meth:`HttpChannel.transmit` hands to :meth:`HttpChannel.parse_response`."""

    status_code: int
    headers: dict[str, str]
    body: str
    endpoint: Any
    elapsed: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)

    def record(self) -> dict[str, Any]:
        """The JSON stored on the delivery row: no URL (Slack and Teams URLs are
        credentials), a few headers, at most 1000 characters of body."""
        return {
            "status_code": self.status_code,
            "headers": {k: v for k, v in self.headers.items() if k in RECORDED_HEADERS},
            "body": self.body[:BODY_EXCERPT],
            "endpoint": getattr(self.endpoint, "pk", None),
            "elapsed": round(self.elapsed, 3),
            **self.extra,
        }
