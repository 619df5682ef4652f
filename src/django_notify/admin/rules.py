"""Rule admin: criteria edited inline, one polymorphic child form per criterion model
(the built-ins and every host subclass of RuleCriterion)."""

from __future__ import annotations

from django.apps import apps
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.db.models import Count, Q
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from polymorphic.admin import (
    PolymorphicInlineSupportMixin,
    StackedPolymorphicInline,
)
from polymorphic.formsets import BasePolymorphicInlineFormSet

from ..models.rules import RuleCriterion
from ..rules.sync import sync_type
from .mixins import (
    ChannelSwitchesForm,
    NotificationTypeListFilter,
    SwitchedOffListFilter,
    TypeSelectMixin,
)


def criterion_models() -> list[type[RuleCriterion]]:
    """Every concrete criterion model, in a stable order."""
    found = [
        m for m in apps.get_models()
        if issubclass(m, RuleCriterion) and m is not RuleCriterion and not m._meta.abstract
    ]  # fmt: skip
    return sorted(found, key=lambda m: (m._meta.app_label != "django_notify", m._meta.label))


class CriteriaFormSet(BasePolymorphicInlineFormSet):
    def clean(self) -> None:
        super().clean()
        if not getattr(self.instance, "active", False):
            return
        remaining = [
            form for form in self.forms
            if form.has_changed() or form.instance.pk
            if not (self.can_delete and self._should_delete_form(form))
        ]  # fmt: skip
        if not remaining:
            raise ValidationError(_("An active rule needs at least one criterion."))


class RuleCriterionInline(StackedPolymorphicInline):
    model = RuleCriterion
    formset = CriteriaFormSet
    extra = 0

    def get_child_inlines(self):
        return [
            type(f"{m.__name__}Inline", (StackedPolymorphicInline.Child,), {"model": m})
            for m in criterion_models()
        ]


class SubscriptionRuleAdminMixin(TypeSelectMixin, PolymorphicInlineSupportMixin):
    list_display = (
        "name", "notification_type", "active", "priority", "criteria_count",
        "subscription_count", "updated_at",
    )  # fmt: skip
    form = ChannelSwitchesForm
    list_filter = ("active", NotificationTypeListFilter, SwitchedOffListFilter)
    search_fields = ("name", "description", "notification_type")
    ordering = ("notification_type", "-priority", "pk")
    inlines = (RuleCriterionInline,)
    readonly_fields = ("created_at", "updated_at")
    actions = ("sync_now",)

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .annotate(
                _criteria=Count("criteria", distinct=True),
                _subscriptions=Count(
                    "subscriptions", filter=Q(subscriptions__created_by_rule=True), distinct=True
                ),
            )
            .prefetch_related("criteria__polymorphic_ctype")
        )

    @admin.display(description=_("criteria"), ordering="_criteria")
    def criteria_count(self, obj):
        kinds: dict[str, int] = {}
        for criterion in obj.criteria.all():
            name = str(criterion.polymorphic_ctype.model_class()._meta.verbose_name)
            kinds[name] = kinds.get(name, 0) + 1
        breakdown = ", ".join(f"{k}: {v}" for k, v in sorted(kinds.items()))
        return format_html('<span title="{}">{}</span>', breakdown, obj._criteria)

    @admin.display(description=_("subscriptions"), ordering="_subscriptions")
    def subscription_count(self, obj) -> int:
        return obj._subscriptions

    @admin.action(description=_("Sync the selected rules' subscriptions now"))
    def sync_now(self, request, queryset):
        for key in sorted(set(queryset.values_list("notification_type", flat=True))):
            counts = sync_type(key)
            self.message_user(
                request,
                _("%(key)s: %(created)d created, %(updated)d updated, %(deleted)d removed")
                % {"key": key, **counts},
            )
