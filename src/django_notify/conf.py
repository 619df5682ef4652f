"""The one settings object: ``DJANGO_NOTIFY`` read lazily, key by key.

Every property reads ``settings.DJANGO_NOTIFY`` on each access so
``override_settings`` works in tests. Validation lives in :mod:`django_notify.checks`,
never here: importing this module must not raise.
"""

from __future__ import annotations

from datetime import time
from typing import Any

from django.conf import settings
from django.utils.module_loading import import_string

from .priority import Priority

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
    "BULK_BATCH_SIZE": 10_000,
    # The feed's statements prepared per PostgreSQL connection (django_notify.prepared).
    "PREPARED_STATEMENTS": True,
    "EVENT_MAX_ATTEMPTS": 5,
    # --- delivery (docs/delivery.md) ---
    "CHANNELS": {},
    "DEFAULT_CHANNELS": ["in_app"],
    "DISPATCHER": "inline",
    # Deliveries one task (or one inline pass) claims and sends together.
    "DISPATCH_BATCH_SIZE": 100,
    "MAX_ATTEMPTS": 5,
    "RETRY_BACKOFF": 30,
    "RETRY_BACKOFF_MAX": 6 * 3600,
    "RETRY_COUNTDOWN_MAX": 300,
    "SENDING_TIMEOUT": 900,
    "SITE_URL": "",
    "EMAIL_FROM": None,
    "DIGEST_DAILY_AT": "08:00",
    "DIGEST_WEEKDAY": 0,
    "BYPASS_PRIORITY": "critical",
    # Notification rows a person may create (user-originated sends; emit() and notify()
    # are not counted). None switches a limit off.
    "RATE_LIMITS": {"sender": ["200/minute", "2000/day"]},
    "RETENTION_DAYS": {"notifications": None, "deliveries": 90, "events": 30},
    # Rows notify_cleanup deletes per transaction (and per table).
    "RETENTION_BATCH_SIZE": 1000,
    "WEBHOOK_ALLOWED_HOSTS": [],
    "HTTP_TIMEOUT": 10.0,
    "SENSITIVE_CONTEXT": [],
    "REALTIME_PUBLISHER": None,
    # --- the notification centre (docs/api.md, docs/frontend.md) ---
    "API_PAGE_SIZE": 20,
    "API_MAX_PAGE_SIZE": 100,
    "REALTIME_BROKER": "inprocess",
    "REDIS_URL": "redis://127.0.0.1:6379/0",
    "REALTIME_CHANNEL_PREFIX": "django_notify",
    "POLL_INTERVAL": 30,
    "SSE_HEARTBEAT": 15,
    "SSE_MAX_SECONDS": 300,
    "STORM_THRESHOLD": 3,
    # --- bad input (docs/settings.md): None switches a limit off ---
    "MAX_REQUEST_BYTES": 65536,
    "MAX_META_DATA_BYTES": 8192,
}

#: Short names accepted by ``REALTIME_BROKER``; anything else is a dotted path.
BROKERS = {
    "inprocess": "django_notify.realtime.brokers.InProcessBroker",
    "redis": "django_notify.realtime.brokers.RedisBroker",
}

#: Short names accepted by ``DISPATCHER``; anything else is a dotted path.
DISPATCHERS = {
    "inline": "django_notify.delivery.dispatch.InlineDispatcher",
    "celery": "django_notify.delivery.tasks.CeleryDispatcher",
}

