"""Behaviour for notification admins; host projects mix these into their own."""

from __future__ import annotations

import logging

from django import forms
from django.contrib import admin, messages
from django.contrib.auth import get_permission_codename, get_user_model
from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.html import format_html
from django.utils.text import Truncator, capfirst
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from ..channels import channels
from ..conf import app_settings
from ..models import OptOut
from ..models.switches import ChannelSwitches
from ..pipeline.events import process_event
from ..types import notification_types
from ..validation import check_meta_data

logger = logging.getLogger("django_notify.admin")


class NotificationAdminMixin:
    """List columns, filters, search and the sender rules for a notification admin.

    A row created here is sent by the logged-in staff user, so the sender rules apply
    to the admin too; staff see every row.
    """

    list_display = (
        "title", "level", "priority", "scope", "audience", "sender", "created_at", "read_at",
    )  # fmt: skip
    list_filter = ("scope", "origin", "level", "priority", "action_required", "created_at")
    search_fields = ("title", "description_text", "team_key", "organization_key")
    list_select_related = ("recipient", "sender")
    date_hierarchy = "created_at"
    raw_id_fields = ("recipient",)
    readonly_fields = ("sender", "description_text", "read_at", "dismissed_at")
    ordering = ("-created_at", "-id")

    def get_search_fields(self, request):
        # The user model may have no "username"; search whatever it logs in with.
        username = get_user_model().USERNAME_FIELD
        return (*super().get_search_fields(request), f"recipient__{username}")

    @admin.display(description=_("audience"))
    def audience(self, obj) -> str:
        if obj.recipient_id:
            return str(obj.recipient)
        if obj.team_key:
            return _("team %(key)s") % {"key": obj.team_key}
        if obj.organization_key:
            return _("organization %(key)s") % {"key": obj.organization_key}
        return _("everyone")

    def get_form(self, request, obj=None, **kwargs):
        form = super().get_form(request, obj, **kwargs)

        class NotificationForm(form):
            def __init__(self, *args, **kw):
                super().__init__(*args, **kw)
                if obj is None:
                    # Set before validation so the model's clean() checks the sender rules.
                    self.instance.sender = request.user

            def clean_meta_data(self):
                # The size limit of the other entry points, for what staff type here; an
                # edit that leaves a larger row's meta_data alone is not refused.
                value = self.cleaned_data.get("meta_data")
                if "meta_data" in self.changed_data:
                    try:
                        check_meta_data(value)
                    except ValidationError as exc:
                        raise ValidationError(exc.message_dict["meta_data"]) from None
                return value

        return NotificationForm


class NotificationReceiptAdminMixin:
    list_display = ("notification", "user", "read_at", "dismissed_at")
    list_select_related = ("notification", "user")
    raw_id_fields = ("notification", "user")


# --- events, subscriptions, opt-outs ----------------------------------------------------


def _type_label(notification_type) -> str:
    return f"{notification_type.get_label()} ({notification_type.key})"


def _type_choices() -> list[tuple[str, str]]:
    return [("", "---------"), *notification_types.choices(_type_label)]


def _user_search_fields(prefix: str) -> tuple[str, ...]:
    """The login name, and the e-mail and name fields only if the user model has them."""
    user_model = get_user_model()
    names = {f.name for f in user_model._meta.get_fields()}
    wanted = [user_model.USERNAME_FIELD]
    email = user_model.get_email_field_name() if hasattr(user_model, "get_email_field_name") else ""
    wanted += [email, "first_name", "last_name"]
    unique = dict.fromkeys(name for name in wanted if name and name in names)
    return tuple(f"{prefix}{name}" for name in unique)


class NotificationTypeListFilter(admin.SimpleListFilter):
    """Filter by registered notification type; the registry is read, not the table."""

    title = _("notification type")
    parameter_name = "notification_type"

    def lookups(self, request, model_admin):
        return notification_types.choices(_type_label)

    def queryset(self, request, queryset):
        if self.value():
            return queryset.filter(notification_type=self.value())
        return queryset


class CreationMethodListFilter(admin.SimpleListFilter):
    """The "creation method" filter: made by a subscription rule, or by hand."""

    title = _("creation method")
    parameter_name = "created_by"

    def lookups(self, request, model_admin):
        return [("rule", _("Rule")), ("manual", _("Manual"))]

    def queryset(self, request, queryset):
        if self.value() in ("rule", "manual"):
            return queryset.filter(created_by_rule=self.value() == "rule")
        return queryset


