"""Models for the model-signal hook tests (tests/types/test_hooks.py): an announcement that
notifies everyone, and a job with a status, like the test app's
``task.status_changed`` type (tests/testapp/notifications.py)."""

from django.conf import settings
from django.db import models

try:  # optional: TrackedJob exercises on_change() reading a FieldTracker
    from model_utils import FieldTracker
except ImportError:  # pragma: no cover - the tracker test skips
    FieldTracker = None


class Announcement(models.Model):
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE)
    title = models.CharField(max_length=200)
    body = models.TextField(blank=True)

    def __str__(self) -> str:
        return self.title


class Job(models.Model):
    class Status(models.TextChoices):
        NEW = "new", "New"
        IN_PROGRESS = "in_progress", "In progress"
        DONE = "done", "Done"

    title = models.CharField(max_length=200)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.NEW)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True
    )
    tags = models.JSONField(default=list, blank=True)

    def __str__(self) -> str:
        return self.title


class TrackedJob(models.Model):
    """A job whose status a django-model-utils FieldTracker watches (when it is installed;
    the tracker is not a column, so the migration is the same either way)."""

    title = models.CharField(max_length=200)
    status = models.CharField(max_length=20, default="new")

    if FieldTracker is not None:
        tracker = FieldTracker(fields=["status"])

    def __str__(self) -> str:
        return self.title
