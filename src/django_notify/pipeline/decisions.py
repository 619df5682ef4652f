"""Stage 2, the decisions: for every recipient × channel, on or off, now or later.

Taken before any row exists, from the type's channels and defaults, the recipients'
preferences and their organization's defaults, subscriptions, required channels, quiet
hours and digest frequencies (:func:`django_notify.delivery.decide.decide` weighs
them). A direct row whose recipient switched in-app off is born hidden (dismissed): it
still exists, because the other channels deliver it and it is the audit record.

Set-based: a fixed number of queries per group of rows sharing a type, priority, target
and scope, whatever the number of recipients.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.contrib.auth import get_user_model
from django.db import router

from ..channels import channels as configured_channels
from ..channels.registry import get_channel
from ..conf import app_settings
from ..delivery import ratelimit
from ..delivery.decide import Decision, decide
from ..delivery.locales import default_locale, recipient_locales
from ..id_lists import in_ids
from ..models import Delivery
from ..tenancy import get_adapter
from ..types import NotificationType, Scope, notification_types
from . import audience, shared_deliveries
from .rows import DirectRows, ModelRows


def candidate_channels(ntype: type[NotificationType] | None) -> list[str]:
    """Configured channels the type can go out on that get Delivery rows (the ones that
    deliver by the row itself, in-app, aside)."""
    by_row = set(configured_channels.row_channels())
    configured = set(configured_channels.keys())
    names = ntype.channels if ntype is not None else app_settings.DEFAULT_CHANNELS
    return [c for c in names if c not in by_row and c in configured]


def reached_by_row(reach: dict[str, set[Any]]) -> set[Any]:
    """Users an event reaches on a channel that delivers by the row (in-app)."""
    by_row = configured_channels.row_channels()
    return set().union(*(users for c, users in reach.items() if c in by_row))


def worth_a_row(ntype: type[NotificationType], reach: dict[str, set[Any]]) -> set[Any]:
    """Users an event reaches only outside in-app who would really get something there
    (a channel on after preferences): a hidden row with nothing to deliver is not made."""
    by_row = configured_channels.row_channels()
    elsewhere = {c: users for c, users in reach.items() if c not in by_row}
    candidates = set().union(*elsewhere.values()) - reached_by_row(reach)
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


@dataclass
class GroupDecisions:
    """What was decided for rows sharing a type, priority, target and scope."""

    #: The rows: a :class:`ModelRows` group or a fan-out's :class:`DirectRows`.
    rows: DirectRows | ModelRows
    #: Channels that get a Delivery row per recipient (in-app is the row itself).
    channels: list[str]
    decisions: dict[tuple[Any, str], Decision] = field(default_factory=dict)
    opted_out: set[Any] = field(default_factory=set)
    addresses: dict[str, dict[Any, str]] = field(default_factory=dict)
    locales: dict[Any, tuple[str, str, tuple | None]] = field(default_factory=dict)
    #: (count, seconds) per user and type, or None; ``used`` counts what is already sent.
    limit: tuple[int, int] | None = None
    used: dict[tuple[Any, str], int] = field(default_factory=dict)
    bypass: bool = False
    #: For a fan-out written partly by the database: the users planned one by one (with
    #: preference rows, a subscription switch, an opt-out, settings or a rate-limit
    #: count of their own). Everyone else's deliveries on the ``set_based`` channels are
    #: written by :mod:`.shared_deliveries`. None: every user is planned one by one.
    individual: set[Any] | None = None
    #: The channels whose shared recipients :mod:`.shared_deliveries` writes; on the
    #: others every recipient is planned one by one.
    set_based: list[str] = field(default_factory=list)

    @property
    def one_by_one(self) -> list[str]:
        """The channels planned one by one for everyone."""
        return [c for c in self.channels if c not in self.set_based]

    def entries(self) -> Iterable[tuple[Any, str | None, Sequence[Any]]]:
        """(notification pk, its type, the user pks it reaches) per row, once saved."""
        return self.rows.entries()


def decide_all(
    rows: DirectRows | ModelRows,
    *,
    now: datetime,
    unreached: Mapping[str, set[Any]] | None = None,
) -> list[GroupDecisions]:
    """Decide for unsaved rows; hides (dismisses) the direct rows whose recipient has
    in-app off. ``unreached`` (an event's) maps a channel to the recipients its
    subscriptions and rules do not reach there: they have that channel off."""
    decided = []
    for group in rows.groups():
        found = _decide_group(group, now, unreached)
        if found is not None:
            decided.append(found)
    return decided


def _subscriptions(rows, ntype, user_ids, decided, unreached) -> dict[tuple[Any, str], bool]:
    if unreached is not None:
        # An event's audience already weighed subscriptions, rule priorities and manual
        # switches per channel: whoever a channel did not reach has it off.
        users = set(user_ids)
        return {
            (uid, channel): False
            for channel, off in unreached.items()
            for uid in off
            if uid in users
        }
    if ntype is None:
        return {}
    first = rows.template
    target = first.target if first.target_content_type_id else None
    return audience.subscription_switches(user_ids, first.notification_type, target, decided)


def _decide_group(
    rows: DirectRows | ModelRows, now: datetime, unreached: Mapping[str, set[Any]] | None
) -> GroupDecisions | None:
    first = rows.template
    ntype = notification_types.of(first)
    channels = candidate_channels(ntype)
    # A direct row of a typed notification honours the recipient's in-app switch too.
    in_app = ntype is not None and rows.scope == Scope.USER
    if not channels and not in_app:
        return None
    user_ids = rows.users()
    if not user_ids:
        return None
    group = GroupDecisions(rows=rows, channels=[])
    # In-app is decided only where the type offers it; a type without it hides the row.
    by_row = [c for c in configured_channels.row_channels() if in_app and c in ntype.channels]
    decided = [*channels, *by_row]
    group.decisions = decide(
        user_ids,
        ntype,
        decided,
        organizations=rows.organizations(user_ids),
        subscriptions=_subscriptions(rows, ntype, user_ids, decided, unreached),
        default_channels=None if ntype is not None else app_settings.DEFAULT_CHANNELS,
    )
    if in_app:
        rows.hide(group.decisions.all_off(by_row), now)
    if not channels:
        return None
    group.channels = channels
    key = first.notification_type
    if ntype is not None:
        target = first.target if first.target_content_type_id else None
        group.opted_out = audience.opted_out_users(user_ids, key, target)
    group.limit = ratelimit.user_type_limit(ntype)
    bypass_at = app_settings.BYPASS_PRIORITY
    group.bypass = bypass_at is not None and first.priority >= bypass_at
    # A user twice in a fan-out under a rate limit is counted row by row: one by one.
    once_each = group.limit is None or len(user_ids) == len(rows)
    if rows.set_based_deliveries and once_each:
        using = router.db_for_write(Delivery)
        group.set_based = shared_deliveries.channels_for(channels, group.limit, using)
    if group.set_based:
        _plan_individuals(group, user_ids, key)
    else:
        _plan_everyone(group, key)
    return group


def _plan_everyone(group: GroupDecisions, key: str | None) -> None:
    """What planning every recipient one by one needs: addresses, locales and rate-limit
    counts of everyone with a channel on."""
    channels = group.channels
    wanted = {k for k, d in group.decisions.items() if d.enabled and k[1] in channels}
    enabled_users = sorted({uid for uid, _ in wanted}, key=str)
    group.addresses = _addresses(channels, enabled_users)
    group.locales = recipient_locales(enabled_users) if enabled_users else {}
    if group.limit and enabled_users:
        group.used = ratelimit.recent_counts(enabled_users, key, channels, group.limit[1])


class _Locales(dict):
    """Locales of the users with settings; anyone else has the project's."""

    def __missing__(self, uid: Any) -> tuple[str, str, None]:
        return default_locale()


def _plan_individuals(group: GroupDecisions, user_ids: list[Any], key: str | None) -> None:
    """A fan-out whose shared recipients the database plans on ``group.set_based``: only
    the users with anything of their own are looked up one by one there
    (``group.individual``); on the other channels, everyone with the channel on."""
    channels, decisions = group.channels, group.decisions
    locales = recipient_locales(user_ids, only_set=True)
    if group.limit:
        group.used = ratelimit.recent_counts(user_ids, key, channels, group.limit[1])
    group.individual = (
        decisions.individual | group.opted_out | set(locales) | {uid for uid, _ in group.used}
    )
    addressed = {c: group.individual for c in group.set_based}
    addressed.update((c, user_ids) for c in group.one_by_one)
    group.addresses = {
        c: _addresses([c], sorted((u for u in users if decisions[(u, c)].enabled), key=str))[c]
        for c, users in addressed.items()
    }
    group.locales = _Locales(locales)


def _addresses(channels: list[str], user_ids: list[Any]) -> dict[str, dict[Any, str]]:
    if not user_ids:
        return {c: {} for c in channels}
    # A queryset, not a list: a channel reading one column of the users (the email
    # address) reads just that, instead of 10,000 user instances.
    users = get_user_model()._default_manager.filter(in_ids("pk", user_ids))
    return {c: get_channel(c).get_addresses(users) for c in channels}
