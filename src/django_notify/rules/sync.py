"""Turn rules into subscriptions, per notification type, set-based; and decide, per
event, what the per-event criteria add.

Standing criteria: for a type, every active rule with criteria is evaluated; each matched
user is assigned to the highest-priority rule that matches them (ties: lowest pk), whose
channel switches the subscription takes. Rule-created global subscriptions are then
created, updated or deleted to match. Manual subscriptions (``created_by_rule`` False)
are never touched, and a user who has a global one gets no rule subscription.

Per-event criteria (:func:`per_event_decisions`) follow the same priority: for one
event, the highest-priority active rule that matches a user, through a per-event
criterion on the event's target or through the user's rule subscription, decides that
user's switches.
"""

from __future__ import annotations

import logging
from typing import Any

from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import Q

from .. import signals
from ..models import Subscription
from ..models.rules import SubscriptionRule
from ..models.subscription import entity_q
from ..tenancy import only_active

logger = logging.getLogger("django_notify.rules")


class SyncCounts(dict):
    """What :func:`sync_type` did: ``{"created": n, "updated": n, "deleted": n}`` (it
    compares equal to that plain dict), plus :attr:`rules_without_criteria`, the active
    rules of the type that have no criteria and so match nobody."""

    def __init__(self, *args: Any, rules_without_criteria: list | None = None, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.rules_without_criteria: list = list(rules_without_criteria or ())

    def __repr__(self) -> str:
        bare = ", ".join(f"{r.name!r} (#{r.pk})" for r in self.rules_without_criteria)
        return f"{dict(self)!r}" + (f" rules without criteria: {bare}" if bare else "")


def describe_rule_without_criteria(rule) -> str:
    """The message naming an active rule that has no criteria."""
    return (
        f"Subscription rule {rule.name!r} (#{rule.pk}, type {rule.notification_type}) is "
        "active but has no criteria, so it matches nobody: add a criterion or deactivate it."
    )


def ranked_rules(type_key: str) -> list:
    """The active rules of ``type_key`` with their criteria, highest priority first
    (ties: lowest pk)."""
    return list(
        SubscriptionRule.objects.filter(notification_type=type_key, active=True)
        .prefetch_related("criteria")
        .order_by("-priority", "pk")
    )


def _desired(type_key: str) -> tuple[dict[Any, Any], list]:
    wanted: dict[Any, Any] = {}
    bare = []
    for rule in ranked_rules(type_key):
        if not rule.criteria.all():
            logger.warning(describe_rule_without_criteria(rule))
            bare.append(rule)
            continue
        if all(c.per_event for c in rule.criteria.all()):
            continue  # nothing standing to evaluate
        for user_pk in only_active(rule.matching_users()).values_list("pk", flat=True):
            wanted.setdefault(user_pk, rule)
    return wanted, bare


def desired_subscriptions(type_key: str) -> dict[Any, Any]:
    """``{user_pk: rule}`` for the rules of ``type_key``."""
    return _desired(type_key)[0]


def rules_without_criteria(type_key: str | None = None):
    """Active rules (of ``type_key``, or of every type) that have no criteria."""
    rules = SubscriptionRule.objects.filter(active=True, criteria__isnull=True)
    if type_key is not None:
        rules = rules.filter(notification_type=type_key)
    return rules.order_by("notification_type", "-priority", "pk")


def sync_type(type_key: str) -> SyncCounts:
    """Bring the rule-created subscriptions of ``type_key`` in line with its rules.

    Active rules without criteria are skipped with a warning naming them and listed in
    the result's ``rules_without_criteria``.
    """
    with transaction.atomic():
        wanted, bare = _desired(type_key)
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
                        channels=dict(rule.channels or {}),
                    )  # fmt: skip
                )
            elif (sub.rule_id, sub.channels) != (rule.pk, rule.channels or {}):
                # A rule-created subscription carries its rule's switches, all of them.
                sub.rule_id = rule.pk
                sub.channels = dict(rule.channels or {})
                to_update.append(sub)
        for user_pk, sub in existing.items():
            if user_pk not in wanted or user_pk in manual:
                to_delete.append(sub)

        created = Subscription.objects.bulk_create(to_create, batch_size=1000)
        Subscription.objects.bulk_update(to_update, ["rule", "channels"], batch_size=1000)
        Subscription.objects.filter(pk__in=[s.pk for s in to_delete]).delete()
        if created:
            signals.subscriptions_created_by_rule.send(
                sender=Subscription, notification_type=type_key, subscriptions=created
            )
        if to_delete:
            signals.subscriptions_removed_by_rule.send(
                sender=Subscription, notification_type=type_key, subscriptions=to_delete
            )
    return SyncCounts(
        created=len(created),
        updated=len(to_update),
        deleted=len(to_delete),
        rules_without_criteria=bare,
    )


