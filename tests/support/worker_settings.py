"""Settings of the Celery worker subprocess started by tests/delivery/test_celery_worker.py.

The test settings, plus what the test process hands over in the environment:

``NOTIFY_WORKER_DB_NAME``        the *test* database the test process created and uses
                                 (``connection.settings_dict["NAME"]`` there), so both
                                 processes read and write the same rows
``NOTIFY_WORKER_DJANGO_NOTIFY``  the ``DJANGO_NOTIFY`` dict as JSON: the same one the test
                                 process installs with ``override_settings``, so planning
                                 there and sending here agree on channels and limits
"""

import json
import os

from django.core.exceptions import ImproperlyConfigured

from tests.settings import *  # noqa: F403
from tests.settings import DATABASES

if DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql":
    raise ImproperlyConfigured(
        "The worker tests need NOTIFY_DB=postgres: a worker process cannot see the test "
        "process's in-memory SQLite database."
    )

try:
    DATABASES["default"]["NAME"] = os.environ["NOTIFY_WORKER_DB_NAME"]
    DJANGO_NOTIFY = json.loads(os.environ["NOTIFY_WORKER_DJANGO_NOTIFY"])
except KeyError as exc:
    raise ImproperlyConfigured(
        f"{exc.args[0]} is not set: tests.support.worker_settings is only for the worker that "
        "tests/delivery/test_celery_worker.py starts"
    ) from None