#: Short names accepted by ``HTML_SANITIZER``; anything else is a dotted path.
SANITIZERS = {
    "bleach": "django_notify.sanitize.bleach_sanitizer",
    "nh3": "django_notify.sanitize.nh3_sanitizer",
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
    def PREPARED_STATEMENTS(self) -> bool:  # noqa: N802
        return bool(self.get("PREPARED_STATEMENTS"))

    @property
    def EVENT_MAX_ATTEMPTS(self) -> int:  # noqa: N802
        return int(self.get("EVENT_MAX_ATTEMPTS"))

    # --- delivery -------------------------------------------------------------------
    @property
    def CHANNELS(self) -> dict[str, Any]:  # noqa: N802
        return dict(self.get("CHANNELS") or {})

    @property
    def DEFAULT_CHANNELS(self) -> list[str]:  # noqa: N802
        return list(self.get("DEFAULT_CHANNELS"))

    @property
    def DISPATCHER(self) -> str:  # noqa: N802
        name = self.get("DISPATCHER")
        return DISPATCHERS.get(name, name)

    @property
    def MAX_ATTEMPTS(self) -> int:  # noqa: N802
        return int(self.get("MAX_ATTEMPTS"))

    @property
    def RETRY_BACKOFF(self) -> float:  # noqa: N802
        return float(self.get("RETRY_BACKOFF"))

    @property
    def RETRY_BACKOFF_MAX(self) -> float:  # noqa: N802
        return float(self.get("RETRY_BACKOFF_MAX"))

    @property
    def RETRY_COUNTDOWN_MAX(self) -> float:  # noqa: N802
        return float(self.get("RETRY_COUNTDOWN_MAX"))

    @property
    def DISPATCH_BATCH_SIZE(self) -> int:  # noqa: N802
        return int(self.get("DISPATCH_BATCH_SIZE"))

    @property
    def SENDING_TIMEOUT(self) -> float:  # noqa: N802
        return float(self.get("SENDING_TIMEOUT"))

    @property
    def SITE_URL(self) -> str:  # noqa: N802
        return str(self.get("SITE_URL") or "").rstrip("/")

    @property
    def EMAIL_FROM(self) -> str:  # noqa: N802
        return self.get("EMAIL_FROM") or settings.DEFAULT_FROM_EMAIL

    @property
    def DIGEST_DAILY_AT(self) -> time:  # noqa: N802
        value = self.get("DIGEST_DAILY_AT")
        return value if isinstance(value, time) else time.fromisoformat(str(value))

    @property
    def DIGEST_WEEKDAY(self) -> int:  # noqa: N802
        return int(self.get("DIGEST_WEEKDAY"))

    @property
    def BYPASS_PRIORITY(self) -> int | None:  # noqa: N802
        value = self.get("BYPASS_PRIORITY")
        return None if value in (None, "") else int(Priority.parse(value))

    @property
    def RATE_LIMITS(self) -> dict[str, Any]:  # noqa: N802
        # The host's keys replace the defaults one by one ({"sender": None} switches the
        # default off); an invalid value is left for system check E019 to name.
        value = self.get("RATE_LIMITS")
        if not isinstance(value, dict):
            return value
        return {**DEFAULTS["RATE_LIMITS"], **value}

    @property
    def RETENTION_DAYS(self) -> dict[str, int | None]:  # noqa: N802
        return {**DEFAULTS["RETENTION_DAYS"], **(self.get("RETENTION_DAYS") or {})}

    @property
    def RETENTION_BATCH_SIZE(self) -> int:  # noqa: N802
        return int(self.get("RETENTION_BATCH_SIZE"))

    @property
    def WEBHOOK_ALLOWED_HOSTS(self) -> list[str]:  # noqa: N802
        return [str(h) for h in self.get("WEBHOOK_ALLOWED_HOSTS") or ()]

    @property
    def HTTP_TIMEOUT(self) -> float:  # noqa: N802
        return float(self.get("HTTP_TIMEOUT"))

    @property
    def SENSITIVE_CONTEXT(self) -> set[str]:  # noqa: N802
        return {str(k) for k in self.get("SENSITIVE_CONTEXT") or ()}

    @property
    def REALTIME_PUBLISHER(self) -> str | None:  # noqa: N802
        return self.get("REALTIME_PUBLISHER") or None

    # --- the notification centre ------------------------------------------------------
    @property
    def API_PAGE_SIZE(self) -> int:  # noqa: N802
        return int(self.get("API_PAGE_SIZE"))

    @property
    def API_MAX_PAGE_SIZE(self) -> int:  # noqa: N802
        return int(self.get("API_MAX_PAGE_SIZE"))

    @property
    def MAX_REQUEST_BYTES(self) -> int | None:  # noqa: N802
        value = self.get("MAX_REQUEST_BYTES")
        return None if value is None else int(value)

    @property
    def MAX_META_DATA_BYTES(self) -> int | None:  # noqa: N802
        value = self.get("MAX_META_DATA_BYTES")
        return None if value is None else int(value)

    @property
    def REALTIME_BROKER(self) -> str:  # noqa: N802
        name = self.get("REALTIME_BROKER")
        return BROKERS.get(name, name)

    @property
    def REDIS_URL(self) -> str:  # noqa: N802
        return str(self.get("REDIS_URL"))

    @property
    def REALTIME_CHANNEL_PREFIX(self) -> str:  # noqa: N802
        return str(self.get("REALTIME_CHANNEL_PREFIX"))

    @property
    def POLL_INTERVAL(self) -> float:  # noqa: N802
        return float(self.get("POLL_INTERVAL"))

    @property
    def SSE_HEARTBEAT(self) -> float:  # noqa: N802
        return float(self.get("SSE_HEARTBEAT"))

    @property
    def SSE_MAX_SECONDS(self) -> float:  # noqa: N802
        return float(self.get("SSE_MAX_SECONDS"))

    @property
    def STORM_THRESHOLD(self) -> int:  # noqa: N802
        return int(self.get("STORM_THRESHOLD"))

    def import_setting(self, key: str) -> Any:
        """Import the dotted path a setting names (resolved short names included)."""
        return import_string(getattr(self, key))


app_settings = AppSettings()
