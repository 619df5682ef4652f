"""Each recipient's language, time zone and quiet hours, for scheduling and rendering."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from django.conf import settings as django_settings

from .. import schedule
from ..id_lists import in_ids
from ..models import RecipientSettings
from ..tenancy import get_adapter

logger = logging.getLogger("django_notify.delivery")


def default_locale() -> tuple[str, str, None]:
    """The locale of a user without settings: the project's LANGUAGE_CODE / TIME_ZONE."""
    return (django_settings.LANGUAGE_CODE, django_settings.TIME_ZONE, None)


def recipient_locales(
    user_ids: Iterable[Any], *, only_set: bool = False
) -> dict[Any, tuple[str, str, tuple | None]]:
    """user pk → (language, time zone, quiet hours): the user's settings row, then the
    tenancy adapter's hook, then the project's LANGUAGE_CODE / TIME_ZONE.

    ``only_set``: only the users whose settings row or the adapter say something; every
    other user has :func:`default_locale` (a fan-out need not list them one by one)."""
    user_ids = list(user_ids)
    from_adapter = get_adapter().get_recipient_locales(user_ids) or {}
    rows = {r.user_id: r for r in RecipientSettings.objects.filter(in_ids("user_id", user_ids))}
    default_language, default_tz, _ = default_locale()
    # A fan-out asks about thousands of users who share a handful of zones.
    known_zones: dict[str, bool] = {}
    out = {}
    if only_set:
        wanted = set(user_ids)
        user_ids = [uid for uid in {*rows, *from_adapter} if uid in wanted]
    for uid in user_ids:
        row = rows.get(uid)
        language, tz = from_adapter.get(uid, ("", ""))
        quiet = None
        if row is not None:
            language = row.language or language
            tz = row.timezone or tz
            quiet = row.quiet_hours
        if tz:
            valid = known_zones.get(tz)
            if valid is None:
                valid = known_zones[tz] = _is_zone(tz)
            if not valid:
                # A row written around the validation must not stop the fan-out.
                logger.warning("user %s has an unknown time zone %r; using TIME_ZONE", uid, tz)
                tz = ""
        if quiet is not None and quiet[0] == quiet[1]:
            quiet = None
        out[uid] = (language or default_language, tz or default_tz, quiet)
    return out


def _is_zone(name: str) -> bool:
    try:
        schedule.as_zone(name)
    except (TypeError, ValueError):
        return False
    return True
