"""Celery tasks. Each takes ids only and is safe to run twice or concurrently.

``acks_late`` with ``reject_on_worker_lost``: a worker killed mid-task leaves the message
unacknowledged, so the broker hands it to another worker; the delivery row's conditional
claim (and, past ``SENDING_TIMEOUT``, the sweeper) makes that a single send. Retries are
not Celery retries: the row records the next attempt, short waits are re-enqueued with a
countdown and anything longer than ``RETRY_COUNTDOWN_MAX`` (keep it below the broker's
visibility timeout) waits in the database for the periodic sweep.
"""

from __future__ import annotations

from typing import Any

from celery import shared_task

from ..conf import app_settings

TASK_OPTIONS = {"acks_late": True, "reject_on_worker_lost": True, "ignore_result": True}


def _requeue(task, pk: Any, outcome) -> None:
    if outcome is None or outcome.retry_in is None:
        return
    if outcome.retry_in <= app_settings.RETRY_COUNTDOWN_MAX:
        task.apply_async((pk,), countdown=outcome.retry_in)


@shared_task(name="django_notify.deliver", **TASK_OPTIONS)
def deliver_task(delivery_id: Any) -> str | None:
    from .dispatch import deliver

    outcome = deliver(delivery_id)
    _requeue(deliver_task, delivery_id, outcome)
    return outcome.status if outcome else None


@shared_task(name="django_notify.send_digest", **TASK_OPTIONS)
def send_digest_task(digest_id: Any) -> str | None:
    from .dispatch import send_digest

    outcome = send_digest(digest_id)
    _requeue(send_digest_task, digest_id, outcome)
    return outcome.status if outcome else None


@shared_task(name="django_notify.send_due", **TASK_OPTIONS)
def send_due_task() -> dict[str, int]:
    from .sweep import send_due

    return send_due()


@shared_task(name="django_notify.send_digests", **TASK_OPTIONS)
def send_digests_task() -> dict[str, int]:
    from .sweep import send_digests

    return send_digests()


@shared_task(name="django_notify.process_event", **TASK_OPTIONS)
def process_event_task(event_id: Any) -> bool:
    from ..pipeline.events import process_event

    return process_event(event_id)


@shared_task(name="django_notify.sweep_events", **TASK_OPTIONS)
def sweep_events_task() -> dict[str, int]:
    from datetime import timedelta

    from ..pipeline.events import sweep

    # Leave events committed in the last minute to their own on-commit processing.
    return sweep(older_than=timedelta(seconds=60))


@shared_task(name="django_notify.cleanup", **TASK_OPTIONS)
def cleanup_task() -> dict[str, int]:
    from .sweep import cleanup

    return cleanup()


def beat_schedule(*, every_minute: float = 60.0) -> dict[str, dict[str, Any]]:
    """Entries for ``CELERY_BEAT_SCHEDULE`` / ``app.conf.beat_schedule``::

    app.conf.beat_schedule = {**django_notify.delivery.tasks.beat_schedule()}
    """
    from celery.schedules import crontab

    return {
        "django-notify-sweep-events": {
            "task": "django_notify.sweep_events",
            "schedule": every_minute,
        },
        "django-notify-send-due": {"task": "django_notify.send_due", "schedule": every_minute},
        "django-notify-send-digests": {
            "task": "django_notify.send_digests",
            "schedule": every_minute,
        },
        "django-notify-cleanup": {
            "task": "django_notify.cleanup",
            "schedule": crontab(hour=3, minute=17),
        },
    }