class OptOutActiveListFilter(admin.SimpleListFilter):
    title = _("active")
    parameter_name = "active"

    def lookups(self, request, model_admin):
        return [("yes", _("Yes")), ("no", _("No (expired)"))]

    def queryset(self, request, queryset):
        active = OptOut.active_q(timezone.now())
        if self.value() == "yes":
            return queryset.filter(active)
        if self.value() == "no":
            return queryset.exclude(active)
        return queryset


class EventFailureListFilter(admin.SimpleListFilter):
    """Failed events, split by whether the sweep still retries them."""

    title = _("failure")
    parameter_name = "failed"

    def lookups(self, request, model_admin):
        return [
            ("yes", _("Failed")),
            ("retrying", _("Failed, will be retried")),
            ("gave_up", _("Failed, out of attempts")),
        ]

    def queryset(self, request, queryset):
        failed = queryset.filter(status=queryset.model.Status.FAILED)
        most = app_settings.EVENT_MAX_ATTEMPTS
        if self.value() == "yes":
            return failed
        if self.value() == "retrying":
            return failed.filter(attempts__lt=most)
        if self.value() == "gave_up":
            return failed.filter(attempts__gte=most)
        return queryset


class TypeSelectMixin:
    """The ``notification_type`` field as a select of the registered types."""

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        # A select of the registered types, built when the form is (never field choices,
        # which would put the registry into migrations). The model validator still runs.
        if db_field.name == "notification_type":
            return forms.ChoiceField(
                choices=_type_choices,
                label=capfirst(db_field.verbose_name),
                help_text=db_field.help_text,
                required=not db_field.blank,
            )
        return super().formfield_for_dbfield(db_field, request, **kwargs)


class EntityScopedAdminMixin(TypeSelectMixin):
    """Shared by subscriptions and opt-outs: a user × type, optionally one object."""

    list_select_related = ("user", "entity_type")
    raw_id_fields = ("user",)
    readonly_fields = ("created_at",)
    ordering = ("-created_at", "-id")

    def get_search_fields(self, request):
        return (*super().get_search_fields(request), *_user_search_fields("user__"))

    @admin.display(description=_("notification type"), ordering="notification_type")
    def type_display(self, obj) -> str:
        if obj.notification_type in notification_types:
            return _type_label(notification_types.get(obj.notification_type))
        return _("%(key)s (not registered)") % {"key": obj.notification_type}

    @admin.display(description=_("entity type"), ordering="entity_type")
    def entity_type_display(self, obj) -> str:
        return str(obj.entity_type) if obj.entity_type_id else _("all (global)")


class SwitchedOffListFilter(admin.SimpleListFilter):
    """Subscriptions (or rules) with one channel switched off, for each configured channel."""

    title = _("switched off")
    parameter_name = "switched_off"

    def lookups(self, request, model_admin):
        return [(alias, alias) for alias in sorted(channels.keys())]

    def queryset(self, request, queryset):
        if self.value():
            return queryset.filter(ChannelSwitches.switched_off_q(self.value()))
        return queryset


class ChannelSwitchesForm(forms.ModelForm):
    """For models with a channel switch map (subscriptions, rules)."""

    def clean_channels(self):
        # An emptied JSON box would otherwise store NULL in a NOT NULL column.
        value = self.cleaned_data.get("channels")
        return {} if value in (None, "") else value


class SubscriptionAdminForm(ChannelSwitchesForm):
    pass


class SubscriptionAdminMixin(EntityScopedAdminMixin):
    """The subscription admin. ``created_by_rule`` and ``rule`` are shown but not
    editable: a subscription made here is manual, and rule syncs manage the others."""

    form = SubscriptionAdminForm
    list_display = (
        "user", "type_display", "entity_type_display", "entity_id", "switched_off",
        "creation_method", "created_at",
    )  # fmt: skip
    list_filter = (
        NotificationTypeListFilter,
        ("entity_type", admin.RelatedOnlyFieldListFilter),
        SwitchedOffListFilter,
        CreationMethodListFilter,
    )
    list_select_related = ("user", "entity_type", "rule")
    readonly_fields = ("created_at", "created_by_rule", "rule")

    @admin.display(description=_("switched off"))
    def switched_off(self, obj) -> str:
        off = sorted(alias for alias, on in (obj.channels or {}).items() if on is False)
        return ", ".join(off) or "—"

    @admin.display(description=_("creation method"), ordering="created_by_rule")
    def creation_method(self, obj) -> str:
        if not obj.created_by_rule:
            return _("Manual")
        if obj.rule_id:
            return _("Rule: %(rule)s") % {"rule": obj.rule}
        return _("Rule")


