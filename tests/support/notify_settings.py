"""``DJANGO_NOTIFY`` for one test: the keys a test changes, merged into the dict in force.

Two forms, one merge:

- the ``notify_settings`` fixture (tests/conftest.py) for the rest of a test:
  ``notify_settings(CHANNELS={...})`` or ``notify_settings.update({...})``; calls add up,
  and the test's end restores what was there before;
- :func:`notify_override` where a block, a function or a class needs it:
  ``with notify_override(SITE_URL="")`` or ``@notify_override(RETENTION_DAYS={...})``.

Both go through ``override_settings``, so Django's ``setting_changed`` resets what the
package derives from the setting (the channel registry). The tenancy adapter's instance
is cached per dotted path, which a test may reuse with a patched class: that cache is
cleared on every change here too.

A test of the setting itself (the system checks, the defaults a site gets with an empty
dict) spells out the whole dict with ``override_settings``: there the dict *is* the input.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.signals import setting_changed
from django.test import override_settings

from django_notify import tenancy
from django_notify.conf import SETTING_NAME


def merged(**keys: Any) -> dict[str, Any]:
    """The ``DJANGO_NOTIFY`` in force with ``keys`` replacing its own."""
    return {**getattr(settings, SETTING_NAME, {}), **keys}


class notify_override(override_settings):  # noqa: N801 - used like override_settings
    """``override_settings(DJANGO_NOTIFY=merged(**keys))``, merged when it takes effect
    (so a class decorator merges into the dict in force when each test runs)."""

    def __init__(self, **keys: Any) -> None:
        self.keys = keys
        super().__init__()

    def enable(self) -> None:
        self.options = {SETTING_NAME: merged(**self.keys)}
        super().enable()

    def decorate_class(self, cls):
        # Django copies self.options into the class's settings at decoration time; the
        # class form therefore merges once, into the base dict.
        self.options = {SETTING_NAME: merged(**self.keys)}
        return super().decorate_class(cls)


class NotifySettings:
    """What the ``notify_settings`` fixture returns."""

    def __init__(self) -> None:
        self._stack: list[override_settings] = []

    def __call__(self, **keys: Any) -> dict[str, Any]:
        override = notify_override(**keys)
        override.enable()
        self._stack.append(override)
        return getattr(settings, SETTING_NAME)

    def update(self, keys: dict[str, Any]) -> dict[str, Any]:
        return self(**keys)

    def restore(self) -> None:
        while self._stack:
            self._stack.pop().disable()


def _clear_caches(*, setting: str, **kwargs: Any) -> None:
    if setting == SETTING_NAME:
        tenancy._load.cache_clear()


setting_changed.connect(_clear_caches, dispatch_uid="tests.support.notify_settings")
