"""Admin for the delivery side: the audit trail, digests, preferences, endpoints and
templates (with a live preview), plus the email actions on notifications (seed 001)."""

from __future__ import annotations

from django.contrib import admin, messages
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from ..delivery import state
from ..models import Delivery, DeliveryStatus


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
    """Adds seed 001's email columns, filter and bulk actions to a notification admin.

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
        from ..models import CLAIMABLE_STATUSES

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


class WebhookEndpointAdminMixin:
    list_display = ("url", "channel", "user", "organization_key", "is_active", "disabled_reason")
    list_filter = ("channel", "is_active")
    search_fields = ("url", "description", "organization_key")
    raw_id_fields = ("user",)
    readonly_fields = ("disabled_at", "disabled_reason")


class NotificationTemplateAdminMixin:
    """Templates with a syntax check on save (the model refuses errors, with the line)
    and a preview of what the saved row renders to."""

    list_display = ("notification_type", "channel", "organization_key", "language", "is_active")
    list_filter = ("channel", "is_active", "language")
    search_fields = ("notification_type", "subject", "body")
    readonly_fields = ("rendered_preview",)

    @admin.display(description=_("preview"))
    def rendered_preview(self, obj) -> str:
        from ..rendering.templates import preview

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
