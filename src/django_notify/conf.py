"""The one settings object: ``DJANGO_NOTIFY`` read lazily, key by key.

Every property reads ``settings.DJANGO_NOTIFY`` on each access so
``override_settings`` works in tests. Validation lives in :mod:`django_notify.checks`,
never here: importing this module must not raise.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.utils.module_loading import import_string

SETTING_NAME = "DJANGO_NOTIFY"
#: The flat setting that swaps the notification model (it has to be top level, like
#: ``AUTH_USER_MODEL``, because Django's swapping reads a setting name).
NOTIFICATION_MODEL_SETTING = "DJANGO_NOTIFY_NOTIFICATION_MODEL"
DEFAULT_NOTIFICATION_MODEL = "django_notify.Notification"

DEFAULT_LEVELS: dict[str, str] = {
    "IN": "Information",
    "SU": "Success",
    "WA": "Warning",
    "ER": "Error",
    "IM": "Important",
}

DEFAULT_ALLOWED_TAGS = [
    "a", "abbr", "b", "blockquote", "br", "code", "em", "i", "li", "ol", "p",
    "pre", "strong", "ul", "span", "h3", "h4", "hr",
]  # fmt: skip
DEFAULT_ALLOWED_ATTRIBUTES = {"a": ["href", "title", "rel"], "abbr": ["title"]}
DEFAULT_ALLOWED_PROTOCOLS = ["http", "https", "mailto"]

#: Every key the dict may hold, with its default. Unknown keys fail the system check.
DEFAULTS: dict[str, Any] = {
    "TENANCY_ADAPTER": "django_notify.tenancy.DefaultTenancyAdapter",
    "DEFAULT_ORGANIZATION": "default",
    "LEVELS": DEFAULT_LEVELS,
    "DEFAULT_LEVEL": "IN",
    "HTML_SANITIZER": "bleach",
    "ALLOWED_TAGS": DEFAULT_ALLOWED_TAGS,
    "ALLOWED_ATTRIBUTES": DEFAULT_ALLOWED_ATTRIBUTES,
    "ALLOWED_PROTOCOLS": DEFAULT_ALLOWED_PROTOCOLS,
    "BULK_BATCH_SIZE": 1000,
    "EVENT_MAX_ATTEMPTS": 5,
}

#: Short names accepted by ``HTML_SANITIZER``; anything else is a dotted path.
SANITIZERS = {
    "bleach": "django_notify.rendering.bleach_sanitizer",
    "nh3": "django_notify.rendering.nh3_sanitizer",
}


class AppSettings:
    """Attribute access to ``DJANGO_NOTIFY`` with defaults."""

    def _raw(self) -> dict[str, Any]:
        value = getattr(settings, SETTING_NAME, None)
        return value if isinstance(value, dict) else {}

    def get(self, key: str) -> Any:
        return self._raw().get(key, DEFAULTS[key])

    @property
    def TENANCY_ADAPTER(self) -> str:  # noqa: N802 - mirrors the setting key
        return self.get("TENANCY_ADAPTER")

    @property
    def DEFAULT_ORGANIZATION(self) -> str:  # noqa: N802
        return str(self.get("DEFAULT_ORGANIZATION"))

    @property
    def LEVELS(self) -> dict[str, str]:  # noqa: N802
        return dict(self.get("LEVELS"))

    @property
    def DEFAULT_LEVEL(self) -> str:  # noqa: N802
        return self.get("DEFAULT_LEVEL")

    @property
    def HTML_SANITIZER(self) -> str:  # noqa: N802
        name = self.get("HTML_SANITIZER")
        return SANITIZERS.get(name, name)

    @property
    def ALLOWED_TAGS(self) -> list[str]:  # noqa: N802
        return list(self.get("ALLOWED_TAGS"))

    @property
    def ALLOWED_ATTRIBUTES(self) -> dict[str, list[str]]:  # noqa: N802
        return dict(self.get("ALLOWED_ATTRIBUTES"))

    @property
    def ALLOWED_PROTOCOLS(self) -> list[str]:  # noqa: N802
        return list(self.get("ALLOWED_PROTOCOLS"))

    @property
    def BULK_BATCH_SIZE(self) -> int:  # noqa: N802
        return int(self.get("BULK_BATCH_SIZE"))

    @property
    def EVENT_MAX_ATTEMPTS(self) -> int:  # noqa: N802
        return int(self.get("EVENT_MAX_ATTEMPTS"))

    def import_setting(self, key: str) -> Any:
        """Import the dotted path a setting names (resolved short names included)."""
        return import_string(getattr(self, key))


app_settings = AppSettings()
