"""System checks for ``DJANGO_NOTIFY``: run by ``manage.py check`` and at start-up."""

from __future__ import annotations

from django.conf import settings
from django.core.checks import Error, Warning
from django.utils.module_loading import import_string

from .conf import DEFAULTS, SANITIZERS, SETTING_NAME

SETTING_DOC = "See docs/settings.md for every key and its default."


def _error(id_: str, msg: str, hint: str = SETTING_DOC) -> Error:
    return Error(msg, hint=hint, obj=SETTING_NAME, id=f"django_notify.{id_}")


def _import(key: str, path: object, errors: list) -> object | None:
    if not isinstance(path, str) or "." not in path:
        errors.append(
            _error("E003", f"{SETTING_NAME}[{key!r}] must be a dotted path, got {path!r}.")
        )
        return None
    try:
        return import_string(path)
    except ImportError as exc:
        errors.append(
            _error("E003", f"{SETTING_NAME}[{key!r}] = {path!r} cannot be imported: {exc}")
        )
        return None


def check_settings(app_configs=None, **kwargs) -> list:
    from .tenancy import TenancyAdapter

    errors: list = []
    raw = getattr(settings, SETTING_NAME, {})
    if not isinstance(raw, dict):
        return [_error("E001", f"{SETTING_NAME} must be a dict, got {type(raw).__name__}.")]
    for key in sorted(set(raw) - set(DEFAULTS)):
        close = [k for k in DEFAULTS if k.startswith(key[:4])]
        hint = f"Did you mean {close[0]!r}? " if close else ""
        errors.append(
            _error("E002", f"{SETTING_NAME} has an unknown key {key!r}.", hint + SETTING_DOC)
        )

    def value(key):
        return raw.get(key, DEFAULTS[key])

    from django.apps import apps

    if not apps.is_installed("polymorphic"):
        errors.append(
            _error(
                "E012",
                'django_notify needs django-polymorphic: add "polymorphic" to INSTALLED_APPS.',
                'INSTALLED_APPS += ["polymorphic", "django_notify"]',
            )
        )
    adapter = _import("TENANCY_ADAPTER", value("TENANCY_ADAPTER"), errors)
    if adapter is not None and not (
        isinstance(adapter, type) and issubclass(adapter, TenancyAdapter)
    ):
        errors.append(
            _error(
                "E004",
                f"{SETTING_NAME}['TENANCY_ADAPTER'] must name a subclass of "
                "django_notify.tenancy.TenancyAdapter.",
            )
        )

    sanitizer = value("HTML_SANITIZER")
    target = _import("HTML_SANITIZER", SANITIZERS.get(sanitizer, sanitizer), errors)
    if target is not None and not callable(target):
        errors.append(_error("E005", f"{SETTING_NAME}['HTML_SANITIZER'] must name a callable."))
    if sanitizer == "nh3":
        try:
            import nh3  # noqa: F401
        except ImportError:
            errors.append(
                _error(
                    "E006",
                    f"{SETTING_NAME}['HTML_SANITIZER'] is 'nh3' but nh3 is not installed.",
                    "pip install 'django-notify-kit[nh3]'",
                )
            )

    levels = value("LEVELS")
    if (
        not isinstance(levels, dict)
        or not levels
        or not all(isinstance(k, str) and len(k) <= 2 and k for k in levels)
    ):
        errors.append(
            _error("E007", f"{SETTING_NAME}['LEVELS'] must map 1–2 letter codes to labels.")
        )
    elif value("DEFAULT_LEVEL") not in levels:
        errors.append(
            _error(
                "E008",
                f"{SETTING_NAME}['DEFAULT_LEVEL'] {value('DEFAULT_LEVEL')!r} is not in LEVELS.",
            )
        )
    for key in ("ALLOWED_TAGS", "ALLOWED_PROTOCOLS"):
        if not isinstance(value(key), list | tuple | set) or not all(
            isinstance(item, str) for item in value(key)
        ):
            errors.append(_error("E009", f"{SETTING_NAME}[{key!r}] must be a list of strings."))
    if not isinstance(value("ALLOWED_ATTRIBUTES"), dict):
        errors.append(_error("E009", f"{SETTING_NAME}['ALLOWED_ATTRIBUTES'] must be a dict."))
    for key in ("BULK_BATCH_SIZE", "EVENT_MAX_ATTEMPTS", "MAX_ATTEMPTS", "RETENTION_BATCH_SIZE"):
        number = value(key)
        if not isinstance(number, int) or isinstance(number, bool) or number < 1:
            errors.append(_error("E010", f"{SETTING_NAME}[{key!r}] must be a positive int."))
    org = value("DEFAULT_ORGANIZATION")
    if not isinstance(org, str | int) or isinstance(org, bool) or not 0 < len(str(org)) <= 64:
        errors.append(
            _error("E011", f"{SETTING_NAME}['DEFAULT_ORGANIZATION'] must be 1–64 characters.")
        )
    errors += _check_delivery(value)
    tags = value("ALLOWED_TAGS")
    if isinstance(tags, list | tuple | set) and "script" in {str(t).lower() for t in tags}:
        errors.append(
            Warning(
                f"{SETTING_NAME}['ALLOWED_TAGS'] allows <script>.",
                obj=SETTING_NAME,
                id="django_notify.W001",
            )
        )
    return errors


