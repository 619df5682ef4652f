"""System checks for the channels: ``CHANNELS`` and every alias's configuration,
``DEFAULT_CHANNELS``, the HTTP channels' settings, the in-app publish hook, and whether
the registered types' channels and email links can work."""

from __future__ import annotations

from typing import Any

from django.core.checks import CheckMessage

from ..checks import (
    error,
    import_setting,
    is_positive_number,
    is_string_list,
    problem,
    read_settings,
    warning,
)
from ..conf import SETTING_NAME
from ..exceptions import NotifyConfigurationError
from ..types import notification_types
from .registry import BUILTIN_CHANNELS, spec_from_setting

CONFIGURATION = "channels/index.md#configuration"

CHANNELS = problem(
    "E013", "CHANNELS is not a dict, or an alias is not 1–50 characters", CONFIGURATION
)
CHANNEL_CONFIG = problem("E014", "a channel's configuration or options are wrong", CONFIGURATION)
DEFAULT_CHANNELS = problem(
    "E016", "DEFAULT_CHANNELS is not a list of configured aliases", "settings.md#delivery-settings"
)
WEBHOOK_ALLOWED_HOSTS = problem(
    "E030",
    "WEBHOOK_ALLOWED_HOSTS is not a list of strings",
    "channels/webhook.md#webhook_allowed_hosts",
)
HTTP_TIMEOUT = problem(
    "E031", "HTTP_TIMEOUT is not a positive number", "settings.md#delivery-settings"
)
PUBLISHER_IMPORT = problem(
    "E032",
    "REALTIME_PUBLISHER is not a dotted path, or cannot be imported",
    "channels/in_app.md#the-publish-hook",
)
UNCONFIGURED_TYPE_CHANNEL = problem(
    "W002", "a type lists a channel that CHANNELS does not configure", CONFIGURATION
)
EMAIL_WITHOUT_SITE_URL = problem(
    "W003",
    "SITE_URL is empty while email is in use",
    "channels/email.md#list-unsubscribe-and-the-unsubscribe-view",
)


def check_channels(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """Every configured channel is built, so a wrong option fails here, not at send."""
    value = read_settings()
    if value is None:
        return []
    errors: list[CheckMessage] = []
    configured = _configured_channels(value("CHANNELS"), errors)
    default_channels = value("DEFAULT_CHANNELS")
    if not isinstance(default_channels, list | tuple) or any(
        c not in configured for c in default_channels
    ):
        errors.append(
            error(
                DEFAULT_CHANNELS,
                f"{SETTING_NAME}['DEFAULT_CHANNELS'] must list configured channels "
                f"(configured: {', '.join(sorted(configured))}), got {default_channels!r}.",
            )
        )
    if not is_positive_number(value("HTTP_TIMEOUT")):
        errors.append(
            error(HTTP_TIMEOUT, f"{SETTING_NAME}['HTTP_TIMEOUT'] must be a positive number.")
        )
    if not is_string_list(value("WEBHOOK_ALLOWED_HOSTS")):
        errors.append(
            error(
                WEBHOOK_ALLOWED_HOSTS,
                f"{SETTING_NAME}['WEBHOOK_ALLOWED_HOSTS'] must be a list of strings.",
            )
        )
    publisher = value("REALTIME_PUBLISHER")
    if publisher:
        import_setting(PUBLISHER_IMPORT, "REALTIME_PUBLISHER", publisher, errors)
    if not value("SITE_URL") and "email" in configured and _email_in_use():
        errors.append(
            warning(
                EMAIL_WITHOUT_SITE_URL,
                f"{SETTING_NAME}['SITE_URL'] is not set: emails carry relative links and no "
                "List-Unsubscribe header.",
                'Set it to your site\'s address, e.g. "https://example.com".',
            )
        )
    errors += _check_type_channels(configured)
    return errors


def _configured_channels(channels: Any, errors: list) -> set[str]:
    """The aliases whose configuration builds; the others are reported."""
    configured: set[str] = set()
    if not isinstance(channels, dict):
        errors.append(
            error(CHANNELS, f"{SETTING_NAME}['CHANNELS'] must be a dict of alias → config.")
        )
        channels = {}
    for alias, config in {**BUILTIN_CHANNELS, **channels}.items():
        if config is None:
            continue
        if not isinstance(alias, str) or not alias or len(alias) > 50:
            errors.append(
                error(
                    CHANNELS, f"{SETTING_NAME}['CHANNELS'] alias {alias!r} must be 1–50 characters."
                )
            )
            continue
        try:
            spec_from_setting(alias, config).build()
        except NotifyConfigurationError as exc:
            errors.append(error(CHANNEL_CONFIG, str(exc)))
            continue
        configured.add(alias)
    return configured


def _email_in_use() -> bool:
    """Some type sends email unless users switch it on (defaults or required)."""
    return any(
        "email" in t.default_channels or "email" in t.required_channels for t in notification_types
    )


def _check_type_channels(configured: set[str]) -> list[CheckMessage]:
    """A type naming a channel the project has not configured: it is simply not used
    there, which is right for a reusable app's types but worth a warning."""
    warnings = []
    for ntype in notification_types:
        missing = sorted(set(ntype.channels) - configured)
        if missing:
            warnings.append(
                warning(
                    UNCONFIGURED_TYPE_CHANNEL,
                    f"Notification type {ntype.key!r} lists channel(s) {', '.join(missing)} "
                    f"that {SETTING_NAME}['CHANNELS'] does not configure; they are skipped.",
                    "Configure them, or silence django_notify.W002 in SILENCED_SYSTEM_CHECKS.",
                    obj=ntype.key,
                )
            )
    return warnings
