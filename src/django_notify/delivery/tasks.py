"""Celery tasks. Each takes ids only and is safe to run twice or concurrently.

Deliveries travel in batches: ``django_notify.deliver_batch`` carries up to
``DISPATCH_BATCH_SIZE`` ids and sends what it can claim of them in one pass (one SMTP
connection for the batch's emails). ``django_notify.deliver`` (one id) stays registered so
messages already in a broker from an earlier version are still consumed.

``acks_late`` with ``reject_on_worker_lost``: a worker killed mid-task leaves the message
unacknowledged, so the broker hands it to another worker; the delivery row's conditional
claim (and, past ``SENDING_TIMEOUT``, the sweeper) makes that a single send. Retries are
not Celery retries: the row records the next attempt, short waits are re-enqueued with a
countdown and anything longer than ``RETRY_COUNTDOWN_MAX`` (keep it below the broker's
visibility timeout) waits in the database for the periodic sweep.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable
from typing import Any

from celery import shared_task

from ..beat import beat_schedule  # noqa: F401 - kept importable from here
from ..conf import app_settings
from .dispatch import BaseDispatcher, batches, deliver, deliver_many, send_digest
from .sweep import cleanup, send_digests, send_due

TASK_OPTIONS = {"acks_late": True, "reject_on_worker_lost": True, "ignore_result": True}


def _requeue(task, pk: Any, outcome) -> None:
    if outcome is None or outcome.retry_in is None:
        return
    if outcome.retry_in <= app_settings.RETRY_COUNTDOWN_MAX:
        task.apply_async((pk,), countdown=outcome.retry_in)


def _requeue_batch(outcomes: dict[Any, Any]) -> None:
    """Failures due again within ``RETRY_COUNTDOWN_MAX`` go back as batches, one per
    whole second of waiting: each row's countdown is its own wait rounded up, so none is
    claimed early (it would not be due, and would be left for the sweep)."""
    waiting: dict[int, list[Any]] = {}
    for pk, outcome in outcomes.items():
        if outcome.retry_in is not None and outcome.retry_in <= app_settings.RETRY_COUNTDOWN_MAX:
            waiting.setdefault(math.ceil(outcome.retry_in), []).append(pk)
    for countdown, pks in sorted(waiting.items()):
        deliver_batch_task.apply_async((pks,), countdown=countdown)


@shared_task(name="django_notify.deliver_batch", **TASK_OPTIONS)
def deliver_batch_task(delivery_ids: list[Any]) -> dict[str, int]:
    outcomes = deliver_many(delivery_ids)
    _requeue_batch(outcomes)
    return dict(Counter(outcome.status for outcome in outcomes.values()))


@shared_task(name="django_notify.deliver", **TASK_OPTIONS)
def deliver_task(delivery_id: Any) -> str | None:
    """One delivery: what earlier versions published, kept for the messages still queued."""
    outcome = deliver(delivery_id)
    _requeue(deliver_task, delivery_id, outcome)
    return outcome.status if outcome else None


@shared_task(name="django_notify.send_digest", **TASK_OPTIONS)
def send_digest_task(digest_id: Any) -> str | None:
    outcome = send_digest(digest_id)
    _requeue(send_digest_task, digest_id, outcome)
    return outcome.status if outcome else None


@shared_task(name="django_notify.send_due", **TASK_OPTIONS)
def send_due_task() -> dict[str, int]:
    return send_due()


@shared_task(name="django_notify.send_digests", **TASK_OPTIONS)
def send_digests_task() -> dict[str, int]:
    return send_digests()


@shared_task(name="django_notify.cleanup", **TASK_OPTIONS)
def cleanup_task() -> dict[str, int]:
    return cleanup()


class CeleryDispatcher(BaseDispatcher):
    """One Celery task per ``DISPATCH_BATCH_SIZE`` deliveries, carrying only their ids
    (``DISPATCHER = "celery"``)."""

    def dispatch(self, delivery_ids: Iterable[Any]) -> None:
        for batch in batches(delivery_ids):
            deliver_batch_task.apply_async((batch,))

    def dispatch_digests(self, digest_ids: Iterable[Any]) -> None:
        for pk in digest_ids:
            send_digest_task.apply_async((pk,))