def _check_delivery(value) -> list:
    """CHANNELS, DISPATCHER and the delivery knobs (E013–E020, W002)."""
    from .channels.registry import BUILTIN_CHANNELS, spec_from_setting
    from .conf import DISPATCHERS
    from .exceptions import NotifyConfigurationError

    errors: list = []
    channels = value("CHANNELS")
    configured: set[str] = set()
    if not isinstance(channels, dict):
        errors.append(
            _error("E013", f"{SETTING_NAME}['CHANNELS'] must be a dict of alias → config.")
        )
        channels = {}
    for alias, config in {**BUILTIN_CHANNELS, **channels}.items():
        if config is None:
            continue
        if not isinstance(alias, str) or not alias or len(alias) > 50:
            errors.append(
                _error(
                    "E013", f"{SETTING_NAME}['CHANNELS'] alias {alias!r} must be 1–50 characters."
                )
            )
            continue
        try:
            spec_from_setting(alias, config).build()
        except NotifyConfigurationError as exc:
            errors.append(_error("E014", str(exc)))
            continue
        configured.add(alias)

    dispatcher = value("DISPATCHER")
    target = _import("DISPATCHER", DISPATCHERS.get(dispatcher, dispatcher), errors)
    if dispatcher == "celery":
        try:
            import celery  # noqa: F401
        except ImportError:
            errors.append(
                _error(
                    "E015",
                    f"{SETTING_NAME}['DISPATCHER'] is 'celery' but Celery is not installed.",
                    "pip install 'django-notify-kit[celery]'",
                )
            )
    elif target is not None and not isinstance(target, type):
        errors.append(_error("E015", f"{SETTING_NAME}['DISPATCHER'] must name a dispatcher class."))

    default_channels = value("DEFAULT_CHANNELS")
    if not isinstance(default_channels, list | tuple) or any(
        c not in configured for c in default_channels
    ):
        errors.append(
            _error(
                "E016",
                f"{SETTING_NAME}['DEFAULT_CHANNELS'] must list configured channels "
                f"(configured: {', '.join(sorted(configured))}), got {default_channels!r}.",
            )
        )
    for key in (
        "RETRY_BACKOFF",
        "RETRY_BACKOFF_MAX",
        "RETRY_COUNTDOWN_MAX",
        "SENDING_TIMEOUT",
        "HTTP_TIMEOUT",
    ):
        number = value(key)
        if not isinstance(number, int | float) or isinstance(number, bool) or number <= 0:
            errors.append(_error("E010", f"{SETTING_NAME}[{key!r}] must be a positive number."))
    site_url = value("SITE_URL")
    if not isinstance(site_url, str) or (
        site_url and not site_url.startswith(("http://", "https://"))
    ):
        errors.append(
            _error(
                "E017",
                f"{SETTING_NAME}['SITE_URL'] must be an absolute http(s) URL, got {site_url!r}.",
            )
        )
    from datetime import time

    daily = value("DIGEST_DAILY_AT")
    try:
        if not isinstance(daily, time):
            time.fromisoformat(str(daily))
    except ValueError:
        errors.append(
            _error(
                "E018",
                f"{SETTING_NAME}['DIGEST_DAILY_AT'] must be a time like '08:00', got {daily!r}.",
            )
        )
    weekday = value("DIGEST_WEEKDAY")
    if not isinstance(weekday, int) or isinstance(weekday, bool) or not 0 <= weekday <= 6:
        errors.append(_error("E018", f"{SETTING_NAME}['DIGEST_WEEKDAY'] must be 0 (Monday) to 6."))
    bypass = value("BYPASS_PRIORITY")
    if bypass not in (None, ""):
        from .types import Priority

        try:
            Priority.parse(bypass)
        except ValueError as exc:
            errors.append(_error("E019", f"{SETTING_NAME}['BYPASS_PRIORITY']: {exc}."))
    errors += _check_rates(value("RATE_LIMITS"))
    errors += [
        _error("E020", msg, hint) for msg, hint in retention_problems(value("RETENTION_DAYS"))
    ]
    for key in ("WEBHOOK_ALLOWED_HOSTS", "SENSITIVE_CONTEXT"):
        items = value(key)
        if not isinstance(items, list | tuple) or not all(isinstance(i, str) for i in items):
            errors.append(_error("E009", f"{SETTING_NAME}[{key!r}] must be a list of strings."))
    if not site_url and "email" in configured and _email_in_use():
        errors.append(
            Warning(
                f"{SETTING_NAME}['SITE_URL'] is not set: emails carry relative links and no "
                "List-Unsubscribe header.",
                hint='Set it to your site\'s address, e.g. "https://example.com".',
                obj=SETTING_NAME,
                id="django_notify.W003",
            )
        )
    if dispatcher == "celery":
        errors += _check_visibility_timeout(value("RETRY_COUNTDOWN_MAX"))
    publisher = value("REALTIME_PUBLISHER")
    if publisher:
        _import("REALTIME_PUBLISHER", publisher, errors)
    errors += _check_type_channels(configured)
    errors += _check_type_senders()
    errors += _check_centre(value)
    return errors


