"""Stage 1, the audience: who a write reaches, on which channel.

- An **event** reaches its explicit recipients ∪ its type's default audience ∪ the
  subscribers ∪ the users its rules' per-event criteria match, minus opt-outs and
  inactive users, channel by channel (:func:`event_reach`). Set-based: a handful of
  queries whatever the audience size.
- A **send** (``send``, ``send_to_self``, ``send_system``, ``notify``) names its
  recipients. Subscriptions only switch channels off for them (:func:`subscription_switches`)
  and opt-outs skip the channels that are not required (:func:`opted_out_users`).
- A **broadcast** row (team, organization, system) reaches the members the tenancy
  adapter reports (:func:`members`); it stays one row however large the audience.

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
from django.db.models import BooleanField, ExpressionWrapper, Q
from django.utils import timezone

from ..id_lists import in_ids
from ..models import OptOut, Subscription
from ..models.subscription import entity_q
from ..rules.sync import per_event_decisions, ranked_rules
from ..tenancy import get_adapter, only_active
from ..types import Scope


def _subscriptions(type_key: str, target: Any):
    """Subscriptions to ``type_key``, global or on ``target``: what both an event's
    audience and a send's channel switches read."""
    return Subscription.objects.filter(entity_q(target), notification_type=type_key)


def subscribers(
    type_key: str,
    target: Any,
    channel: str,
    *,
    created_by_rule: bool | None = None,
):
    """User pks subscribed to ``type_key`` (globally or on ``target``) with ``channel`` on,
    as a one-column queryset (a subquery, never a list in memory). ``created_by_rule``
    narrows it to rule-created (True) or manual (False) subscriptions."""
    subs = _subscriptions(type_key, target)
    if created_by_rule is not None:
        subs = subs.filter(created_by_rule=created_by_rule)
    return subs.exclude(Subscription.switched_off_q(channel)).values("user_id")


def subscribed_q(type_key: str, target: Any, channel: str, *, rules=None) -> Q:
    """Users (a ``Q`` on the user model) that subscriptions and rules reach on
    ``channel`` for an event of ``type_key`` on ``target``: manual subscribers ∪ rule
    subscribers a higher-priority per-event rule did not switch off ∪ the users
    per-event rules switched on. ``rules``: the type's ranked rules, if already read."""
    on, off = per_event_decisions(type_key, target, channel, rules=rules)
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
    channel: str,
) -> list[Any]:
    """The user pks an event of ``type_key`` on ``target`` notifies on ``channel``,
    sorted: one query (after the rules and their criteria are read).

    ``extra`` is more users (pks, users or a queryset), e.g. a type's default audience.
    Explicit recipients and ``extra`` are in whatever the switches say; opt-outs and
    inactive users are out whatever the reason they were in.
    """
    reach = resolve_channels(
        type_key, target=target, recipients=recipients, extra=extra, channels=[channel]
    )
    return sorted(reach[channel])


def resolve_channels(
    type_key: str,
    *,
    target: Any = None,
    recipients: Iterable[Any] = (),
    extra: Any = None,
    channels: Iterable[str],
) -> dict[str, set[Any]]:
    """:func:`resolve` for several channels at once: channel → the user pks it reaches.
    One query for all of them (after the rules are read, once): each user comes with one
    yes/no per channel."""
    channels = list(dict.fromkeys(channels))
    if not channels:
        return {}
    users = get_user_model()._default_manager
    also = Q()
    explicit = [getattr(r, "pk", r) for r in recipients]
    if explicit:
        also |= Q(pk__in=explicit)
    if extra is not None:
        if hasattr(extra, "values_list") and hasattr(extra, "query"):
            also |= Q(pk__in=extra.values("pk"))
        else:
            also |= Q(pk__in=[getattr(u, "pk", u) for u in extra])
    rules = ranked_rules(type_key)
    wanted = {c: subscribed_q(type_key, target, c, rules=rules) | also for c in channels}
    anywhere = Q()
    for q in wanted.values():
        anywhere |= q
    flags = {
        f"reach_{i}": ExpressionWrapper(q, BooleanField()) for i, q in enumerate(wanted.values())
    }
    chosen = only_active(users.filter(anywhere).exclude(pk__in=opted_out(type_key, target)))
    reach: dict[str, set[Any]] = {c: set() for c in channels}
    for pk, *on in chosen.annotate(**flags).values_list("pk", *flags):
        for channel, yes in zip(channels, on, strict=True):
            if yes:
                reach[channel].add(pk)
    return reach


def event_reach(
    event: Any, ntype: Any, channels: Iterable[str], row_channels: list[str]
) -> dict[str, set[Any]]:
    """Channel → the users an event reaches on it, for the type's ``channels`` that are
    configured (``row_channels``, the in-app ones, when it offers none). A subscriber
    with in-app off but email on is still in the audience: their row is born hidden and
    the email goes out."""
    extra = ntype.default_audience(event)
    if extra is not None and not hasattr(extra, "query"):
        extra = list(extra)  # read once, used for every channel
    offered = [c for c in ntype.channels if c in set(channels)] or row_channels
    return resolve_channels(
        event.notification_type,
        target=event.target,
        recipients=event.recipients,
        extra=extra,
        channels=offered,
    )


def members(row: Any) -> list[Any]:
    """User pks a row reaches: its recipient, or a broadcast's (active) members."""
    if row.scope == Scope.USER:
        return [row.recipient_id]
    adapter = get_adapter()
    users = get_user_model()._default_manager
    if row.scope == Scope.TEAM:
        found = adapter.get_team_member_ids([row.team_key])
    elif row.scope == Scope.ORGANIZATION:
        found = adapter.get_organization_member_ids(row.organization_key)
    else:
        found = None
    if found is None:
        chosen = users.all()
    else:
        chosen = users.filter(pk__in=found if hasattr(found, "query") else list(found))
    return list(only_active(chosen).values_list("pk", flat=True))


def subscription_switches(
    user_ids: list[Any], type_key: str, target: Any, channels: list[str]
) -> dict[tuple[Any, str], bool]:
    """(user, channel) → the user's subscription switch for the type; a subscription
    scoped to ``target`` beats a global one. Users without a subscription are absent."""
    found: dict[tuple[Any, str], tuple[int, bool]] = {}
    subs = _subscriptions(type_key, target).filter(in_ids("user_id", user_ids))
    for sub in subs:
        rank = 0 if sub.entity_type_id is None else 1
        for channel in channels:
            current = found.get((sub.user_id, channel))
            if current is None or rank > current[0]:
                found[(sub.user_id, channel)] = (rank, sub.channel_enabled(channel))
    return {key: on for key, (_, on) in found.items()}


def opted_out_users(user_ids: list[Any], type_key: str, target: Any) -> set[Any]:
    """Those of ``user_ids`` with an active opt-out for the type (globally or on
    ``target``): the same opt-outs :func:`resolve` subtracts from an event's audience."""
    outs = opted_out(type_key, target).filter(in_ids("user_id", user_ids))
    return set(outs.values_list("user_id", flat=True))
