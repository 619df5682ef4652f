"""From notification rows to Delivery rows: who gets what, on which channel, when.

Runs inside the transaction that created the notifications, so the rows and the intent
to deliver them commit together. Set-based: a fixed number of queries per batch of rows
sharing a type and target (preferences, organization defaults, subscriptions, opt-outs,
addresses, rate limits, recipient settings), then one bulk insert.

In-app needs no Delivery row: the notification is the in-app delivery (a broadcast stays
one row however large its audience). Only the other channels get one row per recipient.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from django.conf import settings as django_settings
from django.contrib.auth import get_user_model
from django.utils import timezone

from ..audience import entity_q, only_active
from ..conf import app_settings
from ..models import (
    Delivery,
    DeliveryStatus,
    Frequency,
    OptOut,
    RecipientSettings,
    Subscription,
)
from ..tenancy import get_adapter
from ..types import NotificationType, Scope, notification_types
from . import ratelimit, schedule
from .preferences import decide

IN_APP = "in_app"
logger = logging.getLogger("django_notify.delivery")


def type_of(notification) -> type[NotificationType] | None:
    key = notification.notification_type
    return notification_types.get(key) if key and key in notification_types else None


def candidate_channels(ntype: type[NotificationType] | None) -> list[str]:
    """Configured channels the type can go out on, in-app aside."""
    from ..channels import channels

    configured = set(channels.keys())
    names = ntype.channels if ntype is not None else app_settings.DEFAULT_CHANNELS
    return [c for c in names if c != IN_APP and c in configured]


def recipients_of(notification) -> Iterable[Any]:
    """User pks a row reaches: its recipient, or a broadcast's members (active ones)."""
    adapter = get_adapter()
    users = get_user_model()._default_manager
    if notification.scope == Scope.USER:
        return [notification.recipient_id]
    if notification.scope == Scope.TEAM:
        members = adapter.get_team_member_ids([notification.team_key])
    elif notification.scope == Scope.ORGANIZATION:
        members = adapter.get_organization_member_ids(notification.organization_key)
    else:
        members = None
    chosen = users.all() if members is None else users.filter(pk__in=_as_pks(members))
    return list(only_active(chosen).values_list("pk", flat=True))


def _as_pks(values: Any) -> Any:
    if hasattr(values, "query"):
        return values
    return list(values)


def _target_key(notification) -> tuple[Any, str]:
    return (notification.target_content_type_id, notification.target_object_id)


def _subscription_switches(
    user_ids: list[Any], type_key: str, target, channels: list[str]
) -> dict[tuple[Any, str], bool]:
    """(user, channel) → the user's subscription switch for the type; a subscription
    scoped to the row's target beats a global one."""
    found: dict[tuple[Any, str], tuple[int, bool]] = {}
    subs = Subscription.objects.filter(
        entity_q(target), notification_type=type_key, user_id__in=user_ids
    )
    for sub in subs:
        rank = 0 if sub.entity_type_id is None else 1
        for channel in channels:
            current = found.get((sub.user_id, channel))
            if current is None or rank > current[0]:
                found[(sub.user_id, channel)] = (rank, sub.channel_enabled(channel))
    return {key: on for key, (_, on) in found.items()}


def _opted_out(user_ids: list[Any], type_key: str, target) -> set[Any]:
    outs = OptOut.objects.filter(
        entity_q(target),
        OptOut.active_q(timezone.now()),
        notification_type=type_key,
        user_id__in=user_ids,
    )
    return set(outs.values_list("user_id", flat=True))


def recipient_locales(user_ids: Iterable[Any]) -> dict[Any, tuple[str, str, tuple | None]]:
    """user pk → (language, time zone, quiet hours): the user's settings row, then the
    tenancy adapter's hook, then the project's LANGUAGE_CODE / TIME_ZONE."""
    user_ids = list(user_ids)
    from_adapter = get_adapter().get_recipient_locales(user_ids) or {}
    rows = {r.user_id: r for r in RecipientSettings.objects.filter(user_id__in=user_ids)}
    out = {}
    for uid in user_ids:
        row = rows.get(uid)
        language, tz = from_adapter.get(uid, ("", ""))
        if row is not None:
            language = row.language or language
            tz = row.timezone or tz
        quiet = row.quiet_hours if row is not None else None
        try:
            schedule.as_zone(tz or django_settings.TIME_ZONE)
        except (TypeError, ValueError):
            # A row written around the validation must not stop the fan-out.
            logger.warning("user %s has an unknown time zone %r; using TIME_ZONE", uid, tz)
            tz = ""
        if quiet is not None and quiet[0] == quiet[1]:
            quiet = None
        out[uid] = (
            language or django_settings.LANGUAGE_CODE,
            tz or django_settings.TIME_ZONE,
            quiet,
        )
    return out


