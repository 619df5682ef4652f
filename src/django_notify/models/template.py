"""Database overrides for the per-type × channel template files."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import models
from django.utils.translation import gettext_lazy as _

from ..template_sandbox import compile_template, stored_template_variables
from ..types import validate_type_key
from .preference import validate_channel_alias

#: ``notification_type`` of the templates digests are rendered with.
DIGEST_TEMPLATE_KEY = "digest"


def validate_template_type(value: str) -> None:
    if value != DIGEST_TEMPLATE_KEY:
        validate_type_key(value)


class NotificationTemplate(models.Model):
    """Subject and body for one notification type on one channel, optionally only for one
    organization and/or one language. The most specific active row wins over the files.

    The fields are Django template source, rendered from plain values (never model
    instances). A syntax error, a tag outside the sandbox's list or a variable the
    template cannot have is refused on save with its line. Rendered HTML is sanitised,
    since these rows are edited in the admin.
    """

    notification_type = models.CharField(
        _("notification type"), max_length=100, validators=[validate_template_type],
        help_text=_('A registered type key, or "digest" for digest messages.'),
    )  # fmt: skip
    channel = models.CharField(_("channel"), max_length=50, validators=[validate_channel_alias])
    organization_key = models.CharField(
        _("organization"), max_length=64, blank=True, help_text=_("Empty: every organization.")
    )
    language = models.CharField(
        _("language"), max_length=15, blank=True, help_text=_("Empty: every language.")
    )
    subject = models.TextField(_("subject"), blank=True)
    body = models.TextField(_("body"), blank=True, help_text=_("Plain text."))
    html_body = models.TextField(_("HTML body"), blank=True, help_text=_("Sanitised on render."))
    is_active = models.BooleanField(_("active"), default=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("notification template")
        constraints = [
            models.UniqueConstraint(
                fields=["notification_type", "channel", "organization_key", "language"],
                name="django_notify_template_unique",
            )
        ]

    def __str__(self) -> str:
        scope = " / ".join(filter(None, [self.organization_key, self.language])) or "default"
        return f"{self.notification_type} × {self.channel} ({scope})"

    def save(self, *args, **kwargs) -> None:
        # Whatever writes the row (admin, API, shell), a template that does not compile
        # never reaches a delivery.
        self.clean()
        super().save(*args, **kwargs)

    def clean(self) -> None:
        super().clean()
        errors = {}
        variables = stored_template_variables(self.notification_type)
        for name in ("subject", "body", "html_body"):
            try:
                compile_template(getattr(self, name), name=name, variables=variables)
            except ValidationError as exc:
                errors[name] = exc.messages
        if errors:
            raise ValidationError(errors)
