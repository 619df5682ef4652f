"""The periodic work: find what is due and hand it to the dispatcher.

Nothing here depends on an in-memory callback having survived: rows that are pending
(a process died between commit and enqueue), whose retry time has come, whose quiet
hours ended, or that were left ``sending`` by a killed worker are all found from the
database. Safe to run concurrently and as often as you like: every send starts with a
conditional claim.
"""

from __future__ import annotations

import logging
from collections import Counter
from datetime import timedelta
from typing import Any

from django.apps import apps
from django.db import connections, transaction
from django.db.models import CASCADE, SET_NULL, Exists, OuterRef, Q, deletion, signals
from django.utils import timezone

from ..conf import SETTING_NAME, app_settings
from ..exceptions import NotifyConfigurationError
from ..loading import get_notification_model
from ..models import (
    CLAIMABLE_STATUSES,
    Delivery,
    DeliveryStatus,
    Digest,
    Event,
    Frequency,
    NotificationReceipt,
)
from .checks import retention_problems
from .dispatch import collect_digests, get_dispatcher

logger = logging.getLogger("django_notify.delivery")


def recover_interrupted(*, now=None) -> int:
    """Rows left ``sending`` for longer than ``SENDING_TIMEOUT`` (their worker died mid-
    send): retried with the same idempotency key, or ``dead`` if out of attempts."""
    now = now or timezone.now()
    stale_before = now - timedelta(seconds=app_settings.SENDING_TIMEOUT)
    note = "interrupted while sending (worker lost); retried with the same idempotency key"
    total = 0
    for model in (Delivery, Digest):
        stale = model.objects.filter(status=DeliveryStatus.SENDING, claimed_at__lt=stale_before)
        total += stale.filter(attempts__lt=app_settings.MAX_ATTEMPTS).update(
            status=DeliveryStatus.FAILED, next_attempt_at=now, last_error=note
        )
        total += stale.filter(attempts__gte=app_settings.MAX_ATTEMPTS).update(
            status=DeliveryStatus.DEAD, last_error=note, reason="interrupted, out of attempts"
        )
    if total:
        logger.warning("recovered %d interrupted deliveries/digests", total)
    return total


def due_deliveries(*, now=None, limit: int = 1000) -> list[Any]:
    now = now or timezone.now()
    return list(
        Delivery.objects.filter(
            status__in=CLAIMABLE_STATUSES,
            frequency=Frequency.IMMEDIATE,
            next_attempt_at__lte=now,
        )
        .order_by("next_attempt_at", "pk")
        .values_list("pk", flat=True)[:limit]
    )


def due_digests(*, now=None, limit: int = 1000) -> list[Any]:
    now = now or timezone.now()
    return list(
        Digest.objects.filter(status__in=CLAIMABLE_STATUSES, next_attempt_at__lte=now)
        .order_by("next_attempt_at", "pk")
        .values_list("pk", flat=True)[:limit]
    )


def send_due(*, limit: int = 1000) -> dict[str, int]:
    """Recover interrupted rows, then dispatch every due immediate delivery."""
    recovered = recover_interrupted()
    ids = due_deliveries(limit=limit)
    if ids:
        get_dispatcher().dispatch(ids)
    return {"recovered": recovered, "dispatched": len(ids)}


def send_digests(*, limit: int = 1000) -> dict[str, int]:
    """Batch due digest deliveries into Digest rows and dispatch every due digest."""
    created = collect_digests(limit=limit)
    ids = due_digests(limit=limit)
    if ids:
        get_dispatcher().dispatch_digests(ids)
    return {"created": len(created), "dispatched": len(ids)}


def retry_dead(*, since=None, channel: str | None = None) -> int:
    """Give ``dead`` deliveries a fresh set of attempts (after fixing what killed them)."""
    rows = Delivery.objects.filter(status=DeliveryStatus.DEAD, digest__isnull=True)
    if since is not None:
        rows = rows.filter(created_at__gte=since)
    if channel:
        rows = rows.filter(channel=channel)
    return rows.update(
        status=DeliveryStatus.FAILED, attempts=0, next_attempt_at=timezone.now(), reason=""
    )


#: What ``cleanup()`` reports, in this order (one count per table).
CLEANUP_TABLES = ("notifications", "receipts", "deliveries", "digests", "events")