def _when(
    now: datetime, frequency: str, locale: tuple[str, str, tuple | None], *, bypass: bool
) -> tuple[str, datetime, str]:
    """(status, next attempt, reason) for an enabled delivery."""
    _, tz, quiet = locale
    if bypass:
        return DeliveryStatus.PENDING, now, ""
    due = schedule.deferred_until(
        now,
        frequency=frequency,
        tz=tz,
        quiet=quiet,
        daily_at=app_settings.DIGEST_DAILY_AT,
        weekly_on=app_settings.DIGEST_WEEKDAY,
    )
    if frequency != Frequency.IMMEDIATE:
        return DeliveryStatus.SCHEDULED, due, f"{frequency} digest"
    if due > now:
        return DeliveryStatus.SCHEDULED, due, "quiet hours"
    return DeliveryStatus.PENDING, now, ""


def worth_a_row(ntype: type[NotificationType], reach: dict[str, set[Any]]) -> set[Any]:
    """Users an event reaches only outside in-app who would really get something there
    (a channel on after preferences): a hidden row with nothing to deliver is not made."""
    elsewhere = {c: users for c, users in reach.items() if c != IN_APP}
    candidates = set().union(*elsewhere.values()) - reach.get(IN_APP, set())
    if not candidates:
        return set()
    channels = [c for c in candidate_channels(ntype) if c in elsewhere]
    decisions = decide(
        candidates,
        ntype,
        channels,
        organizations=get_adapter().get_user_organizations(list(candidates)),
        subscriptions={
            (uid, c): False for c in channels for uid in candidates if uid not in elsewhere[c]
        },
    )
    return {uid for (uid, _), d in decisions.items() if d.enabled}


def _organizations(rows, per_row, user_ids, adapter) -> dict[Any, Any]:
    """user pk → organization key for organization defaults. The rows already say it
    (a direct row stores its recipient's organization, a team or organization broadcast
    its own); only system broadcasts ask the adapter."""
    found: dict[Any, Any] = {}
    for row in rows:
        if row.scope != Scope.SYSTEM:
            for uid in per_row[row.pk]:
                found[uid] = row.organization_key
    rest = [uid for uid in user_ids if uid not in found]
    if rest:
        found.update(adapter.get_user_organizations(rest))
    return found


def _hide_in_app(rows: list[Any], decisions, now: datetime) -> None:
    """In-app switched off: the row still exists (other channels deliver it, and it is the
    audit record) but is born dismissed, so no feed shows it. One UPDATE, no signal: the
    user did not act."""
    hidden = [
        row
        for row in rows
        if (row.recipient_id, IN_APP) not in decisions
        or not decisions[(row.recipient_id, IN_APP)].enabled
    ]
    if hidden:
        type(rows[0])._default_manager.filter(pk__in=[r.pk for r in hidden]).update(
            dismissed_at=now
        )
        for row in hidden:
            row.dismissed_at = now


def plan(
    rows: Sequence[Any], *, now: datetime | None = None, reach: dict | None = None
) -> list[Delivery]:
    """Create the Delivery rows for freshly created notifications; returns them.

    ``reach`` maps a channel to the users an event's subscriptions and rules reach on it;
    anyone outside a channel's set has that channel switched off (like a subscription
    switch: it can only switch off)."""
    now = now or timezone.now()
    groups: dict[tuple, list[Any]] = defaultdict(list)
    for row in rows:
        groups[(row.notification_type, row.priority, _target_key(row), row.scope)].append(row)
    created: list[Delivery] = []
    for group in groups.values():
        created += _plan_group(group, now, reach)
    return created


