from django.conf import settings
from django.contrib import admin

from django_notify.admin import NotificationAdminMixin, NotificationDeliveryAdminMixin

from .models import CustomNotification

if getattr(settings, "DJANGO_NOTIFY_NOTIFICATION_MODEL", "") == "swapped.CustomNotification":

    @admin.register(CustomNotification)
    class CustomNotificationAdmin(
        NotificationDeliveryAdminMixin, NotificationAdminMixin, admin.ModelAdmin
    ):
        pass
