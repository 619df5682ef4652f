"""Who wants what, where, and when: per-user and per-organization channel preferences,
and a user's quiet hours, time zone and language."""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from ..loading import configured_channels
from ..schedule import validate_quiet_hours
from ..types import notification_types, validate_type_key
from .delivery import Frequency


def validate_channel_alias(value: str) -> None:
    channels = configured_channels()
    if value not in channels:
        known = ", ".join(channels.keys()) or "none"
        raise ValidationError(
            _("%(value)r is not a configured channel (configured: %(known)s)."),
            code="unknown_channel",
            params={"value": value, "known": known},
        )


def validate_category_key(value: str) -> None:
    if value and value not in {c.key for c in notification_types.categories()}:
        known = ", ".join(c.key for c in notification_types.categories()) or "none"
        raise ValidationError(
            _("%(value)r is not a notification category (known: %(known)s)."),
            code="unknown_category",
            params={"value": value, "known": known},
        )


class PreferenceFields(models.Model):
    """One switch: a channel, for one type, one category or (neither) every type.

    ``enabled`` None keeps the inherited on/off and only sets the frequency; a blank
    ``frequency`` keeps the inherited one.
    """

    notification_type = models.CharField(_("notification type"), max_length=100, blank=True)
    category = models.CharField(
        _("category"), max_length=100, blank=True, validators=[validate_category_key]
    )
    channel = models.CharField(_("channel"), max_length=50, validators=[validate_channel_alias])
    enabled = models.BooleanField(_("enabled"), null=True, blank=True)
    frequency = models.CharField(
        _("frequency"), max_length=10, choices=Frequency.choices, blank=True
    )
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        abstract = True

    def clean(self) -> None:
        super().clean()
        if self.notification_type and self.category:
            raise ValidationError(
                {"category": _("Give a notification type or a category, not both.")}
            )
        if self.notification_type:
            validate_type_key(self.notification_type)
        if self.enabled is None and not self.frequency:
            raise ValidationError({"enabled": _("Set enabled, a frequency, or both.")})

    @property
    def scope_label(self) -> str:
        return self.notification_type or (f"category {self.category}" if self.category else "all")


def _unique(owner: str, name: str) -> list[models.UniqueConstraint]:
    return [
        models.UniqueConstraint(
            fields=[owner, "notification_type", "category", "channel"], name=name
        ),
        models.CheckConstraint(
            name=f"{name}_type_or_category",
            condition=Q(notification_type="") | Q(category=""),
        ),
    ]


class NotificationPreference(PreferenceFields):
    """A user's own switch. Beats their organization's default."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notification_preferences"
    )

    class Meta:
        verbose_name = _("notification preference")
        constraints = _unique("user", "django_notify_preference_unique")

    def __str__(self) -> str:
        return f"{self.user}: {self.scope_label} × {self.channel}"


class OrganizationPreference(PreferenceFields):
    """An organization's default for its members, set by its admins."""

    organization_key = models.CharField(_("organization"), max_length=64)

    class Meta:
        verbose_name = _("organization preference")
        constraints = _unique("organization_key", "django_notify_org_preference_unique")
        indexes = [models.Index(fields=["organization_key"])]

    def __str__(self) -> str:
        return f"org {self.organization_key}: {self.scope_label} × {self.channel}"


class RecipientSettings(models.Model):
    """Quiet hours, time zone and language of one user (all optional)."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, primary_key=True,
        related_name="notification_settings",
    )  # fmt: skip
    quiet_hours_start = models.TimeField(_("quiet hours start"), null=True, blank=True)
    quiet_hours_end = models.TimeField(_("quiet hours end"), null=True, blank=True)
    timezone = models.CharField(
        _("time zone"), max_length=64, blank=True, help_text=_("An IANA name, e.g. Europe/Paris.")
    )
    language = models.CharField(_("language"), max_length=15, blank=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("recipient settings")
        verbose_name_plural = _("recipient settings")

    def __str__(self) -> str:
        return f"settings of {self.user}"

    @property
    def quiet_hours(self):
        if self.quiet_hours_start is None or self.quiet_hours_end is None:
            return None
        return (self.quiet_hours_start, self.quiet_hours_end)

    def clean(self) -> None:
        from django.conf import settings as django_settings

        super().clean()
        validate_quiet_hours(
            self.quiet_hours_start,
            self.quiet_hours_end,
            self.timezone or django_settings.TIME_ZONE,
        )
        if self.language and self.language not in {
            code for code, _name in django_settings.LANGUAGES
        }:
            raise ValidationError(
                {"language": _("%(code)r is not in LANGUAGES.") % {"code": self.language}}
            )
