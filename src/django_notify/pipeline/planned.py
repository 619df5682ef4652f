"""A planned delivery as the write path hands it on, and when an enabled one is due:
shared by the deliveries planned one by one and those written in SQL."""

from __future__ import annotations

from datetime import datetime
from typing import Any, NamedTuple

from .. import schedule
from ..conf import app_settings
from ..models import DeliveryStatus, Frequency


class Planned(NamedTuple):
    """A written Delivery row, as the hand-off needs it (no model instance: a fan-out
    writes one per recipient × channel)."""

    pk: Any
    notification_id: Any
    user_id: Any
    channel: str
    status: str
    reason: str


def when(
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


def frequency_on(channel_digests: bool, frequency: str) -> str:
    """The frequency a channel can honour: one without digests sends immediately."""
    if frequency != Frequency.IMMEDIATE and not channel_digests:
        return Frequency.IMMEDIATE
    return frequency
