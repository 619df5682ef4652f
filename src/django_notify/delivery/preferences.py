"""Editing preferences: what a user or an organization admin switches, per type and
channel (and a user's quiet hours, time zone and language), validated and written in
bulk; and everything a preferences page shows. How the switches combine into a decision
is :mod:`django_notify.delivery.decide`.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import time
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction

from ..channels import channels
from ..channels.registry import get_channel
from ..models import Frequency, NotificationPreference, OrganizationPreference, RecipientSettings
from ..policy import role_of
from ..tenancy import Role, get_adapter
from ..types import NotificationType, notification_types
from .decide import LAYERS, applies, layer_of, merge

# --- the public API (the preference handler's methods) ---------------------------------


def _channel_names(ntype: type[NotificationType]) -> list[str]:
    configured = set(channels.keys())
    return [c for c in ntype.channels if c in configured]


def get_preferences(user) -> dict[str, Any]:
    """Everything a preferences page shows: each registered type × channel with its
    effective switch and frequency (and where it came from), plus quiet hours."""
    org = get_adapter().get_user_organizations([user.pk]).get(user.pk)
    # Two queries for every type at once: the user's rows and the organization's.
    own = list(NotificationPreference.objects.filter(user=user))
    org_rows = (
        list(OrganizationPreference.objects.filter(organization_key=str(org)))
        if org not in (None, "")
        else []
    )
    types = []
    for ntype in notification_types:
        names = _channel_names(ntype)
        found = {}
        for name in names:
            said = {
                layer_of(row, "organization"): (row.enabled, row.frequency)
                for row in org_rows
                if row.channel == name and applies(row, ntype)
            }
            said.update(
                {
                    layer_of(row, "user"): (row.enabled, row.frequency)
                    for row in own
                    if row.channel == name and applies(row, ntype)
                }
            )
            found[(user.pk, name)] = merge(
                name in ntype.default_channels,
                ntype.default_frequency,
                [(layer, *said[layer]) for layer in LAYERS if layer in said],
                required=name in ntype.required_channels,
            )
        types.append(
            {
                "notification_type": ntype.key,
                "label": str(ntype.get_label()),
                "category": ntype.category.key if ntype.category else "",
                "channels": {
                    name: {
                        "enabled": found[(user.pk, name)].enabled,
                        "frequency": found[(user.pk, name)].frequency,
                        "source": found[(user.pk, name)].source,
                        "required": found[(user.pk, name)].required,
                    }
                    for name in names
                },
            }
        )
    settings_row = RecipientSettings.objects.filter(user=user).first()
    return {
        "types": types,
        "quiet_hours": (
            {
                "start": settings_row.quiet_hours_start.isoformat(timespec="minutes"),
                "end": settings_row.quiet_hours_end.isoformat(timespec="minutes"),
            }
            if settings_row and settings_row.quiet_hours
            else None
        ),
        "timezone": settings_row.timezone if settings_row else "",
        "language": settings_row.language if settings_row else "",
    }


_ENTRY_KEYS = {"notification_type", "category", "channel", "enabled", "frequency"}


def _normalise(data: Any) -> list[dict[str, Any]]:
    """Accept a list of entries, or the per-type ``{type: {"email_enabled": …,
    "email_batch_frequency": …}}`` mapping (``"category:<key>"`` for a category)."""
    if isinstance(data, Mapping):
        entries: list[dict[str, Any]] = []
        for scope, switches in data.items():
            if not isinstance(switches, Mapping):
                raise ValidationError({str(scope): "Expected a mapping of channel switches."})
            target = (
                {"category": scope.split(":", 1)[1]}
                if isinstance(scope, str) and scope.startswith("category:")
                else {"notification_type": scope}
            )
            per_channel: dict[str, dict[str, Any]] = {}
            for name, value in switches.items():
                if name.endswith("_batch_frequency"):
                    per_channel.setdefault(name[: -len("_batch_frequency")], {})["frequency"] = (
                        value
                    )
                elif name.endswith("_enabled"):
                    per_channel.setdefault(name[: -len("_enabled")], {})["enabled"] = value
                else:
                    raise ValidationError(
                        {f"{scope}.{name}": "Use <channel>_enabled or <channel>_batch_frequency."}
                    )
            entries += [{**target, "channel": c, **v} for c, v in per_channel.items()]
        return entries
    if isinstance(data, list | tuple):
        return [dict(e) if isinstance(e, Mapping) else e for e in data]
    raise ValidationError({"preferences": "Expected a list of entries or a mapping by type."})


def validate_entries(data: Any, *, allow_required_off: bool = False) -> list[dict[str, Any]]:
    """Check every entry before anything is written; errors name ``preferences[i].field``."""
    entries = _normalise(data)
    categories = {c.key for c in notification_types.categories()}
    errors: dict[str, list[str]] = {}
    clean: list[dict[str, Any]] = []

    def err(i: int, field: str, message: str) -> None:
        errors.setdefault(f"preferences[{i}].{field}", []).append(message)

    for i, entry in enumerate(entries):
        if not isinstance(entry, dict):
            err(i, "entry", "Each entry must be an object.")
            continue
        for name in sorted(set(entry) - _ENTRY_KEYS):
            err(i, name, "Unknown field.")
        type_key = entry.get("notification_type") or ""
        category = entry.get("category") or ""
        channel = entry.get("channel")
        enabled = entry.get("enabled")
        frequency = entry.get("frequency") or ""
        ntype = None
        if type_key and category:
            err(i, "category", "Give a notification type or a category, not both.")
        if type_key:
            if type_key not in notification_types:
                err(i, "notification_type", f"{type_key!r} is not a registered type.")
            else:
                ntype = notification_types.get(type_key)
        if category and category not in categories:
            err(i, "category", f"{category!r} is not a notification category.")
        if not isinstance(channel, str) or channel not in channels:
            known = ", ".join(channels.keys())
            err(i, "channel", f"{channel!r} is not a configured channel ({known}).")
        elif ntype is not None and channel not in ntype.channels:
            err(i, "channel", f"{type_key!r} is not delivered on {channel!r}.")
        if enabled is not None and not isinstance(enabled, bool):
            err(i, "enabled", "Must be true, false or null.")
        if frequency and frequency not in Frequency.values:
            err(i, "frequency", f"Use one of {', '.join(Frequency.values)}.")
        if enabled is None and not frequency:
            err(i, "enabled", "Set enabled, a frequency, or both.")
        if (
            ntype is not None
            and enabled is False
            and channel in ntype.required_channels
            and not allow_required_off
        ):
            err(i, "enabled", f"{channel!r} is required for {type_key!r}; it cannot be off.")
        if (
            frequency
            and frequency != Frequency.IMMEDIATE
            and isinstance(channel, str)
            and channel in channels
            and not get_channel(channel).supports_digest
        ):
            err(i, "frequency", f"{channel!r} does not send digests.")
        clean.append(
            {
                "notification_type": type_key,
                "category": category,
                "channel": channel,
                "enabled": enabled,
                "frequency": frequency,
                # What the entry said: the other field keeps its stored value.
                "_given": {k for k in ("enabled", "frequency") if k in entry},
            }
        )
    if errors:
        raise ValidationError(errors)
    return clean


def _upsert(model, owner: dict[str, Any], entries: list[dict[str, Any]]) -> int:
    def key(obj) -> tuple:
        get = obj.get if isinstance(obj, dict) else lambda name: getattr(obj, name)
        return (get("notification_type"), get("category"), get("channel"))

    stored = {key(row): row for row in model.objects.filter(**owner)}
    rows = []
    for entry in entries:
        given = entry.pop("_given")
        if key(entry) in stored:
            for name in {"enabled", "frequency"} - given:
                entry[name] = getattr(stored[key(entry)], name)
        rows.append(model(**owner, **entry))
    owner_field = next(iter(owner)).removesuffix("_id")
    model.objects.bulk_create(
        rows,
        update_conflicts=True,
        unique_fields=[owner_field, "notification_type", "category", "channel"],
        update_fields=["enabled", "frequency", "updated_at"],
    )
    return len(rows)


def update_preferences(user, data: Any) -> int:
    """Bulk update a user's preferences, all or nothing. Returns the entries written."""
    entries = validate_entries(data)
    with transaction.atomic():
        return _upsert(NotificationPreference, {"user_id": user.pk}, entries)


