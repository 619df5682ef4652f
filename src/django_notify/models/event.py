from __future__ import annotations

from django.conf import settings
from django.contrib.contenttypes.fields import GenericForeignKey
from django.contrib.contenttypes.models import ContentType
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from ..types import validate_type_key


class Event(models.Model):
    """The outbox: one row per ``emit()``, written in the caller's transaction.

    Processing turns it into notifications exactly once: the claim (a conditional
    update from ``pending``), the notification rows and the ``done`` mark commit together,
    so a crash anywhere rolls all of it back and the sweep picks the event up again.
    """

    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        DONE = "done", _("Done")
        FAILED = "failed", _("Failed")
        #: Scheduled with a cancellation key and cancelled before it went out.
        CANCELLED = "cancelled", _("Cancelled")

    notification_type = models.CharField(
        _("notification type"), max_length=100, validators=[validate_type_key]
    )
    actor_content_type = models.ForeignKey(
        ContentType, on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    actor_object_id = models.CharField(max_length=64, blank=True)
    actor = GenericForeignKey("actor_content_type", "actor_object_id")
    target_content_type = models.ForeignKey(
        ContentType, on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    target_object_id = models.CharField(max_length=64, blank=True)
    target = GenericForeignKey("target_content_type", "target_object_id")
    context = models.JSONField(_("context"), default=dict, blank=True, encoder=DjangoJSONEncoder)
    #: Explicit recipients (user pks) given to ``emit()``, on top of subscribers and rules.
    recipients = models.JSONField(_("recipients"), default=list, blank=True)
    idempotency_key = models.CharField(
        _("idempotency key"), max_length=200, null=True, blank=True, unique=True
    )
    #: A scheduled send: processed once this time has come (by the sweep).
    deliver_at = models.DateTimeField(_("deliver at"), null=True, blank=True)
    #: Cancels a scheduled send before it goes out: ``django_notify.cancel(key)``.
    cancellation_key = models.CharField(
        _("cancellation key"), max_length=200, null=True, blank=True, unique=True
    )
    status = models.CharField(
        _("status"), max_length=10, choices=Status.choices, default=Status.PENDING
    )
    attempts = models.PositiveIntegerField(_("attempts"), default=0)
    last_error = models.TextField(_("last error"), blank=True)
    notification_count = models.PositiveIntegerField(_("notifications created"), default=0)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    processed_at = models.DateTimeField(_("processed at"), null=True, blank=True)
    emitted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
        related_name="+",
    )  # fmt: skip

    class Meta:
        verbose_name = _("event")
        ordering = ("-created_at", "-id")
        indexes = [
            # The sweep's scan: unprocessed events, oldest first.
            models.Index(
                fields=["created_at"],
                condition=models.Q(status__in=["pending", "failed"]),
                name="django_notify_event_due",
            )
        ]

    def __str__(self) -> str:
        return f"{self.notification_type} #{self.pk} ({self.status})"
