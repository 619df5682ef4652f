"""``emit()`` and the outbox.

``emit()`` writes an :class:`~django_notify.models.Event` in the caller's transaction
and asks for it to be processed on commit. A rolled-back transaction leaves nothing.
Processing claims the row with a conditional update and writes the notifications and the
``done`` mark in the same transaction, so each event is processed exactly once: a second,
concurrent processor finds nothing to claim, and a crash rolls everything back for the
sweep (``manage.py notify_process_events``) to pick up.
"""

from __future__ import annotations

import contextlib
import json
import logging
import traceback
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError
from django.core.serializers.json import DjangoJSONEncoder
from django.db import IntegrityError, models, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.html import escape

from .. import signals
from ..channels import channels as configured_channels
from ..conf import app_settings
from ..loading import get_notification_model
from ..models import Event
from ..types import notification_types
from ..validation import non_finite_path
from . import audience
from .decisions import reached_by_row, worth_a_row
from .request import WriteRequest
from .rows import StoredRows, system_rows
from .write import write

# The name the docs give for failed events, kept where the code moved.
logger = logging.getLogger("django_notify.events")


def _jsonable_context(type_key: str, context: Mapping[str, Any]) -> dict[str, Any]:
    """Model instances become their text (the event keeps ``target`` as a relation)."""
    clean = {k: (str(v) if isinstance(v, models.Model) else v) for k, v in context.items()}
    where = non_finite_path(clean, "context")
    if where is not None:
        raise ValidationError(
            {"context": f"{where} in the context of {type_key!r} is not a finite number."}
        )
    try:
        json.dumps(clean, cls=DjangoJSONEncoder)
    except (TypeError, ValueError) as exc:
        raise ValidationError(
            {"context": f"The context of {type_key!r} is not JSON: {exc}"}
        ) from None
    return clean


def _generic(obj: Any, name: str) -> dict[str, Any]:
    if obj is None:
        return {}
    if getattr(obj, "pk", None) is None:
        raise ValidationError({name: f"{name} must be a saved model instance."})
    return {
        f"{name}_content_type": ContentType.objects.get_for_model(obj),
        f"{name}_object_id": str(obj.pk),
    }


def emit(
    type_key: str,
    *,
    target: Any = None,
    actor: Any = None,
    context: Mapping[str, Any] | None = None,
    recipients: Iterable[Any] | None = None,
    idempotency_key: str | None = None,
    send_at: datetime | None = None,
    cancellation_key: str | None = None,
):
    """Record that something happened; notifications follow once the transaction commits.

    ``send_at`` (an aware datetime) schedules the notifications for later: the sweep
    processes the event once that time has come, unless :func:`cancel` was called with its
    ``cancellation_key`` first.

    Returns the :class:`Event` (the existing one when ``idempotency_key`` was seen before).
    Raises ``NotRegistered`` for an unknown type and ``ValidationError`` naming the field
    for a bad context, actor, target, recipient, ``send_at`` or ``cancellation_key``.
    """
    if send_at is not None and (not isinstance(send_at, datetime) or timezone.is_naive(send_at)):
        raise ValidationError({"send_at": "send_at must be a timezone-aware datetime."})
    if cancellation_key is not None and (
        not isinstance(cancellation_key, str) or not 0 < len(cancellation_key) <= 200
    ):
        raise ValidationError({"cancellation_key": "Give a string of 1 to 200 characters."})
    ntype = notification_types.get(type_key)
    data = _jsonable_context(type_key, ntype.validate_context(context))
    if isinstance(recipients, str | bytes):
        raise ValidationError({"recipients": "recipients must be a list of users or ids."})
    recipient_ids = sorted({str(getattr(r, "pk", r)) for r in (recipients or ())})
    fields = {
        "notification_type": type_key,
        "context": data,
        "recipients": recipient_ids,
        "idempotency_key": idempotency_key or None,
        "deliver_at": send_at,
        "cancellation_key": cancellation_key,
        **_generic(actor, "actor"),
        **_generic(target, "target"),
    }
    with transaction.atomic():
        if idempotency_key:
            existing = Event.objects.filter(idempotency_key=idempotency_key).first()
            if existing is not None:
                return existing
        if cancellation_key and Event.objects.filter(cancellation_key=cancellation_key).exists():
            raise ValidationError(
                {"cancellation_key": f"{cancellation_key!r} is already used by another event."}
            )
        if idempotency_key:
            # A concurrent emit with the same key may win between the check and the
            # insert: the savepoint lets this one return the winner's event.
            try:
                with transaction.atomic():
                    event = Event.objects.create(**fields)
            except IntegrityError:
                return Event.objects.get(idempotency_key=idempotency_key)
        else:
            event = Event.objects.create(**fields)
        signals.event_emitted.send(sender=Event, event=event)
        if send_at is None or send_at <= timezone.now():
            transaction.on_commit(partial(_process_quietly, event.pk), robust=True)
    return event


