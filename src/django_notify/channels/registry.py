"""Which channels exist: ``DJANGO_NOTIFY["CHANNELS"]`` plus what host code registers.

``channels.register("sms", SmsChannel, options={...})`` adds one at run time; an alias
that ``DJANGO_NOTIFY["CHANNELS"]`` also names takes the setting's configuration (the
project's settings have the last word). Instances are built lazily, one per alias and
configuration, opened once (:meth:`BaseChannel.open`), and closed and rebuilt when
``override_settings`` changes the setting.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from django.core.signals import setting_changed

from ..conf import SETTING_NAME, app_settings
from ..exceptions import NotifyConfigurationError
from ..loading import load_class
from ..registry import AlreadyRegistered, NotRegistered, Registry, describe
from .base import BaseChannel

BUILTIN_CHANNELS: dict[str, dict[str, Any]] = {
    "in_app": {"BACKEND": "django_notify.channels.in_app.InAppChannel"},
    "email": {"BACKEND": "django_notify.channels.email.EmailChannel"},
}

#: Short backend names accepted in ``BACKEND`` besides dotted paths.
BACKENDS = {
    "in_app": "django_notify.channels.in_app.InAppChannel",
    "email": "django_notify.channels.email.EmailChannel",
    "webhook": "django_notify.channels.webhook.WebhookChannel",
    "slack": "django_notify.channels.slack.SlackChannel",
    "teams": "django_notify.channels.teams.TeamsChannel",
    "console": "django_notify.channels.console.ConsoleChannel",
    "locmem": "django_notify.channels.locmem.LocmemChannel",
}


@dataclass(frozen=True)
class ChannelSpec:
    alias: str
    backend: type[BaseChannel]
    options: Mapping[str, Any] = field(default_factory=dict)

    def build(self) -> BaseChannel:
        return self.backend(self.alias, **dict(self.options))


def load_backend(alias: str, backend: Any) -> type[BaseChannel]:
    """A ``BACKEND`` value (class, short name or dotted path) → the channel class."""
    where = f'{SETTING_NAME}["CHANNELS"][{alias!r}]["BACKEND"]'
    if isinstance(backend, str):
        backend = BACKENDS.get(backend, backend)
    return load_class(
        backend, base=BaseChannel, setting=where, base_name="django_notify.channels.BaseChannel"
    )


def spec_from_setting(alias: str, config: Any) -> ChannelSpec:
    where = f'{SETTING_NAME}["CHANNELS"][{alias!r}]'
    if not isinstance(config, Mapping):
        raise NotifyConfigurationError(f"{where} must be a dict with BACKEND (and OPTIONS)")
    unknown = sorted(set(config) - {"BACKEND", "OPTIONS"})
    if unknown:
        raise NotifyConfigurationError(f"{where} has unknown key(s) {', '.join(unknown)}")
    if "BACKEND" not in config:
        raise NotifyConfigurationError(f"{where} needs a BACKEND")
    options = config.get("OPTIONS") or {}
    if not isinstance(options, Mapping):
        raise NotifyConfigurationError(f'{where}["OPTIONS"] must be a dict')
    return ChannelSpec(alias, load_backend(alias, config["BACKEND"]), dict(options))


class ChannelRegistry(Registry[ChannelSpec]):
    """Channel specs by alias: the settings' ones merged over the runtime ones."""

    def __init__(self):
        super().__init__("channel")
        self._instances: dict[str, tuple[ChannelSpec, BaseChannel]] = {}
        self._lock = threading.Lock()

    def register(self, alias: Any = None, backend: Any = None, *, options=None, key=None):
        """``channels.register("sms", SmsChannel, options={...})``, or as a class
        decorator: ``@channels.register("sms")``."""
        if isinstance(alias, str) and backend is None:

            def decorator(cls):
                self.register(alias, cls, options=options)
                return cls

            return decorator
        if not isinstance(alias, str):
            raise TypeError("channels.register() needs the alias first: register('sms', Cls)")
        if alias in BUILTIN_CHANNELS or alias in app_settings.CHANNELS:
            raise AlreadyRegistered(
                f"channel {alias!r} is configured in DJANGO_NOTIFY['CHANNELS'] (or built in); "
                "change it there, or register under another alias"
            )
        spec = ChannelSpec(alias, load_backend(alias, backend), dict(options or {}))
        existing = self._items.get(alias)
        if existing is not None and existing != spec:
            raise AlreadyRegistered(
                f"channel {alias!r} is registered twice: as {describe(existing.backend)} and as "
                f"{describe(spec.backend)}"
            )
        spec.build()  # refuse bad options now, naming the alias
        return super().register(spec, key=alias)

    def _configured(self) -> dict[str, ChannelSpec]:
        specs = dict(self._items)
        configured = {**BUILTIN_CHANNELS, **app_settings.CHANNELS}
        for alias, config in configured.items():
            if config is None:  # {"email": None} switches a default channel off
                specs.pop(alias, None)
                continue
            specs[alias] = spec_from_setting(alias, config)
        return specs

    def get(self, key: str) -> ChannelSpec:  # type: ignore[override]
        specs = self._configured()
        try:
            return specs[key]
        except KeyError:
            known = ", ".join(sorted(specs)) or "none"
            raise NotRegistered(
                f"no channel is configured as {key!r} (configured: {known})"
            ) from None

    def __contains__(self, key: object) -> bool:
        try:
            return key in self._configured()
        except NotifyConfigurationError:
            return False

    def keys(self) -> list[str]:
        return sorted(self._configured())

    def items(self) -> list[tuple[str, ChannelSpec]]:
        return sorted(self._configured().items())

    def __iter__(self):
        return iter([spec for _, spec in self.items()])

    def row_channels(self) -> list[str]:
        """The aliases whose channel delivers by the notification row itself (in-app).
        The feed's rows are written whatever the configuration: with no such channel
        configured, ``["in_app"]`` stands for them."""
        return self.aliases_with("delivers_by_row") or ["in_app"]

    def aliases_with(self, capability: str) -> list[str]:
        """Aliases whose channel class has ``capability`` (a ``BaseChannel`` flag such
        as ``"sends_email"``) set."""
        return [alias for alias, spec in self.items() if getattr(spec.backend, capability, False)]

    def __len__(self) -> int:
        return len(self._configured())

    def unregister(self, key_or_obj: Any) -> None:
        alias = key_or_obj if isinstance(key_or_obj, str) else key_or_obj.alias
        super().unregister(alias)
        self.reset(alias)

    # --- instances ---------------------------------------------------------------------
    def instance(self, alias: str) -> BaseChannel:
        """The channel object for ``alias``, built once per configuration."""
        spec = self.get(alias)
        with self._lock:
            cached = self._instances.get(alias)
            if cached is not None and cached[0] == spec:
                return cached[1]
            channel = spec.build()
            channel.open()
            if cached is not None:
                cached[1].close()
            self._instances[alias] = (spec, channel)
            return channel

    def reset(self, alias: str | None = None) -> None:
        """Close and forget built instances (all, or one alias)."""
        with self._lock:
            for name in [alias] if alias else list(self._instances):
                cached = self._instances.pop(name, None)
                if cached is not None:
                    cached[1].close()


#: Every configured channel.
channels = ChannelRegistry()


def get_channel(alias: str) -> BaseChannel:
    """The channel instance configured as ``alias``; ``NotRegistered`` if none is."""
    return channels.instance(alias)


def _settings_changed(setting: str, **kwargs: Any) -> None:
    if setting == SETTING_NAME:
        channels.reset()


setting_changed.connect(_settings_changed, dispatch_uid="django_notify.channels.reset")
