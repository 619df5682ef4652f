"""django-notify: a pluggable notification system for Django.

Public API, re-exported lazily so importing the package never touches models before
Django's app registry is ready.
"""

from importlib import import_module
from typing import Any

__version__ = "0.1.0.dev0"

_EXPORTS = {
    "get_notification_model": "django_notify.loading",
    "notify": "django_notify.pipeline.entry_points",
    "emit": "django_notify.pipeline.events",
    "cancel": "django_notify.pipeline.events",
    "BaseChannel": "django_notify.channels.base",
    "get_channel": "django_notify.channels.registry",
    "RateLimited": "django_notify.exceptions",
    "DeliveryError": "django_notify.exceptions",
    "RetryableDeliveryError": "django_notify.exceptions",
    "DeliveryCancelled": "django_notify.exceptions",
    "get_preferences": "django_notify.delivery.preferences",
    "update_preferences": "django_notify.delivery.preferences",
    "reset_preferences": "django_notify.delivery.preferences",
    "update_organization_defaults": "django_notify.delivery.preferences",
    "reset_organization_defaults": "django_notify.delivery.preferences",
    "update_recipient_settings": "django_notify.delivery.preferences",
    "preview": "django_notify.rendering.templates",
    "criteria": "django_notify.criteria_registry",
    "send": "django_notify.pipeline.entry_points",
    "send_to_self": "django_notify.pipeline.entry_points",
    "send_system": "django_notify.pipeline.entry_points",
    "Priority": "django_notify.priority",
    "NotificationType": "django_notify.types",
    "Category": "django_notify.types",
    "register": "django_notify.types",
    "notification_types": "django_notify.types",
    "Registry": "django_notify.registry",
    "AlreadyRegistered": "django_notify.registry",
    "NotRegistered": "django_notify.registry",
    "Scope": "django_notify.types",
    "Origin": "django_notify.types",
    "Role": "django_notify.tenancy",
    "TenancyAdapter": "django_notify.tenancy",
    "get_adapter": "django_notify.tenancy",
    "Rule": "django_notify.policy",
    "SendRefused": "django_notify.exceptions",
    "NotVisible": "django_notify.exceptions",
    "NotifyError": "django_notify.exceptions",
    "sanitize_html": "django_notify.sanitize",
}

__all__ = [*_EXPORTS, "__version__"]


def __getattr__(name: str) -> Any:
    try:
        module = _EXPORTS[name]
    except KeyError:
        raise AttributeError(f"module 'django_notify' has no attribute {name!r}") from None
    value = getattr(import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
