"""Sending one delivery (or one digest): claim, render, send, record.

Every attempt starts with a conditional UPDATE that moves the row to ``sending`` only if
it is still due and claimable, so a task delivered twice, two workers racing, or the
sweeper re-enqueueing a row all end in one send. The row keeps its idempotency key, so a
retry after a crash mid-send carries the same Message-ID / webhook-id and the receiver
can drop the duplicate.

Outcomes: ``sent``; ``failed`` with ``next_attempt_at`` (transient error, exponential
backoff with jitter, or the provider's Retry-After); ``dead`` (permanent error, or
``MAX_ATTEMPTS`` used); ``skipped`` (a ``pre_send`` receiver cancelled it).
"""

from __future__ import annotations

import logging
import random
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from .. import signals
from ..channels.registry import get_channel
from ..conf import app_settings
from ..exceptions import DeliveryCancelled, DeliveryError
from ..loading import get_notification_model, load_class
from ..models import CLAIMABLE_STATUSES, Delivery, DeliveryStatus, Digest, Frequency
from ..registry import NotRegistered
from . import messages

logger = logging.getLogger("django_notify.delivery")


@dataclass(frozen=True)
class Outcome:
    status: str
    #: Seconds until the next attempt, for ``failed``.
    retry_in: float | None = None


def backoff(attempts: int, retry_after: float | None = None) -> float:
    """Seconds before attempt ``attempts + 1``: the provider's Retry-After when given,
    else ``RETRY_BACKOFF * 2**(attempts-1)`` capped at ``RETRY_BACKOFF_MAX``, with
    "equal jitter" (half fixed, half random) so retries of a burst spread out."""
    if retry_after is not None and retry_after >= 0:
        return max(1.0, float(retry_after))
    ceiling = min(app_settings.RETRY_BACKOFF_MAX, app_settings.RETRY_BACKOFF * 2 ** (attempts - 1))
    return ceiling / 2 + random.uniform(0, ceiling / 2)


# --- claiming and recording (shared by deliveries and digests) -------------------------


def claim(model, pk: Any, now: datetime, **extra: Any) -> bool:
    """Move one due row to ``sending`` and count the attempt; False if it is not ours."""
    return bool(
        model.objects.filter(
            pk=pk, status__in=CLAIMABLE_STATUSES, next_attempt_at__lte=now, **extra
        ).update(status=DeliveryStatus.SENDING, attempts=F("attempts") + 1, claimed_at=now)
    )


def _ours(model, row) -> Any:
    """The row, if this worker's claim on it still stands (the sweeper may have
    declared it interrupted meanwhile)."""
    return model.objects.filter(pk=row.pk, status=DeliveryStatus.SENDING, claimed_at=row.claimed_at)


def record_sent(model, row, response: dict) -> None:
    now = timezone.now()
    # Not conditional on our claim: the message did go out, whatever else happened.
    # last_error stays: a row sent on its third attempt still says what the first two met.
    model.objects.filter(pk=row.pk).exclude(status=DeliveryStatus.SENT).update(
        status=DeliveryStatus.SENT, sent_at=now, response=response or {}
    )
    row.status, row.sent_at = DeliveryStatus.SENT, now


def record_failure(model, row, error: Exception) -> Outcome:
    """``failed`` with a next attempt for a transient error under the limit, else ``dead``."""
    message = f"{type(error).__name__}: {error}"[:2000]
    response = getattr(error, "response", None) or {}
    retryable = getattr(error, "retryable", True) if isinstance(error, DeliveryError) else True
    if retryable and row.attempts < app_settings.MAX_ATTEMPTS:
        delay = backoff(row.attempts, getattr(error, "retry_after", None))
        _ours(model, row).update(
            status=DeliveryStatus.FAILED,
            next_attempt_at=timezone.now() + timedelta(seconds=delay),
            last_error=message,
            response=response,
        )
        row.status = DeliveryStatus.FAILED
        return Outcome(DeliveryStatus.FAILED, delay)
    detail = getattr(error, "reason", "")
    if retryable:
        reason = f"gave up after {row.attempts} attempts" + (f": {detail}" if detail else "")
    else:
        reason = detail or "permanent error"
    _ours(model, row).update(
        status=DeliveryStatus.DEAD, last_error=message, response=response, reason=reason[:200]
    )
    row.status = DeliveryStatus.DEAD
    return Outcome(DeliveryStatus.DEAD)