def reset_preferences(user, *, notification_type: str | None = None) -> int:
    """Back to the defaults (the organization's, then the types'). Returns rows removed."""
    rows = NotificationPreference.objects.filter(user=user)
    if notification_type:
        rows = rows.filter(notification_type=notification_type)
    deleted, _ = rows.delete()
    return deleted


def _require_org_admin(admin, organization: Any) -> str:
    key = get_adapter().organization_key(organization)
    if getattr(admin, "is_superuser", False) or getattr(admin, "is_staff", False):
        return key
    adapter = get_adapter()
    own = adapter.get_organization_id(admin)
    if own is None or str(own) != key or role_of(admin, adapter) != Role.ORG_ADMIN:
        raise PermissionDenied(
            "Only an admin of this organization (or staff) may set its notification defaults."
        )
    return key


def update_organization_defaults(admin, organization: Any, data: Any) -> int:
    """An organization admin sets default switches for every member (users' own
    preferences still win). ``PermissionDenied`` for anyone else."""
    key = _require_org_admin(admin, organization)
    entries = validate_entries(data, allow_required_off=False)
    with transaction.atomic():
        return _upsert(OrganizationPreference, {"organization_key": key}, entries)


def reset_organization_defaults(admin, organization: Any) -> int:
    key = _require_org_admin(admin, organization)
    deleted, _ = OrganizationPreference.objects.filter(organization_key=key).delete()
    return deleted


def update_recipient_settings(user, **fields: Any) -> RecipientSettings:
    """Set quiet hours (``quiet_hours_start``/``quiet_hours_end`` as ``datetime.time``
    or "HH:MM"), ``timezone`` and ``language``; validated, errors name the field."""
    allowed = {"quiet_hours_start", "quiet_hours_end", "timezone", "language"}
    unknown = sorted(set(fields) - allowed)
    if unknown:
        raise ValidationError({name: "Unknown field." for name in unknown})
    for name in ("quiet_hours_start", "quiet_hours_end"):
        value = fields.get(name)
        if isinstance(value, str):
            try:
                fields[name] = time.fromisoformat(value) if value else None
            except ValueError:
                raise ValidationError({name: "Enter a time as HH:MM."}) from None
    with transaction.atomic():
        row, _ = RecipientSettings.objects.select_for_update().get_or_create(user=user)
        for name, value in fields.items():
            setattr(row, name, value if value is not None or name.startswith("quiet") else "")
        row.full_clean(exclude=["user"])
        row.save()
    return row
