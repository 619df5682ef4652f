"""Vocabulary shared by the models and the public API."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _


class Priority(models.IntegerChoices):
    """Seed 002's priorities. Stored as numbers so ``order_by("-priority")`` is meaningful."""

    LOW = 10, _("Low")
    NORMAL = 20, _("Normal")
    HIGH = 30, _("High")
    CRITICAL = 40, _("Critical")

    @classmethod
    def parse(cls, value: object) -> Priority:
        """Accept a member, its number or its name (``"high"``); raise ``ValueError``."""
        if isinstance(value, cls):
            return value
        if isinstance(value, str) and not value.isdigit():
            try:
                return cls[value.strip().upper()]
            except KeyError:
                pass
        else:
            try:
                return cls(int(value))  # type: ignore[arg-type]
            except (TypeError, ValueError):
                pass
        names = ", ".join(m.name.lower() for m in cls)
        raise ValueError(f"{value!r} is not a priority; use one of {names}")


class Scope(models.TextChoices):
    """Who a row is addressed to. Team, organization and system rows are broadcasts:
    one row for the whole audience, with per-user state in receipts."""

    USER = "user", _("User")
    TEAM = "team", _("Team")
    ORGANIZATION = "organization", _("Organization")
    SYSTEM = "system", _("System")


BROADCAST_SCOPES = (Scope.TEAM, Scope.ORGANIZATION, Scope.SYSTEM)


class Origin(models.TextChoices):
    """Which rule set a row was sent under (seed 000's organization and system rules)."""

    ORGANIZATION = "organization", _("Organization")
    SYSTEM = "system", _("System")