def _send(channel_alias: str, build, model, row, signal_rows) -> Outcome:
    """Build the message, let ``pre_send`` veto it, send, record. Never raises for a
    delivery problem: the outcome is on the row."""
    try:
        channel = get_channel(channel_alias)
        message = build(channel)
    except NotRegistered as exc:
        return _failed(
            model, row, DeliveryError(str(exc), reason="channel not configured"), signal_rows
        )
    except DeliveryError as exc:
        return _failed(model, row, exc, signal_rows)
    except Exception as exc:  # rendering bugs are not the provider's fault: permanent
        logger.exception("building %s %s failed", model._meta.model_name, row.pk)
        error = DeliveryError(f"{type(exc).__name__}: {exc}", reason="render error")
        return _failed(model, row, error, signal_rows)
    try:
        for d in signal_rows:
            signals.pre_send.send(sender=Delivery, delivery=d, message=message)
    except DeliveryCancelled as exc:
        reason = (str(exc) or "cancelled by a pre_send receiver")[:200]
        _ours(model, row).update(status=DeliveryStatus.SKIPPED, reason=reason)
        if model is Digest:
            row.deliveries.filter(status=DeliveryStatus.SCHEDULED).update(
                status=DeliveryStatus.SKIPPED, reason=reason
            )
        return Outcome(DeliveryStatus.SKIPPED)
    except Exception as exc:  # a receiver's bug: permanent, and named as such
        logger.exception("a pre_send receiver failed for %s %s", model._meta.model_name, row.pk)
        error = DeliveryError(f"{type(exc).__name__}: {exc}", reason="pre_send receiver error")
        return _failed(model, row, error, signal_rows)
    try:
        result = channel.deliver(message)
    except Exception as exc:  # DeliveryError subclasses say whether to retry; others do
        return _failed(model, row, exc, signal_rows)
    record_sent(model, row, result.response)
    for d in signal_rows:
        signals.delivery_sent.send(sender=Delivery, delivery=d, result=result)
    return Outcome(DeliveryStatus.SENT)


def _failed(model, row, error: Exception, signal_rows) -> Outcome:
    outcome = record_failure(model, row, error)
    if model is Digest and outcome.status == DeliveryStatus.DEAD:
        row.deliveries.filter(status=DeliveryStatus.SCHEDULED).update(
            status=DeliveryStatus.DEAD, last_error=str(error)[:2000], reason="digest dead"
        )
    will_retry = outcome.status == DeliveryStatus.FAILED
    log = logger.warning if will_retry else logger.error
    log("%s %s failed (%s): %s", model._meta.model_name, row.pk, outcome.status, error)
    for d in signal_rows:
        signals.delivery_failed.send(
            sender=Delivery, delivery=d, error=error, will_retry=will_retry
        )
    return outcome


# --- one delivery ----------------------------------------------------------------------


def deliver(delivery_id: Any, *, now: datetime | None = None) -> Outcome | None:
    """Attempt one immediate delivery. ``None`` if it was not due or someone else has it."""
    now = now or timezone.now()
    if not claim(Delivery, delivery_id, now, frequency=Frequency.IMMEDIATE):
        return None
    delivery = Delivery.objects.select_related("user").get(pk=delivery_id)
    notification = (
        get_notification_model()
        ._default_manager.filter(pk=delivery.notification_id)
        .prefetch_related("actor", "target")
        .get()
    )

    def build(channel):
        return messages.for_delivery(delivery, notification, channel)

    return _send(delivery.channel, build, Delivery, delivery, [delivery])


# --- digests ---------------------------------------------------------------------------


