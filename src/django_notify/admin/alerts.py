"""Admin for the staff side of the notification centre: platform alerts and API tokens.

Both admins change rows only through the service code, never with a plain ``save()``:
an alert is raised with :func:`~django_notify.alerts.raise_alert` (so the add form
deduplicates like any other caller) and resolved with
:func:`~django_notify.alerts.resolve`; a token is made with ``ApiToken.create`` (so its
key is generated and hashed in one place) and its key is shown once.
"""

from __future__ import annotations

import re

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.utils.html import format_html
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from ..alerts.queries import severity_rank_expression, with_severity_rank
from ..alerts.service import raise_alert, resolve, resolve_many
from ..alerts.validation import clean_alert
from ..models import AlertType, ApiToken, PlatformAlert, Severity
from .mixins import _user_search_fields

# --- platform alerts --------------------------------------------------------------------

#: Badge colours per severity (background, text); readable on light and dark admin themes.
SEVERITY_COLOURS = {
    Severity.INFO: ("#e7eef7", "#1f4e79"),
    Severity.WARNING: ("#fff3cd", "#7a5200"),
    Severity.ERROR: ("#f8d7da", "#842029"),
    Severity.CRITICAL: ("#842029", "#ffffff"),
}


class AlertTypeListFilter(admin.SimpleListFilter):
    """The usual types plus whatever types hosts have raised (one DISTINCT query)."""

    title = _("alert type")
    parameter_name = "alert_type"

    def lookups(self, request, model_admin):
        known = dict(AlertType.choices)
        raised = model_admin.model._default_manager.order_by().values_list("alert_type", flat=True)
        for value in raised.distinct():
            known.setdefault(value, value)
        return sorted(known.items(), key=lambda item: str(item[1]).lower())

    def queryset(self, request, queryset):
        if self.value():
            return queryset.filter(alert_type=self.value())
        return queryset


class ListField(forms.CharField):
    """A JSON list of strings typed as one entry per line or comma-separated."""

    widget = forms.Textarea(attrs={"rows": 2, "cols": 60})

    def prepare_value(self, value):
        if isinstance(value, list | tuple):
            return "\n".join(str(item) for item in value)
        return value

    def to_python(self, value):
        value = super().to_python(value)
        return [item.strip() for item in re.split(r"[,\n]", value or "") if item.strip()]


class PlatformAlertAddForm(forms.ModelForm):
    """Raising an alert by hand; saved through ``raise_alert``, so it deduplicates.

    ``fingerprint`` is declared here and left out of ``Meta.fields`` on purpose: as a
    model field, form validation would check the one-open-alert-per-fingerprint
    constraint and refuse exactly the case ``raise_alert`` handles by counting an
    occurrence.
    """

    fingerprint = forms.CharField(
        label=_("fingerprint"),
        required=False,
        max_length=PlatformAlert._meta.get_field("fingerprint").max_length,
        help_text=_(
            "Alerts with the same fingerprint are one problem. Leave empty to derive it "
            "from the type and the title."
        ),
    )
    affected_systems = ListField(
        label=_("affected systems"),
        required=False,
        help_text=_("One per line, or comma-separated."),
    )
    affected_organizations = ListField(
        label=_("affected organizations"),
        required=False,
        help_text=_("Organization keys, one per line or comma-separated."),
    )

    class Meta:
        model = PlatformAlert
        fields = (
            "alert_type", "severity", "title", "message", "affected_systems",
            "affected_organizations", "meta_data",
        )  # fmt: skip
        help_texts = {
            "alert_type": _("One of %(types)s, or your own (at most 50 characters).")
            % {"types": ", ".join(AlertType.values)},
        }

    def clean(self):
        cleaned = super().clean()
        if self.errors:
            return cleaned
        try:
            self.alert_data = clean_alert(
                cleaned.get("alert_type"),
                cleaned.get("severity"),
                cleaned.get("title"),
                cleaned.get("message"),
                fingerprint=cleaned.get("fingerprint"),
                affected_systems=cleaned.get("affected_systems"),
                affected_organizations=cleaned.get("affected_organizations"),
                meta_data=cleaned.get("meta_data"),
            )
        except ValidationError as exc:
            for field, errors in exc.message_dict.items():
                self.add_error(field if field in self.fields else None, errors)
        return cleaned


