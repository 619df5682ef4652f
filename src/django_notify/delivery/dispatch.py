"""Sending deliveries (a batch at a time) and digests: claim, render, send, record.

Every attempt starts with a claim that moves the row to ``sending`` only if it is still
due and claimable, so a task delivered twice, two workers racing, or the sweeper
re-enqueueing a row all end in one send. A batch claims its rows together: it locks the
due ones no one else holds (``SELECT … FOR UPDATE SKIP LOCKED``) and moves them in one
UPDATE. The first claim draws the row's idempotency key and the row keeps it, so a retry
after a crash mid-send carries the same Message-ID / webhook-id and the receiver can drop
the duplicate.

Outcomes: ``sent``; ``failed`` with ``next_attempt_at`` (transient error, exponential
backoff with jitter, or the provider's Retry-After); ``dead`` (permanent error, or
``MAX_ATTEMPTS`` used); ``skipped`` (a ``pre_send`` receiver cancelled it).
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import InterfaceError, OperationalError, connections, transaction
from django.db.models import F
from django.db.models.functions import Coalesce
from django.utils import timezone

from .. import signals
from ..channels.base import TransmitResult
from ..channels.registry import get_channel
from ..conf import app_settings
from ..exceptions import DeliveryCancelled, DeliveryError
from ..loading import get_notification_model, load_class
from ..models import CLAIMABLE_STATUSES, Delivery, DeliveryStatus, Digest, Frequency
from ..models.delivery import new_keys
from ..registry import NotRegistered
from ..rendering.templates import TemplateLookup
from ..values_by_pk import values_by_pk
from . import messages
from .locales import recipient_locales

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


def surviving_a_lost_connection(write: Callable[[], Any], *, using: str, what: str) -> Any:
    """Run ``write`` (one idempotent statement in autocommit); if the database connection
    turns out to be gone (a failover, ``pg_terminate_backend``, an idle-session timeout),
    run it once more on a new connection.

    For the writes that follow a send: without them the message, which did go out, would
    be sent again once the sweeper finds the row still ``sending``. Inside a transaction
    the error is raised as it is, since the rest of the transaction is lost too; so is an
    error that leaves the connection usable (a deadlock, a constraint)."""
    try:
        return write()
    except (OperationalError, InterfaceError) as exc:
        conn = connections[using]
        if conn.in_atomic_block or conn.is_usable():
            raise
        logger.warning(
            "%s: the database connection was lost (%s); retrying on a new database connection",
            what,
            str(exc).splitlines()[0] if str(exc) else type(exc).__name__,
        )
        conn.close()
        return write()


def record_sent(model, row, response: dict) -> None:
    now = timezone.now()
    # Not conditional on our claim: the message did go out, whatever else happened.
    # last_error stays: a row sent on its third attempt still says what the first two met.
    rows = model.objects.filter(pk=row.pk).exclude(status=DeliveryStatus.SENT)
    surviving_a_lost_connection(
        lambda: rows.update(status=DeliveryStatus.SENT, sent_at=now, response=response or {}),
        using=rows.db,
        what=f"recording {model._meta.model_name} {row.pk} sent",
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
    except NotRegistered as exc:
        return _not_configured(model, row, exc, signal_rows)
    outcome, result = _attempt(channel, build, model, row, signal_rows)
    if result is not None:
        record_sent(model, row, result.response)
        for d in signal_rows:
            signals.delivery_sent.send(sender=Delivery, delivery=d, result=result)
    return outcome


def _not_configured(model, row, error: NotRegistered, signal_rows) -> Outcome:
    return _failed(
        model, row, DeliveryError(str(error), reason="channel not configured"), signal_rows
    )


def _attempt(channel, build, model, row, signal_rows) -> tuple[Outcome, TransmitResult | None]:
    """Build, ``pre_send``, send. Anything but a send is recorded here; a send is
    returned with its result for the caller to record (one row, or a batch at once)."""
    try:
        message = build(channel)
    except DeliveryError as exc:
        return _failed(model, row, exc, signal_rows), None
    except Exception as exc:  # rendering bugs are not the provider's fault: permanent
        logger.exception("building %s %s failed", model._meta.model_name, row.pk)
        error = DeliveryError(f"{type(exc).__name__}: {exc}", reason="render error")
        return _failed(model, row, error, signal_rows), None
    try:
        for d in signal_rows:
            signals.pre_send.send(sender=Delivery, delivery=d, message=message)
    except DeliveryCancelled as exc:
        reason = (str(exc) or "cancelled by a pre_send receiver")[:200]
        _ours(model, row).update(status=DeliveryStatus.SKIPPED, reason=reason)
        row.status = DeliveryStatus.SKIPPED
        if model is Digest:
            row.deliveries.filter(status=DeliveryStatus.SCHEDULED).update(
                status=DeliveryStatus.SKIPPED, reason=reason
            )
        return Outcome(DeliveryStatus.SKIPPED), None
    except Exception as exc:  # a receiver's bug: permanent, and named as such
        logger.exception("a pre_send receiver failed for %s %s", model._meta.model_name, row.pk)
        error = DeliveryError(f"{type(exc).__name__}: {exc}", reason="pre_send receiver error")
        return _failed(model, row, error, signal_rows), None
    try:
        result = channel.deliver(message)
    except Exception as exc:  # DeliveryError subclasses say whether to retry; others do
        return _failed(model, row, exc, signal_rows), None
    return Outcome(DeliveryStatus.SENT), result


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


# --- deliveries, a batch at a time ----------------------------------------------------

#: Sends are recorded together, at the end of a channel's part of the batch, or before
#: the next send once the oldest unrecorded one is this many seconds old (a third of
#: ``SENDING_TIMEOUT`` if that is shorter, so the sweeper never finds a sent row still
#: ``sending``): a worker lost mid-batch leaves at most that much of its work to be sent
#: again, with the same idempotency keys.
RECORD_WITHIN = 5.0


class ClaimConflict(RuntimeError):
    """The batch's UPDATE moved fewer rows than it locked: only possible on a database
    that neither locks rows nor serialises writers. The claim is rolled back whole; the
    rows stay due for the next task or sweep."""


def claim_batch(delivery_ids: Iterable[Any], now: datetime) -> list[Delivery]:
    """Claim every due, claimable immediate delivery among ``delivery_ids`` that no one
    else holds, in two statements, and return the claimed rows with their users.

    The SELECT locks the rows it returns and skips those another transaction holds
    (``FOR UPDATE SKIP LOCKED``), so two workers given the same ids split them instead of
    waiting for each other; the UPDATE, still conditional on the row being due, moves them
    to ``sending`` and counts the attempt. SQLite has no row locks but lets one writer in
    at a time, so a concurrent claim there fails ("database is locked") instead of
    claiming the rows twice."""
    ids = list(dict.fromkeys(delivery_ids))
    if not ids:
        return []
    due = Delivery.objects.filter(
        pk__in=ids,
        status__in=CLAIMABLE_STATUSES,
        next_attempt_at__lte=now,
        frequency=Frequency.IMMEDIATE,
    )
    features = connections[due.db].features
    # Lock the deliveries only: the joined users stay free for everyone else.
    lock_of = ("self",) if features.has_select_for_update_of else ()
    with transaction.atomic(using=due.db):
        rows = list(
            due.select_related("user")
            .select_for_update(skip_locked=True, of=lock_of)
            .order_by("pk")
        )
        if not rows:
            return []
        keys = _first_keys(rows, due.db)
        moved = due.filter(pk__in=[row.pk for row in rows]).update(
            status=DeliveryStatus.SENDING, attempts=F("attempts") + 1, claimed_at=now, **keys
        )
        if moved != len(rows):
            raise ClaimConflict(f"claimed {moved} of {len(rows)} locked deliveries")
    for row in rows:
        row.status, row.attempts, row.claimed_at = DeliveryStatus.SENDING, row.attempts + 1, now
    return rows


def _first_keys(rows: list[Delivery], using: str) -> dict[str, Any]:
    """The UPDATE argument that gives the claimed rows without an idempotency key their
    key (their first claim), set on ``rows`` too; a row that has one keeps it, so every
    retry carries the same. The rows are locked (or, on SQLite, the database is), so
    what was read is what the UPDATE finds; ``Coalesce`` keeps a key regardless."""
    keyless = [row for row in rows if row.idempotency_key is None]
    if not keyless:
        return {}
    for row, key in zip(keyless, new_keys(len(keyless)), strict=True):
        row.idempotency_key = key
    drawn = values_by_pk(
        Delivery, "idempotency_key", {row.pk: row.idempotency_key for row in keyless}, using
    )
    return {"idempotency_key": Coalesce(F("idempotency_key"), drawn)}


class _Claims:
    """A batch's hold on the rows it has not reached yet.

    A batch can take longer than ``SENDING_TIMEOUT`` (a hundred webhooks to an endpoint
    that times out every time), and the sweeper takes a row ``sending`` for longer than
    that for one whose worker died. So once a third of it has passed, the rows still
    waiting their turn are claimed again (one UPDATE, conditional on the claim still
    being ours); a row the sweeper took meanwhile is left to whoever has it now."""

    def __init__(self, rows: list[Delivery], now: datetime):
        self.waiting = {row.pk: row for row in rows}
        self.claimed_at = now
        self.since = time.monotonic()

    def take(self, row: Delivery) -> bool:
        """Before attempting ``row``: True if it is still this batch's to send."""
        if time.monotonic() - self.since >= app_settings.SENDING_TIMEOUT / 3:
            self._renew()
        return self.waiting.pop(row.pk, None) is not None

    def _renew(self) -> None:
        now = timezone.now()
        pks = list(self.waiting)
        ours = Delivery.objects.filter(
            pk__in=pks, status=DeliveryStatus.SENDING, claimed_at=self.claimed_at
        )
        renewed = surviving_a_lost_connection(
            lambda: ours.update(claimed_at=now),
            using=ours.db,
            what=f"renewing the claim of {len(pks)} deliveries",
        )
        if renewed != len(pks):
            kept = set(
                Delivery.objects.filter(
                    pk__in=pks, status=DeliveryStatus.SENDING, claimed_at=now
                ).values_list("pk", flat=True)
            )
            self.waiting = {pk: row for pk, row in self.waiting.items() if pk in kept}
        for row in self.waiting.values():
            row.claimed_at = now
        self.claimed_at, self.since = now, time.monotonic()