def _plan_group(rows: list[Any], now: datetime, reach: dict | None = None) -> list[Delivery]:
    from ..channels.registry import get_channel

    first = rows[0]
    ntype = type_of(first)
    channels = candidate_channels(ntype)
    # A direct row of a typed notification honours the recipient's in-app switch too.
    in_app = ntype is not None and first.scope == Scope.USER
    if not channels and not in_app:
        return []
    per_row = {row.pk: list(recipients_of(row)) for row in rows}
    user_ids = list(dict.fromkeys(uid for uids in per_row.values() for uid in uids))
    if not user_ids:
        return []
    adapter = get_adapter()
    target = first.target if first.target_content_type_id else None
    # In-app is decided only where the type offers it; a type without it hides the row.
    decided = [*channels, IN_APP] if in_app and IN_APP in ntype.channels else channels
    if reach is not None:
        # An event's audience already weighed subscriptions, rule priorities and manual
        # switches per channel: whoever a channel did not reach has it off.
        subscriptions = {
            (uid, channel): False
            for channel, reached in reach.items()
            for uid in user_ids
            if uid not in reached
        }
    elif ntype is not None:
        subscriptions = _subscription_switches(user_ids, first.notification_type, target, decided)
    else:
        subscriptions = {}
    decisions = decide(
        user_ids,
        ntype,
        decided,
        organizations=_organizations(rows, per_row, user_ids, adapter),
        subscriptions=subscriptions,
        default_channels=None if ntype is not None else app_settings.DEFAULT_CHANNELS,
    )
    if in_app:
        _hide_in_app(rows, decisions, now)
    if not channels:
        return []
    wanted = {key for key, d in decisions.items() if d.enabled and key[1] != IN_APP}
    opted_out = _opted_out(user_ids, first.notification_type, target) if ntype else set()
    enabled_users = sorted({uid for uid, _ in wanted}, key=str)
    users = list(get_user_model()._default_manager.filter(pk__in=enabled_users))
    addresses = {c: get_channel(c).get_addresses(users) for c in channels}
    locales = recipient_locales(enabled_users) if enabled_users else {}
    limit = ratelimit.user_type_limit(ntype)
    used = (
        ratelimit.recent_counts(enabled_users, first.notification_type, channels, limit[1])
        if limit and enabled_users
        else {}
    )
    bypass_at = app_settings.BYPASS_PRIORITY
    bypass = bypass_at is not None and first.priority >= bypass_at

    deliveries = []
    for row in rows:
        for uid in per_row[row.pk]:
            for channel in channels:
                decision = decisions[(uid, channel)]
                fields = {
                    "notification_id": row.pk,
                    "user_id": uid,
                    "channel": channel,
                    "notification_type": row.notification_type,
                    "created_at": now,
                }
                if not decision.enabled:
                    if decision.on_by_default:  # somebody switched it off: say so
                        deliveries.append(
                            Delivery(
                                **fields,
                                status=DeliveryStatus.SKIPPED,
                                reason=f"switched off ({decision.source})",
                            )
                        )
                    continue
                address = addresses[channel].get(uid)
                skip = None
                if uid in opted_out and not decision.required:
                    skip = "opted out"
                elif not address:
                    skip = "no address"
                elif limit is not None:
                    n = used.get((uid, channel), 0)
                    if n >= limit[0]:
                        skip = f"rate limited: {limit[0]} per {ratelimit._describe(limit[1])}"
                    used[(uid, channel)] = n + 1
                if skip:
                    deliveries.append(
                        Delivery(
                            **fields,
                            status=DeliveryStatus.SKIPPED,
                            reason=skip,
                            address=address or "",
                        )
                    )
                    continue
                frequency = decision.frequency
                if frequency != Frequency.IMMEDIATE and not get_channel(channel).supports_digest:
                    frequency = Frequency.IMMEDIATE
                status, due, reason = _when(now, frequency, locales[uid], bypass=bypass)
                deliveries.append(
                    Delivery(
                        **fields,
                        status=status,
                        next_attempt_at=due,
                        reason=reason,
                        address=address,
                        frequency=Frequency.IMMEDIATE if bypass else frequency,
                    )
                )
    return Delivery.objects.bulk_create(deliveries, batch_size=app_settings.BULK_BATCH_SIZE)


def due_now(deliveries: Iterable[Delivery]) -> list[Any]:
    """Pks of the planned deliveries to dispatch right after commit."""
    return [d.pk for d in deliveries if d.status == DeliveryStatus.PENDING]


__all__ = ["candidate_channels", "due_now", "plan", "recipient_locales", "recipients_of"]
