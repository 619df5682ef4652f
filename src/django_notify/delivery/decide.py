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


class Decisions(Mapping[tuple[Any, str], Decision]):
    """Every user × channel's :class:`Decision`, as a mapping keyed by (user pk, channel).

    Users with preference rows of their own or a subscription switch that says off
    (``individual``) are weighed one by one; everyone else gets the decision of their
    organization (:meth:`shared`), weighed once per organization and channel and shared
    (a Decision is immutable). Looking a user up costs a dictionary read, and a fan-out
    planned in SQL never looks its shared users up one by one."""

    def __init__(self, user_ids, channels, organizations, subscriptions, weigh) -> None:
        self.users = user_ids
        self.channels = channels
        self.organizations = organizations
        self._weigh = weigh
        self._shared: dict[tuple[str, str], Decision] = {}
        self._known = set(user_ids)
        # Only an "off" switch changes anything (merge ignores a switch that says on).
        self._off = {key for key, on in subscriptions.items() if on is False}
        self._own: dict[tuple[Any, str], Decision] = {}
        own_layers = weigh.own_layers
        self.individual = {uid for uid, _ in self._off if uid in self._known} | {
            uid for uid, _ in own_layers if uid in self._known
        }
        for uid in self.individual:
            org = str(organizations.get(uid))
            for channel in channels:
                self._own[(uid, channel)] = weigh(
                    org,
                    channel,
                    own_layers.get((uid, channel), {}),
                    False if (uid, channel) in self._off else None,
                )

    def shared(self, org: Any, channel: str) -> Decision:
        """The decision of a user of organization ``org`` (a key, or ``""``/None for
        none) without preference rows of their own or a subscription switch."""
        key = (str(org), channel)
        decision = self._shared.get(key)
        if decision is None:
            decision = self._shared[key] = self._weigh(key[0], channel, {}, None)
        return decision

    def all_off(self, channels: Iterable[str]) -> set[Any]:
        """The users who have every one of ``channels`` off."""
        channels = [c for c in channels if c in self.channels]
        if not channels:
            return set(self.users)
        off = {
            uid for uid in self.individual if not any(self._own[(uid, c)].enabled for c in channels)
        }
        orgs = self.organizations
        off_orgs = {
            org
            for org in {str(orgs.get(uid)) for uid in self.users}
            if not any(self.shared(org, c).enabled for c in channels)
        }
        if off_orgs:
            individual = self.individual
            off.update(
                uid
                for uid in self.users
                if uid not in individual and str(orgs.get(uid)) in off_orgs
            )
        return off

    def __getitem__(self, key: tuple[Any, str]) -> Decision:
        decision = self._own.get(key)
        if decision is not None:
            return decision
        uid, channel = key
        if channel not in self.channels or uid not in self._known:
            raise KeyError(key)
        return self.shared(self.organizations.get(uid), channel)

    def __iter__(self):
        return ((uid, channel) for uid in self.users for channel in self.channels)

    def __len__(self) -> int:
        return len(self.users) * len(self.channels)


class _Weigher:
    """The layers read for one decision (organization and user preference rows) and
    the precedence rule applied to them."""

    def __init__(self, ntype, channels, org_keys, user_ids, default_channels) -> None:
        if default_channels is None:
            default_channels = ntype.default_channels if ntype is not None else ()
        self.defaults = set(default_channels)
        self.default_frequency = (
            ntype.default_frequency if ntype is not None else Frequency.IMMEDIATE
        )
        self.required = set(ntype.required_channels) if ntype is not None else set()
        self.org_layers: dict[tuple[str, str], dict[str, tuple[bool | None, str]]] = {}
        if org_keys:
            for row in OrganizationPreference.objects.filter(
                _scope_q(ntype), organization_key__in=org_keys, channel__in=channels
            ):
                self.org_layers.setdefault((row.organization_key, row.channel), {})[
                    layer_of(row, "organization")
                ] = (row.enabled, row.frequency)
        self.own_layers: dict[tuple[Any, str], dict[str, tuple[bool | None, str]]] = {}
        for row in NotificationPreference.objects.filter(
            _scope_q(ntype), in_ids("user_id", user_ids), channel__in=channels
        ):
            self.own_layers.setdefault((row.user_id, row.channel), {})[layer_of(row, "user")] = (
                row.enabled,
                row.frequency,
            )

    def __call__(self, org: str, channel: str, own: dict, subscription_on: bool | None) -> Decision:
        found = {**self.org_layers.get((org, channel), {}), **own}
        return merge(
            channel in self.defaults,
            self.default_frequency,
            [(name, *found[name]) for name in LAYERS if name in found],
            subscription_on=subscription_on,
            required=channel in self.required,
        )


def decide(
    user_ids: Iterable[Any],
    ntype: type[NotificationType] | None,
    channels: Iterable[str],
    *,
    organizations: Mapping[Any, Any] | None = None,
    subscriptions: Mapping[tuple[Any, str], bool] | None = None,
    default_channels: Iterable[str] | None = None,
) -> Decisions:
    """Decisions for every user × channel, in two queries whatever the number of users.

    ``organizations`` maps user pk → organization key (for organization defaults);
    ``subscriptions`` maps (user pk, channel) → the user's subscription switch.
    """
    user_ids = list(dict.fromkeys(user_ids))
    channels = list(channels)
    organizations = organizations or {}
    if not user_ids or not channels:
        return Decisions([], channels, organizations, {}, _NoLayers())
    org_keys = sorted({str(o) for o in organizations.values() if o not in (None, "")})
    weigh = _Weigher(ntype, channels, org_keys, user_ids, default_channels)
    return Decisions(user_ids, channels, organizations, subscriptions or {}, weigh)


class _NoLayers:
    own_layers: dict = {}