#: The tables ``RETENTION_DAYS`` may name (what ``notify_cleanup`` deletes).
RETENTION_KEYS = ("notifications", "deliveries", "events")


def retention_problems(retention: object) -> list[tuple[str, str]]:
    """What is wrong with a ``RETENTION_DAYS`` value, as (message, hint) pairs naming the
    key. Shared by the system check (E020) and ``cleanup()``, which refuses to run on a
    value the check would reject (checks can be silenced)."""
    name = f"{SETTING_NAME}['RETENTION_DAYS']"
    doc = "See docs/delivery.md#retention."
    if not isinstance(retention, dict):
        return [
            (
                f"{name} must be a dict mapping {', '.join(map(repr, RETENTION_KEYS))} to a "
                f"number of days or None, got {retention!r}.",
                doc,
            )
        ]
    problems = []
    for key, days in retention.items():
        where = f"{name}[{key!r}]"
        if key not in RETENTION_KEYS:
            problems.append(
                (
                    f"{name} has an unknown key {key!r}.",
                    f"The keys are {', '.join(map(repr, RETENTION_KEYS))}. {doc}",
                )
            )
        elif days is None:
            continue
        elif isinstance(days, bool) or not isinstance(days, int):
            problems.append(
                (
                    f"{where} must be a whole number of days or None, got {days!r}.",
                    f"None keeps the rows forever. {doc}",
                )
            )
        elif days == 0:
            problems.append(
                (
                    f"{where} is 0.",
                    "Use None to keep the rows forever, or a positive number of days to "
                    f"delete older rows. {doc}",
                )
            )
        elif days < 0:
            problems.append(
                (
                    f"{where} must be a positive number of days or None, got {days!r}.",
                    doc,
                )
            )
    return problems


def _check_centre(value) -> list:
    """The API, the stream and the widget (E021–E024)."""
    from .conf import BROKERS

    errors: list = []
    broker = value("REALTIME_BROKER")
    target = _import("REALTIME_BROKER", BROKERS.get(broker, broker), errors)
    if target is not None:
        from .realtime.brokers import Broker

        if not (isinstance(target, type) and issubclass(target, Broker)):
            errors.append(
                _error("E021", f"{SETTING_NAME}['REALTIME_BROKER'] must name a Broker subclass.")
            )
        elif broker == "redis" or issubclass(target, _redis_broker()):
            try:
                import redis  # noqa: F401
            except ImportError:
                errors.append(
                    _error(
                        "E021",
                        f"{SETTING_NAME}['REALTIME_BROKER'] is Redis but redis is not installed.",
                        "pip install 'django-notify-kit[realtime]'",
                    )
                )
    url = value("REDIS_URL")
    if not isinstance(url, str) or not url.startswith(("redis://", "rediss://", "unix://")):
        errors.append(
            _error("E022", f"{SETTING_NAME}['REDIS_URL'] must be a redis:// URL, got {url!r}.")
        )
    prefix = value("REALTIME_CHANNEL_PREFIX")
    if not isinstance(prefix, str) or not prefix or ":" in prefix or len(prefix) > 64:
        errors.append(
            _error(
                "E022",
                f"{SETTING_NAME}['REALTIME_CHANNEL_PREFIX'] must be 1–64 characters without ':'.",
            )
        )
    for key in (
        "API_PAGE_SIZE", "API_MAX_PAGE_SIZE", "POLL_INTERVAL",
        "SSE_HEARTBEAT", "SSE_MAX_SECONDS", "STORM_THRESHOLD",
    ):  # fmt: skip
        number = value(key)
        if not isinstance(number, int | float) or isinstance(number, bool) or number <= 0:
            errors.append(_error("E010", f"{SETTING_NAME}[{key!r}] must be a positive number."))
    page, most = value("API_PAGE_SIZE"), value("API_MAX_PAGE_SIZE")
    if isinstance(page, int) and isinstance(most, int) and page > most:
        errors.append(
            _error("E023", f"{SETTING_NAME}['API_PAGE_SIZE'] is larger than API_MAX_PAGE_SIZE.")
        )
    for key in ("MAX_REQUEST_BYTES", "MAX_META_DATA_BYTES"):
        number = value(key)
        if number is not None and (
            not isinstance(number, int) or isinstance(number, bool) or number < 1
        ):
            errors.append(
                _error(
                    "E024",
                    f"{SETTING_NAME}[{key!r}] must be a positive number of bytes or None "
                    f"(no limit), got {number!r}.",
                )
            )
    return errors


