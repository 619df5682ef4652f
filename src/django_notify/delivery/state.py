"""A notification's delivery state, read from its Delivery rows (the admin's
``should_email`` / ``is_emailed`` columns), and the admin's bulk actions on it."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.db.models import Q, QuerySet
from django.utils import timezone

from ..channels import channels
from ..models import CLAIMABLE_STATUSES, MARKED_EMAILED, Delivery, DeliveryStatus, Frequency
from .dispatch import get_dispatcher

#: Reason stored by "mark as emailed": counted as handled, never as sent.
MARKED = MARKED_EMAILED


def email_channels() -> list[str]:
    """Aliases of the configured channels that send email."""
    return channels.aliases_with("sends_email")


def annotate_email_state(queryset: QuerySet) -> QuerySet:
    """Add ``should_email`` and ``is_emailed`` to a notification queryset (no N+1)."""
    return queryset.with_email_state(email_channels())


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
