import os

# Only with the Celery dispatcher (scripts/demo-live): the plain demo's environment has no
# Celery, and tests that import this package must not make its app Celery's current one.
if os.environ.get("NOTIFY_DISPATCHER") == "celery":
    from .celery import app as celery_app

    __all__ = ("celery_app",)
