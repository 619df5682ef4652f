"""A notification's delivery state, read from its Delivery rows (the admin's
``should_email`` / ``is_emailed`` columns), and the admin's bulk actions on it."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils import timezone

from ..models import CLAIMABLE_STATUSES, Delivery, DeliveryStatus, Frequency

#: Reason stored by "mark as emailed": counted as handled, never as sent.
MARKED = "marked as emailed"


def email_channels() -> list[str]:
    """Aliases of the configured channels whose backend sends email."""
    from ..channels import channels
    from ..channels.email import EmailChannel

    return [alias for alias, spec in channels.items() if issubclass(spec.backend, EmailChannel)]


def _wanted(channels: list[str]) -> QuerySet:
    """Email deliveries that were meant to go out (a preference skip is not one)."""
    return Delivery.objects.filter(notification=OuterRef("pk"), channel__in=channels).exclude(
        Q(status=DeliveryStatus.SKIPPED) & ~Q(reason__startswith=MARKED)
    )


def annotate_email_state(queryset: QuerySet) -> QuerySet:
    """Add ``should_email`` and ``is_emailed`` as two EXISTS subqueries (no N+1)."""
    channels = email_channels()
    wanted = _wanted(channels)
    unfinished = wanted.exclude(status=DeliveryStatus.SENT).exclude(reason__startswith=MARKED)
    return queryset.annotate(
        should_email=Exists(wanted), _email_unfinished=Exists(unfinished)
    ).annotate(is_emailed=Q(should_email=True) & Q(_email_unfinished=False))


def mark_emailed(notification_ids: Iterable[Any], *, by: Any = None) -> int:
    """Close the email backlog of these notifications without sending (the admin's
    "Mark as emailed"): open email deliveries become ``skipped`` with the reason."""
    reason = f"{MARKED} by {by}" if by is not None else MARKED
    return Delivery.objects.filter(
        notification_id__in=list(notification_ids),
        channel__in=email_channels(),
        status__in=CLAIMABLE_STATUSES,
    ).update(status=DeliveryStatus.SKIPPED, reason=reason[:200])


def send_now(deliveries: QuerySet) -> list[Any]:
    """Make these deliveries due now and dispatch them: dead ones get fresh attempts,
    scheduled ones (quiet hours, a digest window not yet collected) go out on their own.
    Rows already in a digest, sent or skipped are left alone. Returns the dispatched pks."""
    from .dispatch import get_dispatcher

    rows = deliveries.filter(
        Q(status__in=CLAIMABLE_STATUSES) | Q(status=DeliveryStatus.DEAD), digest__isnull=True
    )
    ids = list(rows.values_list("pk", flat=True))
    Delivery.objects.filter(pk__in=ids, status=DeliveryStatus.DEAD).update(attempts=0)
    Delivery.objects.filter(pk__in=ids).update(
        status=DeliveryStatus.PENDING,
        next_attempt_at=timezone.now(),
        frequency=Frequency.IMMEDIATE,
        reason="sent now from the admin",
    )
    if ids:
        get_dispatcher().dispatch(ids)
    return ids
