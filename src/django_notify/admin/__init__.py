"""Admin mixins, and default registrations for the package's own models."""

from django.contrib import admin

from ..loading import get_notification_model
from ..models import NotificationReceipt
from .mixins import NotificationAdminMixin, NotificationReceiptAdminMixin

__all__ = ["NotificationAdminMixin", "NotificationReceiptAdminMixin"]


class NotificationReceiptAdmin(NotificationReceiptAdminMixin, admin.ModelAdmin):
    pass


admin.site.register(NotificationReceipt, NotificationReceiptAdmin)

_Notification = get_notification_model()
# A swapped model belongs to the host, which registers it with the mixin itself.
if _Notification._meta.app_label == "django_notify":

    @admin.register(_Notification)
    class NotificationAdmin(NotificationAdminMixin, admin.ModelAdmin):
        pass
