from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class DjangoNotifyConfig(AppConfig):
    name = "django_notify"
    label = "django_notify"
    verbose_name = _("Notifications")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.core import checks
        from django.utils.module_loading import autodiscover_modules

        from . import checks as notify_checks

        checks.register(notify_checks.check_settings, "django_notify")
        # Every installed app's notifications.py declares its types; a duplicate key or
        # id raises AlreadyRegistered here, naming both definitions.
        autodiscover_modules("notifications")
