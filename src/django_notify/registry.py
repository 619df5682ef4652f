"""The one registry behind notification types, rule criteria and (later) channels.

Keyed by a stable string. ``register`` works as a call, a bare decorator or a decorator
with a key; errors are real exceptions, never asserts.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, Generic, TypeVar

T = TypeVar("T")


class AlreadyRegistered(Exception):
    """A key is registered twice. The message names both definitions."""


class NotRegistered(LookupError):
    """A key that nothing registered."""


def describe(obj: Any) -> str:
    """``module.QualName`` of a class or function, for error messages."""
    module = getattr(obj, "__module__", None) or type(obj).__module__
    name = getattr(obj, "__qualname__", None) or type(obj).__qualname__
    return f"{module}.{name}"


class Registry(Generic[T]):
    """A named mapping of keys to registered objects.

    ``key_attr`` is the attribute read when ``register`` is given no key (``"key"``
    for notification types); without one, the object's ``__name__`` is used.
    """

    def __init__(self, kind: str, *, key_attr: str | None = None):
        self.kind = kind
        self.key_attr = key_attr
        self._items: dict[str, T] = {}

    # --- registering --------------------------------------------------------------
    def register(self, obj: T | str | None = None, *, key: str | None = None) -> Any:
        """``registry.register(obj)``, ``@registry.register`` or ``@registry.register("k")``."""
        if isinstance(obj, str):
            key, obj = obj, None
        if obj is None:

            def decorator(target: T) -> T:
                self._add(target, key)
                return target

            return decorator
        self._add(obj, key)
        return obj

    def _key_of(self, obj: T, key: str | None) -> str:
        if key is None and self.key_attr:
            key = getattr(obj, self.key_attr, None)
        if key is None:
            key = getattr(obj, "__name__", None)
        if not isinstance(key, str) or not key.strip():
            raise ValueError(f"{describe(obj)} needs a non-empty string key to be a {self.kind}")
        return key

    def _add(self, obj: T, key: str | None) -> None:
        key = self._key_of(obj, key)
        existing = self._items.get(key)
        if existing is not None and existing is not obj:
            if describe(existing) != describe(obj):
                raise AlreadyRegistered(
                    f"{self.kind} {key!r} is defined twice: by {describe(existing)} and by "
                    f"{describe(obj)}"
                )
        self.validate(key, obj)
        self._items[key] = obj

    def validate(self, key: str, obj: T) -> None:
        """Hook for subclasses: raise to refuse a registration."""

    def unregister(self, key_or_obj: str | T) -> None:
        key = key_or_obj if isinstance(key_or_obj, str) else self._key_of(key_or_obj, None)
        if key not in self._items:
            raise NotRegistered(f"no {self.kind} is registered as {key!r}")
        del self._items[key]

    # --- reading -------------------------------------------------------------------
    def get(self, key: str) -> T:
        try:
            return self._items[key]
        except KeyError:
            known = ", ".join(sorted(self._items)) or "none"
            raise NotRegistered(
                f"no {self.kind} is registered as {key!r} (registered: {known})"
            ) from None

    def __contains__(self, key: object) -> bool:
        return key in self._items

    def __iter__(self) -> Iterator[T]:
        return iter(list(self._items.values()))

    def __len__(self) -> int:
        return len(self._items)

    def keys(self) -> list[str]:
        return sorted(self._items)

    def items(self) -> list[tuple[str, T]]:
        return sorted(self._items.items())

    def choices(self, label: Callable[[T], str] | None = None) -> list[tuple[str, str]]:
        """``(key, label)`` pairs for forms (never for model field ``choices``)."""
        return [(k, label(v) if label else k) for k, v in self.items()]
