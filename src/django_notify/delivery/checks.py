"""System checks for delivery: the dispatcher, attempts and retries, links, digests,
the priority bypass, rate limits, retention and what machine channels may see."""

from __future__ import annotations

from datetime import time
from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage

from ..checks import (
    error,
    import_setting,
    is_positive_int,
    is_positive_number,
    is_string_list,
    problem,
    read_settings,
    warning,
)
from ..conf import DISPATCHERS, SETTING_NAME
from ..types import Priority
from .ratelimit import LIMIT_NAMES, parse_rate

DELIVERY = "settings.md#delivery-settings"
DISPATCHERS_PAGE = "delivery.md#dispatchers-inline-or-celery"
RETRIES = "delivery.md#retries"

DISPATCHER_IMPORT = problem(
    "E033", "DISPATCHER is not a dotted path, or cannot be imported", DISPATCHERS_PAGE
)
CELERY_MISSING = problem("E015", "DISPATCHER is 'celery' but Celery is not installed", "celery.md")
DISPATCHER_CLASS = problem("E034", "DISPATCHER does not name a class", DISPATCHERS_PAGE)
POSITIVE_INTS = {
    "MAX_ATTEMPTS": problem("E035", "MAX_ATTEMPTS is not a positive int", RETRIES),
    "DISPATCH_BATCH_SIZE": problem(
        "E053", "DISPATCH_BATCH_SIZE is not a positive int", "delivery.md#batches"
    ),
    "RETENTION_BATCH_SIZE": problem(
        "E042", "RETENTION_BATCH_SIZE is not a positive int", "delivery.md#retention"
    ),
}
POSITIVE_NUMBERS = {
    "RETRY_BACKOFF": problem("E036", "RETRY_BACKOFF is not a positive number", RETRIES),
    "RETRY_BACKOFF_MAX": problem("E037", "RETRY_BACKOFF_MAX is not a positive number", RETRIES),
    "RETRY_COUNTDOWN_MAX": problem("E038", "RETRY_COUNTDOWN_MAX is not a positive number", RETRIES),
    "SENDING_TIMEOUT": problem(
        "E039", "SENDING_TIMEOUT is not a positive number", "delivery.md#rows-left-sending"
    ),
}
SITE_URL = problem("E017", "SITE_URL is not empty and not an absolute http(s) URL", DELIVERY)
DIGEST_DAILY_AT = problem("E018", "DIGEST_DAILY_AT is not a time", "preferences.md#digests")
DIGEST_WEEKDAY = problem("E040", "DIGEST_WEEKDAY is not 0–6", "preferences.md#digests")
BYPASS_PRIORITY = problem(
    "E041", "BYPASS_PRIORITY is not a priority", "preferences.md#bypass_priority"
)
RATE_LIMITS = problem(
    "E019",
    "RATE_LIMITS is not a dict, names an unknown limit, or holds a rate that does not parse",
    "delivery.md#rate-limits",
)
RETENTION_DAYS = problem(
    "E020", "RETENTION_DAYS is not a dict of table → positive days or None", "delivery.md#retention"
)
SENSITIVE_CONTEXT = problem("E043", "SENSITIVE_CONTEXT is not a list of strings", DELIVERY)
COUNTDOWN_OVER_VISIBILITY = problem(
    "W004",
    "RETRY_COUNTDOWN_MAX is not below the Celery broker's visibility timeout",
    "celery.md#workers",
)

#: The tables ``RETENTION_DAYS`` may name (what ``notify_cleanup`` deletes).
RETENTION_KEYS = ("notifications", "deliveries", "events")