def cleanup(*, now=None, batch_size: int | None = None) -> dict[str, int]:
    """Delete rows older than ``RETENTION_DAYS`` (``None`` keeps a table forever) in
    batches of ``batch_size`` rows (default ``RETENTION_BATCH_SIZE``), each batch its own
    short transaction, and return how many rows each table lost.

    Deliveries still to send, digests still holding deliveries, events still to process
    and notifications with a delivery still to send are never deleted. A batch of
    notifications takes its receipts and deliveries with it, in the same transaction.
    Raises ``NotifyConfigurationError`` for a ``RETENTION_DAYS`` the system check
    (``django_notify.E020``) rejects.
    """
    problems = retention_problems(app_settings.get("RETENTION_DAYS"))
    if problems:
        raise NotifyConfigurationError(" ".join(" ".join(p) for p in problems[:1]))
    batch_size = app_settings.RETENTION_BATCH_SIZE if batch_size is None else batch_size
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise NotifyConfigurationError(
            f"The cleanup batch size ({SETTING_NAME}['RETENTION_BATCH_SIZE'] or "
            f"--batch-size) must be a positive int, got {batch_size!r}."
        )
    retention = app_settings.RETENTION_DAYS
    now = now or timezone.now()
    counts: Counter[str] = Counter(dict.fromkeys(CLEANUP_TABLES, 0))
    open_ = Q(status__in=[*CLAIMABLE_STATUSES, DeliveryStatus.SENDING])

    def cutoff(key: str):
        days = retention.get(key)
        return None if days is None else now - timedelta(days=days)

    if (before := cutoff("deliveries")) is not None:
        old = Delivery.objects.filter(created_at__lt=before).exclude(open_)
        counts += _delete_in_batches(old, batch_size)
        # A digest goes once no delivery points at it any more.
        kept = Delivery.objects.filter(digest=OuterRef("pk"))
        old = Digest.objects.filter(~Exists(kept), created_at__lt=before).exclude(open_)
        counts += _delete_in_batches(old, batch_size)
    if (before := cutoff("events")) is not None:
        finished = [Event.Status.DONE, Event.Status.CANCELLED]
        old = Event.objects.filter(created_at__lt=before, status__in=finished)
        counts += _delete_in_batches(old, batch_size)
    if (before := cutoff("notifications")) is not None:
        model = get_notification_model()
        to_send = Delivery.objects.filter(open_, notification=OuterRef("pk"))
        old = model._base_manager.filter(~Exists(to_send), created_at__lt=before)
        counts += _delete_in_batches(old, batch_size)
    result = {key: counts[key] for key in CLEANUP_TABLES}
    result.update((key, n) for key, n in counts.items() if key not in result)
    if any(result.values()):
        logger.info("cleanup deleted %s", ", ".join(f"{n} {key}" for key, n in result.items() if n))
    return result


def _report_key(model) -> str:
    """A model's key in ``cleanup()``'s counts: ``notifications`` for the (possibly
    swapped) notification model, the package's tables by name, others by label."""
    names = {
        get_notification_model(): "notifications",
        NotificationReceipt: "receipts",
        Delivery: "deliveries",
        Digest: "digests",
        Event: "events",
    }
    return names.get(model._meta.concrete_model, model._meta.label)


def _delete_in_batches(queryset, batch_size: int) -> Counter[str]:
    """Delete the rows of ``queryset`` ``batch_size`` at a time, oldest primary key first.

    Each batch is one transaction: select up to ``batch_size`` primary keys (on
    PostgreSQL ``FOR UPDATE SKIP LOCKED``, so a concurrent run or a row being written
    is passed over, not waited for), handle the rows that point at them as their
    foreign keys' ``on_delete`` says (one statement per relation: a cascade deletes the
    batch's dependants, ``SET_NULL`` clears them), then delete the batch by primary
    key. That is a fixed number of statements per batch, however many rows are old, and
    no statement touches more than one batch's rows and their dependants. A model Django
    could not delete this way (delete signal receivers, ``PROTECT``, generic relations,
    multi-table inheritance) is deleted with ``QuerySet.delete()`` per batch instead:
    still batched, with more statements.
    """
    model = queryset.model
    using = queryset.db
    features = connections[using].features
    plan = _deletion_plan(model)
    counts: Counter[str] = Counter()
    after = None
    while True:
        with transaction.atomic(using=using):
            batch = queryset.using(using).order_by("pk")
            if after is not None:
                batch = batch.filter(pk__gt=after)
            if features.has_select_for_update_skip_locked:
                batch = batch.select_for_update(skip_locked=True)
            pks = list(batch.values_list("pk", flat=True)[:batch_size])
            if not pks:
                break
            after = pks[-1]
            rows = model._base_manager.using(using).filter(pk__in=pks)
            if plan is None:
                _total, per_model = rows.delete()
                for label, n in per_model.items():
                    counts[_report_key(apps.get_model(label))] += n
                continue
            for related_model, field, on_delete in plan:
                dependants = related_model._base_manager.using(using).filter(
                    **{f"{field.name}__in": pks}
                )
                if on_delete is CASCADE:
                    _total, per_model = dependants.delete()  # one DELETE when fast-deletable
                    for label, n in per_model.items():
                        counts[_report_key(apps.get_model(label))] += n
                else:  # SET_NULL
                    dependants.update(**{field.name: None})
            # Nothing points at these rows any more and no receiver listens: the DELETE
            # QuerySet.delete() would end with, minus fetching the rows and splitting it
            # into chunks of 100 (_raw_delete is the method its fast path calls).
            counts[_report_key(model)] += rows._raw_delete(using)
    return counts


def _deletion_plan(model) -> list[tuple[Any, Any, Any]] | None:
    """The relations to handle before a batch of ``model`` rows can be deleted with one
    plain DELETE, as (related model, foreign key, on_delete); ``None`` if that is not
    possible and ``QuerySet.delete()`` has to collect the batch."""
    if signals.pre_delete.has_listeners(model) or signals.post_delete.has_listeners(model):
        return None
    opts = model._meta
    if opts.concrete_model._meta.parents or any(
        hasattr(f, "bulk_related_objects") for f in opts.private_fields
    ):
        return None
    # DO_NOTHING, and on Django 6.1+ the ON DELETE actions the database runs itself.
    skipped = getattr(deletion, "SKIP_COLLECTION", frozenset([deletion.DO_NOTHING]))
    plan = []
    for related in deletion.get_candidate_relations_to_delete(opts):
        on_delete = related.field.remote_field.on_delete
        if on_delete in skipped:
            continue
        if on_delete is not CASCADE and on_delete is not SET_NULL:
            return None  # PROTECT, RESTRICT, SET_DEFAULT, SET(...): let Django decide
        plan.append((related.related_model, related.field, on_delete))
    return plan
