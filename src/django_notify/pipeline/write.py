"""The write path's one entry: audience → decisions → rows → deliveries → hand-off.

``emit()`` (through event processing), ``send``, ``send_to_self``, ``send_system`` and
``notify()`` all end here with a :class:`~django_notify.pipeline.request.WriteRequest`.
Everything happens in one transaction: a refused or invalid write leaves nothing
behind, and nothing leaves the process before the commit.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.db import transaction
from django.utils import timezone

from ..delivery import ratelimit
from .decisions import decide_all
from .deliveries import write_deliveries
from .handoff import hand_off
from .request import WriteRequest
from .rows import insert_rows, row_set


def write(request: WriteRequest) -> Sequence[Any]:
    """Create the request's notifications and their deliveries; returns the saved rows.

    Raises ``SendRefused`` / ``RateLimited`` / ``ValidationError`` before anything is
    written when the sender rules, the sender's rate limit or a row refuse.
    """
    rows = row_set(request.rows)
    if not rows:
        return []
    now = timezone.now()
    with transaction.atomic(savepoint=request.savepoint):
        ratelimit.check_sender(request.created_by, len(rows), rows.model)
        rows.check_senders()
        decided = decide_all(rows, now=now, unreached=request.unreached)
        created = insert_rows(rows, created_by=request.created_by)
        deliveries = write_deliveries(decided, now)
        hand_off(created, deliveries)
    return created
