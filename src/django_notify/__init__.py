"""django-notify: a pluggable notification system for Django.

Public API, re-exported lazily so importing the package never touches models before
Django's app registry is ready.
"""

from importlib import import_module
from typing import Any

__version__ = "0.1.0.dev0"

#: The names a host needs, by the module that defines them: setting up and declaring
#: types, the write path's entry points, the channel base class, and what a caller
#: catches. Everything else is imported from its module (``django_notify.tenancy``,
#: ``django_notify.delivery.preferences``, ``django_notify.channels`` …).
_EXPORTS = {
    # set-up and types
    "get_notification_model": "django_notify.loading",
    "register": "django_notify.types",
    "NotificationType": "django_notify.types",
    "notification_types": "django_notify.types",
    "Category": "django_notify.types",
    "Priority": "django_notify.priority",
    "Scope": "django_notify.types",
    "Origin": "django_notify.types",
    "criteria": "django_notify.criteria_registry",
    # the write path
    "emit": "django_notify.pipeline.events",
    "cancel": "django_notify.pipeline.events",
    "notify": "django_notify.pipeline.entry_points",
    "send": "django_notify.pipeline.entry_points",
    "send_to_self": "django_notify.pipeline.entry_points",
    "send_system": "django_notify.pipeline.entry_points",
    # delivery backends
    "BaseChannel": "django_notify.channels.base",
    # what callers catch
    "NotifyError": "django_notify.exceptions",
    "SendRefused": "django_notify.exceptions",
    "SenderRule": "django_notify.policy",
    "RateLimited": "django_notify.exceptions",
    "NotVisible": "django_notify.exceptions",
    "DeliveryError": "django_notify.exceptions",
    "RetryableDeliveryError": "django_notify.exceptions",
    "DeliveryCancelled": "django_notify.exceptions",
    "NotRegistered": "django_notify.registry",
    "AlreadyRegistered": "django_notify.registry",
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
