"""Which channels a recipient gets, and how often: defaults merged with overrides.

Precedence, lowest first (a later layer that says something wins)::

    the type's default_channels / default_frequency
    organization default: every type → the type's category → the type
    user preference:      every type → the type's category → the type
    the user's subscription switch for the type (can only switch off; for an event, the
    audience's per-channel answer, rule priorities included)
    the type's required_channels (always on; users cannot switch them off)

A preference row may set only ``enabled`` or only ``frequency``; the other is inherited.
Reading is set-based: two queries for any number of recipients.

Here is the engine: :func:`decide` for many recipients at once (the write path's
decisions stage), :func:`merge` for one switch (the preferences page). Editing
preferences is :mod:`django_notify.delivery.preferences`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from django.db.models import Q

from ..id_lists import in_ids
from ..models import Frequency, NotificationPreference, OrganizationPreference
from ..types import NotificationType

#: Layer names, lowest precedence first (also the ``source`` of a decision).
LAYERS = (
    "type default",
    "organization: all types",
    "organization: category",
    "organization: type",
    "user: all types",
    "user: category",
    "user: type",
)


@dataclass(frozen=True)
class Decision:
    """The outcome for one recipient × channel."""

    enabled: bool
    frequency: str
    #: The layer that decided ``enabled`` (one of LAYERS, "subscription", "required").
    source: str
    required: bool = False
    #: Whether the type or the organization had the channel on (a delivery switched off
    #: after that gets a "skipped" audit row saying who switched it off).
    on_by_default: bool = False


def merge(
    default_enabled: bool,
    default_frequency: str,
    layers: Sequence[tuple[str, bool | None, str]],
    *,
    subscription_on: bool | None = None,
    required: bool = False,
) -> Decision:
    """The precedence rule itself, on plain values: ``layers`` are (name, enabled,
    frequency) in LAYERS order, ``None``/"" meaning "says nothing"."""
    enabled, frequency, source = default_enabled, default_frequency, LAYERS[0]
    on_by_default = default_enabled
    for name, layer_enabled, layer_frequency in layers:
        if layer_enabled is not None:
            enabled, source = layer_enabled, name
            if name.startswith("organization") and layer_enabled:
                on_by_default = True
        if layer_frequency:
            frequency = layer_frequency
    if subscription_on is False and enabled:
        enabled, source = False, "subscription"
    if required:
        enabled, source, on_by_default = True, "required", True
    return Decision(enabled, frequency, source, required, on_by_default)


def _scope_q(ntype: type[NotificationType] | None) -> Q:
    """Rows for every type, the type's category, or the type itself."""
    q = Q(notification_type="", category="")
    if ntype is not None:
        q |= Q(notification_type=ntype.key)
        if ntype.category is not None:
            q |= Q(notification_type="", category=ntype.category.key)
    return q


def applies(row, ntype: type[NotificationType] | None) -> bool:
    """The Python twin of :func:`_scope_q`, for rows already in memory."""
    if not row.notification_type and not row.category:
        return True
    if ntype is None:
        return False
    if row.notification_type:
        return row.notification_type == ntype.key
    return ntype.category is not None and row.category == ntype.category.key


def layer_of(row, owner: str) -> str:
    if row.notification_type:
        return f"{owner}: type"
    if row.category:
        return f"{owner}: category"
    return f"{owner}: all types"


def decide(
    user_ids: Iterable[Any],
    ntype: type[NotificationType] | None,
    channels: Iterable[str],
    *,
    organizations: Mapping[Any, Any] | None = None,
    subscriptions: Mapping[tuple[Any, str], bool] | None = None,
    default_channels: Iterable[str] | None = None,
) -> dict[tuple[Any, str], Decision]:
    """Decisions for every user × channel, in two queries whatever the number of users.

    ``organizations`` maps user pk → organization key (for organization defaults);
    ``subscriptions`` maps (user pk, channel) → the user's subscription switch.
    """
    user_ids = list(dict.fromkeys(user_ids))
    channels = list(channels)
    if not user_ids or not channels:
        return {}
    organizations = organizations or {}
    subscriptions = subscriptions or {}
    if default_channels is None:
        default_channels = ntype.default_channels if ntype is not None else ()
    defaults = set(default_channels)
    default_frequency = ntype.default_frequency if ntype is not None else Frequency.IMMEDIATE
    required = set(ntype.required_channels) if ntype is not None else set()

    layers: dict[tuple[str, Any, str], dict[str, tuple[bool | None, str]]] = {}
    org_keys = sorted({str(o) for o in organizations.values() if o not in (None, "")})
    if org_keys:
        for row in OrganizationPreference.objects.filter(
            _scope_q(ntype), organization_key__in=org_keys, channel__in=channels
        ):
            key = ("org", row.organization_key, row.channel)
            layers.setdefault(key, {})[layer_of(row, "organization")] = (
                row.enabled,
                row.frequency,
            )
    for row in NotificationPreference.objects.filter(
        _scope_q(ntype), in_ids("user_id", user_ids), channel__in=channels
    ):
        key = ("user", row.user_id, row.channel)
        layers.setdefault(key, {})[layer_of(row, "user")] = (row.enabled, row.frequency)

    def weigh(org: str, channel: str, own: dict, subscription_on: bool | None) -> Decision:
        found = {**layers.get(("org", org, channel), {}), **own}
        return merge(
            channel in defaults,
            default_frequency,
            [(name, *found[name]) for name in LAYERS if name in found],
            subscription_on=subscription_on,
            required=channel in required,
        )

    # Most recipients have no preference rows of their own: theirs is the decision of
    # everyone in their organization with the same subscription switch, weighed once
    # (a Decision is immutable, so they share it).
    shared: dict[tuple[str, str, bool | None], Decision] = {}
    decisions = {}
    for uid in user_ids:
        org = str(organizations.get(uid))
        for channel in channels:
            subscription_on = subscriptions.get((uid, channel))
            own = layers.get(("user", uid, channel))
            if own is not None:
                decisions[(uid, channel)] = weigh(org, channel, own, subscription_on)
                continue
            key = (org, channel, subscription_on)
            decision = shared.get(key)
            if decision is None:
                decision = shared[key] = weigh(org, channel, {}, subscription_on)
            decisions[(uid, channel)] = decision
    return decisions
