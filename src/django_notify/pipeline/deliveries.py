"""Stage 4, the deliveries: one Delivery row per recipient × channel that was decided,
written in the transaction that wrote the notifications, so the rows and the intent to
deliver them commit together.

A delivery that will not go out is written too, ``skipped`` with its reason (switched
off by someone, opted out, no address, rate limited): the audit trail says why nothing
was sent. In-app needs no Delivery row: the notification row is the in-app delivery.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from .. import bulk_insert
from ..channels.registry import get_channel
from ..conf import app_settings
from ..models import Delivery, DeliveryStatus, Frequency
from ..rates import describe_window
from . import shared_deliveries
from .decisions import GroupDecisions
from .planned import Planned, PlannedList, frequency_on, when

#: The columns a planned delivery sets; every other one takes its default.
COLUMNS = (
    "notification_id", "user_id", "channel", "notification_type", "status",
    "next_attempt_at", "reason", "address", "frequency",
)  # fmt: skip


def _group_deliveries(group: GroupDecisions, now: datetime) -> list[tuple]:
    """The Delivery rows of one decided group, as value tuples in ``COLUMNS`` order; its
    rows must be saved (they have pks)."""
    deliveries = []
    limit = group.limit
    skipped, immediate = DeliveryStatus.SKIPPED, Frequency.IMMEDIATE
    # Many recipients share a schedule (no quiet hours, the same time zone and
    # frequency): work each one out once.
    schedules: dict[tuple, tuple[str, datetime, str]] = {}
    digestible = {c: get_channel(c).supports_digest for c in group.channels}
    # On the set-based channels, shared_deliveries writes the shared users' rows.
    individual, everyone, one_by_one = group.individual, group.channels, group.one_by_one
    for nid, ntype, members in group.entries():
        for uid in members:
            own = individual is None or uid in individual
            for channel in everyone if own else one_by_one:
                decision = group.decisions[(uid, channel)]
                if not decision.enabled:
                    if decision.on_by_default:  # somebody switched it off: say so
                        deliveries.append(
                            (nid, uid, channel, ntype, skipped, now,
                             f"switched off ({decision.source})", "", immediate)
                        )  # fmt: skip
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
                        (nid, uid, channel, ntype, skipped, now, skip, address or "",
                         immediate)
                    )  # fmt: skip
                    continue
                frequency = frequency_on(digestible[channel], decision.frequency)
                locale = group.locales[uid]
                key = (frequency, locale[1], locale[2])
                planned = schedules.get(key)
                if planned is None:
                    planned = schedules[key] = when(now, frequency, locale, bypass=group.bypass)
                status, due, reason = planned
                deliveries.append(
                    (nid, uid, channel, ntype, status, due, reason, address,
                     immediate if group.bypass else frequency)
                )  # fmt: skip
    return deliveries


def write_deliveries(groups: Iterable[GroupDecisions], now: datetime) -> PlannedList:
    """Insert the Delivery rows of the decided groups (in bulk); returns what the
    hand-off needs of each. A fan-out's recipients who share their organization's
    decision get theirs from :mod:`.shared_deliveries`, held as columns, not a tuple
    each."""
    groups = list(groups)
    shared: list[Sequence[Planned]] = [
        block
        for group in groups
        if group.individual is not None
        for block in shared_deliveries.write(group, now)
    ]
    rows = [d for group in groups for d in _group_deliveries(group, now)]
    if not rows:
        return PlannedList(shared)
    pks = bulk_insert.insert_columns(
        Delivery,
        COLUMNS,
        rows,
        constants={"created_at": now, "updated_at": now},
        batch_size=app_settings.BULK_BATCH_SIZE,
    )
    one_by_one = [
        Planned(pk, row[0], row[1], row[2], row[4], row[6])
        for pk, row in zip(pks, rows, strict=True)
    ]
    return PlannedList([*shared, one_by_one])


def due_now(deliveries: Iterable[Planned]) -> list[Any]:
    """Pks of the written deliveries to dispatch right after commit."""
    if isinstance(deliveries, PlannedList):  # a fan-out's columns, read as columns
        return deliveries.pks_with_status(DeliveryStatus.PENDING)
    return [d.pk for d in deliveries if d.status == DeliveryStatus.PENDING]
