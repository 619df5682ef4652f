"""Admin for the delivery side: the audit trail, digests, preferences, endpoints and
templates (with a live preview), plus the email actions on notifications."""

from __future__ import annotations

import hashlib

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from ..delivery import state
from ..models import CLAIMABLE_STATUSES, Delivery, DeliveryStatus, WebhookEndpoint
from ..models.endpoint import validate_secrets
from ..rendering.templates import preview


class EmailStateListFilter(admin.SimpleListFilter):
    title = _("emailed")
    parameter_name = "emailed"

    def lookups(self, request, model_admin):
        return [
            ("yes", _("Emailed")),
            ("pending", _("Should email, not yet")),
            ("no", _("No email")),
        ]

    def queryset(self, request, queryset):
        value = self.value()
        if value == "yes":
            return queryset.filter(is_emailed=True)
        if value == "pending":
            return queryset.filter(should_email=True, is_emailed=False)
        if value == "no":
            return queryset.filter(should_email=False)
        return queryset


class NotificationDeliveryAdminMixin:
    """Adds the email columns, filter and bulk actions to a notification admin.

    ``should_email`` and ``is_emailed`` are read from the Delivery rows in the list query
    itself (two EXISTS subqueries), never one query per row.
    """

    actions = ("mark_as_emailed", "send_email_now")

    def get_queryset(self, request):
        return state.annotate_email_state(super().get_queryset(request))

    def get_list_display(self, request):
        return (*super().get_list_display(request), "should_email", "is_emailed")

    def get_list_filter(self, request):
        return (*super().get_list_filter(request), EmailStateListFilter)

    @admin.display(description=_("should email"), boolean=True, ordering="should_email")
    def should_email(self, obj) -> bool:
        return bool(getattr(obj, "should_email", False))

    @admin.display(description=_("emailed"), boolean=True, ordering="is_emailed")
    def is_emailed(self, obj) -> bool:
        return bool(getattr(obj, "is_emailed", False))

    @admin.action(description=_("Mark as emailed (without sending)"))
    def mark_as_emailed(self, request, queryset):
        count = state.mark_emailed(queryset.values_list("pk", flat=True), by=request.user)
        self.message_user(
            request,
            ngettext(
                "%(n)d email delivery marked as emailed; nothing was sent.",
                "%(n)d email deliveries marked as emailed; nothing was sent.",
                count,
            )
            % {"n": count},
        )

    @admin.action(description=_("Send email now"))
    def send_email_now(self, request, queryset):
        rows = Delivery.objects.filter(
            notification__in=queryset.values("pk"), channel__in=state.email_channels()
        )
        ids = state.send_now(rows)
        level = messages.SUCCESS if ids else messages.WARNING
        self.message_user(
            request,
            ngettext(
                "%(n)d email dispatched.",
                "%(n)d emails dispatched (notifications without an email delivery, or "
                "already sent, were left alone).",
                len(ids),
            )
            % {"n": len(ids)},
            level,
        )


class DeliveryAdminMixin:
    """The audit trail: read-only rows with retry and cancel actions."""

    list_display = (
        "id", "notification", "user", "channel", "status", "attempts", "next_attempt_at",
        "sent_at", "reason",
    )  # fmt: skip
    list_filter = ("status", "channel", "frequency", "notification_type", "created_at")
    search_fields = ("address", "reason", "last_error", "idempotency_key", "notification__title")
    list_select_related = ("notification", "user")
    date_hierarchy = "created_at"
    actions = ("retry_now", "cancel")
    ordering = ("-created_at", "-id")

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in self.model._meta.fields]

    def has_add_permission(self, request):
        return False

    @admin.action(description=_("Retry now"))
    def retry_now(self, request, queryset):
        ids = state.send_now(queryset)
        self.message_user(request, _("%(n)d deliveries dispatched.") % {"n": len(ids)})

    @admin.action(description=_("Cancel (mark skipped)"))
    def cancel(self, request, queryset):
        count = queryset.filter(status__in=CLAIMABLE_STATUSES, digest__isnull=True).update(
            status=DeliveryStatus.SKIPPED, reason=f"cancelled by {request.user}"[:200]
        )
        self.message_user(request, _("%(n)d deliveries cancelled.") % {"n": count})


class DigestAdminMixin:
    list_display = ("id", "user", "channel", "frequency", "status", "attempts", "sent_at", "size")
    list_filter = ("status", "channel", "frequency")
    list_select_related = ("user",)

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in self.model._meta.fields]

    def has_add_permission(self, request):
        return False

    @admin.display(description=_("notifications"))
    def size(self, obj) -> int:
        return obj.deliveries.count()


