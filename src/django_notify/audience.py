"""Who an event reaches: explicit recipients ∪ subscribers ∪ users matched by per-event
rule criteria − opt-outs − inactive users, de-duplicated. Set-based: a handful of queries
whatever the audience size.

Rules take part with their priority: a user's rule-created subscription (from the
highest-priority rule whose standing criteria match them) counts unless a
higher-priority rule matching them through a per-event criterion switched the channel
off; per-event matches count when the deciding rule's switch is on and the user has no
manual subscription (global or on the target) with that switch off. See
:func:`django_notify.rules.sync.per_event_decisions`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.contenttypes.models import ContentType
from django.db.models import Q
from django.utils import timezone


def only_active(users):
    """Drop inactive users, when the user model has an ``is_active`` field at all."""
    if any(f.name == "is_active" for f in users.model._meta.concrete_fields):
        return users.filter(is_active=True)
    return users


def entity_q(target: Any, prefix: str = "") -> Q:
    """Rows for every object (no entity) or for ``target`` itself."""
    q = Q(**{f"{prefix}entity_type__isnull": True})
    if target is not None and getattr(target, "pk", None) is not None:
        ct = ContentType.objects.get_for_model(target)
        q |= Q(**{f"{prefix}entity_type": ct, f"{prefix}entity_id": str(target.pk)})
    return q


def switched_off_q(channel: str) -> Q:
    """Subscriptions whose switch for ``channel`` is off."""
    if channel == "in_app":
        return Q(in_app_enabled=False)
    if channel == "email":
        return Q(email_enabled=False)
    # other channels are on unless switched off by name in `channels`
    return Q(channels__has_key=channel) & Q(**{f"channels__{channel}": False})


def subscribers(
    type_key: str,
    target: Any = None,
    channel: str = "in_app",
    *,
    created_by_rule: bool | None = None,
):
    """User pks subscribed to ``type_key`` (globally or on ``target``) with ``channel`` on,
    as a one-column queryset (a subquery, never a list in memory). ``created_by_rule``
    narrows it to rule-created (True) or manual (False) subscriptions."""
    from .models import Subscription

    subs = Subscription.objects.filter(entity_q(target), notification_type=type_key)
    if created_by_rule is not None:
        subs = subs.filter(created_by_rule=created_by_rule)
    return subs.exclude(switched_off_q(channel)).values("user_id")


def subscribed_q(type_key: str, target: Any = None, channel: str = "in_app") -> Q:
    """Users (a ``Q`` on the user model) that subscriptions and rules reach on
    ``channel`` for an event of ``type_key`` on ``target``: manual subscribers ∪ rule
    subscribers a higher-priority per-event rule did not switch off ∪ the users
    per-event rules switched on."""
    from .rules.sync import per_event_decisions

    on, off = per_event_decisions(type_key, target, channel)
    ruled = subscribers(type_key, target, channel, created_by_rule=True)
    if off.query.is_empty():
        wanted = Q(pk__in=subscribers(type_key, target, channel))
    else:
        wanted = Q(pk__in=subscribers(type_key, target, channel, created_by_rule=False))
        wanted |= Q(pk__in=ruled.exclude(user_id__in=off.values("pk")))
    if not on.query.is_empty():
        wanted |= Q(pk__in=on.values("pk"))
    return wanted


def opted_out(type_key: str, target: Any = None):
    """User pks with an active opt-out for ``type_key`` on ``target`` (or globally)."""
    from .models import OptOut

    outs = OptOut.objects.filter(
        entity_q(target), OptOut.active_q(timezone.now()), notification_type=type_key
    )
    return outs.values("user_id")


def resolve(
    type_key: str,
    *,
    target: Any = None,
    recipients: Iterable[Any] = (),
    extra: Any = None,
    channel: str = "in_app",
) -> list[Any]:
    """The user pks an event of ``type_key`` on ``target`` notifies, sorted: one query
    (after the rules and their criteria are read).

    ``extra`` is more users (pks, users or a queryset), e.g. a type's default audience.
    Explicit recipients and ``extra`` are in whatever the switches say; opt-outs and
    inactive users are out whatever the reason they were in.
    """
    users = get_user_model()._default_manager
    wanted = subscribed_q(type_key, target, channel)
    explicit = [getattr(r, "pk", r) for r in recipients]
    if explicit:
        wanted |= Q(pk__in=explicit)
    if extra is not None:
        if hasattr(extra, "values_list") and hasattr(extra, "query"):
            wanted |= Q(pk__in=extra.values("pk"))
        else:
            wanted |= Q(pk__in=[getattr(u, "pk", u) for u in extra])
    chosen = only_active(users.filter(wanted).exclude(pk__in=opted_out(type_key, target)))
    return list(chosen.order_by("pk").values_list("pk", flat=True))