def deliver_many(delivery_ids: Iterable[Any], *, now: datetime | None = None) -> dict[Any, Outcome]:
    """Attempt a batch of immediate deliveries; ``{pk: outcome}`` for the ones this call
    claimed (the others were not due, or someone else has them).

    A fixed number of queries whatever the batch's size: the claim, the users (joined),
    the notifications with their senders, actors and targets, the recipients' locales,
    the database templates, and one UPDATE for the sent rows; failures and ``pre_send``
    cancellations are written row by row (they are rare). Each channel is used inside
    :meth:`~django_notify.channels.BaseChannel.batch`, so the email channel sends the
    whole batch through one SMTP connection."""
    now = now or timezone.now()
    rows = claim_batch(delivery_ids, now)
    if not rows:
        return {}
    notifications = _notifications_for(rows)
    locales = recipient_locales(list(dict.fromkeys(row.user_id for row in rows)))
    templates = TemplateLookup()
    templates.prefetch(
        (n.notification_type, row.channel, n.organization_key or "", locales[row.user_id][0])
        for row in rows
        if (n := notifications.get(row.notification_id)) is not None
    )
    by_channel: dict[str, list[Delivery]] = {}
    for row in rows:
        by_channel.setdefault(row.channel, []).append(row)
    claims = _Claims(rows, now)
    outcomes: dict[Any, Outcome] = {}
    for alias, group in by_channel.items():
        outcomes.update(_send_group(alias, group, claims, notifications, locales, templates))
    return outcomes


