"""Errors raised by django-notify.

``NotifyError`` is the base for runtime errors. Refusals are ``PermissionDenied``
subclasses so Django turns them into 403s; bad input is Django's ``ValidationError``
naming the field. Configuration errors are ``ImproperlyConfigured`` and deliberately
outside ``NotifyError`` so a broad ``except NotifyError`` cannot swallow them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.core.exceptions import ImproperlyConfigured, PermissionDenied

if TYPE_CHECKING:
    from .policy import Rule


class NotifyError(Exception):
    """Base class for django-notify's runtime errors."""


class SendRefused(NotifyError, PermissionDenied):
    """A sender rule refused a send. ``rule`` names the rule that refused it."""

    def __init__(self, rule: Rule, detail: str = ""):
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
