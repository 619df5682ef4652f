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
    for key in ("BULK_BATCH_SIZE", "EVENT_MAX_ATTEMPTS"):
        number = value(key)
        if not isinstance(number, int) or isinstance(number, bool) or number < 1:
            errors.append(_error("E010", f"{SETTING_NAME}[{key!r}] must be a positive int."))
    org = value("DEFAULT_ORGANIZATION")
    if not isinstance(org, str | int) or isinstance(org, bool) or not 0 < len(str(org)) <= 64:
        errors.append(
            _error("E011", f"{SETTING_NAME}['DEFAULT_ORGANIZATION'] must be 1–64 characters.")
        )
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