def _notifications_for(rows: list[Delivery]) -> dict[Any, Any]:
    model = get_notification_model()
    found = model._default_manager.filter(
        pk__in={row.notification_id for row in rows}
    ).prefetch_related("sender", "actor", "target")  # actor and target: one query per type
    return {n.pk: n for n in found}


def _send_group(alias, rows, claims, notifications, locales, templates) -> dict[Any, Outcome]:
    outcomes: dict[Any, Outcome] = {}
    try:
        channel = get_channel(alias)
    except NotRegistered as exc:
        for row in rows:
            if claims.take(row):
                outcomes[row.pk] = _not_configured(Delivery, row, exc, [row])
        return outcomes
    sent: list[tuple[Delivery, TransmitResult]] = []
    oldest = 0.0
    record_within = min(RECORD_WITHIN, app_settings.SENDING_TIMEOUT / 3)
    try:
        with channel.batch():
            for row in rows:
                if sent and time.monotonic() - oldest >= record_within:
                    _record_sent_batch(sent)
                if not claims.take(row):
                    continue
                notification = notifications.get(row.notification_id)

                def build(channel, row=row, notification=notification):
                    if notification is None:
                        raise DeliveryError(
                            f"notification {row.notification_id} not found",
                            reason="notification gone",
                        )
                    return messages.for_delivery(
                        row,
                        notification,
                        channel,
                        locale=locales[row.user_id],
                        templates=templates,
                    )

                outcome, result = _attempt(channel, build, Delivery, row, [row])
                outcomes[row.pk] = outcome
                if result is not None:
                    if not sent:
                        oldest = time.monotonic()
                    sent.append((row, result))
    finally:
        # Whatever stopped the loop, what did go out is recorded as sent.
        _record_sent_batch(sent)
    return outcomes


