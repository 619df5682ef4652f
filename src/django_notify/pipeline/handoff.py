"""Stage 5, the hand-off: after the transaction commits, due deliveries go to the
dispatcher (inline or Celery) and new rows are announced to live clients. Nothing
leaves the process before the commit, so a rolled-back write sends nothing."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..channels.in_app import publish_on_commit
from ..delivery.dispatch import dispatch_on_commit
from ..models import Delivery
from .deliveries import due_now


def hand_off(rows: Sequence[Any], deliveries: Sequence[Delivery]) -> None:
    dispatch_on_commit(due_now(deliveries))
    publish_on_commit([row.pk for row in rows])
