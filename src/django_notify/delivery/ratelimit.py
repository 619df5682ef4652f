"""Rate limits: per sender (refused with :class:`~django_notify.exceptions.RateLimited`)
and per recipient × type × channel (the delivery is skipped, with the reason).

Counted from the rows themselves (notifications by sender, deliveries by user and type)
in one grouped query, so the limits hold across every process without a shared cache.

``DJANGO_NOTIFY["RATE_LIMITS"] = {"sender": "30/minute", "user_type": "20/hour"}``; a type's
``rate_limit`` overrides ``user_type`` for that type. ``sender`` may be a list of rates (all
hold); by default it is ``["200/minute", "2000/day"]``, so a person sending through the
API cannot fill the database, and ``None`` switches it off.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta
from typing import Any

from django.db.models import Count, Q
from django.utils import timezone

from ..conf import app_settings
from ..exceptions import RateLimited
from ..id_lists import in_ids
from ..models import Delivery, DeliveryStatus
from ..rates import describe_window, parse_rate

LIMIT_NAMES = ("sender", "user_type")


def _limit(name: str) -> tuple[int, timedelta] | None:
    value = app_settings.RATE_LIMITS.get(name)
    return parse_rate(value) if value else None


def sender_limits() -> list[tuple[int, timedelta]]:
    """The ``sender`` rates: one, several (a list: every one holds) or none."""
    value = app_settings.RATE_LIMITS.get("sender")
    if not value:
        return []
    return [parse_rate(rate) for rate in ([value] if isinstance(value, str) else value)]


def check_sender(sender: Any, new_rows: int, model) -> None:
    """Refuse a send that would take ``sender`` over a ``sender`` limit (one query for
    every window, plus one to say when there is room again)."""
    limits = sender_limits()
    if not limits or sender is None or new_rows <= 0:
        return
    now = timezone.now()
    counts = model._default_manager.filter(
        sender=sender, created_at__gte=now - max(window for _count, window in limits)
    ).aggregate(
        **{
            f"w{i}": Count("pk", filter=Q(created_at__gte=now - window))
            for i, (_count, window) in enumerate(limits)
        }
    )
    for i, (count, window) in enumerate(limits):
        used = counts[f"w{i}"]
        if used + new_rows > count:
            since = now - window
            raise RateLimited(
                "sender",
                f"Rate limit: at most {count} notifications per {describe_window(window)} per "
                f"sender ({used} sent, {new_rows} more asked).",
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
    rows = (
        Delivery.objects.filter(
            in_ids("user_id", list(user_ids)),
            notification_type=type_key,
            channel__in=list(channels),
            created_at__gte=timezone.now() - window,
        )
        .exclude(status=DeliveryStatus.SKIPPED)
        .values_list("user_id", "channel")
        .annotate(n=Count("id"))
    )
    return {(uid, channel): n for uid, channel, n in rows}