def _record_sent_batch(sent: list[tuple[Delivery, TransmitResult]]) -> None:
    """One UPDATE for the batch's sent rows, then ``delivery_sent`` for each; empties
    ``sent``. Like :func:`record_sent`, not conditional on the claim (the messages did go
    out), and repeated on a new connection if the worker's was lost."""
    if not sent:
        return
    done = list(sent)
    sent.clear()
    now = timezone.now()
    for row, result in done:
        row.status, row.sent_at, row.response = DeliveryStatus.SENT, now, result.response or {}
    rows = Delivery.objects.filter(pk__in=[row.pk for row, _ in done]).exclude(
        status=DeliveryStatus.SENT
    )
    # The field's encoder applies: providers answer dates.
    responses = values_by_pk(
        Delivery, "response", {row.pk: row.response for row, _ in done}, rows.db
    )
    surviving_a_lost_connection(
        lambda: rows.update(status=DeliveryStatus.SENT, sent_at=now, response=responses),
        using=rows.db,
        what=f"recording {len(done)} deliveries sent",
    )
    for row, result in done:
        signals.delivery_sent.send(sender=Delivery, delivery=row, result=result)


def deliver(delivery_id: Any, *, now: datetime | None = None) -> Outcome | None:
    """Attempt one immediate delivery (a batch of one). ``None`` if it was not due or
    someone else has it."""
    outcomes = deliver_many([delivery_id], now=now)
    return next(iter(outcomes.values()), None)


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


def batches(delivery_ids: Iterable[Any], size: int | None = None) -> list[list[Any]]:
    """The ids in lists of ``DISPATCH_BATCH_SIZE`` (or ``size``)."""
    size = size or app_settings.DISPATCH_BATCH_SIZE
    ids = list(delivery_ids)
    return [ids[start : start + size] for start in range(0, len(ids), size)]


class InlineDispatcher(BaseDispatcher):
    """Send in this process, right after commit (the embedded default), a batch of
    ``DISPATCH_BATCH_SIZE`` at a time. Retries wait for the sweeper
    (``manage.py notify_send_due``, run from cron)."""

    def dispatch(self, delivery_ids: Iterable[Any]) -> None:
        for batch in batches(delivery_ids):
            try:
                deliver_many(batch)
            except Exception:  # the rows stay claimable or sending; the sweeper recovers them
                logger.exception("inline delivery of %d deliveries failed", len(batch))

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
