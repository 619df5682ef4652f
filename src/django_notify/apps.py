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

        from . import checks as base_checks
        from .channels import checks as channel_checks
        from .delivery import checks as delivery_checks
        from .realtime import checks as realtime_checks

        for check in (
            base_checks.check_settings,
            channel_checks.check_channels,
            delivery_checks.check_delivery,
            realtime_checks.check_realtime,
        ):
            checks.register(check, "django_notify")
        # Every installed app's notifications.py declares its types; a duplicate key or
        # id raises AlreadyRegistered here, naming both definitions.
        autodiscover_modules("notifications")
        self._connect_rule_sync()
        from .channels import channels
        from .pipeline import entry_points

        # What Notification.send and friends call, and the channels the models check
        # aliases against (see loading.entry_points() and loading.configured_channels()).
        self.entry_points = entry_points
        self.channels = channels
        from .realtime.receivers import connect as connect_realtime

        connect_realtime()  # real-time push after commit (receivers carry dispatch_uids)

    def _connect_rule_sync(self) -> None:
        """Saving or deleting a rule or any criterion (host subclasses included) re-syncs
        the rule's type on commit."""
        from django.apps import apps
        from django.db.models.signals import post_delete, post_save

        from .models.rules import RuleCriterion, SubscriptionRule
        from .rules import receivers

        for signal in (post_save, post_delete):
            signal.connect(
                receivers.rule_changed, sender=SubscriptionRule,
                dispatch_uid=f"django_notify.rule_changed.{signal is post_save}",
            )  # fmt: skip
            for model in apps.get_models():
                if issubclass(model, RuleCriterion):
                    signal.connect(
                        receivers.criterion_changed, sender=model,
                        dispatch_uid=f"django_notify.criterion_changed.{model._meta.label}."
                        f"{signal is post_save}",
                    )  # fmt: skip