class PreferenceAdminMixin:
    list_display = ("__str__", "notification_type", "category", "channel", "enabled", "frequency")
    list_filter = ("channel", "enabled", "frequency")
    search_fields = ("notification_type", "category")


def secret_fingerprint(secret: str) -> str:
    """Names a secret without revealing it: the first 12 hex digits of its SHA-256."""
    return hashlib.sha256(secret.encode()).hexdigest()[:12]


class WebhookEndpointForm(forms.ModelForm):
    """Signing secrets are write-only: they can be set and rotated, never read back.

    ``new_secret`` replaces the secrets; with ``rotate`` it becomes the newest and the
    current newest is kept for verification while receivers switch over; ``drop_old``
    ends a rotation. Secrets are validated by the model (``whsec_`` + base64)."""

    new_secret = forms.CharField(
        label=_("new signing secret"),
        required=False,
        strip=True,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
        help_text=_(
            "whsec_ followed by base64 of 24 to 64 random bytes. Leave empty to keep the "
            "current secrets; it is never shown again after saving."
        ),
    )
    rotate = forms.BooleanField(
        label=_("rotate"),
        required=False,
        help_text=_("Keep the current secret too (both signatures are sent) until receivers "
                    "have switched to the new one."),
    )  # fmt: skip
    drop_old = forms.BooleanField(
        label=_("finish the rotation"), required=False,
        help_text=_("Drop the older of two secrets."),
    )  # fmt: skip

    class Meta:
        model = WebhookEndpoint
        fields = ("channel", "url", "user", "organization_key", "description", "is_active")

    def clean(self):
        data = super().clean()
        if data.get("rotate") and not data.get("new_secret"):
            self.add_error("new_secret", _("Rotating needs the new secret."))
        if data.get("rotate") and data.get("drop_old"):
            self.add_error("drop_old", _("Rotate or finish a rotation, not both at once."))
        if self.errors:
            return data
        current = list(self.instance.secrets or [])
        new = data.get("new_secret")
        if new:
            secrets = [new, current[0]] if data.get("rotate") and current else [new]
        elif data.get("drop_old"):
            secrets = current[:1]
        else:
            secrets = current
        if secrets:
            try:
                validate_secrets(secrets)
            except ValidationError as exc:  # on the field people type in
                self.add_error("new_secret", exc)
                return data
        self.instance.secrets = secrets
        return data


class WebhookEndpointAdminMixin:
    """Endpoints; signing secrets can be set and rotated but are never displayed (also
    not to users with only the view permission): the form shows how many there are and
    a fingerprint of each."""

    form = WebhookEndpointForm
    exclude = ("secrets",)
    list_display = ("url", "channel", "user", "organization_key", "is_active", "disabled_reason")
    list_filter = ("channel", "is_active")
    search_fields = ("url", "description", "organization_key")
    raw_id_fields = ("user",)
    readonly_fields = ("signing_secrets", "disabled_at", "disabled_reason")

    @admin.display(description=_("signing secrets"))
    def signing_secrets(self, obj) -> str:
        secrets = list(getattr(obj, "secrets", None) or [])
        if not secrets:
            return _("None set.")
        labels = [_("newest"), _("older, kept while rotating")]
        return format_html_join(
            ", ", "<code>{}</code> ({})",
            ((secret_fingerprint(s), labels[min(i, 1)]) for i, s in enumerate(secrets)),
        )  # fmt: skip


class NotificationTemplateAdminMixin:
    """Templates with a syntax check on save (the model refuses errors, with the line)
    and a preview of what the saved row renders to."""

    list_display = ("notification_type", "channel", "organization_key", "language", "is_active")
    list_filter = ("channel", "is_active", "language")
    search_fields = ("notification_type", "subject", "body")
    readonly_fields = ("rendered_preview",)

    @admin.display(description=_("preview"))
    def rendered_preview(self, obj) -> str:
        if obj is None or not obj.pk:
            return _("Save to see a preview.")
        try:
            rendered = preview(obj.notification_type, obj.channel, template=obj)
        except Exception as exc:  # show the problem instead of a 500
            return format_html("<strong>{}</strong>: {}", type(exc).__name__, exc)
        parts = [(_("Subject"), rendered.subject), (_("Text"), rendered.text)]
        html = format_html_join("", "<p><b>{}</b></p><pre>{}</pre>", parts)
        if rendered.html:
            # Sanitised already; shown as source so nothing in it runs in the admin.
            html += format_html("<p><b>{}</b></p><pre>{}</pre>", _("HTML"), rendered.html)
        return html
