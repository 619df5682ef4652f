from django.conf import settings
from django.contrib import admin

from django_notify.admin import NotificationAdminMixin

from .models import CustomNotification

if getattr(settings, "DJANGO_NOTIFY_NOTIFICATION_MODEL", "") == "swapped.CustomNotification":

    @admin.register(CustomNotification)
    class CustomNotificationAdmin(NotificationAdminMixin, admin.ModelAdmin):
        pass
