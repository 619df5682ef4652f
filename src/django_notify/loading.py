"""Resolve the (swappable) notification model lazily, like ``get_user_model()``."""

from __future__ import annotations

from typing import Any

import swapper
from django.apps import apps
from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string

from .conf import NOTIFICATION_MODEL_SETTING
from .exceptions import NotifyConfigurationError


def notification_model_label() -> str:
    """``"app_label.ModelName"`` of the notification model in use."""
    return swapper.get_model_name("django_notify", "Notification")


def get_notification_model():
    """The active notification model class (the default or the host's swap)."""
    label = notification_model_label()
    try:
        return apps.get_model(label, require_ready=False)
    except ValueError as exc:
        raise ImproperlyConfigured(
            f"{NOTIFICATION_MODEL_SETTING} must be of the form 'app_label.ModelName', not {label!r}"
        ) from exc
    except LookupError as exc:
        raise ImproperlyConfigured(
            f"{NOTIFICATION_MODEL_SETTING} refers to model {label!r} that has not been installed"
        ) from exc


# The app config is where the layers meet: ready() hands it the write path and the
# channel registry, and the model layer reaches them through these two functions.


def entry_points():
    """The write path's entry points (``send``, ``send_to_self``, ``send_system``,
    ``notify``) as the app config holds them once Django is set up. The model layer
    reaches the write path through this (``Notification.send``) without importing it:
    the write path imports the models, not the other way round."""
    return apps.get_app_config("django_notify").entry_points


def configured_channels():
    """The channel registry, as the app config holds it once Django is set up. The
    model layer validates channel aliases and finds the email channels through it
    without importing the channels package, which sits above the models."""
    return apps.get_app_config("django_notify").channels


def load_class(value: Any, *, base: type, setting: str, base_name: str | None = None) -> type:
    """The class a setting names: ``value`` is a dotted path or the class itself, and must
    be a subclass of ``base``. ``NotifyConfigurationError`` naming ``setting`` otherwise.
    The one place a configured dotted path becomes a class."""
    if isinstance(value, str):
        try:
            value_class = import_string(value)
        except ImportError as exc:
            raise NotifyConfigurationError(
                f"{setting} = {value!r} cannot be imported: {exc}"
            ) from exc
    else:
        value_class = value
    if not (isinstance(value_class, type) and issubclass(value_class, base)):
        name = base_name or base.__name__
        raise NotifyConfigurationError(f"{setting} = {value!r} is not a {name} subclass")
    return value_class