def _process_quietly(event_id: Any) -> None:
    """Process on commit without breaking the committing request: a failure is already
    logged and recorded on the row by ``process_event``, and the sweep retries it."""
    with contextlib.suppress(Exception):
        process_event(event_id)


def _render(ntype, event, template: str, fallback: str, *, html: bool = False) -> str:
    if not template:
        return fallback
    ctx = {**event.context, "actor": event.actor or "", "target": event.target or ""}
    if html:  # the body is HTML: context values are text and must not become markup
        ctx = {k: escape(v) if isinstance(v, str) else v for k, v in ctx.items()}
    return ntype.render(template, ctx)


def _build_notifications(event) -> Sequence[Any]:
    """Write the event's notifications; returns them. However large the audience, it
    is one write: the look-ups (organizations, preferences, opt-outs, settings) are one
    query each for everyone, and only the ``INSERT``s go ``BULK_BATCH_SIZE`` rows at a
    time. Past that size, what is returned holds the new ids, not the rows."""
    ntype = notification_types.get(event.notification_type)
    reach = audience.event_reach(
        event, ntype, configured_channels.keys(), configured_channels.row_channels()
    )
    chosen = reached_by_row(reach) | worth_a_row(ntype, reach)
    # The write needs only whom each channel did not reach; the audience's sets (one
    # per channel, each as large as the audience) are let go before rows are written.
    unreached = {channel: chosen - users for channel, users in reach.items()}
    del reach
    user_ids = sorted(chosen, key=lambda pk: (str(type(pk)), pk))
    del chosen
    if not user_ids:
        return []
    target = event.target
    url = getattr(target, "get_absolute_url", None)
    model = get_notification_model()
    content = {
        "title": _render(ntype, event, ntype.title, ntype.get_label())[:255],
        "body": _render(ntype, event, ntype.body, escape(ntype.description), html=True),
        "level": ntype.level,
        "priority": ntype.default_priority,
        "actor": event.actor,
        "target": target,
        "url": url() if callable(url) else "",
        "meta_data": {"event": event.pk, "context": event.context},
        "limit_meta_data": False,
    }
    rows = system_rows(model, user_ids, event.notification_type, **content)
    written = write(WriteRequest(rows, unreached=unreached, savepoint=False))
    if len(written) <= app_settings.BULK_BATCH_SIZE:
        return written
    # A listener iterating a large event's rows reads them in chunks, none kept.
    return StoredRows(model, written.pks)


def process_event(event_id: Any, *, force: bool = False) -> bool:
    """Turn one event into notifications. Returns False if another run already did (or
    the event used up ``EVENT_MAX_ATTEMPTS``; ``force=True``, as the admin's "Process
    now" does, tries it anyway).

    Raises whatever processing raised, after marking the event ``failed`` with the
    error and its traceback (``last_error``) and logging it at ERROR, with the
    traceback, on the ``django_notify.events`` logger. Callers need not log it again.
    """
    processable = [Event.Status.PENDING, Event.Status.FAILED]
    try:
        # Count the attempt first, in its own statement: a process killed mid-fan-out
        # still used one, so a poison event stops after EVENT_MAX_ATTEMPTS, not looping.
        countable = Event.objects.filter(_due_q(), pk=event_id, status__in=processable)
        if not force:
            countable = countable.filter(attempts__lt=app_settings.EVENT_MAX_ATTEMPTS)
        counted = countable.update(attempts=F("attempts") + 1)
        if not counted:
            return False
        with transaction.atomic():
            claimed = Event.objects.filter(pk=event_id, status__in=processable).update(
                status=Event.Status.DONE, processed_at=timezone.now()
            )
            if not claimed:
                return False
            event = Event.objects.get(pk=event_id)
            rows = _build_notifications(event)
            Event.objects.filter(pk=event_id).update(notification_count=len(rows), last_error="")
    except Exception as exc:
        _record_failure(Event, event_id, exc)
        raise
    event.notification_count = len(rows)
    signals.event_processed.send(sender=Event, event=event, notifications=rows)
    return True