def collect_digests(*, now: datetime | None = None, limit: int = 1000) -> list[Any]:
    """Attach due batched deliveries to new Digest rows, one per user × channel ×
    frequency; returns the digests' pks. The attaching commits with the digest row, and
    rows another run holds are skipped, so two runs never put a delivery in two digests."""
    now = now or timezone.now()
    due = Delivery.objects.filter(
        status=DeliveryStatus.SCHEDULED, digest__isnull=True, next_attempt_at__lte=now
    ).exclude(frequency=Frequency.IMMEDIATE)
    groups = list(due.values_list("user_id", "channel", "frequency").distinct()[:limit])
    created = []
    for user_id, channel, frequency in groups:
        with transaction.atomic():
            rows = list(
                due.filter(user_id=user_id, channel=channel, frequency=frequency)
                .select_for_update(skip_locked=True)
                .order_by("created_at", "pk")
                .values_list("pk", "address")
            )
            if not rows:
                continue
            digest = Digest.objects.create(
                user_id=user_id,
                channel=channel,
                frequency=frequency,
                address=rows[-1][1],
                next_attempt_at=now,
            )
            attached = Delivery.objects.filter(
                pk__in=[pk for pk, _ in rows], digest__isnull=True, status=DeliveryStatus.SCHEDULED
            ).update(digest=digest, reason=f"{frequency} digest #{digest.pk}")
            if not attached:
                transaction.set_rollback(True)
                continue
        created.append(digest.pk)
    return created


def send_digest(digest_id: Any, *, now: datetime | None = None) -> Outcome | None:
    now = now or timezone.now()
    if not claim(Digest, digest_id, now):
        return None
    digest = Digest.objects.select_related("user").get(pk=digest_id)
    # A delivery closed meanwhile (the admin's "Mark as emailed") stays out.
    deliveries = list(
        digest.deliveries.filter(status=DeliveryStatus.SCHEDULED).order_by("created_at", "pk")
    )
    if not deliveries:
        Digest.objects.filter(pk=digest.pk).update(status=DeliveryStatus.SKIPPED)
        return Outcome(DeliveryStatus.SKIPPED)
    notifications = list(
        get_notification_model()
        ._default_manager.filter(pk__in=[d.notification_id for d in deliveries])
        .order_by("-created_at", "-pk")
    )

    def build(channel):
        return messages.for_digest(digest, notifications, channel)

    outcome = _send(digest.channel, build, Digest, digest, deliveries)
    if outcome.status == DeliveryStatus.SENT:
        digest.deliveries.filter(pk__in=[d.pk for d in deliveries]).update(
            status=DeliveryStatus.SENT, sent_at=digest.sent_at
        )
    return outcome


# --- dispatchers -----------------------------------------------------------------------


class BaseDispatcher:
    """Where work goes after commit. Subclass and name it in ``DISPATCHER``."""

    def dispatch(self, delivery_ids: Iterable[Any]) -> None:
        raise NotImplementedError

    def dispatch_digests(self, digest_ids: Iterable[Any]) -> None:
        raise NotImplementedError


class InlineDispatcher(BaseDispatcher):
    """Send in this process, right after commit (the embedded default). Retries wait for
    the sweeper (``manage.py notify_send_due``, run from cron)."""

    def dispatch(self, delivery_ids: Iterable[Any]) -> None:
        for pk in delivery_ids:
            try:
                deliver(pk)
            except Exception:  # the row stays claimable or sending; the sweeper recovers it
                logger.exception("inline delivery %s failed", pk)

    def dispatch_digests(self, digest_ids: Iterable[Any]) -> None:
        for pk in digest_ids:
            try:
                send_digest(pk)
            except Exception:
                logger.exception("inline digest %s failed", pk)


def get_dispatcher() -> BaseDispatcher:
    setting = 'DJANGO_NOTIFY["DISPATCHER"]'
    return load_class(app_settings.DISPATCHER, base=BaseDispatcher, setting=setting)()


def dispatch_on_commit(delivery_ids: Iterable[Any]) -> None:
    """Hand the ids over once the rows are committed; nothing leaves for a rollback."""
    ids = list(delivery_ids)
    if ids:
        transaction.on_commit(lambda: _dispatch_safely(ids), robust=True)


def _dispatch_safely(ids: list[Any]) -> None:
    try:
        get_dispatcher().dispatch(ids)
    except Exception:  # broker down: the rows are pending and the sweeper will find them
        logger.exception("dispatching %d deliveries failed; the sweeper will retry", len(ids))
