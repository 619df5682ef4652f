"""Model signals → events, declared in one call each.

```python
# announcements/notifications.py (autodiscovered, like the types declared beside it)
from django_notify import hooks

from .models import Announcement

hooks.on_create(
    Announcement,
    "announcement.published",
    actor=lambda announcement: announcement.author,
    context=lambda announcement: {"announcement": announcement.title},
)
```

Each hook connects ordinary model-signal receivers (``weak=False`` and a stable
``dispatch_uid``) that call :func:`~django_notify.pipeline.events.emit`, so a hook's event is
written in the save's transaction and goes through the one audience → notification path.
Arguments are checked when the hook is connected: an unknown type key raises
``NotRegistered``, a field that ``on_change()`` cannot watch raises ``FieldError``.

``context``, ``recipients``, ``actor``, ``target`` and ``idempotency_key`` are each either
a callable taking the instance or a constant; ``when(instance)`` returning false vetoes
the event.
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Callable, Mapping
from typing import Any

from django.apps import apps
from django.contrib.auth import get_user_model
from django.core.exceptions import FieldDoesNotExist, FieldError, ValidationError
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.db.models import signals

from .pipeline.events import emit
from .registry import AlreadyRegistered
from .types import notification_types

__all__ = ["Hook", "connected", "on_change", "on_create", "on_delete"]


class _Marker:
    """A sentinel that stays itself when pickled or copied (instances carry one)."""

    def __init__(self, name: str):
        self.name = name

    def __repr__(self) -> str:
        return self.name

    def __reduce__(self) -> str:
        return self.name  # the module global of that name


#: Default ``target``: the saved instance itself.
_INSTANCE = _Marker("_INSTANCE")
#: Default ``idempotency_key``: derived by the hook (see each ``on_*`` function).
_DERIVED = _Marker("_DERIVED")
#: A watched field's loaded value is not known (deferred at load, or loaded before the
#: hook was connected); the pre_save receiver reads it then.
_UNKNOWN = _Marker("_UNKNOWN")
#: ``instance.__dict__`` key holding each on_change hook's last loaded or saved value.
_STATE = "_notify_initial"
_KEY_MAX = 200  # Event.idempotency_key's max_length

#: Connected hooks by dispatch_uid.
_hooks: dict[str, Hook] = {}


def connected() -> list[Hook]:
    """The hooks connected now, in connection order."""
    return list(_hooks.values())


class Hook:
    """One connected hook: what it watches, what it emits, and its receivers.

    Made by :func:`on_create`, :func:`on_change` and :func:`on_delete`, which check their
    arguments here: an unknown type key raises ``NotRegistered`` now, not at the first save.
    """

    def __init__(
        self,
        kind: str,
        model: type[models.Model] | str,
        type_key: str,
        *,
        field: str | None = None,
        dispatch_uid: str | None = None,
        context: Any = None,
        recipients: Any = None,
        actor: Any = None,
        target: Any = None,
        when: Callable[[Any], bool] | None = None,
        idempotency_key: Any = None,
    ):
        self.model = _model(model)
        notification_types.get(type_key)
        if when is not None and not callable(when):
            raise TypeError(f"when= must be a callable taking the instance, got {when!r}")
        if dispatch_uid is None:
            watched = f"{field}:" if field else ""
            label = self.model._meta.label
            dispatch_uid = f"django_notify.hooks:{kind}:{label}:{watched}{type_key}"
        self.kind = kind
        self.type_key = type_key
        self.field = field
        self.dispatch_uid = dispatch_uid
        self.context = context
        self.recipients = recipients
        self.actor = actor
        self.target = target
        self.when = when
        self.idempotency_key = idempotency_key
        self._signals: list[signals.ModelSignal] = []

    def __repr__(self) -> str:
        field = f".{self.field}" if self.field else ""
        return f"<Hook {self.kind} {self.model._meta.label}{field} → {self.type_key!r}>"

    @property
    def connected(self) -> bool:
        return _hooks.get(self.dispatch_uid) is self

    def disconnect(self) -> bool:
        """Remove the receivers. Returns False if the hook was not connected."""
        if not self.connected:
            return False
        for signal in self._signals:
            signal.disconnect(sender=self.model, dispatch_uid=self.dispatch_uid)
        del _hooks[self.dispatch_uid]
        return True

    def _connect(self, receivers: Mapping[signals.ModelSignal, Callable[..., None]]) -> Hook:
        existing = _hooks.get(self.dispatch_uid)
        if existing is not None:
            raise AlreadyRegistered(
                f"{existing!r} is already connected as {self.dispatch_uid!r}: disconnect() it "
                "first, or pass a different dispatch_uid= to connect a second hook"
            )
        for signal, receiver in receivers.items():
            signal.connect(receiver, sender=self.model, weak=False, dispatch_uid=self.dispatch_uid)
            self._signals.append(signal)
        _hooks[self.dispatch_uid] = self
        return self

    def _wanted(self, instance: models.Model) -> bool:
        return self.when is None or bool(self.when(instance))

    def _emit(self, instance: models.Model, base_context: Mapping[str, Any], derived_key=None):
        extra = _value(self.context, instance)
        if extra is None:
            extra = {}
        elif not isinstance(extra, Mapping):
            raise ValidationError(
                {"context": f"The context of {self!r} must be a mapping, got {extra!r}."}
            )
        target = _value(self.target, instance)
        key = self.idempotency_key
        return emit(
            self.type_key,
            target=instance if target is _INSTANCE else target,
            actor=_value(self.actor, instance),
            context={**base_context, **extra},
            recipients=_recipients(self, _value(self.recipients, instance)),
            idempotency_key=derived_key if key is _DERIVED else _value(key, instance),
        )


def _value(option: Any, instance: models.Model) -> Any:
    return option(instance) if callable(option) else option


def _recipients(hook: Hook, recipients: Any) -> Any:
    """A user queryset becomes a pk queryset, so its users are never loaded."""
    if isinstance(recipients, models.QuerySet):
        user_model = get_user_model()
        if not issubclass(recipients.model, user_model):
            raise TypeError(
                f"recipients of {hook!r} is a queryset of {recipients.model._meta.label}; "
                f"return users ({user_model._meta.label}) or user ids"
            )
        return recipients.values_list("pk", flat=True)
    return recipients


def _model(model: Any) -> type[models.Model]:
    if isinstance(model, str):
        model = apps.get_model(model)
    if not (isinstance(model, type) and issubclass(model, models.Model)):
        raise TypeError(f"hooks take a model class or an 'app_label.Model' label, got {model!r}")
    if model._meta.abstract:
        raise TypeError(
            f"{model.__qualname__} is abstract and sends no signals: connect the hook to "
            "each concrete model"
        )
    return model


def _key(*parts: Any) -> str:
    key = ":".join(str(p) for p in parts)
    if len(key) > _KEY_MAX:
        key = "hooks:sha256:" + hashlib.sha256(key.encode()).hexdigest()
    return key


def on_create(
    model: type[models.Model] | str,
    type_key: str,
    *,
    context: Any = None,
    recipients: Any = None,
    actor: Any = None,
    target: Any = _INSTANCE,
    when: Callable[[Any], bool] | None = None,
    idempotency_key: Any = _DERIVED,
    dispatch_uid: str | None = None,
) -> Hook:
    """Emit ``type_key`` when an instance of ``model`` is created (``post_save`` with
    ``created=True``; fixture loading, ``raw=True``, is skipped).

    ``target`` defaults to the new instance. The idempotency key defaults to
    ``"<type_key>:<app_label.model>:<pk>:created"``, so one row's creation is one event
    (pass ``idempotency_key=None`` for models whose primary keys are reused).
    """
    hook = Hook("create", model, type_key, dispatch_uid=dispatch_uid, context=context,
                recipients=recipients, actor=actor, target=target, when=when,
                idempotency_key=idempotency_key)  # fmt: skip
    label = hook.model._meta.label_lower

    def created(sender, instance, created=False, raw=False, **kwargs):
        if created and not raw and hook._wanted(instance):
            hook._emit(instance, {}, _key(type_key, label, instance.pk, "created"))

    return hook._connect({signals.post_save: created})


def on_change(
    model: type[models.Model] | str,
    field: str,
    type_key: str,
    *,
    context: Any = None,
    recipients: Any = None,
    actor: Any = None,
    target: Any = _INSTANCE,
    when: Callable[[Any], bool] | None = None,
    idempotency_key: Any = None,
    dispatch_uid: str | None = None,
) -> Hook:
    """Emit ``type_key`` when a save changes ``field`` (never on create).

    The context gets ``old_<field>`` and ``new_<field>``, the same values as ``old_value``
    and ``new_value``, and for a field with ``choices`` their labels as
    ``old_<field>_display`` and ``new_<field>_display``; keys returned by ``context`` win
    over them. A foreign key compares and reports ids. The old value is the one loaded from the
    database or last saved through this instance: read from the model's django-model-utils
    ``FieldTracker`` when one tracks ``field``, otherwise remembered by a ``post_init``
    receiver — no query per save (one only when ``field`` was deferred at load). A save
    whose ``update_fields`` leaves ``field`` out is not a change. No idempotency key by
    default: every change is an event.
    """
    hook = Hook("change", model, type_key, field=field, dispatch_uid=dispatch_uid,
                context=context, recipients=recipients, actor=actor, target=target, when=when,
                idempotency_key=idempotency_key)  # fmt: skip
    watched = _concrete_field(hook.model, field)
    uid, attname = hook.dispatch_uid, watched.attname

    labels = dict(watched.flatchoices) if watched.choices else None

    def change_context(old: Any, new: Any) -> dict[str, Any]:
        context = {f"old_{field}": _plain(old), f"new_{field}": _plain(new)}
        if labels is not None:
            context[f"old_{field}_display"] = _label(labels, old)
            context[f"new_{field}_display"] = _label(labels, new)
        return {
            **context,
            "old_value": context[f"old_{field}"],
            "new_value": context[f"new_{field}"],
        }

    def saves_field(update_fields) -> bool:
        return update_fields is None or watched.name in update_fields or attname in update_fields

    tracker = _field_tracker(hook.model, watched)
    if tracker is not None:
        tracked = watched.name if watched.name in tracker.fields else attname

        def tracked_save(sender, instance, created=False, raw=False, update_fields=None, **kw):
            if created or raw or not saves_field(update_fields):
                return
            instance_tracker = getattr(instance, tracker.name)
            if instance_tracker.has_changed(tracked) and hook._wanted(instance):
                old = instance_tracker.previous(tracked)
                hook._emit(instance, change_context(old, getattr(instance, attname)))

        return hook._connect({signals.post_save: tracked_save})

    def loaded(sender, instance, **kwargs):
        value = instance.__dict__.get(attname, _UNKNOWN)
        instance.__dict__.setdefault(_STATE, {})[uid] = _snapshot(value)

    def saving(sender, instance, raw=False, update_fields=None, using=None, **kwargs):
        state = instance.__dict__.setdefault(_STATE, {})
        if (
            state.get(uid, _UNKNOWN) is _UNKNOWN
            and not raw
            and not instance._state.adding
            and attname in instance.__dict__
            and saves_field(update_fields)
        ):
            rows = sender._base_manager.using(using).filter(pk=instance.pk)
            for old in rows.values_list(attname, flat=True)[:1]:
                state[uid] = old

    def saved(sender, instance, created=False, raw=False, update_fields=None, **kwargs):
        if not saves_field(update_fields):
            return
        state = instance.__dict__.setdefault(_STATE, {})
        old, new = state.get(uid, _UNKNOWN), getattr(instance, attname)
        if not (created or raw or old is _UNKNOWN or old == new) and hook._wanted(instance):
            hook._emit(instance, change_context(old, new))
        # Only once the event is written: a failed emit leaves the change to be retried.
        state[uid] = _snapshot(new)

    return hook._connect(
        {signals.post_init: loaded, signals.pre_save: saving, signals.post_save: saved}
    )


def on_delete(
    model: type[models.Model] | str,
    type_key: str,
    *,
    context: Any = None,
    recipients: Any = None,
    actor: Any = None,
    target: Any = None,
    when: Callable[[Any], bool] | None = None,
    idempotency_key: Any = None,
    dispatch_uid: str | None = None,
) -> Hook:
    """Emit ``type_key`` when an instance of ``model`` is deleted (``post_delete``).

    The row is gone by the time the event is processed, so there is no default target
    (pass one that outlives it, e.g. ``target=lambda phase: phase.job``); the context gets
    ``object`` (the instance's text) and ``object_pk``. Subscriptions scoped to the
    deleted object are therefore not consulted. ``QuerySet.delete()`` sends the signal
    for every row; ``QuerySet.update()`` and ``bulk_*`` send none.
    """
    hook = Hook("delete", model, type_key, dispatch_uid=dispatch_uid, context=context,
                recipients=recipients, actor=actor, target=target, when=when,
                idempotency_key=idempotency_key)  # fmt: skip

    def deleted(sender, instance, origin=None, **kwargs):
        if hook._wanted(instance):
            hook._emit(instance, {"object": str(instance), "object_pk": _plain(instance.pk)})

    return hook._connect({signals.post_delete: deleted})


def _concrete_field(model: type[models.Model], name: str) -> models.Field:
    label = model._meta.label
    concrete = ", ".join(f.name for f in model._meta.concrete_fields)
    try:
        field = model._meta.get_field(name)
    except FieldDoesNotExist:
        raise FieldError(
            f"{label} has no field {name!r}; on_change() watches one of its concrete fields: "
            f"{concrete}"
        ) from None
    if field.many_to_many:
        raise FieldError(
            f"{label}.{name} is a many-to-many field: its changes do not go through save(), "
            "so on_change() cannot see them (connect m2m_changed and call emit())"
        )
    if not getattr(field, "concrete", False):
        raise FieldError(
            f"{label}.{name} is not a concrete field; on_change() watches one of: {concrete}"
        )
    return field


def _field_tracker(model: type[models.Model], field: models.Field) -> Any:
    """The model's django-model-utils ``FieldTracker`` that tracks ``field``, if any."""
    try:
        from model_utils.tracker import FieldTracker
    except ImportError:  # optional: without it, on_change() remembers values itself
        return None
    for klass in model.__mro__:
        for value in vars(klass).values():
            if isinstance(value, FieldTracker) and (
                field.name in value.fields or field.attname in value.fields
            ):
                return value
    return None


def _snapshot(value: Any) -> Any:
    """A copy of a mutable value (a JSONField's dict), so changing it in place is seen."""
    if isinstance(value, dict | list | set):
        return copy.deepcopy(value)
    return value


def _label(labels: Mapping[Any, Any], value: Any) -> str:
    """A choice's label (the value itself when it is not one of the choices)."""
    try:
        label = labels.get(value, value)
    except TypeError:  # an unhashable value
        label = value
    return "" if label is None else str(label)


def _plain(value: Any) -> Any:
    """The value as the event's JSON context can hold it (its text otherwise)."""
    try:
        json.dumps(value, cls=DjangoJSONEncoder)
    except (TypeError, ValueError):
        return str(value)
    return value
