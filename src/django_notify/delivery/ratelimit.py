"""Rate limits: per sender (refused with :class:`~django_notify.exceptions.RateLimited`)
and per recipient × type × channel (the delivery is skipped, with the reason).

Counted from the rows themselves (notifications by sender, deliveries by user and type)
in one grouped query, so the limits hold across every process without a shared cache.

``DJANGO_NOTIFY["RATE_LIMITS"] = {"sender": "30/minute", "user_type": "20/hour"}``; a type's
``rate_limit`` overrides ``user_type`` for that type.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import timedelta
from typing import Any

from django.db.models import Count
from django.utils import timezone

from ..conf import app_settings
from ..exceptions import RateLimited

_UNITS = {
    "s": 1, "sec": 1, "second": 1,
    "m": 60, "min": 60, "minute": 60,
    "h": 3600, "hour": 3600,
    "d": 86400, "day": 86400,
}  # fmt: skip
_RATE = re.compile(r"^\s*(\d+)\s*/\s*(\d*)\s*([a-z]+?)s?\s*$")
LIMIT_NAMES = ("sender", "user_type")


def parse_rate(value: str) -> tuple[int, timedelta]:
    """``"10/hour"``, ``"100/5m"``, ``"3/day"`` → (count, window). ``ValueError`` otherwise."""
    match = _RATE.match(str(value).lower()) if isinstance(value, str) else None
    if not match or match.group(3) not in _UNITS:
        raise ValueError(f"{value!r} is not a rate; write it like '10/hour' or '100/5m'")
    count, multiple, unit = int(match.group(1)), int(match.group(2) or 1), match.group(3)
    if count < 1 or multiple < 1:
        raise ValueError(f"{value!r}: the count and the window must be positive")
    return count, timedelta(seconds=_UNITS[unit] * multiple)


def _limit(name: str) -> tuple[int, timedelta] | None:
    value = app_settings.RATE_LIMITS.get(name)
    return parse_rate(value) if value else None


def check_sender(sender: Any, new_rows: int, model) -> None:
    """Refuse a send that would take ``sender`` over the ``sender`` limit."""
    limit = _limit("sender")
    if limit is None or sender is None or new_rows <= 0:
        return
    count, window = limit
    since = timezone.now() - window
    used = model._default_manager.filter(sender=sender, created_at__gte=since).count()
    if used + new_rows > count:
        raise RateLimited(
            "sender",
            f"Rate limit: at most {count} notifications per {_describe(window)} per sender "
            f"({used} sent, {new_rows} more asked).",
            retry_after=_seconds_until_room(model, sender, since, used + new_rows - count),
        )


def _seconds_until_room(model, sender, since, excess: int) -> float | None:
    """When the ``excess``-th oldest row in the window leaves it (None: the batch alone
    is over the limit, waiting will not help)."""
    rows = model._default_manager.filter(sender=sender, created_at__gte=since)
    leaving = rows.order_by("created_at").values_list("created_at", flat=True)[excess - 1 : excess]
    if not leaving:
        return None
    window = timezone.now() - since
    return max(1.0, (leaving[0] + window - timezone.now()).total_seconds())


def user_type_limit(ntype) -> tuple[int, timedelta] | None:
    if ntype is not None and ntype.rate_limit:
        return parse_rate(ntype.rate_limit)
    return _limit("user_type")


def recent_counts(
    user_ids: Iterable[Any], type_key: str | None, channels: Iterable[str], window: timedelta
) -> dict[tuple[Any, str], int]:
    """Deliveries (not skipped) per (user, channel) of ``type_key`` within ``window``."""
    from ..models import Delivery, DeliveryStatus

    rows = (
        Delivery.objects.filter(
            user__in=list(user_ids),
            notification_type=type_key,
            channel__in=list(channels),
            created_at__gte=timezone.now() - window,
        )
        .exclude(status=DeliveryStatus.SKIPPED)
        .values_list("user_id", "channel")
        .annotate(n=Count("id"))
    )
    return {(uid, channel): n for uid, channel, n in rows}


def _describe(window: timedelta) -> str:
    seconds = int(window.total_seconds())
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds % size == 0:
            n = seconds // size
            return unit if n == 1 else f"{n} {unit}s"
    return f"{seconds} seconds"
