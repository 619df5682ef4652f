"""The one request object every entry point hands to :func:`~django_notify.pipeline.write.write`."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class WriteRequest:
    """One write: the rows to create and what the stages need to know about them.

    ``rows`` are unsaved notification rows, content validated and audience resolved:
    one per direct recipient, one per team, organization or system broadcast.
    ``created_by`` is the person who caused the write (their rate limit applies, and
    ``notification_created`` names them); ``None`` for system-originated writes.
    ``unreached`` is set for an event: channel → the recipients its subscriptions and
    rules do not reach on that channel, who have that channel off. Without it (a send
    naming its recipients) the recipients' subscriptions switch channels off.
    ``savepoint=False``: the caller's transaction is rolled back whenever the write
    fails (event processing), so the write needs no savepoint of its own.
    """

    rows: Sequence[Any]
    created_by: Any = None
    unreached: Mapping[str, set[Any]] | None = None
    savepoint: bool = True