def sync_rule(rule) -> SyncCounts:
    """Validate ``rule`` (``ValidationError`` if, active, it has no criteria) and
    re-evaluate the rules of its type now."""
    rule.full_clean()
    return sync_type(rule.notification_type)


def sync_all() -> dict[str, SyncCounts]:
    """Sync every type that has rules or rule-created subscriptions."""
    keys = set(SubscriptionRule.objects.values_list("notification_type", flat=True))
    keys |= set(
        Subscription.objects.filter(created_by_rule=True).values_list(
            "notification_type", flat=True
        )
    )
    return {key: sync_type(key) for key in sorted(keys)}


def per_event_decisions(type_key: str, target: Any, channel: str = "in_app", *, rules=None):
    """``(on, off)``: user querysets of the users whose ``channel`` switch, for one event
    of ``type_key`` on ``target``, a per-event criterion decides.

    For each user, the highest-priority active rule (ties: lowest pk) that matches them,
    through one of its per-event criteria evaluated on ``target`` or through the user's
    rule-created subscription (the highest-priority rule whose standing criteria match
    them), decides. When that is a rule matching through a per-event criterion:

    - ``on``: its switch is on. Users with a manual subscription to the type, global or
      on ``target``, whose own switch is off are left out: their switches win;
    - ``off``: its switch is off. Such a user's lower-priority rule subscription must not
      reach them either (the caller removes them from the rule subscribers).

    A user whose rule subscription comes from a higher-priority rule is in neither: the
    subscription decides. Set-based: the rules, their criteria and one subquery per
    per-event rule, whatever the number of users; nothing is evaluated when no rule of
    the type has per-event criteria. ``rules``: :func:`ranked_rules` of the type, when
    the caller decides several channels.
    """
    users = get_user_model()._default_manager
    if rules is None:
        rules = ranked_rules(type_key)
    rules = [r for r in rules if r.criteria.all()]
    if not any(c.per_event for r in rules for c in r.criteria.all()):
        return users.none(), users.none()

    on_q: Q | None = None
    off_q: Q | None = None
    higher: Q | None = None  # users a higher-ranked per-event criterion matched
    above: list = []  # pks of the higher-ranked rules
    for rule in rules:
        if any(c.per_event for c in rule.criteria.all()):
            matched = Q(pk__in=rule.matching_users(target, per_event=True).values("pk"))
            decided = matched
            if higher is not None:
                decided &= ~higher
            if above:
                outranked = Subscription.objects.filter(
                    notification_type=type_key,
                    created_by_rule=True,
                    entity_type__isnull=True,
                    rule_id__in=above,
                ).values("user_id")
                decided &= ~Q(pk__in=outranked)
            if rule.channel_enabled(channel):
                on_q = decided if on_q is None else on_q | decided
            else:
                off_q = decided if off_q is None else off_q | decided
            higher = matched if higher is None else higher | matched
        above.append(rule.pk)

    on, off = users.none(), users.none()
    if on_q is not None:
        manual_off = Subscription.objects.filter(
            entity_q(target),
            Subscription.switched_off_q(channel),
            notification_type=type_key,
            created_by_rule=False,
        ).values("user_id")
        on = users.filter(on_q).exclude(pk__in=manual_off)
    if off_q is not None:
        off = users.filter(off_q)
    return on, off


def per_event_users(type_key: str, target: Any, channel: str = "in_app"):
    """Users the per-event criteria of ``type_key``'s rules add for one event on
    ``target`` (the ``on`` half of :func:`per_event_decisions`)."""
    return per_event_decisions(type_key, target, channel)[0]


def schedule_sync(*type_keys: str) -> None:
    """Sync the given types when the current transaction commits (at once outside one).

    Syncing is idempotent, so a type scheduled twice costs a second pass, never a
    wrong result; nothing is remembered across a rollback.
    """
    for key in {k for k in type_keys if k}:
        transaction.on_commit(lambda key=key: sync_type(key), robust=True)
