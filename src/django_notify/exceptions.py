"""Errors raised by django-notify.

``NotifyError`` is the base for runtime errors. Refusals are ``PermissionDenied``
subclasses so Django turns them into 403s; bad input is Django's ``ValidationError``
naming the field. Configuration errors are ``ImproperlyConfigured`` and deliberately
outside ``NotifyError`` so a broad ``except NotifyError`` cannot swallow them.
"""

from __future__ import annotations

from typing import Protocol

from django.core.exceptions import ImproperlyConfigured, PermissionDenied


class RefusalReason(Protocol):
    """What a refusal names: one of :class:`django_notify.policy.SenderRule`'s members."""

    code: str
    message: str


class NotifyError(Exception):
    """Base class for django-notify's runtime errors."""


class SendRefused(NotifyError, PermissionDenied):
    """A sender rule refused a send. ``rule`` names the rule that refused it."""

    def __init__(self, rule: RefusalReason, detail: str = ""):
        self.rule = rule
        self.code = rule.code
        self.detail = detail
        message = f"[{rule.code}] {rule.message}"
        if detail:
            message = f"{message} ({detail})"
        super().__init__(message)


class NotVisible(NotifyError, PermissionDenied):
    """The user asked to read or dismiss a notification that is not visible to them.

    The API turns this into a 404 so that existence never leaks.
    """


class NotifyConfigurationError(ImproperlyConfigured):
    """``DJANGO_NOTIFY`` (or the tenancy adapter it names) is misconfigured."""


class RateLimited(NotifyError):
    """A sender went over ``DJANGO_NOTIFY["RATE_LIMITS"]``. Nothing was written.

    ``limit`` names the limit (``"sender"``), ``retry_after`` is seconds until there is
    room for this send again (``None`` when the send alone is over the limit). The API
    turns this into a 429 with ``Retry-After``.
    """

    def __init__(self, limit: str, message: str, retry_after: float | None = None):
        self.limit = limit
        self.retry_after = retry_after
        super().__init__(message)


class DeliveryError(NotifyError):
    """A channel could not deliver. Permanent unless it is a :class:`RetryableDeliveryError`:
    the delivery is marked ``dead`` and never retried.

    ``response`` is what the provider answered (a dict stored on the delivery row).
    """

    retryable = False

    def __init__(self, message: str = "", *, response: dict | None = None, reason: str = ""):
        self.response = response or {}
        self.reason = reason
        super().__init__(message)


class RetryableDeliveryError(DeliveryError):
    """A transient failure (connection refused, timeout, 5xx, 429): retried with
    exponential backoff up to ``MAX_ATTEMPTS``. ``retry_after`` (seconds) is the
    provider's own hint, honoured when given."""

    retryable = True

    def __init__(self, message: str = "", *, retry_after: float | None = None, **kwargs):
        self.retry_after = retry_after
        super().__init__(message, **kwargs)


class EndpointGone(DeliveryError):
    """The endpoint answered ``410 Gone``: it is disabled and the delivery is dead."""


class DeliveryCancelled(NotifyError):
    """Raise from a ``pre_send`` receiver to cancel one delivery. It is marked
    ``skipped`` with the exception's message as the reason, and never sent."""
