"""Stage 5, the hand-off: after the transaction commits, due deliveries go to the
dispatcher (inline or Celery) and new rows are announced to live clients. Nothing
leaves the process before the commit, so a rolled-back write sends nothing."""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial
from typing import Any

from django.db import transaction

from ..channels import channels as configured_channels
from ..channels.registry import get_channel
from ..conf import app_settings
from ..delivery.dispatch import dispatch_on_commit
from .deliveries import due_now
from .planned import Planned
from .rows import DirectRows, ModelRows


def hand_off(rows: DirectRows | ModelRows, deliveries: Sequence[Planned]) -> None:
    """After the commit: due deliveries to the dispatcher, and the new rows to every
    channel that delivers by the row (in-app announces them to live clients). A
    fan-out's :class:`DirectRows` wait for the commit as their
    :class:`~django_notify.published.DirectPublished` columns, not as rows."""
    dispatch_on_commit(due_now(deliveries))
    if not rows:
        return
    transaction.on_commit(partial(_announce, rows.announced()), robust=True)


def _announce(rows: Sequence[Any]) -> None:
    # A large fan-out is announced BULK_BATCH_SIZE rows at a time, so what one call (and
    # the notification_published signal) handles stays bounded.
    size = app_settings.BULK_BATCH_SIZE
    for alias in configured_channels.aliases_with("delivers_by_row"):
        channel = get_channel(alias)
        for start in range(0, len(rows), size):
            channel.announce(rows[start : start + size])
