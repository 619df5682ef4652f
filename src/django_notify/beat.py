"""The Celery beat entries of the package's periodic tasks.

Importable from a settings module: it imports nothing from Django or from the rest of
the package (``django_notify.tasks`` imports models, which need the app registry)::

    # settings.py
    from django_notify.beat import beat_schedule

    CELERY_BEAT_SCHEDULE = {**beat_schedule(), ...}
"""

from __future__ import annotations

from typing import Any


def beat_schedule(*, every_minute: float = 60.0) -> dict[str, dict[str, Any]]:
    """Entries for ``CELERY_BEAT_SCHEDULE`` / ``app.conf.beat_schedule``: the event
    sweep, the due-delivery sweep and the digest batching every ``every_minute``
    seconds, the retention clean-up daily at 03:17 (needs the ``celery`` extra)."""
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
