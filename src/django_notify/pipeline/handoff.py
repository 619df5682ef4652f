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
from ..delivery.dispatch import dispatch_on_commit
from .deliveries import due_now
from .planned import Planned
from .rows import DirectRows, ModelRows


def hand_off(
    rows: DirectRows | ModelRows, deliveries: Sequence[Planned], *, light: bool = False
) -> None:
    """After the commit: due deliveries to the dispatcher, and the new rows' ids to every
    channel that delivers by the row (in-app announces them to live clients).

    ``light``: keep only each row's :class:`~django_notify.pipeline.rows.Published`
    fields until the commit, not the row (a large event writes many chunks in one
    transaction). A fan-out's :class:`DirectRows` are always announced that way."""
    dispatch_on_commit(due_now(deliveries))
    if not rows:
        return
    transaction.on_commit(partial(_announce, rows.announced(light=light)), robust=True)


def _announce(rows: list[Any]) -> None:
    for alias in configured_channels.aliases_with("delivers_by_row"):
        get_channel(alias).announce(rows)
