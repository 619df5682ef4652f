"""Admin mixins, and default registrations for the package's own models."""

from django.contrib import admin

from ..loading import get_notification_model
from ..models import Event, NotificationReceipt, OptOut, Subscription, SubscriptionRule
from .mixins import (
    EventAdminMixin,
    NotificationAdminMixin,
    NotificationReceiptAdminMixin,
    OptOutAdminMixin,
    SubscriptionAdminMixin,
)
from .rules import RuleCriterionInline, SubscriptionRuleAdminMixin

__all__ = [
    "EventAdminMixin",
    "NotificationAdminMixin",
    "NotificationReceiptAdminMixin",
    "OptOutAdminMixin",
    "SubscriptionAdminMixin",
    "SubscriptionRuleAdminMixin",
    "RuleCriterionInline",
]


class NotificationReceiptAdmin(NotificationReceiptAdminMixin, admin.ModelAdmin):
    pass


admin.site.register(NotificationReceipt, NotificationReceiptAdmin)


@admin.register(Event)
class EventAdmin(EventAdminMixin, admin.ModelAdmin):
    pass


@admin.register(Subscription)
class SubscriptionAdmin(SubscriptionAdminMixin, admin.ModelAdmin):
    pass


@admin.register(SubscriptionRule)
class SubscriptionRuleAdmin(SubscriptionRuleAdminMixin, admin.ModelAdmin):
    pass


@admin.register(OptOut)
class OptOutAdmin(OptOutAdminMixin, admin.ModelAdmin):
    pass


_Notification = get_notification_model()
# A swapped model belongs to the host, which registers it with the mixin itself.
if _Notification._meta.app_label == "django_notify":

    @admin.register(_Notification)
    class NotificationAdmin(NotificationAdminMixin, admin.ModelAdmin):
        pass