class PlatformAlertChangeForm(forms.ModelForm):
    class Meta:
        model = PlatformAlert
        fields = ("resolution_notes",)
        help_texts = {
            "resolution_notes": _(
                "Saving an open alert with notes resolves it. On a resolved alert, this "
                "edits the notes."
            )
        }


class PlatformAlertAdminMixin:
    """The platform alert list: severity badges, filters, search, "Resolve selected".

    The change form is a view of the alert plus one field, the resolution notes:
    saving an open alert with notes resolves it (as the logged-in user). Occurrence
    fields are read-only, and nothing is written with a full ``save()``, which would
    overwrite occurrences counted while the form was open.
    """

    list_display = (
        "severity_badge", "title", "alert_type", "occurrence_count", "first_occurred_at",
        "last_occurred_at", "is_resolved",
    )  # fmt: skip
    list_display_links = ("title",)
    list_filter = ("severity", AlertTypeListFilter, "is_resolved")
    search_fields = ("title", "message", "fingerprint", "resolution_notes")
    actions = ("resolve_selected",)
    add_fieldsets = (
        (None, {"fields": ("alert_type", "severity", "title", "message")}),
        (
            _("Scope and grouping"),
            {"fields": ("affected_systems", "affected_organizations", "meta_data", "fingerprint")},
        ),
    )
    change_fieldsets = (
        (None, {"fields": ("severity_badge", "alert_type", "title", "message")}),
        (
            _("Occurrences"),
            {
                "fields": (
                    "occurrence_count",
                    "first_occurred_at",
                    "last_occurred_at",
                    "fingerprint",
                )
            },
        ),
        (_("Scope"), {"fields": ("affected_systems", "affected_organizations", "meta_data")}),
        (
            _("Resolution"),
            {"fields": ("is_resolved", "resolved_at", "resolved_by", "resolution_notes")},
        ),
    )
    change_readonly_fields = (
        "severity_badge", "alert_type", "title", "message", "occurrence_count",
        "first_occurred_at", "last_occurred_at", "fingerprint", "affected_systems",
        "affected_organizations", "meta_data", "is_resolved", "resolved_at", "resolved_by",
    )  # fmt: skip

    def get_queryset(self, request):
        return with_severity_rank(super().get_queryset(request))

    def get_ordering(self, request):
        # Open before resolved, the most severe first, then the most recently seen. The
        # rank as an expression, not the annotation's name: the base get_queryset()
        # orders before the annotation above is added.
        rank = severity_rank_expression()
        return ("is_resolved", rank.desc(), "-last_occurred_at", "-id")

    def get_fieldsets(self, request, obj=None):
        return self.add_fieldsets if obj is None else self.change_fieldsets

    def get_readonly_fields(self, request, obj=None):
        return () if obj is None else self.change_readonly_fields

    def get_form(self, request, obj=None, **kwargs):
        if obj is None:
            kwargs["form"] = PlatformAlertAddForm
            kwargs["fields"] = PlatformAlertAddForm.Meta.fields
        else:
            kwargs["form"] = PlatformAlertChangeForm
        return super().get_form(request, obj, **kwargs)

    @admin.display(description=_("severity"), ordering=severity_rank_expression())
    def severity_badge(self, obj) -> str:
        background, colour = SEVERITY_COLOURS.get(obj.severity, ("#eeeeee", "#333333"))
        return format_html(
            '<span class="notify-severity notify-severity-{}" style="background:{};color:{};'
            'padding:1px 8px;border-radius:8px;font-weight:600;white-space:nowrap">{}</span>',
            obj.severity,
            background,
            colour,
            obj.get_severity_display(),
        )

    def save_model(self, request, obj, form, change):
        if not change:
            alert, created = raise_alert(**form.alert_data)
            # The admin goes on with ``obj`` (history entry, redirect): make it the row.
            for field in alert._meta.concrete_fields:
                setattr(obj, field.attname, getattr(alert, field.attname))
            obj._state.adding = False
            obj._state.db = alert._state.db
            if not created:
                self.message_user(
                    request,
                    _(
                        "An open alert with this fingerprint already existed: this was "
                        "counted as its occurrence %(count)d."
                    )
                    % {"count": alert.occurrence_count},
                    messages.WARNING,
                )
            return
        notes = form.cleaned_data.get("resolution_notes", "").strip()
        if not obj.is_resolved and notes:
            resolve(obj, request.user, notes)
            self.message_user(request, _("The alert was resolved."), messages.SUCCESS)
        elif "resolution_notes" in form.changed_data and obj.is_resolved:
            type(obj)._default_manager.filter(pk=obj.pk).update(resolution_notes=notes)

    @admin.action(description=_("Resolve selected alerts"), permissions=["change"])
    def resolve_selected(self, request, queryset):
        notes = f"Resolved from the admin by {request.user.get_username()}"
        resolved = resolve_many(queryset, request.user, notes)
        skipped = queryset.count() - len(resolved)
        self.message_user(
            request,
            ngettext("Resolved %(count)d alert.", "Resolved %(count)d alerts.", len(resolved))
            % {"count": len(resolved)},
            messages.SUCCESS if resolved else messages.INFO,
        )
        if skipped:
            self.message_user(
                request,
                ngettext(
                    "%(count)d alert was already resolved.",
                    "%(count)d alerts were already resolved.",
                    skipped,
                )
                % {"count": skipped},
                messages.INFO,
            )


