"""The Celery app of the delivery benchmark, shaped like a host project's ``proj/celery.py``.

The worker runs ``celery -A load_celery worker`` and the feeder imports this module, so
the package's shared tasks publish through this app to the queue the worker consumes.
``LOAD_REDIS_URL`` is the broker and ``LOAD_CELERY_QUEUE`` the queue (one per run, with
every Redis key of the run under it, so runs never see each other's messages).
"""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "load_settings")

QUEUE = os.environ.get("LOAD_CELERY_QUEUE", "notify-load-deliver")

app = Celery("load")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.conf.update(
    broker_url=os.environ.get("LOAD_REDIS_URL", "redis://127.0.0.1:6379/0"),
    broker_connection_retry_on_startup=True,
    broker_transport_options={"global_keyprefix": f"{QUEUE}:"},
    task_default_queue=QUEUE,
    task_ignore_result=True,
    # What docs/celery.md recommends with the package's late acks: a worker process takes
    # one batch at a time, so the other is never left idle behind a prefetched one.
    worker_prefetch_multiplier=1,
)
app.autodiscover_tasks()
