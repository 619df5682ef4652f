"""System checks for the notification centre: the real-time broker and its Redis, the
stream, the widget's polling, and the JSON API's page sizes."""

from __future__ import annotations

from typing import Any

from django.core.checks import CheckMessage

from ..checks import error, import_setting, is_positive_number, problem, read_settings
from ..conf import BROKERS, SETTING_NAME
from .brokers.base import Broker
from .brokers.redis import RedisBroker

BROKERS_PAGE = "realtime.md#brokers"
API_LIMITS = "api.md#limits-and-settings"
WIDGET = "frontend.md#configuration"
STREAM = "realtime.md#the-stream"

BROKER_IMPORT = problem(
    "E044", "REALTIME_BROKER is not a dotted path, or cannot be imported", BROKERS_PAGE
)
BROKER_CLASS = problem("E021", "REALTIME_BROKER does not name a Broker subclass", BROKERS_PAGE)
REDIS_MISSING = problem("E045", "REALTIME_BROKER is Redis but redis is not installed", BROKERS_PAGE)
REDIS_URL = problem("E022", "REDIS_URL is not a redis:// URL", BROKERS_PAGE)
CHANNEL_PREFIX = problem(
    "E046", "REALTIME_CHANNEL_PREFIX is not 1–64 characters without ':'", BROKERS_PAGE
)
POSITIVE_NUMBERS = {
    "API_PAGE_SIZE": problem("E047", "API_PAGE_SIZE is not a positive number", API_LIMITS),
    "API_MAX_PAGE_SIZE": problem("E048", "API_MAX_PAGE_SIZE is not a positive number", API_LIMITS),
    "POLL_INTERVAL": problem("E049", "POLL_INTERVAL is not a positive number", WIDGET),
    "SSE_HEARTBEAT": problem("E050", "SSE_HEARTBEAT is not a positive number", STREAM),
    "SSE_MAX_SECONDS": problem("E051", "SSE_MAX_SECONDS is not a positive number", STREAM),
    "STORM_THRESHOLD": problem("E052", "STORM_THRESHOLD is not a positive number", WIDGET),
}
PAGE_OVER_MAX = problem("E023", "API_PAGE_SIZE is larger than API_MAX_PAGE_SIZE", API_LIMITS)


def check_realtime(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """The broker, the stream, the widget and the JSON API's page sizes."""
    value = read_settings()
    if value is None:
        return []
    errors: list[CheckMessage] = []
    broker = value("REALTIME_BROKER")
    target = import_setting(BROKER_IMPORT, "REALTIME_BROKER", BROKERS.get(broker, broker), errors)
    if target is not None:
        if not (isinstance(target, type) and issubclass(target, Broker)):
            errors.append(
                error(
                    BROKER_CLASS, f"{SETTING_NAME}['REALTIME_BROKER'] must name a Broker subclass."
                )
            )
        elif broker == "redis" or issubclass(target, RedisBroker):
            try:
                import redis  # noqa: F401
            except ImportError:
                errors.append(
                    error(
                        REDIS_MISSING,
                        f"{SETTING_NAME}['REALTIME_BROKER'] is Redis but redis is not installed.",
                        "pip install 'django-notify-kit[realtime]'",
                    )
                )
    url = value("REDIS_URL")
    if not isinstance(url, str) or not url.startswith(("redis://", "rediss://", "unix://")):
        errors.append(
            error(REDIS_URL, f"{SETTING_NAME}['REDIS_URL'] must be a redis:// URL, got {url!r}.")
        )
    prefix = value("REALTIME_CHANNEL_PREFIX")
    if not isinstance(prefix, str) or not prefix or ":" in prefix or len(prefix) > 64:
        errors.append(
            error(
                CHANNEL_PREFIX,
                f"{SETTING_NAME}['REALTIME_CHANNEL_PREFIX'] must be 1–64 characters without ':'.",
            )
        )
    for key, bad in POSITIVE_NUMBERS.items():
        if not is_positive_number(value(key)):
            errors.append(error(bad, f"{SETTING_NAME}[{key!r}] must be a positive number."))
    page, most = value("API_PAGE_SIZE"), value("API_MAX_PAGE_SIZE")
    if isinstance(page, int) and isinstance(most, int) and page > most:
        errors.append(
            error(
                PAGE_OVER_MAX, f"{SETTING_NAME}['API_PAGE_SIZE'] is larger than API_MAX_PAGE_SIZE."
            )
        )
    return errors
