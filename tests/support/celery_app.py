"""The Celery app of the worker tests (tests/delivery/test_celery_worker.py), shaped like a host
project's ``proj/celery.py``.

The worker subprocess runs ``celery -A tests.support.celery_app worker`` with
``DJANGO_SETTINGS_MODULE=tests.support.worker_settings``; the test process imports this module too,
so the package's ``shared_task``s publish through this app (it becomes Celery's current
app) to the same broker and queue the worker consumes.

Everything that must agree between the two processes comes from the environment:

``NOTIFY_REDIS_URL``       the broker (default ``redis://127.0.0.1:6379/0``)
``NOTIFY_CELERY_QUEUE``    the queue; one fresh name per test run when unset (the test
                           process picks it and hands it to the worker)
"""

from __future__ import annotations

import os
import uuid

from celery import Celery

# As in a host project: the worker process gets its settings module from here unless the
# environment names one (the tests always do). Celery's Django fix-up then calls
# django.setup() before importing task modules, and runs the system checks.
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.support.worker_settings")

REDIS_URL = os.environ.get("NOTIFY_REDIS_URL", "redis://127.0.0.1:6379/0")
QUEUE = os.environ.get("NOTIFY_CELERY_QUEUE") or f"django-notify-tests-{uuid.uuid4().hex[:12]}"
#: Every Redis key of this run (queue lists, the unacked hash, pidbox) lives under it, so
#: parallel runs (tox environments, other developers) never restore each other's messages.
KEY_PREFIX = f"{QUEUE}:"
#: Seconds before an unacknowledged message (its worker was killed) is handed out again.
#: Must exceed every countdown the tasks use (RETRY_COUNTDOWN_MAX in the worker settings).
VISIBILITY_TIMEOUT = 6

app = Celery("tests")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.conf.update(
    broker_url=REDIS_URL,
    broker_connection_retry_on_startup=True,
    broker_transport_options={
        "visibility_timeout": VISIBILITY_TIMEOUT,
        "global_keyprefix": KEY_PREFIX,
        # Scan for abandoned messages every second (the defaults scan every 100 s).
        "unacked_restore_interval": 1,
        "unacked_restore_throttle": 1,
    },
    task_default_queue=QUEUE,
    task_ignore_result=True,
    worker_prefetch_multiplier=1,
    worker_cancel_long_running_tasks_on_connection_loss=True,
    worker_hijack_root_logger=True,
)
app.autodiscover_tasks()
