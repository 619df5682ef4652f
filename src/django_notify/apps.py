from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class DjangoNotifyConfig(AppConfig):
    name = "django_notify"
    label = "django_notify"
    verbose_name = _("Notifications")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.core import checks

        from . import checks as notify_checks

        checks.register(notify_checks.check_settings, "django_notify")
