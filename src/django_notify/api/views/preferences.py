"""Delivery preferences: read, update (with quiet hours, time zone and language), reset."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.db import transaction

from ...channels import channels
from ...delivery import preferences as prefs
from ...models import Frequency
from ...types import notification_types
from ..base import ApiView, operation
from ..schema import AnyOf, Bool, Enum, List, Mapping_, Object, Str, Time
from ..serializers import PREFERENCES

PREFERENCE_ENTRY = Object(
    {
        "notification_type": Str(max_length=100, description="A type key; or give category."),
        "category": Str(max_length=100),
        "channel": Str(max_length=50, required=True),
        "enabled": Bool(nullable=True),
        "frequency": Enum(Frequency.values),
    },
    name="PreferenceEntry",
)
PREFERENCES_PATCH = Object(
    {
        "preferences": AnyOf(
            List(PREFERENCE_ENTRY, max_items=1000),
            Mapping_(
                Mapping_(AnyOf(Bool(), Str(max_length=20), nullable=True), max_items=50),
                max_items=500,
                description='Per-type form: {"<type>": {"email_enabled": false, '
                '"email_batch_frequency": "daily"}}; "category:<key>" for a category.',
            ),
        ),
        "quiet_hours": Object(
            {"start": Time(required=True), "end": Time(required=True)},
            nullable=True,
            description="null switches quiet hours off.",
        ),
        "timezone": Str(max_length=64, description="IANA name, e.g. Europe/Paris."),
        "language": Str(max_length=15, description="A code from LANGUAGES."),
    },
    name="PreferencesPatch",
)
_SETTINGS_RENAME = {"quiet_hours_start": "quiet_hours.start", "quiet_hours_end": "quiet_hours.end"}
PREFERENCE_TAGS = ("preferences",)


def preferences_json(user) -> dict[str, Any]:
    data = prefs.get_preferences(user)
    data["channels"] = [
        {
            "name": alias,
            "label": str(spec.backend.label or alias.replace("_", " ").title()),
            "supports_digest": bool(spec.backend.supports_digest),
        }
        for alias, spec in channels.items()
    ]
    data["frequencies"] = [{"value": v, "label": str(label)} for v, label in Frequency.choices]
    data["categories"] = [
        {"key": c.key, "name": str(c.name), "description": str(c.description)}
        for c in notification_types.categories()
    ]
    return data


def _renamed(exc: ValidationError, names: dict[str, str], prefix: str = "") -> ValidationError:
    if not hasattr(exc, "error_dict"):
        return exc
    fields = {}
    for key, messages in exc.message_dict.items():
        key = names.get(key, key)
        if prefix and key != NON_FIELD_ERRORS and not key.startswith(prefix):
            key = f"{prefix}.{key}"
        fields[key] = messages
    return ValidationError(fields)


class PreferencesView(ApiView):
    @operation(
        summary="Your delivery preferences",
        description="Every registered type × channel with its effective switch, plus "
        "quiet hours, time zone, language and what the choices are.",
        responses={200: PREFERENCES},
        tags=PREFERENCE_TAGS,
    )
    def get(self, request, *, user, query, body):
        return preferences_json(user)

    @operation(
        summary="Update preferences, quiet hours, time zone, language",
        description="All given parts are applied together or not at all.",
        body=PREFERENCES_PATCH,
        responses={200: PREFERENCES},
        tags=PREFERENCE_TAGS,
    )
    def patch(self, request, *, user, query, body):
        with transaction.atomic():
            if "preferences" in body:
                try:
                    prefs.update_preferences(user, body["preferences"])
                except ValidationError as exc:
                    raise _renamed(exc, {}, prefix="preferences") from None
            settings: dict[str, Any] = {}
            if "quiet_hours" in body:
                hours = body["quiet_hours"] or {"start": None, "end": None}
                settings.update(quiet_hours_start=hours["start"], quiet_hours_end=hours["end"])
            for name in ("timezone", "language"):
                if name in body:
                    settings[name] = body[name]
            if settings:
                try:
                    prefs.update_recipient_settings(user, **settings)
                except ValidationError as exc:
                    raise _renamed(exc, _SETTINGS_RENAME) from None
        return preferences_json(user)


class PreferencesResetView(ApiView):
    @operation(
        summary="Reset preferences to the defaults",
        description="Removes your per-type and per-category switches; quiet hours, time "
        "zone and language stay.",
        responses={200: PREFERENCES},
        tags=PREFERENCE_TAGS,
    )
    def post(self, request, *, user, query, body):
        prefs.reset_preferences(user)
        return preferences_json(user)
