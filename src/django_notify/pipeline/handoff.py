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
from ..models import Delivery
from .deliveries import due_now


def hand_off(rows: Sequence[Any], deliveries: Sequence[Delivery]) -> None:
    """After the commit: due deliveries to the dispatcher, and the new rows' ids to every
    channel that delivers by the row (in-app announces them to live clients)."""
    dispatch_on_commit(due_now(deliveries))
    if rows:
        transaction.on_commit(partial(_announce, list(rows)), robust=True)


def _announce(rows: list[Any]) -> None:
    for alias in configured_channels.aliases_with("delivers_by_row"):
        get_channel(alias).announce(rows)
