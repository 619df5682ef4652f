"""Celery tasks, where ``app.autodiscover_tasks()`` looks for them (needs the ``celery``
extra: ``pip install 'django-notify-kit[celery]'``)."""

from .delivery.tasks import (  # noqa: F401
    beat_schedule,
    cleanup_task,
    deliver_task,
    send_digest_task,
    send_digests_task,
    send_due_task,
)
from .pipeline.tasks import process_event_task, sweep_events_task  # noqa: F401
