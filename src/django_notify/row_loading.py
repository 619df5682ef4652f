"""Model instances built from database rows without ``Model.__init__``, where that is
what ``__init__`` would do anyway.

``Model.from_db`` calls ``__init__``, which sets each value through the field's class
attribute. For a model whose ``__init__`` is Django's (or one that only wraps it, like
the targeting tracker), whose class attributes are Django's plain field descriptors and
with no ``pre_init``/``post_init`` listener, that amounts to filling ``__dict__``, which
is what :func:`build_row` does: a feed page builds 20 rows and up to 60 users, and
``__init__`` was most of their Python time. Anything else takes Django's own path.
"""

from __future__ import annotations

import inspect
from typing import Any

from django.db.models import Model
from django.db.models.base import ModelState
from django.db.models.query_utils import DeferredAttribute
from django.db.models.signals import post_init, pre_init

_PLAIN_DESCRIPTORS = (DeferredAttribute,)  # ForeignKeyDeferredAttribute is a subclass
_ATTNAMES: dict[tuple[type, Any], list[str] | None] = {}


def _plain_descriptor(descriptor) -> bool:
    if descriptor is None:
        return True
    if getattr(descriptor, "delegates_loaded_fields", False):
        # The targeting tracker's wrapper: a loaded field goes straight to the field's
        # own descriptor (see django_notify.models.tracking).
        descriptor = descriptor.descriptor
    return isinstance(descriptor, _PLAIN_DESCRIPTORS)


def plain_attnames(cls: type[Model], init: Any = None) -> list[str] | None:
    """The concrete attnames of ``cls`` if its rows can be built by :func:`build_row`:
    its ``__init__`` is ``init`` (default: Django's own) and every field's class
    attribute is a plain descriptor. ``None`` otherwise."""
    init = Model.__init__ if init is None else init
    key = (cls, init)
    if key not in _ATTNAMES:
        attnames = [f.attname for f in cls._meta.concrete_fields]
        plain = cls.__init__ is init and all(
            _plain_descriptor(inspect.getattr_static(cls, a, None)) for a in attnames
        )
        _ATTNAMES[key] = attnames if plain else None
    return _ATTNAMES[key]


def build_row(cls: type[Model], attnames: list[str], values, db: str, fetch_mode=None):
    """A row read from ``db`` whose values (one per attname, every concrete field) fill
    the instance; ``None`` when a ``pre_init``/``post_init`` listener must see it built
    by ``__init__``."""
    if len(values) != len(attnames):
        return None
    if pre_init.has_listeners(cls) or post_init.has_listeners(cls):
        return None
    row = cls.__new__(cls)
    row.__dict__.update(zip(attnames, values, strict=True))
    state = row._state = ModelState()
    state.adding = False
    state.db = db
    if fetch_mode is not None:
        state.fetch_mode = fetch_mode
    return row


def _from_db_attnames(cls: type[Model]) -> list[str] | None:
    """:func:`plain_attnames` for a model whose ``from_db`` is Django's too; ``None``
    otherwise. Decided once per model: it runs for every user of every page."""
    key = (cls, "from_db")
    if key not in _ATTNAMES:
        own = getattr(cls.from_db, "__func__", None) is Model.from_db.__func__
        _ATTNAMES[key] = plain_attnames(cls) if own else None
    return _ATTNAMES[key]


def from_db(cls: type[Model], db: str, attnames: list[str], values):
    """``cls.from_db(db, attnames, values)`` for a row with every concrete field, built
    by :func:`build_row` when the model allows it (and does not define its own
    ``from_db``)."""
    if _from_db_attnames(cls) == attnames:
        row = build_row(cls, attnames, values, db)
        if row is not None:
            return row
    return cls.from_db(db, attnames, values)