def _redis_broker():
    from .realtime.brokers import RedisBroker

    return RedisBroker


def _check_visibility_timeout(countdown) -> list:
    """A countdown longer than the broker's visibility timeout gets the task redelivered
    before it is due (Redis and SQS brokers)."""
    options = getattr(settings, "CELERY_BROKER_TRANSPORT_OPTIONS", None) or {}
    visibility = options.get("visibility_timeout", 3600) if isinstance(options, dict) else 3600
    if isinstance(countdown, int | float) and isinstance(visibility, int | float):
        if countdown >= visibility:
            return [
                Warning(
                    f"{SETTING_NAME}['RETRY_COUNTDOWN_MAX'] ({countdown:g} s) is not below the "
                    f"broker's visibility_timeout ({visibility:g} s): a retry's countdown task "
                    "would be redelivered early.",
                    hint="Lower RETRY_COUNTDOWN_MAX; longer waits are kept in the database.",
                    obj=SETTING_NAME,
                    id="django_notify.W004",
                )
            ]
    return []


def _email_in_use() -> bool:
    """Some type sends email unless users switch it on (defaults or required)."""
    from .types import notification_types

    return any(
        "email" in t.default_channels or "email" in t.required_channels for t in notification_types
    )


def _check_rates(rates) -> list:
    from .delivery.ratelimit import LIMIT_NAMES, parse_rate

    if not isinstance(rates, dict):
        return [_error("E019", f"{SETTING_NAME}['RATE_LIMITS'] must be a dict.")]
    errors = []
    for name, rate in rates.items():
        if name not in LIMIT_NAMES:
            errors.append(
                _error("E019", f"{SETTING_NAME}['RATE_LIMITS'] has an unknown limit {name!r} "
                       f"(known: {', '.join(LIMIT_NAMES)}).")
            )  # fmt: skip
        elif rate:
            several = name == "sender" and isinstance(rate, list | tuple)
            for one in rate if several else [rate]:
                try:
                    parse_rate(one)
                except ValueError as exc:
                    errors.append(_error("E019", f"{SETTING_NAME}['RATE_LIMITS'][{name!r}]: {exc}"))
    return errors


def _check_type_senders() -> list:
    """A type whose channel recipients cannot switch off, sendable by any user: a user
    could send a look-alike of it (a fake security alert) that cannot be unsubscribed."""
    from .types import ANYONE, notification_types

    return [
        Warning(
            f"Notification type {ntype.key!r} has required channel(s) "
            f"{', '.join(ntype.required_channels)} and senders = 'anyone': any user who may "
            "send can send it, and recipients cannot switch those channels off.",
            hint='Set senders = "system" (only emit() and notify()), "staff", or the roles '
            "that may send it.",
            obj=ntype.key,
            id="django_notify.W005",
        )
        for ntype in notification_types
        if ntype.required_channels and ntype.senders == ANYONE
    ]


def _check_type_channels(configured: set[str]) -> list:
    """A type naming a channel the project has not configured: it is simply not used
    there, which is right for a reusable app's types but worth a warning."""
    from .types import notification_types

    warnings = []
    for ntype in notification_types:
        missing = sorted(set(ntype.channels) - configured)
        if missing:
            warnings.append(
                Warning(
                    f"Notification type {ntype.key!r} lists channel(s) {', '.join(missing)} "
                    f"that {SETTING_NAME}['CHANNELS'] does not configure; they are skipped.",
                    hint="Configure them, or silence django_notify.W002 in SILENCED_SYSTEM_CHECKS.",
                    obj=ntype.key,
                    id="django_notify.W002",
                )
            )
    return warnings