def check_delivery(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """The delivery keys; a Celery dispatcher also against the broker's visibility timeout."""
    value = read_settings()
    if value is None:
        return []
    errors: list[CheckMessage] = []
    dispatcher = value("DISPATCHER")
    target = None
    if dispatcher == "celery":
        try:
            import celery  # noqa: F401
        except ImportError:
            errors.append(
                error(
                    CELERY_MISSING,
                    f"{SETTING_NAME}['DISPATCHER'] is 'celery' but Celery is not installed.",
                    "pip install 'django-notify-kit[celery]'",
                )
            )
        else:
            import_setting(DISPATCHER_IMPORT, "DISPATCHER", DISPATCHERS["celery"], errors)
    else:
        target = import_setting(
            DISPATCHER_IMPORT, "DISPATCHER", DISPATCHERS.get(dispatcher, dispatcher), errors
        )
    if target is not None and not isinstance(target, type):
        errors.append(
            error(DISPATCHER_CLASS, f"{SETTING_NAME}['DISPATCHER'] must name a dispatcher class.")
        )
    for key, bad in POSITIVE_INTS.items():
        if not is_positive_int(value(key)):
            errors.append(error(bad, f"{SETTING_NAME}[{key!r}] must be a positive int."))
    for key, bad in POSITIVE_NUMBERS.items():
        if not is_positive_number(value(key)):
            errors.append(error(bad, f"{SETTING_NAME}[{key!r}] must be a positive number."))
    site_url = value("SITE_URL")
    if not isinstance(site_url, str) or (
        site_url and not site_url.startswith(("http://", "https://"))
    ):
        errors.append(
            error(
                SITE_URL,
                f"{SETTING_NAME}['SITE_URL'] must be an absolute http(s) URL, got {site_url!r}.",
            )
        )
    errors += _check_digests(value)
    bypass = value("BYPASS_PRIORITY")
    if bypass not in (None, ""):
        try:
            Priority.parse(bypass)
        except ValueError as exc:
            errors.append(error(BYPASS_PRIORITY, f"{SETTING_NAME}['BYPASS_PRIORITY']: {exc}."))
    errors += _check_rates(value("RATE_LIMITS"))
    errors += [
        error(RETENTION_DAYS, msg, advice)
        for msg, advice in _retention_advice(value("RETENTION_DAYS"))
    ]
    if not is_string_list(value("SENSITIVE_CONTEXT")):
        errors.append(
            error(
                SENSITIVE_CONTEXT, f"{SETTING_NAME}['SENSITIVE_CONTEXT'] must be a list of strings."
            )
        )
    if dispatcher == "celery":
        errors += _check_visibility_timeout(value("RETRY_COUNTDOWN_MAX"))
    return errors


def _check_digests(value) -> list[CheckMessage]:
    errors: list[CheckMessage] = []
    daily = value("DIGEST_DAILY_AT")
    try:
        if not isinstance(daily, time):
            time.fromisoformat(str(daily))
    except ValueError:
        errors.append(
            error(
                DIGEST_DAILY_AT,
                f"{SETTING_NAME}['DIGEST_DAILY_AT'] must be a time like '08:00', got {daily!r}.",
            )
        )
    weekday = value("DIGEST_WEEKDAY")
    if not isinstance(weekday, int) or isinstance(weekday, bool) or not 0 <= weekday <= 6:
        errors.append(
            error(DIGEST_WEEKDAY, f"{SETTING_NAME}['DIGEST_WEEKDAY'] must be 0 (Monday) to 6.")
        )
    return errors


def _check_rates(rates: Any) -> list[CheckMessage]:
    if not isinstance(rates, dict):
        return [error(RATE_LIMITS, f"{SETTING_NAME}['RATE_LIMITS'] must be a dict.")]
    errors: list[CheckMessage] = []
    for name, rate in rates.items():
        if name not in LIMIT_NAMES:
            errors.append(
                error(RATE_LIMITS, f"{SETTING_NAME}['RATE_LIMITS'] has an unknown limit {name!r} "
                      f"(known: {', '.join(LIMIT_NAMES)}).")
            )  # fmt: skip
        elif rate:
            several = name == "sender" and isinstance(rate, list | tuple)
            for one in rate if several else [rate]:
                try:
                    parse_rate(one)
                except ValueError as exc:
                    errors.append(
                        error(RATE_LIMITS, f"{SETTING_NAME}['RATE_LIMITS'][{name!r}]: {exc}")
                    )
    return errors


def _check_visibility_timeout(countdown: Any) -> list[CheckMessage]:
    """A countdown longer than the broker's visibility timeout gets the task redelivered
    before it is due (Redis and SQS brokers)."""
    options = getattr(settings, "CELERY_BROKER_TRANSPORT_OPTIONS", None) or {}
    visibility = options.get("visibility_timeout", 3600) if isinstance(options, dict) else 3600
    if isinstance(countdown, int | float) and isinstance(visibility, int | float):
        if countdown >= visibility:
            return [
                warning(
                    COUNTDOWN_OVER_VISIBILITY,
                    f"{SETTING_NAME}['RETRY_COUNTDOWN_MAX'] ({countdown:g} s) is not below the "
                    f"broker's visibility_timeout ({visibility:g} s): a retry's countdown task "
                    "would be redelivered early.",
                    "Lower RETRY_COUNTDOWN_MAX; longer waits are kept in the database.",
                )
            ]
    return []


def retention_problems(retention: object) -> list[tuple[str, str]]:
    """What is wrong with a ``RETENTION_DAYS`` value, as (message, hint) pairs naming the
    key. Shared by the system check (E020) and ``cleanup()``, which refuses to run on a
    value the check would reject (checks can be silenced)."""
    return [(msg, RETENTION_DAYS.hint(advice)) for msg, advice in _retention_advice(retention)]


def _retention_advice(retention: object) -> list[tuple[str, str]]:
    name = f"{SETTING_NAME}['RETENTION_DAYS']"
    if not isinstance(retention, dict):
        return [
            (
                f"{name} must be a dict mapping {', '.join(map(repr, RETENTION_KEYS))} to a "
                f"number of days or None, got {retention!r}.",
                "",
            )
        ]
    problems = []
    for key, days in retention.items():
        where = f"{name}[{key!r}]"
        if key not in RETENTION_KEYS:
            problems.append(
                (
                    f"{name} has an unknown key {key!r}.",
                    f"The keys are {', '.join(map(repr, RETENTION_KEYS))}.",
                )
            )
        elif days is None:
            continue
        elif isinstance(days, bool) or not isinstance(days, int):
            problems.append(
                (
                    f"{where} must be a whole number of days or None, got {days!r}.",
                    "None keeps the rows forever.",
                )
            )
        elif days == 0:
            problems.append(
                (
                    f"{where} is 0.",
                    "Use None to keep the rows forever, or a positive number of days to "
                    "delete older rows.",
                )
            )
        elif days < 0:
            problems.append(
                (f"{where} must be a positive number of days or None, got {days!r}.", "")
            )
    return problems
