"""Checks every entry point shares: integers read from text, and caller-given JSON.

- :func:`ascii_int` reads an integer from a query string, a header, a cursor or a team
  key. ``int()`` and ``str.isdigit()`` accept more than ASCII digits: ``int("١٠")`` is
  10 and ``"¹".isdigit()`` is True while ``int("¹")`` raises, so a request could be
  read as another number than the one it shows, or fail after a check said it would
  not. Only ``[+-]?[0-9]+`` is read here.
- :func:`non_finite_path` finds NaN and ±Infinity in a JSON-like value (Python's json
  reads ``NaN``, ``Infinity`` and ``1e400`` into floats that no JSON column stores).
- :func:`check_meta_data` is what every write path applies to a caller's
  ``meta_data``: finite numbers, and at most ``MAX_META_DATA_BYTES`` as compact JSON.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from typing import Any

from django.core.exceptions import ValidationError
from django.core.serializers.json import DjangoJSONEncoder

from .conf import app_settings

#: The largest primary key a 64-bit integer column holds; beyond it a lookup fails in
#: the database driver (SQLite: OverflowError) instead of finding nothing.
MAX_ID = 2**63 - 1

_SIGNED = re.compile(r"[+-]?[0-9]+", re.ASCII)
_UNSIGNED = re.compile(r"[0-9]+", re.ASCII)


def ascii_int(
    text: Any,
    *,
    signed: bool = True,
    max_digits: int = 20,
    min_value: int | None = None,
    max_value: int | None = None,
) -> int | None:
    """``text`` as an int when it is ASCII digits (with a sign if ``signed``), at most
    ``max_digits`` of them and within the bounds; ``None`` otherwise. An ``int`` (not a
    bool) is taken as it is, bounds applied."""
    if isinstance(text, int) and not isinstance(text, bool):
        number = text
    elif isinstance(text, str):
        match = (_SIGNED if signed else _UNSIGNED).fullmatch(text)
        if match is None or len(text.lstrip("+-")) > max_digits:
            return None
        number = int(text)
    else:
        return None
    if min_value is not None and number < min_value:
        return None
    if max_value is not None and number > max_value:
        return None
    return number


def _key(path: str, key: Any) -> str:
    return f"{path}.{key}" if path else str(key)


def non_finite_path(value: Any, path: str = "") -> str | None:
    """The path (``meta_data.a``, ``ids[2]``; ``path`` itself, ``""`` by default, when
    ``value`` is such a number) of the first NaN or infinite number in ``value`` (dicts,
    lists and tuples are searched), or ``None`` if it has none.
    Iterative: a deeply nested value does not exhaust the Python stack."""
    stack: list[tuple[Any, str]] = [(value, path)]
    while stack:
        node, where = stack.pop()
        if isinstance(node, float):
            if not math.isfinite(node):
                return where
        elif isinstance(node, Mapping):
            stack.extend((item, _key(where, key)) for key, item in list(node.items())[::-1])
        elif isinstance(node, list | tuple):
            stack.extend((item, f"{where}[{i}]") for i, item in list(enumerate(node))[::-1])
    return None


#: The message for a field that holds a NaN or infinite number.
NOT_FINITE = "Must be a finite number (JSON has no NaN or Infinity)."


def json_size(value: Any) -> int:
    """Bytes of ``value`` as compact JSON (UTF-8, as stored). Raises ``TypeError`` or
    ``ValueError`` for a value JSON cannot hold."""
    text = json.dumps(
        value, cls=DjangoJSONEncoder, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    )
    return len(text.encode("utf-8", "surrogatepass"))


def check_meta_data(value: Any, *, name: str = "meta_data", limit_size: bool = True) -> None:
    """Raise ``ValidationError({name: …})`` when ``value`` holds a NaN or infinite number,
    cannot be written as JSON, or (``limit_size``) is larger than
    ``MAX_META_DATA_BYTES`` as compact JSON. ``None`` passes; the type (a dict) is the
    caller's check."""
    if value is None:
        return
    where = non_finite_path(value, name)
    if where is not None:
        raise ValidationError(
            {name: f"{where} is not a finite number (JSON has no NaN or Infinity)."}
        )
    limit = app_settings.MAX_META_DATA_BYTES if limit_size else None
    try:
        size = json_size(value)
    except (TypeError, ValueError, RecursionError) as exc:
        raise ValidationError({name: f"{name} must be JSON-serialisable: {exc}."}) from None
    if limit is not None and size > limit:
        raise ValidationError(
            {name: f"{name} must be at most {limit} bytes as JSON (it has {size})."}
        )
