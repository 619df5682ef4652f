"""The periodic work: find what is due and hand it to the dispatcher.

Nothing here depends on an in-memory callback having survived: rows that are pending
(a process died between commit and enqueue), whose retry time has come, whose quiet
hours ended, or that were left ``sending`` by a killed worker are all found from the
database. Safe to run concurrently and as often as you like: every send starts with a
conditional claim.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from django.db.models import Q
from django.utils import timezone

from ..conf import app_settings
from ..models import CLAIMABLE_STATUSES, Delivery, DeliveryStatus, Digest, Frequency
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


def cleanup(*, now=None) -> dict[str, int]:
    """Delete notifications and delivery rows older than ``RETENTION_DAYS`` (``None``
    keeps them forever). Deliveries still to do are never deleted."""
    from ..loading import get_notification_model

    now = now or timezone.now()
    retention = app_settings.RETENTION_DAYS
    counts = {"notifications": 0, "deliveries": 0, "digests": 0, "events": 0}
    open_ = Q(status__in=[*CLAIMABLE_STATUSES, DeliveryStatus.SENDING])
    if retention.get("deliveries"):
        before = now - timedelta(days=int(retention["deliveries"]))
        counts["deliveries"] = (
            Delivery.objects.filter(created_at__lt=before)
            .exclude(open_)
            .delete()[1]
            .get(Delivery._meta.label, 0)
        )
        counts["digests"] = (
            Digest.objects.filter(created_at__lt=before, deliveries__isnull=True)
            .exclude(open_)
            .delete()[1]
            .get(Digest._meta.label, 0)
        )
    if retention.get("events"):
        from ..models import Event

        before = now - timedelta(days=int(retention["events"]))
        finished = Event.objects.filter(
            created_at__lt=before, status__in=[Event.Status.DONE, Event.Status.CANCELLED]
        )
        counts["events"] = finished.delete()[1].get(Event._meta.label, 0)
    if retention.get("notifications"):
        before = now - timedelta(days=int(retention["notifications"]))
        model = get_notification_model()
        pending = Delivery.objects.filter(open_).values("notification_id")
        old = model._default_manager.filter(created_at__lt=before).exclude(pk__in=pending)
        counts["notifications"] = old.delete()[1].get(model._meta.label, 0)
    return counts
