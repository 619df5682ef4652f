"""Admin mixins, and default registrations for the package's own models."""

from django.contrib import admin

from ..loading import get_notification_model
from ..models import (
    ApiToken,
    Delivery,
    Digest,
    Event,
    NotificationPreference,
    NotificationReceipt,
    NotificationTemplate,
    OptOut,
    OrganizationPreference,
    PlatformAlert,
    RecipientSettings,
    Subscription,
    SubscriptionRule,
    WebhookEndpoint,
)
from .alerts import ApiTokenAdminMixin, PlatformAlertAdminMixin
from .delivery import (
    DeliveryAdminMixin,
    DigestAdminMixin,
    NotificationDeliveryAdminMixin,
    NotificationTemplateAdminMixin,
    PreferenceAdminMixin,
    WebhookEndpointAdminMixin,
)
from .mixins import (
    EventAdminMixin,
    NotificationAdminMixin,
    NotificationReceiptAdminMixin,
    OptOutAdminMixin,
    SubscriptionAdminMixin,
)
from .rules import RuleCriterionInline, SubscriptionRuleAdminMixin

__all__ = [
    "ApiTokenAdminMixin",
    "PlatformAlertAdminMixin",
    "DeliveryAdminMixin",
    "DigestAdminMixin",
    "NotificationDeliveryAdminMixin",
    "NotificationTemplateAdminMixin",
    "PreferenceAdminMixin",
    "WebhookEndpointAdminMixin",
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


@admin.register(Delivery)
class DeliveryAdmin(DeliveryAdminMixin, admin.ModelAdmin):
    pass


@admin.register(Digest)
class DigestAdmin(DigestAdminMixin, admin.ModelAdmin):
    pass


@admin.register(NotificationPreference)
class NotificationPreferenceAdmin(PreferenceAdminMixin, admin.ModelAdmin):
    raw_id_fields = ("user",)


@admin.register(OrganizationPreference)
class OrganizationPreferenceAdmin(PreferenceAdminMixin, admin.ModelAdmin):
    pass


@admin.register(RecipientSettings)
class RecipientSettingsAdmin(admin.ModelAdmin):
    list_display = ("user", "quiet_hours_start", "quiet_hours_end", "timezone", "language")
    raw_id_fields = ("user",)


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(WebhookEndpointAdminMixin, admin.ModelAdmin):
    pass


@admin.register(NotificationTemplate)
class NotificationTemplateAdmin(NotificationTemplateAdminMixin, admin.ModelAdmin):
    pass


@admin.register(PlatformAlert)
class PlatformAlertAdmin(PlatformAlertAdminMixin, admin.ModelAdmin):
    pass


@admin.register(ApiToken)
class ApiTokenAdmin(ApiTokenAdminMixin, admin.ModelAdmin):
    pass


_Notification = get_notification_model()
# A swapped model belongs to the host, which registers it with the mixin itself.
if _Notification._meta.app_label == "django_notify":

    @admin.register(_Notification)
    class NotificationAdmin(
        NotificationDeliveryAdminMixin, NotificationAdminMixin, admin.ModelAdmin
    ):
        pass
