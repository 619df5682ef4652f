"""Model-signal receivers that keep rule-created subscriptions in sync."""

from __future__ import annotations

from ..models import Subscription
from ..models.rules import SubscriptionRule
from .sync import schedule_sync


def rule_changed(sender, instance, **kwargs) -> None:
    # The type the rule has now, and any type it subscribed people to before a change.
    previous = Subscription.objects.filter(rule_id=instance.pk).values_list(
        "notification_type", flat=True
    )
    schedule_sync(instance.notification_type, *set(previous))


def criterion_changed(sender, instance, **kwargs) -> None:
    type_key = (
        SubscriptionRule.objects.filter(pk=instance.rule_id)
        .values_list("notification_type", flat=True)
        .first()
    )
    if type_key:
        schedule_sync(type_key)
