"""The delivery audit trail: one :class:`Delivery` per recipient × channel × notification,
and one :class:`Digest` per batched message.

Both are written in the transaction that creates their notification (or attaches them to
a digest), so the intent to deliver survives anything that happens after the commit: a
sweeper finds rows that are due whatever became of the in-memory dispatch.
"""

from __future__ import annotations

import os
import uuid

import swapper
from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


def new_key() -> str:
    return uuid.uuid4().hex


def new_keys(n: int) -> list[str]:
    """``n`` random keys of the same form as :func:`new_key` (32 hex digits), drawn in
    one call: a claimed batch needs one per delivery, and ``uuid4()`` each costs ten
    times as much."""
    digits = os.urandom(16 * n).hex()
    return [digits[i : i + 32] for i in range(0, 32 * n, 32)]


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", _("Pending")
    #: Waiting for a time: the end of quiet hours, a digest window, a retry.
    SCHEDULED = "scheduled", _("Scheduled")
    SENDING = "sending", _("Sending")
    SENT = "sent", _("Sent")
    #: The last attempt failed; another one is due at ``next_attempt_at``.
    FAILED = "failed", _("Failed")
    #: Never sent, on purpose: ``reason`` says why (preference, no address, rate limit).
    SKIPPED = "skipped", _("Skipped")
    #: Given up: a permanent error, or ``MAX_ATTEMPTS`` used.
    DEAD = "dead", _("Dead")


#: Statuses a worker may claim (when ``next_attempt_at`` has come).
#: Reason stored by the admin's "mark as emailed": counted as handled, never as sent.
MARKED_EMAILED = "marked as emailed"

CLAIMABLE_STATUSES = (DeliveryStatus.PENDING, DeliveryStatus.SCHEDULED, DeliveryStatus.FAILED)
FINAL_STATUSES = (DeliveryStatus.SENT, DeliveryStatus.SKIPPED, DeliveryStatus.DEAD)


class Frequency(models.TextChoices):
    IMMEDIATE = "immediate", _("Immediately")
    HOURLY = "hourly", _("Hourly digest")
    DAILY = "daily", _("Daily digest")
    WEEKLY = "weekly", _("Weekly digest")


def unique_key(table: str, *, drawn_later: bool = False) -> models.UniqueConstraint:
    """The idempotency key's uniqueness, one index (equality is the only lookup). With
    ``drawn_later`` the key is empty until a worker claims the row, and the index holds
    only the rows that have one."""
    condition = Q(idempotency_key__isnull=False) if drawn_later else None
    return models.UniqueConstraint(
        fields=["idempotency_key"], name=f"{table}_key_unique", condition=condition
    )


class AttemptFields(models.Model):
    """Status, attempts and provider answer: what a worker claims and records."""

    status = models.CharField(
        _("status"), max_length=10, choices=DeliveryStatus.choices,
        default=DeliveryStatus.PENDING,
    )  # fmt: skip
    attempts = models.PositiveIntegerField(_("attempts"), default=0)
    next_attempt_at = models.DateTimeField(_("next attempt at"), default=timezone.now)
    claimed_at = models.DateTimeField(_("claimed at"), null=True, blank=True)
    sent_at = models.DateTimeField(_("sent at"), null=True, blank=True)
    last_error = models.TextField(_("last error"), blank=True)
    reason = models.CharField(
        _("reason"), max_length=200, blank=True,
        help_text=_("Why it was skipped, scheduled or given up."),
    )  # fmt: skip
    response = models.JSONField(
        _("provider response"), default=dict, blank=True, encoder=DjangoJSONEncoder
    )
    #: Stable across retries: the email Message-ID, the webhook-id, provider keys.
    #: Unique through :func:`unique_key` in each table's constraints, not ``unique=True``,
    #: which on PostgreSQL adds a second (``LIKE``) index that no query uses.
    idempotency_key = models.CharField(
        _("idempotency key"), max_length=64, default=new_key, editable=False
    )
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        abstract = True

    @property
    def is_final(self) -> bool:
        return self.status in FINAL_STATUSES


class Digest(AttemptFields):
    """One message listing several notifications for one user on one channel."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    channel = models.CharField(_("channel"), max_length=50)
    frequency = models.CharField(_("frequency"), max_length=10, choices=Frequency.choices)
    address = models.CharField(_("address"), max_length=500, blank=True)

    class Meta:
        verbose_name = _("digest")
        verbose_name_plural = _("digests")
        ordering = ("-created_at", "-id")
        constraints = [unique_key("django_notify_digest")]
        indexes = [
            models.Index(
                fields=["next_attempt_at"],
                condition=Q(status__in=["pending", "scheduled", "failed"]),
                name="django_notify_digest_due",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.frequency} {self.channel} digest for {self.user} ({self.status})"


class Delivery(AttemptFields):
    """One notification to one user on one channel: the audit row."""

    notification = models.ForeignKey(
        swapper.get_model_name("django_notify", "Notification"),
        on_delete=models.CASCADE,
        related_name="deliveries",
        db_index=False,  # the unique (notification, user, channel) constraint leads with it
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="+",
        db_index=False,  # the (user, notification_type, created_at) index leads with it
    )
    channel = models.CharField(_("channel"), max_length=50)
    # Copied from the notification: rate limits and statistics read it without a join.
    notification_type = models.CharField(  # noqa: DJ001 - NULL like the notification's
        _("notification type"), max_length=100, blank=True, null=True
    )
    #: Where it went: the email address, the webhook endpoint's id.
    address = models.CharField(_("address"), max_length=500, blank=True)
    frequency = models.CharField(
        _("frequency"), max_length=10, choices=Frequency.choices, default=Frequency.IMMEDIATE
    )
    digest = models.ForeignKey(
        Digest,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="deliveries",
        db_index=False,  # the partial index below: a fan-out's rows have none
    )
    #: Drawn by the first claim (:func:`~django_notify.delivery.dispatch.claim_batch`)
    #: and kept on every retry. Not at planning: a fan-out would pay one unique-index
    #: entry per row for keys that rows never sent (skipped, digested) never use, and
    #: the claim's UPDATE writes every index entry of its rows anyway.
    idempotency_key = models.CharField(  # noqa: DJ001 - NULL: no key drawn yet
        _("idempotency key"), max_length=64, null=True, blank=True, default=None,
        editable=False,
    )  # fmt: skip

    class Meta:
        verbose_name = _("delivery")
        verbose_name_plural = _("deliveries")
        ordering = ("-created_at", "-id")
        constraints = [
            models.UniqueConstraint(
                fields=["notification", "user", "channel"], name="django_notify_delivery_unique"
            ),
            unique_key("django_notify_delivery", drawn_later=True),
        ]
        indexes = [
            # The sweeper's and the digest task's scan: only rows still to do.
            models.Index(
                fields=["next_attempt_at"],
                condition=Q(status__in=["pending", "scheduled", "failed"]),
                name="django_notify_delivery_due",
            ),
            models.Index(
                fields=["claimed_at"],
                condition=Q(status="sending"),
                name="django_notify_delivery_sending",
            ),
            # Per user × type rate limits and a user's delivery history.
            models.Index(fields=["user", "notification_type", "created_at"]),
            # Retention clean-up.
            models.Index(fields=["created_at"]),
            # A digest's deliveries. Only rows gathered into a digest have one, so the
            # rows a fan-out writes (none yet) cost this index nothing.
            models.Index(
                fields=["digest"],
                condition=Q(digest__isnull=False),
                name="django_notify_delivery_digest",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.channel} → {self.user} ({self.status})"
