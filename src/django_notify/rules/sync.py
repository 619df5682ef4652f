"""Turn rules into subscriptions, per notification type, set-based.

For a type, every active rule with criteria is evaluated (standing criteria only); each
matched user is assigned to the highest-priority rule that matches them (ties: lowest
pk), whose channel switches the subscription takes. Rule-created global subscriptions
are then created, updated or deleted to match. Manual subscriptions (``created_by_rule``
False) are never touched, and a user who has one gets no rule subscription.
"""

from __future__ import annotations

import logging
from typing import Any

from django.db import transaction

from .. import signals
from ..audience import only_active

logger = logging.getLogger("django_notify.rules")


def desired_subscriptions(type_key: str) -> dict[Any, Any]:
    """``{user_pk: rule}`` for the rules of ``type_key``."""
    from .models import SubscriptionRule

    rules = (
        SubscriptionRule.objects.filter(notification_type=type_key, active=True)
        .prefetch_related("criteria")
        .order_by("-priority", "pk")
    )
    wanted: dict[Any, Any] = {}
    for rule in rules:
        if not rule.criteria.all():
            logger.warning("rule %s (%s) has no criteria; it matches nobody", rule.pk, rule)
            continue
        for user_pk in only_active(rule.matching_users()).values_list("pk", flat=True):
            wanted.setdefault(user_pk, rule)
    return wanted


def sync_type(type_key: str) -> dict[str, int]:
    """Bring the rule-created subscriptions of ``type_key`` in line with its rules."""
    from ..models import Subscription

    with transaction.atomic():
        wanted = desired_subscriptions(type_key)
        globals_ = Subscription.objects.select_for_update().filter(
            notification_type=type_key, entity_type__isnull=True
        )
        manual = set(globals_.filter(created_by_rule=False).values_list("user_id", flat=True))
        existing = {s.user_id: s for s in globals_.filter(created_by_rule=True)}

        to_create, to_update, to_delete = [], [], []
        for user_pk, rule in wanted.items():
            if user_pk in manual:
                continue
            sub = existing.get(user_pk)
            if sub is None:
                to_create.append(
                    Subscription(
                        user_id=user_pk,
                        notification_type=type_key,
                        created_by_rule=True,
                        rule=rule,
                        email_enabled=rule.email_enabled,
                        in_app_enabled=rule.in_app_enabled,
                    )  # fmt: skip
                )
            elif (sub.rule_id, sub.email_enabled, sub.in_app_enabled) != (
                rule.pk,
                rule.email_enabled,
                rule.in_app_enabled,
            ):
                sub.rule_id = rule.pk
                sub.email_enabled = rule.email_enabled
                sub.in_app_enabled = rule.in_app_enabled
                to_update.append(sub)
        for user_pk, sub in existing.items():
            if user_pk not in wanted or user_pk in manual:
                to_delete.append(sub)

        created = Subscription.objects.bulk_create(to_create, batch_size=1000)
        Subscription.objects.bulk_update(
            to_update, ["rule", "email_enabled", "in_app_enabled"], batch_size=1000
        )
        Subscription.objects.filter(pk__in=[s.pk for s in to_delete]).delete()
        if created:
            signals.subscriptions_created_by_rule.send(
                sender=Subscription, notification_type=type_key, subscriptions=created
            )
        if to_delete:
            signals.subscriptions_removed_by_rule.send(
                sender=Subscription, notification_type=type_key, subscriptions=to_delete
            )
    return {"created": len(created), "updated": len(to_update), "deleted": len(to_delete)}


def sync_all() -> dict[str, dict[str, int]]:
    """Sync every type that has rules or rule-created subscriptions."""
    from ..models import Subscription
    from .models import SubscriptionRule

    keys = set(SubscriptionRule.objects.values_list("notification_type", flat=True))
    keys |= set(
        Subscription.objects.filter(created_by_rule=True).values_list(
            "notification_type", flat=True
        )
    )
    return {key: sync_type(key) for key in sorted(keys)}


def per_event_users(type_key: str, target: Any):
    """Users matched by the per-event criteria of ``type_key``'s active rules, for one
    event's target (a user queryset; empty when no rule has such criteria)."""
    from django.contrib.auth import get_user_model
    from django.db.models import Q

    from .models import SubscriptionRule

    rules = SubscriptionRule.objects.filter(
        notification_type=type_key, active=True
    ).prefetch_related("criteria")
    q = Q(pk__in=[])
    for rule in rules:
        q |= Q(pk__in=rule.matching_users(target, per_event=True).values("pk"))
    return get_user_model()._default_manager.filter(q)


def schedule_sync(*type_keys: str) -> None:
    """Sync the given types when the current transaction commits (at once outside one).

    Syncing is idempotent, so a type scheduled twice costs a second pass, never a
    wrong result; nothing is remembered across a rollback.
    """
    for key in {k for k in type_keys if k}:
        transaction.on_commit(lambda key=key: sync_type(key), robust=True)
