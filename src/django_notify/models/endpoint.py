"""Where the HTTP channels (webhook, Slack, Teams) post."""

from __future__ import annotations

import base64
import secrets as _secrets

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from ..network import validate_endpoint_url
from .preference import validate_channel_alias

SECRET_PREFIX = "whsec_"


def generate_secret() -> str:
    """A Standard Webhooks signing secret: ``whsec_`` + base64 of 32 random bytes."""
    return SECRET_PREFIX + base64.b64encode(_secrets.token_bytes(32)).decode()


def validate_secret(value: str) -> None:
    if not isinstance(value, str) or not value.startswith(SECRET_PREFIX):
        raise ValidationError(_("Webhook secrets start with whsec_."), code="invalid_secret")
    try:
        raw = base64.b64decode(value[len(SECRET_PREFIX) :], validate=True)
    except ValueError:
        raise ValidationError(
            _("A webhook secret is whsec_ followed by base64."), code="invalid_secret"
        ) from None
    if not 24 <= len(raw) <= 64:
        raise ValidationError(_("A webhook secret holds 24 to 64 bytes."), code="invalid_secret")


def validate_secrets(value) -> None:
    if not isinstance(value, list) or not 1 <= len(value) <= 2:
        raise ValidationError(
            _("Give one secret, or two while rotating (newest first)."), code="invalid_secrets"
        )
    for secret in value:
        validate_secret(secret)


class WebhookEndpoint(models.Model):
    """One URL a channel posts to: a user's own, an organization's, or (neither) the
    channel's shared endpoint. The most specific active one receives a user's deliveries.

    ``secrets`` holds one signing key, or two during a rotation (both signatures are
    sent, newest first). A ``410 Gone`` answer disables the endpoint.
    """

    channel = models.CharField(_("channel"), max_length=50, validators=[validate_channel_alias])
    url = models.URLField(_("URL"), max_length=500)
    secrets = models.JSONField(
        _("signing secrets"), default=list, blank=True,
        help_text=_("Webhook channel only: one whsec_ key, or two while rotating."),
    )  # fmt: skip
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, null=True, blank=True,
        related_name="+",
    )  # fmt: skip
    organization_key = models.CharField(_("organization"), max_length=64, blank=True)
    description = models.CharField(_("description"), max_length=200, blank=True)
    is_active = models.BooleanField(_("active"), default=True)
    disabled_at = models.DateTimeField(_("disabled at"), null=True, blank=True)
    disabled_reason = models.CharField(_("disabled because"), max_length=200, blank=True)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)

    class Meta:
        verbose_name = _("webhook endpoint")
        indexes = [models.Index(fields=["channel", "is_active"])]

    def __str__(self) -> str:
        return f"{self.channel}: {self.url}"

    def clean(self) -> None:
        super().clean()
        errors = {}
        try:
            validate_endpoint_url(self.url)
        except ValidationError as exc:
            errors["url"] = exc.messages
        if self.secrets:
            try:
                validate_secrets(self.secrets)
            except ValidationError as exc:
                errors["secrets"] = exc.messages
        if errors:
            raise ValidationError(errors)

    def disable(self, reason: str) -> None:
        type(self)._default_manager.filter(pk=self.pk, is_active=True).update(
            is_active=False, disabled_at=timezone.now(), disabled_reason=reason[:200]
        )
        self.is_active = False