# --- API tokens -------------------------------------------------------------------------


class ApiTokenAddForm(forms.ModelForm):
    class Meta:
        model = ApiToken
        fields = ("user", "name", "expires_at")

    #: Set by the admin: the user adding the token.
    request_user = None

    def clean_user(self):
        user = self.cleaned_data["user"]
        me = self.request_user
        # A token acts as its user: a staff member who could mint one for anyone could
        # act as a superuser through the API.
        if me is not None and not me.is_superuser and user.pk != me.pk:
            raise ValidationError(
                _("Only superusers may create tokens for other users."), code="not_yours"
            )
        return user


class ApiTokenAdminMixin:
    """API tokens: who has one, when it was last used, and a "Deactivate" action.

    The key is never shown: only its hash is stored. Adding a token here generates a
    key and shows it once, in a message after saving. Only superusers may add tokens
    for users other than themselves.
    """

    list_display = (
        "prefix_display", "user", "name", "is_active", "last_used_at", "expires_at",
        "created_at",
    )  # fmt: skip
    list_display_links = ("prefix_display", "name")
    list_filter = ("is_active",)
    list_select_related = ("user",)
    raw_id_fields = ("user",)
    actions = ("deactivate",)
    ordering = ("-created_at", "-id")
    add_fields = ("user", "name", "expires_at")
    change_fields = (
        "prefix_display", "user", "name", "is_active", "expires_at", "created_at",
        "last_used_at",
    )  # fmt: skip
    change_readonly_fields = ("prefix_display", "user", "created_at", "last_used_at")

    def get_search_fields(self, request):
        return ("name", "prefix", *_user_search_fields("user__"))

    def get_fields(self, request, obj=None):
        return self.add_fields if obj is None else self.change_fields

    def get_readonly_fields(self, request, obj=None):
        return () if obj is None else self.change_readonly_fields

    def get_form(self, request, obj=None, **kwargs):
        if obj is not None:
            return super().get_form(request, obj, **kwargs)
        kwargs["form"] = ApiTokenAddForm
        form = super().get_form(request, obj, **kwargs)
        return type(form.__name__, (form,), {"request_user": request.user})

    @admin.display(description=_("key"), ordering="prefix")
    def prefix_display(self, obj) -> str:
        return f"{obj.prefix}…" if obj.prefix else ""

    def save_model(self, request, obj, form, change):
        if change:
            super().save_model(request, obj, form, change)
            return
        token, key = ApiToken.create(obj.user, obj.name, expires_at=obj.expires_at)
        for field in token._meta.concrete_fields:
            setattr(obj, field.attname, getattr(token, field.attname))
        obj._state.adding = False
        obj._state.db = token._state.db
        self.message_user(
            request,
            format_html(
                gettext(
                    "The key of {} is <code>{}</code>. Copy it now: it is not stored and "
                    "cannot be shown again."
                ),
                obj.name,
                key,
            ),
            messages.WARNING,
        )

    @admin.action(description=_("Deactivate selected tokens"), permissions=["change"])
    def deactivate(self, request, queryset):
        count = queryset.filter(is_active=True).update(is_active=False)
        self.message_user(
            request,
            ngettext("Deactivated %(count)d token.", "Deactivated %(count)d tokens.", count)
            % {"count": count},
            messages.SUCCESS,
        )
