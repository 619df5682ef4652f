"""System checks for ``DJANGO_NOTIFY``: the settings dict itself and the base keys.

Channels, delivery and the notification centre check their own keys in their package's
``checks`` module, with the helpers here: every id is declared once, with :func:`problem`,
and every hint links to the published docs. The ids and their fixes are listed in
docs/checks.md.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.apps import apps
from django.conf import settings
from django.core.checks import CheckMessage, Error, Warning
from django.utils.module_loading import import_string

from .conf import DEFAULTS, SANITIZERS, SETTING_NAME
from .tenancy import TenancyAdapter
from .types import ANYONE, notification_types

#: The published documentation (pyproject's Documentation URL); hints link below it.
DOCS = "https://github.com/django-notify/django-notify/tree/main/docs"


@dataclass(frozen=True)
class Problem:
    """One thing that can be wrong with the configuration: its own id, a one-line
    description, and the docs section that explains the setting."""

    id: str
    title: str
    page: str

    @property
    def qualified_id(self) -> str:
        return f"django_notify.{self.id}"

    def hint(self, advice: str = "") -> str:
        """``advice`` followed by the link to the docs section."""
        return " ".join(filter(None, (advice, f"See {DOCS}/{self.page}")))


#: Every declared problem by id ("E010"); a second declaration of an id fails at import.
PROBLEMS: dict[str, Problem] = {}


def problem(id_: str, title: str, page: str) -> Problem:
    """Declare a problem; ``id_`` is ``E`` or ``W`` and three digits, ``page`` a docs
    path with its anchor, e.g. ``"settings.md#delivery-settings"``."""
    if not re.fullmatch(r"[EW]\d{3}", id_):
        raise ValueError(f"Check id {id_!r} is not E or W and three digits.")
    if id_ in PROBLEMS:
        raise ValueError(f"Check id {id_} is declared twice: {PROBLEMS[id_].title!r}, {title!r}.")
    PROBLEMS[id_] = declared = Problem(id_, title, page)
    return declared


def error(problem: Problem, msg: str, advice: str = "", *, obj: object = SETTING_NAME) -> Error:
    """The ``Error`` for ``problem`` (an E id): its hint is ``advice`` and the docs link."""
    return _message(Error, "E", problem, msg, advice, obj)


def warning(problem: Problem, msg: str, advice: str = "", *, obj: object = SETTING_NAME) -> Warning:
    """The ``Warning`` for ``problem`` (a W id): its hint is ``advice`` and the docs link."""
    return _message(Warning, "W", problem, msg, advice, obj)


def _message(
    level: type[CheckMessage], prefix: str, problem: Problem, msg: str, advice: str, obj: object
) -> Any:
    if not problem.id.startswith(prefix):
        raise ValueError(f"{problem.id} is not a {level.__name__} id.")
    return level(msg, hint=problem.hint(advice), obj=obj, id=problem.qualified_id)


def import_setting(problem: Problem, key: str, path: object, errors: list) -> object | None:
    """What the dotted path in ``key`` names, or ``None`` after adding ``problem``."""
    if not isinstance(path, str) or "." not in path:
        errors.append(
            error(problem, f"{SETTING_NAME}[{key!r}] must be a dotted path, got {path!r}.")
        )
        return None
    try:
        return import_string(path)
    except ImportError as exc:
        errors.append(
            error(problem, f"{SETTING_NAME}[{key!r}] = {path!r} cannot be imported: {exc}")
        )
        return None


def read_settings() -> Callable[[str], Any] | None:
    """A reader of ``DJANGO_NOTIFY`` keys with their defaults, or ``None`` when the
    setting is not a dict: then only E001 is reported."""
    raw = getattr(settings, SETTING_NAME, {})
    if not isinstance(raw, dict):
        return None
    return lambda key: raw.get(key, DEFAULTS[key])


def is_positive_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1


def is_positive_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and value > 0


def is_string_list(value: object, kinds: type | tuple = (list, tuple)) -> bool:
    return isinstance(value, kinds) and all(isinstance(item, str) for item in value)


SETTINGS_PAGE = "settings.md#django_notify-keys"

NOT_A_DICT = problem("E001", "DJANGO_NOTIFY is not a dict", SETTINGS_PAGE)
UNKNOWN_KEY = problem("E002", "DJANGO_NOTIFY has an unknown key", SETTINGS_PAGE)
TENANCY_ADAPTER_IMPORT = problem(
    "E003", "TENANCY_ADAPTER is not a dotted path, or cannot be imported", "tenancy.md"
)
TENANCY_ADAPTER_CLASS = problem(
    "E004", "TENANCY_ADAPTER does not name a TenancyAdapter subclass", "tenancy.md"
)
SANITIZER_IMPORT = problem(
    "E025", "HTML_SANITIZER is not a dotted path, or cannot be imported", SETTINGS_PAGE
)
SANITIZER_CALLABLE = problem("E005", "HTML_SANITIZER does not name a callable", SETTINGS_PAGE)
NH3_MISSING = problem("E006", "HTML_SANITIZER is 'nh3' but nh3 is not installed", SETTINGS_PAGE)
LEVELS = problem("E007", "LEVELS does not map 1–2 letter codes to labels", SETTINGS_PAGE)
DEFAULT_LEVEL = problem("E008", "DEFAULT_LEVEL is not a key of LEVELS", SETTINGS_PAGE)
ALLOWED_TAGS = problem("E009", "ALLOWED_TAGS is not a list of strings", SETTINGS_PAGE)
ALLOWED_PROTOCOLS = problem("E026", "ALLOWED_PROTOCOLS is not a list of strings", SETTINGS_PAGE)
ALLOWED_ATTRIBUTES = problem("E027", "ALLOWED_ATTRIBUTES is not a dict", SETTINGS_PAGE)
SCRIPT_ALLOWED = problem(
    "W001", "ALLOWED_TAGS allows <script>", "security.md#what-is-sanitised-and-where"
)
POSITIVE_INTS = {
    "BULK_BATCH_SIZE": problem("E010", "BULK_BATCH_SIZE is not a positive int", SETTINGS_PAGE),
    "EVENT_MAX_ATTEMPTS": problem(
        "E028", "EVENT_MAX_ATTEMPTS is not a positive int", SETTINGS_PAGE
    ),
}
PREPARED_STATEMENTS = problem("E054", "PREPARED_STATEMENTS is not True or False", SETTINGS_PAGE)
DEFAULT_ORGANIZATION = problem("E011", "DEFAULT_ORGANIZATION is not 1–64 characters", SETTINGS_PAGE)
POLYMORPHIC_MISSING = problem(
    "E012", "django-polymorphic is not in INSTALLED_APPS", "quickstart.md#install"
)
BYTE_LIMITS = {
    "MAX_REQUEST_BYTES": problem(
        "E024", "MAX_REQUEST_BYTES is not a positive int or None", SETTINGS_PAGE
    ),
    "MAX_META_DATA_BYTES": problem(
        "E029", "MAX_META_DATA_BYTES is not a positive int or None", SETTINGS_PAGE
    ),
}
OPEN_REQUIRED_TYPE = problem(
    "W005", "a type with required channels may be sent by anyone", "types.md#who-may-send-a-type"
)


def check_settings(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """The dict itself, the keys every part reads, and the registered types."""
    raw = getattr(settings, SETTING_NAME, {})
    value = read_settings()
    if value is None:
        return [error(NOT_A_DICT, f"{SETTING_NAME} must be a dict, got {type(raw).__name__}.")]
    errors: list[CheckMessage] = []
    for key in sorted(set(raw) - set(DEFAULTS)):
        close = [k for k in DEFAULTS if k.startswith(key[:4])]
        advice = f"Did you mean {close[0]!r}?" if close else ""
        errors.append(error(UNKNOWN_KEY, f"{SETTING_NAME} has an unknown key {key!r}.", advice))

    if not apps.is_installed("polymorphic"):
        errors.append(
            error(
                POLYMORPHIC_MISSING,
                'django_notify needs django-polymorphic: add "polymorphic" to INSTALLED_APPS.',
                'INSTALLED_APPS += ["polymorphic", "django_notify"]',
            )
        )
    adapter = import_setting(
        TENANCY_ADAPTER_IMPORT, "TENANCY_ADAPTER", value("TENANCY_ADAPTER"), errors
    )
    if adapter is not None and not (
        isinstance(adapter, type) and issubclass(adapter, TenancyAdapter)
    ):
        errors.append(
            error(
                TENANCY_ADAPTER_CLASS,
                f"{SETTING_NAME}['TENANCY_ADAPTER'] must name a subclass of "
                "django_notify.tenancy.TenancyAdapter.",
            )
        )
    errors += _check_sanitizing(value)

    levels = value("LEVELS")
    if (
        not isinstance(levels, dict)
        or not levels
        or not all(isinstance(k, str) and len(k) <= 2 and k for k in levels)
    ):
        errors.append(
            error(LEVELS, f"{SETTING_NAME}['LEVELS'] must map 1–2 letter codes to labels.")
        )
    elif value("DEFAULT_LEVEL") not in levels:
        errors.append(
            error(
                DEFAULT_LEVEL,
                f"{SETTING_NAME}['DEFAULT_LEVEL'] {value('DEFAULT_LEVEL')!r} is not in LEVELS.",
            )
        )
    for key, bad in POSITIVE_INTS.items():
        if not is_positive_int(value(key)):
            errors.append(error(bad, f"{SETTING_NAME}[{key!r}] must be a positive int."))
    if not isinstance(value("PREPARED_STATEMENTS"), bool):
        errors.append(
            error(
                PREPARED_STATEMENTS,
                f"{SETTING_NAME}['PREPARED_STATEMENTS'] must be True or False, got "
                f"{value('PREPARED_STATEMENTS')!r}.",
            )
        )
    org = value("DEFAULT_ORGANIZATION")
    if not isinstance(org, str | int) or isinstance(org, bool) or not 0 < len(str(org)) <= 64:
        errors.append(
            error(
                DEFAULT_ORGANIZATION,
                f"{SETTING_NAME}['DEFAULT_ORGANIZATION'] must be 1–64 characters.",
            )
        )
    for key, bad in BYTE_LIMITS.items():
        number = value(key)
        if number is not None and not is_positive_int(number):
            errors.append(
                error(
                    bad,
                    f"{SETTING_NAME}[{key!r}] must be a positive number of bytes or None "
                    f"(no limit), got {number!r}.",
                )
            )
    errors += _check_type_senders()
    return errors


def _check_sanitizing(value: Callable[[str], Any]) -> list[CheckMessage]:
    """HTML_SANITIZER and the allow-lists it is fed."""
    errors: list[CheckMessage] = []
    sanitizer = value("HTML_SANITIZER")
    target = import_setting(
        SANITIZER_IMPORT, "HTML_SANITIZER", SANITIZERS.get(sanitizer, sanitizer), errors
    )
    if target is not None and not callable(target):
        errors.append(
            error(SANITIZER_CALLABLE, f"{SETTING_NAME}['HTML_SANITIZER'] must name a callable.")
        )
    if sanitizer == "nh3":
        try:
            import nh3  # noqa: F401
        except ImportError:
            errors.append(
                error(
                    NH3_MISSING,
                    f"{SETTING_NAME}['HTML_SANITIZER'] is 'nh3' but nh3 is not installed.",
                    "pip install 'django-notify-kit[nh3]'",
                )
            )
    for key, bad in (("ALLOWED_TAGS", ALLOWED_TAGS), ("ALLOWED_PROTOCOLS", ALLOWED_PROTOCOLS)):
        if not is_string_list(value(key), (list, tuple, set)):
            errors.append(error(bad, f"{SETTING_NAME}[{key!r}] must be a list of strings."))
    if not isinstance(value("ALLOWED_ATTRIBUTES"), dict):
        errors.append(
            error(ALLOWED_ATTRIBUTES, f"{SETTING_NAME}['ALLOWED_ATTRIBUTES'] must be a dict.")
        )
    tags = value("ALLOWED_TAGS")
    if isinstance(tags, list | tuple | set) and "script" in {str(t).lower() for t in tags}:
        errors.append(warning(SCRIPT_ALLOWED, f"{SETTING_NAME}['ALLOWED_TAGS'] allows <script>."))
    return errors


def _check_type_senders() -> list[CheckMessage]:
    """A type whose channel recipients cannot switch off, sendable by any user: a user
    could send a look-alike of it (a fake security alert) that cannot be unsubscribed."""
    return [
        warning(
            OPEN_REQUIRED_TYPE,
            f"Notification type {ntype.key!r} has required channel(s) "
            f"{', '.join(ntype.required_channels)} and senders = 'anyone': any user who may "
            "send can send it, and recipients cannot switch those channels off.",
            'Set senders = "system" (only emit() and notify()), "staff", or the roles '
            "that may send it.",
            obj=ntype.key,
        )
        for ntype in notification_types
        if ntype.required_channels and ntype.senders == ANYONE
    ]
