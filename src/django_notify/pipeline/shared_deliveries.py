"""Stage 4 for a fan-out's shared decisions: the Delivery rows of the recipients who have
no preference rows, opt-out, settings or rate-limit count of their own, written by the
database.

Such a recipient gets their organization's decision (:meth:`Decisions.shared
<django_notify.delivery.decide.Decisions.shared>`), the project's time zone and no
quiet hours, so every one of them in an organization gets the same row but for three
values: the notification, the user and the address. Those go to the database as one
``INSERT … SELECT`` per channel, outcome (usually one per channel) and
``BULK_BATCH_SIZE`` rows: the ids as one JSON array, the address
read by joining the user table
(:meth:`~django_notify.channels.base.BaseChannel.address_source`). The recipients with
anything of their own are planned one by one in :mod:`.deliveries`, as before; the two
write the same rows (a property test compares them).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from django.contrib.auth import get_user_model
from django.db import connections, router

from .. import bulk_insert
from ..channels.registry import get_channel
from ..conf import app_settings
from ..delivery.decide import Decision
from ..delivery.locales import default_locale
from ..models import Delivery, DeliveryStatus, Frequency
from .planned import PlannedColumns, frequency_on, when


def channels_for(channels: Sequence[str], limit: tuple[int, int] | None, using: str) -> list[str]:
    """The channels whose shared deliveries the database can write: it writes ``INSERT …
    SELECT … RETURNING``, a rate limit lets the first delivery through, and the channel
    says where its addresses are (one that does not, a webhook's per-user endpoint
    say, is planned one by one for everyone)."""
    if not bulk_insert.supported(connections[using]) or (limit is not None and limit[0] < 1):
        return []
    return [c for c in channels if get_channel(c).address_source() is not None]


def _outcome(
    decision: Decision, digests: bool, now: datetime, bypass: bool
) -> tuple[str, datetime, str, str] | None:
    """(status, due, reason, frequency) of a delivery with an address, or None for no
    row (off without anybody switching it off)."""
    if not decision.enabled:
        if decision.on_by_default:  # somebody switched it off: say so
            return (DeliveryStatus.SKIPPED, now, f"switched off ({decision.source})", "")
        return None
    frequency = frequency_on(digests, decision.frequency)
    status, due, reason = when(now, frequency, default_locale(), bypass=bypass)
    return (status, due, reason, Frequency.IMMEDIATE if bypass else frequency)


def write(group, now: datetime) -> list[PlannedColumns]:
    """Insert the shared recipients' deliveries of a decided fan-out on its
    ``set_based`` channels (a :class:`~django_notify.pipeline.decisions.GroupDecisions`
    whose ``individual`` is set; its rows are inserted)."""
    rows, decisions, individual = group.rows, group.decisions, group.individual
    using = router.db_for_write(Delivery)
    planned: list[PlannedColumns] = []
    pks, uids, orgs = rows.pks, rows.recipient_ids, rows.organization_keys
    organizations = set(orgs)
    for channel in group.set_based:
        backend = get_channel(channel)
        outcomes = {
            org: _outcome(decisions.shared(org, channel), backend.supports_digest, now,
                          group.bypass)
            for org in organizations
        }  # fmt: skip
        batches: dict[tuple, tuple[list[Any], list[Any]]] = {}
        if len(set(outcomes.values())) == 1 and not individual:
            # One outcome for everyone (organizations share their defaults, as is
            # usual): the columns as they are, with no step per row.
            (outcome,) = set(outcomes.values())
            if outcome is not None:
                batches[outcome] = (list(pks), list(uids))
        else:
            for pk, uid, org in zip(pks, uids, orgs, strict=True):
                if uid in individual:
                    continue
                outcome = outcomes[org]
                if outcome is not None:
                    nids, users = batches.setdefault(outcome, ([], []))
                    nids.append(pk)
                    users.append(uid)
        for outcome, (nids, users) in batches.items():
            planned.append(_insert(
                channel, rows.notification_type, outcome, nids, users,
                backend.address_source(), now, using,
            ))  # fmt: skip
    return planned


def _insert(
    channel: str,
    type_key: str | None,
    outcome: tuple[str, datetime, str, str],
    nids: list[Any],
    uids: list[Any],
    source: tuple[str, str],
    now: datetime,
    using: str,
) -> PlannedColumns:
    connection = connections[using]
    status, due, reason, frequency = outcome
    constants = {
        "channel": channel,
        "notification_type": type_key,
        "created_at": now,
        "updated_at": now,
    }
    expressions: dict[str, tuple[str, list[Any]]] = {}
    join: tuple[str, list[Any]] = ("", [])
    if status == DeliveryStatus.SKIPPED:  # switched off: no address looked up
        constants.update(
            status=status, next_attempt_at=now, reason=reason, address="",
            frequency=Frequency.IMMEDIATE,
        )  # fmt: skip
    elif source[0] == "constant":
        constants.update(
            status=status, next_attempt_at=due, reason=reason, address=source[1],
            frequency=frequency,
        )  # fmt: skip
    else:
        # The user's column; empty or NULL is "no address", skipped as it would be.
        qn = connection.ops.quote_name
        users = get_user_model()._meta
        column = users.get_field(source[1]).column
        address = f"COALESCE(\"u\".{qn(column)}, '')"
        join = (
            f'JOIN {qn(users.db_table)} "u" ON "u".{qn(users.pk.column)} = "r"."user_id"',
            [],
        )
        fields = {f.attname: f for f in Delivery._meta.concrete_fields}

        def either(name: str, without: Any, with_address: Any) -> tuple[str, list[Any]]:
            a_sql, a_params = bulk_insert.value_sql(fields[name], without, connection)
            b_sql, b_params = bulk_insert.value_sql(fields[name], with_address, connection)
            return (
                f"CASE WHEN {address} = '' THEN {a_sql} ELSE {b_sql} END",
                [*a_params, *b_params],
            )

        expressions.update(
            status=either("status", DeliveryStatus.SKIPPED, status),
            next_attempt_at=either("next_attempt_at", now, due),
            reason=either("reason", "no address", reason),
            frequency=either("frequency", Frequency.IMMEDIATE, frequency),
            address=(address, []),
        )
    pks: list[Any] = []
    written: list[Any] = []
    statuses: list[str] = []
    # The key, the notification and the status come back: each notification has one
    # delivery here, so it pairs a row with the user carried, and the status tells the
    # reason (the outcome's, or "no address" where the join found none). The driver
    # makes a new string per row for the status: one shared string each instead.
    texts = {str(s): str(s) for s in (status, DeliveryStatus.SKIPPED)}

    def collect(batch: list[tuple]) -> None:
        if not batch:
            return
        keys, notifications, returned = zip(*batch, strict=True)  # columns, in C
        pks.extend(bulk_insert.keys_of(Delivery._meta.pk, list(keys)))
        written.extend(notifications)
        statuses.extend(map(texts.get, returned, returned))

    bulk_insert.insert_select(
        Delivery,
        varying={"notification_id": nids, "user_id": uids},
        expressions=expressions,
        constants=constants,
        join=join,
        returning=("pk", "notification_id", "status"),
        using=using,
        batch_size=app_settings.BULK_BATCH_SIZE,
        on_rows=collect,
    )
    if written != nids:  # RETURNING's order is not promised: the notifications' is
        position = {nid: i for i, nid in enumerate(nids)}
        order = sorted(range(len(written)), key=lambda i: position.get(written[i], -1))
        pks, statuses = [pks[i] for i in order], [statuses[i] for i in order]
        written = [written[i] for i in order]
        if written != nids:  # never expected: one row per notification carried
            raise RuntimeError(f"wrote deliveries for {len(written)} of {len(nids)} rows")
    if statuses.count(status) == len(statuses):  # everyone had an address, usually
        reasons = [reason] * len(statuses)
    else:
        reasons = [reason if row_status == status else "no address" for row_status in statuses]
    return PlannedColumns(pks, nids, uids, channel, statuses, reasons)
