"""Notification priorities, below everything else: the settings read them too
(``BYPASS_PRIORITY`` may name one)."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _


class Priority(models.IntegerChoices):
    """Priorities. Stored as numbers so ``order_by("-priority")`` is meaningful."""

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
