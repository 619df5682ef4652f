"""Keyset cursors: an opaque base64url token naming the last row of a page.

A page is "rows strictly older than the cursor's (timestamp, pk)", so rows inserted
while a client pages (always newer, at the top) never shift the older pages: no row is
shown twice and none is skipped, unlike ``OFFSET``. The token is opaque to clients; its
inside (``<iso timestamp>|<pk>``) may change.
"""

from __future__ import annotations

import base64
import binascii
from datetime import UTC, datetime
from typing import Any

from django.utils.dateparse import parse_datetime

from ..keyset import OlderThan
from ..validation import MAX_ID, ascii_int
from .errors import ApiError


def encode_cursor(moment: datetime | None, pk: Any) -> str:
    raw = f"{moment.isoformat()}|{pk}" if moment is not None else str(pk)
    return base64.urlsafe_b64encode(raw.encode()).rstrip(b"=").decode("ascii")


def invalid_cursor() -> ApiError:
    message = "Invalid cursor: pass back a next_cursor exactly as the API returned it."
    return ApiError(400, "invalid_cursor", message, {"cursor": [message]})


def decode_cursor(token: str) -> tuple[datetime | None, int]:
    """(timestamp in UTC or None, pk), or 400 ``invalid_cursor``.

    A token is forged as easily as it is copied: the timestamp must be ASCII ISO 8601
    with an offset and convertible to UTC (``9999-12-31T23:59:59-14:00`` is not: the
    database adapter would overflow converting it), the pk ASCII digits within 64 bits.
    """
    try:
        padded = token + "=" * (-len(token) % 4)
        raw = base64.urlsafe_b64decode(padded.encode("ascii")).decode("ascii")
        moment_text, _, pk_text = raw.rpartition("|")
        moment = parse_datetime(moment_text) if moment_text else None
        if moment is not None and moment.tzinfo is not None:
            # In UTC: also what PostgreSQL needs (it refuses offsets beyond ±15:59).
            moment = moment.astimezone(UTC)
    except (ValueError, UnicodeError, binascii.Error, OverflowError):
        raise invalid_cursor() from None
    pk = ascii_int(pk_text, signed=False, min_value=1, max_value=MAX_ID)
    if (moment_text and (moment is None or moment.tzinfo is None)) or pk is None:
        raise invalid_cursor()
    return moment, pk


def page(queryset, limit: int, *, cursor: str | None, field: str | None) -> tuple[list, str | None]:
    """One page of ``queryset`` (ordered by ``-field, -pk``, or ``-pk`` without a field)
    after ``cursor``, and the next page's cursor (None on the last page). One query plus
    the queryset's own prefetches: it reads ``limit + 1`` rows to know if more follow."""
    if cursor:
        moment, pk = decode_cursor(cursor)
        if (moment is None) != (field is None):
            raise invalid_cursor()  # a cursor of another list
        if field is None:
            queryset = queryset.filter(pk__lt=pk)
        else:
            queryset = queryset.filter(OlderThan(field, moment, pk))
    rows = list(queryset[: limit + 1])
    if len(rows) <= limit:
        return rows, None
    rows = rows[:limit]
    last = rows[-1]
    return rows, encode_cursor(getattr(last, field) if field else None, last.pk)
