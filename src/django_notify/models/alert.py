"""Platform alerts: deduplicated, counted, resolved with notes; for staff."""

from __future__ import annotations

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class AlertType(models.TextChoices):
    SECURITY = "security", _("Security")
    PERFORMANCE = "performance", _("Performance")
    CAPACITY = "capacity", _("Capacity")
    INTEGRATION = "integration", _("Integration")
    DATA = "data", _("Data")
    SYSTEM = "system", _("System")


class Severity(models.TextChoices):
    INFO = "info", _("Info")
    WARNING = "warning", _("Warning")
    ERROR = "error", _("Error")
    CRITICAL = "critical", _("Critical")


class PlatformAlert(models.Model):
    """One recurring problem: raising the same fingerprint again while it is unresolved
    counts an occurrence instead of adding a row."""

    # Not ``choices``: hosts raise their own alert types (AlertType lists the usual ones).
    alert_type = models.CharField(_("alert type"), max_length=50)
    severity = models.CharField(
        _("severity"), max_length=10, choices=Severity.choices, default=Severity.WARNING
    )
    title = models.CharField(_("title"), max_length=255)
    message = models.TextField(_("message"), blank=True)
    fingerprint = models.CharField(_("fingerprint"), max_length=200)
    affected_systems = models.JSONField(_("affected systems"), default=list, blank=True)
    affected_organizations = models.JSONField(_("affected organizations"), default=list, blank=True)
    meta_data = models.JSONField(
        _("meta data"), default=dict, blank=True, encoder=DjangoJSONEncoder
    )
    occurrence_count = models.PositiveIntegerField(_("occurrences"), default=1)
    first_occurred_at = models.DateTimeField(_("first occurred at"), default=timezone.now)
    last_occurred_at = models.DateTimeField(_("last occurred at"), default=timezone.now)
    is_resolved = models.BooleanField(_("resolved"), default=False)
    resolved_at = models.DateTimeField(_("resolved at"), null=True, blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
        related_name="+",
    )  # fmt: skip
    resolution_notes = models.TextField(_("resolution notes"), blank=True)

    class Meta:
        verbose_name = _("platform alert")
        ordering = ("-last_occurred_at", "-id")
        constraints = [
            models.UniqueConstraint(
                fields=["fingerprint"],
                condition=Q(is_resolved=False),
                name="django_notify_alert_one_open_per_fingerprint",
            )
        ]
        indexes = [
            models.Index(fields=["is_resolved", "-last_occurred_at"]),
            models.Index(fields=["severity", "is_resolved"]),
        ]

    def __str__(self) -> str:
        return f"[{self.severity}] {self.title} ×{self.occurrence_count}"
