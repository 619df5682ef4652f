"""Stage 4, the deliveries: one Delivery row per recipient × channel that was decided,
written in the transaction that wrote the notifications, so the rows and the intent to
deliver them commit together.

A delivery that will not go out is written too, ``skipped`` with its reason (switched
off by someone, opted out, no address, rate limited): the audit trail says why nothing
was sent. In-app needs no Delivery row: the notification row is the in-app delivery.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from .. import bulk_insert, schedule
from ..channels.registry import get_channel
from ..conf import app_settings
from ..models import Delivery, DeliveryStatus, Frequency
from ..rates import describe_window
from .decisions import GroupDecisions


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


def _delivery(**values: Any) -> Delivery:
    """A new Delivery, built positionally (the field defaults for the rest): a fan-out
    builds one per recipient × channel, and keyword construction costs about twice as
    much."""
    return Delivery(
        *(
            values[f.attname] if f.attname in values else f.get_default()
            for f in Delivery._meta.concrete_fields
        )
    )


def _group_deliveries(group: GroupDecisions, now: datetime) -> list[Delivery]:
    """The Delivery rows of one decided group; its rows must be saved (they have pks)."""
    deliveries = []
    limit = group.limit
    for row, members in zip(group.rows, group.members, strict=True):
        for uid in members:
            for channel in group.channels:
                decision = group.decisions[(uid, channel)]
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
                            _delivery(
                                **fields,
                                status=DeliveryStatus.SKIPPED,
                                reason=f"switched off ({decision.source})",
                            )
                        )
                    continue
                address = group.addresses[channel].get(uid)
                skip = None
                if uid in group.opted_out and not decision.required:
                    skip = "opted out"
                elif not address:
                    skip = "no address"
                elif limit is not None:
                    n = group.used.get((uid, channel), 0)
                    if n >= limit[0]:
                        skip = f"rate limited: {limit[0]} per {describe_window(limit[1])}"
                    group.used[(uid, channel)] = n + 1
                if skip:
                    deliveries.append(
                        _delivery(
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
                status, due, reason = _when(now, frequency, group.locales[uid], bypass=group.bypass)
                deliveries.append(
                    _delivery(
                        **fields,
                        status=status,
                        next_attempt_at=due,
                        reason=reason,
                        address=address,
                        frequency=Frequency.IMMEDIATE if group.bypass else frequency,
                    )
                )
    return deliveries


def write_deliveries(groups: Iterable[GroupDecisions], now: datetime) -> list[Delivery]:
    """Insert the Delivery rows of the decided groups (in bulk); returns them."""
    deliveries = [d for group in groups for d in _group_deliveries(group, now)]
    if not deliveries:
        return []
    return bulk_insert.insert(Delivery, deliveries, batch_size=app_settings.BULK_BATCH_SIZE)


def due_now(deliveries: Iterable[Delivery]) -> list[Any]:
    """Pks of the written deliveries to dispatch right after commit."""
    return [d.pk for d in deliveries if d.status == DeliveryStatus.PENDING]