class OptOutAdminMixin(EntityScopedAdminMixin):
    list_display = (
        "user", "type_display", "entity_type_display", "entity_id", "until", "is_active",
        "created_at",
    )  # fmt: skip
    list_filter = (
        NotificationTypeListFilter,
        ("entity_type", admin.RelatedOnlyFieldListFilter),
        OptOutActiveListFilter,
    )

    @admin.display(description=_("active"), boolean=True)
    def is_active(self, obj) -> bool:
        return obj.until is None or obj.until > timezone.now()


class EventAdminMixin:
    """The outbox as a read-only audit trail, with a "Process now" action.

    Nobody adds or edits events here: the change view is a view. Deleting follows the
    usual delete permission.
    """

    list_display = (
        "notification_type", "status", "attempts", "notification_count", "target_display",
        "created_at", "processed_at", "short_error",
    )  # fmt: skip
    list_filter = (EventFailureListFilter, "status", NotificationTypeListFilter)
    search_fields = ("notification_type", "idempotency_key", "last_error")
    list_select_related = ("target_content_type",)
    date_hierarchy = "created_at"
    ordering = ("-created_at", "-id")
    actions = ("process_now",)
    fields = (
        "notification_type", "status", "attempts", "notification_count", "created_at",
        "processed_at", "error_display", "actor_display", "target_display", "context",
        "recipients", "idempotency_key", "emitted_by",
    )  # fmt: skip
    readonly_fields = fields
    #: Errors listed one by one in the action's message; the rest are counted.
    process_errors_shown = 5

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False  # a view, never a form: saving would overwrite the processor's marks

    def has_process_permission(self, request) -> bool:
        opts = self.opts
        codename = get_permission_codename("change", opts)
        return request.user.has_perm(f"{opts.app_label}.{codename}")

    @admin.display(description=_("last error"))
    def short_error(self, obj) -> str:
        """The error's first line (``Type: message``); the traceback is on the page."""
        if not obj.last_error:
            return ""
        first = obj.last_error.split("\n", 1)[0]
        return format_html('<span title="{}">{}</span>', first, Truncator(first).chars(80))

    @admin.display(description=_("last error"))
    def error_display(self, obj) -> str:
        """The error and its traceback as processing stored them, preformatted."""
        if not obj.last_error:
            return self.get_empty_value_display()
        return format_html('<pre style="white-space: pre-wrap; margin: 0">{}</pre>', obj.last_error)

    @admin.display(description=_("target"))
    def target_display(self, obj) -> str:
        if not obj.target_content_type_id:
            return ""
        return f"{obj.target_content_type} #{obj.target_object_id}"

    @admin.display(description=_("actor"))
    def actor_display(self, obj) -> str:
        if not obj.actor_content_type_id:
            return ""
        actor = obj.actor
        label = f"{obj.actor_content_type} #{obj.actor_object_id}"
        return f"{actor} ({label})" if actor is not None else label

    @admin.action(description=_("Process now"), permissions=["process"])
    def process_now(self, request, queryset):
        """Process the selected pending or failed events now, each in its own
        transaction, regardless of ``EVENT_MAX_ATTEMPTS``. A failure is recorded on its
        event and reported; it never stops the others."""
        model = queryset.model
        due = [model.Status.PENDING, model.Status.FAILED]
        ids = list(queryset.filter(status__in=due).values_list("pk", flat=True))
        processed = already = 0
        errors: list[str] = []
        for pk in ids:
            try:
                if process_event(pk, force=True):
                    processed += 1
                else:
                    already += 1
            except Exception as exc:  # logged and recorded on the row by process_event
                errors.append(f"#{pk}: {type(exc).__name__}: {exc}")
        if not ids:
            self.message_user(
                request,
                _("Nothing to do: none of the selected events is pending or failed."),
                messages.INFO,
            )
            return
        if processed:
            self.message_user(
                request,
                ngettext("Processed %(count)d event.", "Processed %(count)d events.", processed)
                % {"count": processed},
                messages.SUCCESS,
            )
        if already:
            self.message_user(
                request,
                ngettext(
                    "%(count)d event was already processed by another run.",
                    "%(count)d events were already processed by another run.",
                    already,
                )
                % {"count": already},
                messages.INFO,
            )
        if errors:
            shown = "; ".join(errors[: self.process_errors_shown])
            more = len(errors) - self.process_errors_shown
            if more > 0:
                shown += " " + _("(and %(count)d more)") % {"count": more}
            self.message_user(
                request,
                ngettext(
                    "%(count)d event failed: %(errors)s",
                    "%(count)d events failed: %(errors)s",
                    len(errors),
                )
                % {"count": len(errors), "errors": shown},
                messages.ERROR,
            )
