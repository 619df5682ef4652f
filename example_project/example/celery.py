"""The example site's Celery app, for ``scripts/demo-live`` (``NOTIFY_DISPATCHER=celery``).

``celery -A example worker`` finds it; ``example/__init__.py`` imports it in every other
process too (web, shell, management commands) when the dispatcher is Celery, so they
publish through it and not through Celery's default app (docs/celery.md).
"""

import os

from celery import Celery

from django_notify.beat import beat_schedule

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "example.settings")

app = Celery("example")
# Every CELERY_* Django setting becomes a Celery setting.
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@app.on_after_finalize.connect
def _django_notify_beat(sender, **kwargs):
    # The package's sweeps (events, due and retried deliveries, digests) every minute.
    sender.conf.beat_schedule = {**beat_schedule(), **(sender.conf.beat_schedule or {})}
