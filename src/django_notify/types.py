"""Vocabulary shared by the models and the public API: priorities, scopes, origins, and
notification types.

Notification types: what can happen, declared by host apps in ``notifications.py``.

```python
import django_notify

JOBS = django_notify.Category("jobs", "Job events", "Things that happen to jobs.")

@django_notify.register
class JobCreated(django_notify.NotificationType):
    key = "job.created"
    id = 1
    label = "Job Created"
    description = "A new job has been created"
    category = JOBS
    context = {"job": "The job that was created"}
```

Types are classes, registered once at start-up by the app registry's autodiscovery.
Keys are stored on rows as plain strings (never as field ``choices``), and validated
against the registry.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from django.core.exceptions import ValidationError
from django.db import models
from django.utils.translation import gettext_lazy as _

from .priority import Priority
from .rates import parse_rate
from .registry import AlreadyRegistered, Registry, describe
from .tenancy import Role


class Scope(models.TextChoices):
    """Who a row is addressed to. Team, organization and system rows are broadcasts:
    one row for the whole audience, with per-user state in receipts."""

    USER = "user", _("User")
    TEAM = "team", _("Team")
    ORGANIZATION = "organization", _("Organization")
    SYSTEM = "system", _("System")


BROADCAST_SCOPES = (Scope.TEAM, Scope.ORGANIZATION, Scope.SYSTEM)


class Origin(models.TextChoices):
    """Which rule set a row was sent under (the send API's organization and system rules)."""

    ORGANIZATION = "organization", _("Organization")
    SYSTEM = "system", _("System")


@dataclass(frozen=True)
class Category:
    """A group of types (a category): a stable key, a name, a description."""

    key: str
    name: str
    description: str = ""

    def __str__(self) -> str:
        return self.name


class NotificationType:
    """Subclass, set ``key`` (and what else applies), and decorate with ``@register``."""

    #: Stable string key stored on rows, e.g. ``"job.created"``.
    key: ClassVar[str]
    #: Optional stable numeric id (an enum value); unique when set.
    id: ClassVar[int | None] = None
    label: ClassVar[str] = ""
    description: ClassVar[str] = ""
    category: ClassVar[Category | None] = None
    #: Level code of the rows it creates (a key of ``DJANGO_NOTIFY["LEVELS"]``).
    level: ClassVar[str | None] = None
    default_priority: ClassVar[Priority] = Priority.NORMAL
    #: Channels this type can be delivered on, and the ones on by default.
    channels: ClassVar[tuple[str, ...]] = ("in_app", "email")
    default_channels: ClassVar[tuple[str, ...]] = ("in_app",)
    #: Channels users cannot switch off for this type (e.g. security alerts by email).
    required_channels: ClassVar[tuple[str, ...]] = ()
    #: How deliveries are batched unless a preference says otherwise: "immediate",
    #: "hourly", "daily" or "weekly".
    default_frequency: ClassVar[str] = "immediate"
    #: Context variables never sent to machine channels (webhooks, Slack, Teams).
    sensitive_context: ClassVar[tuple[str, ...]] = ()
    #: At most this many deliveries of the type per user and channel, e.g. "10/hour";
    #: overrides ``RATE_LIMITS["user_type"]``. None: the setting's value.
    rate_limit: ClassVar[str | None] = None
    #: Context variables the type needs: name → what it is (documented and validated).
    context: ClassVar[Mapping[str, str]] = {}
    #: Context variables it may use but does not need.
    optional_context: ClassVar[Mapping[str, str]] = {}
    #: ``str.format`` templates rendered with the context (``{actor}``, ``{target}`` too).
    title: ClassVar[str] = ""
    body: ClassVar[str] = ""
    #: Who may send this type as a person (``Notification.send*``, the API):
    #: ``ANYONE`` (the sender rules decide), ``STAFF``, ``SYSTEM`` (no person: only
    #: ``emit()`` and ``notify()``), a collection of roles and/or ``STAFF``, or a callable
    #: ``(sender, type) -> bool``. Rows without a sender are never checked.
    senders: ClassVar[Any] = "anyone"

    @classmethod
    def get_label(cls) -> str:
        return cls.label or cls.key

    @classmethod
    def validate_context(cls, context: Mapping[str, Any] | None) -> dict[str, Any]:
        """Return the context as a dict; raise ``ValidationError`` naming what is missing."""
        if context is not None and not isinstance(context, Mapping):
            raise ValidationError({"context": f"The context of {cls.key!r} must be a mapping."})
        context = dict(context or {})
        missing = sorted(name for name in cls.context if name not in context)
        if missing:
            raise ValidationError(
                {"context": f"{cls.key!r} needs context variable(s): {', '.join(missing)}."}
            )
        return context

    @classmethod
    def render(cls, template: str, context: Mapping[str, Any]) -> str:
        try:
            return template.format_map(dict(context))
        except (KeyError, IndexError, ValueError, AttributeError) as exc:
            raise ValidationError(
                {"context": f"Rendering {cls.key!r} failed: {type(exc).__name__}: {exc}"}
            ) from None

    @classmethod
    def default_audience(cls, event) -> Any:
        """Users notified besides subscribers and rules (``None``: nobody extra)."""
        return None


#: Values of ``NotificationType.senders``.
ANYONE = "anyone"
STAFF = "staff"
SYSTEM = "system"


def _check_senders(obj: type[NotificationType]) -> None:
    senders = obj.senders
    if senders in (ANYONE, STAFF, SYSTEM) or callable(senders):
        return
    items = list(senders) if isinstance(senders, list | tuple | set | frozenset) else None
    allowed = {STAFF, *Role.values}
    if not items or any(str(item) not in allowed for item in items):
        raise ValueError(
            f"{describe(obj)}.senders must be 'anyone', 'staff', 'system', a callable, or a "
            f"non-empty collection of roles ({', '.join(Role.values)}) and 'staff'; "
            f"got {senders!r}"
        )


def _category(obj: type[NotificationType], known: Mapping[str, Category]) -> Category | None:
    """``category`` as a :class:`Category`: a string is a category key (the category
    another type declared with that key, or a new one named by it)."""
    category = obj.category
    if category is None or isinstance(category, Category):
        return category
    if isinstance(category, str) and category.strip():
        return known.get(category) or Category(key=category, name=category)
    raise TypeError(
        f"{describe(obj)}.category must be a django_notify.Category or a category key "
        f"(a non-empty string), got {category!r}"
    )


class TypeRegistry(Registry[type[NotificationType]]):
    """Types by key; also refuses a numeric id used twice, naming both classes."""

    def __init__(self):
        super().__init__("notification type", key_attr="key")

    def validate(self, key: str, obj: type[NotificationType]) -> None:
        if not (isinstance(obj, type) and issubclass(obj, NotificationType)):
            raise TypeError(f"{describe(obj)} must subclass django_notify.NotificationType")
        if obj.id is not None:
            if not isinstance(obj.id, int) or isinstance(obj.id, bool):
                raise TypeError(f"{describe(obj)}.id must be an int, got {obj.id!r}")
            for other_key, other in self._items.items():
                if other.id == obj.id and other_key != key:
                    raise AlreadyRegistered(
                        f"notification type id {obj.id} is used twice: by {describe(other)} "
                        f"({other_key!r}) and by {describe(obj)} ({key!r})"
                    )
        for name in ("default_channels", "required_channels"):
            extra = set(getattr(obj, name)) - set(obj.channels)
            if extra:
                raise ValueError(f"{describe(obj)}.{name} {sorted(extra)} are not in its channels")
        if obj.default_frequency not in ("immediate", "hourly", "daily", "weekly"):
            raise ValueError(
                f"{describe(obj)}.default_frequency must be immediate, hourly, daily or weekly, "
                f"not {obj.default_frequency!r}"
            )
        _check_senders(obj)
        known = {t.category.key: t.category for t in self if isinstance(t.category, Category)}
        obj.category = _category(obj, known)
        if obj.rate_limit is not None:
            try:
                parse_rate(obj.rate_limit)
            except ValueError as exc:
                raise ValueError(f"{describe(obj)}.rate_limit: {exc}") from None

    def by_id(self, type_id: int) -> type[NotificationType]:
        for obj in self:
            if obj.id == type_id:
                return obj
        return self.get(f"#{type_id}")  # raises NotRegistered with the known keys

    def of(self, notification: Any) -> type[NotificationType] | None:
        """The registered type of a notification row, or ``None`` (untyped, or a key
        no longer registered)."""
        key = notification.notification_type
        return self.get(key) if key and key in self else None

    def categories(self) -> list[Category]:
        found = {t.category.key: t.category for t in self if t.category is not None}
        return [found[k] for k in sorted(found)]


#: Every registered notification type.
notification_types = TypeRegistry()
#: ``@django_notify.register`` on a NotificationType subclass.
register = notification_types.register


def validate_type_key(value: str | None) -> None:
    """Field validator: a stored type key must be registered."""
    if value and value not in notification_types:
        known = ", ".join(notification_types.keys()) or "none registered"
        raise ValidationError(
            f"{value!r} is not a registered notification type ({known}).",
            code="unknown_type",
        )