#: ``last_error`` keeps at most this many characters of the error and its traceback.
ERROR_TEXT_LIMIT = 10_000


def error_text(exc: BaseException, limit: int = ERROR_TEXT_LIMIT) -> str:
    """``"Type: message"`` on the first line (what lists show), then the traceback.
    Over ``limit``, the middle of the traceback is cut: its start and the frames
    nearest the raise stay."""
    text = f"{type(exc).__name__}: {exc}\n\n{''.join(traceback.format_exception(exc))}"
    if len(text) <= limit:
        return text
    marker = "\n[… {} characters cut …]\n"
    head = limit // 4
    tail = limit - head - len(marker.format(len(text)))
    return text[:head] + marker.format(len(text) - head - tail) + text[-tail:]


def _record_failure(Event, event_id: Any, exc: BaseException) -> None:
    """Mark the event ``failed`` with the error and traceback, and log it at ERROR."""
    due = [Event.Status.PENDING, Event.Status.FAILED]
    row = None
    try:
        Event.objects.filter(pk=event_id, status__in=due).update(
            status=Event.Status.FAILED, last_error=error_text(exc)
        )
        row = Event.objects.filter(pk=event_id).values("notification_type", "attempts").first()
    except Exception:  # the database itself failed: the original error is logged below
        logger.exception("could not record the failure of event %s", event_id)
    row = row or {"notification_type": "?", "attempts": None}
    most = app_settings.EVENT_MAX_ATTEMPTS
    if row["attempts"] is not None and row["attempts"] >= most:
        outlook = (
            f"attempt {row['attempts']} of {most}, not retried any more: fix the cause, then "
            'use "Process now" in the Event admin'
        )
    else:
        outlook = f"attempt {row['attempts'] or '?'} of {most}, notify_process_events retries it"
    logger.error(
        "event %s (%s) failed: %s: %s (%s)",
        event_id, row["notification_type"], type(exc).__name__, exc, outlook,
        exc_info=exc,
        extra={"event_id": event_id, "notification_type": row["notification_type"]},
    )  # fmt: skip


def _due_q(now=None) -> models.Q:
    """Not scheduled, or scheduled for a time that has come."""
    return models.Q(deliver_at__isnull=True) | models.Q(deliver_at__lte=now or timezone.now())


def cancel(cancellation_key: str) -> bool:
    """Cancel a scheduled send before it goes out. True if it was cancelled; False if the
    key is unknown or its event was already processed (or cancelled)."""
    return bool(
        Event.objects.filter(
            cancellation_key=cancellation_key,
            status__in=[Event.Status.PENDING, Event.Status.FAILED],
        ).update(status=Event.Status.CANCELLED, processed_at=timezone.now())
    )


def due_events(*, older_than: timedelta = timedelta(seconds=0), now=None):
    """Events the sweep should (re)try: pending or failed, under the attempt limit."""
    now = now or timezone.now()
    return Event.objects.filter(
        _due_q(now),
        status__in=[Event.Status.PENDING, Event.Status.FAILED],
        attempts__lt=app_settings.EVENT_MAX_ATTEMPTS,
        created_at__lte=now - older_than,
    ).order_by("created_at", "pk")


def sweep(*, older_than: timedelta = timedelta(seconds=0), limit: int = 500) -> dict[str, int]:
    """Process events that were never processed or failed. Safe to run concurrently."""
    counts = {"processed": 0, "skipped": 0, "failed": 0}
    for event_id in list(due_events(older_than=older_than).values_list("pk", flat=True)[:limit]):
        try:
            counts["processed" if process_event(event_id) else "skipped"] += 1
        except Exception:  # logged and recorded on the row by process_event
            counts["failed"] += 1
    return counts
