"""A small declarative field layer: one declaration validates a request and writes its part
of the OpenAPI 3.1 document, so the document cannot drift from what the code accepts.

```python
BODY = Object({
    "ids": List(Int(min_value=1), min_items=1, max_items=100, required=True),
})
BODY.clean({"ids": [1, "2"]})     # FieldErrors({"ids[1]": ["Must be an integer."]})
BODY.schema(refs)                 # {"type": "object", "properties": {...}, ...}
```

``clean()`` takes decoded JSON, ``Query.from_query()`` a ``QueryDict``; both raise
:class:`FieldErrors` mapping a field path to its messages, all at once. Unknown fields
are refused. Strings never contain NUL or lone surrogates (PostgreSQL cannot store them,
and they would be a 500 at the database instead of a 400 here). Output shapes (the
``Notification`` answer) are declared with the same classes, for the document only.
"""

from __future__ import annotations

import copy
import math
import re
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime, time
from typing import Any

from django.utils import timezone
from django.utils.dateparse import parse_datetime

from ..validation import MAX_ID, NOT_FINITE, ascii_int


class _Missing:
    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()
_MAX_JSON_DEPTH = 32
# [0-9], not \d: Python's \d matches every Unicode digit ("١٢:٠٠").
_TIME = re.compile(r"^([01][0-9]|2[0-3]):([0-5][0-9])(?::([0-5][0-9]))?$")

Refs = dict[str, dict[str, Any]]


class FieldErrors(Exception):
    """Messages by field path (``""`` is the value itself, before a parent names it)."""

    def __init__(self, errors: Mapping[str, list[str]] | str):
        if isinstance(errors, str):
            errors = {"": [errors]}
        self.errors: dict[str, list[str]] = {k: list(v) for k, v in errors.items()}
        super().__init__(self.errors)

    def prefixed(self, prefix: str) -> dict[str, list[str]]:
        return {_join(prefix, key): messages for key, messages in self.errors.items()}


def _join(prefix: str, key: str) -> str:
    if not key:
        return prefix
    if key.startswith("[") or not prefix:
        return f"{prefix}{key}"
    return f"{prefix}.{key}"


def _merge(errors: dict[str, list[str]], new: Mapping[str, list[str]]) -> None:
    for key, messages in new.items():
        errors.setdefault(key, []).extend(messages)


def check_text(value: str) -> None:
    """Text the database can store: no NUL, no lone surrogate."""
    if "\x00" in value:
        raise FieldErrors("Must not contain NUL characters.")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise FieldErrors("Must be valid Unicode text.") from None


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    if "type" in schema and "$ref" not in schema:
        schema = dict(schema)
        types = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
        schema["type"] = [*types, "null"]
        if "enum" in schema:
            schema["enum"] = [*schema["enum"], None]
        return schema
    return {"anyOf": [schema, {"type": "null"}]}


class Field:
    """Base class. ``required``: the key must be given (in an answer: always present)."""

    #: How an error message names the expected JSON type.
    kind = "a value"

    def __init__(
        self,
        *,
        required: bool = False,
        nullable: bool = False,
        default: Any = MISSING,
        description: str = "",
        example: Any = MISSING,
    ):
        self.required = required
        self.nullable = nullable
        self.default = default
        self.description = description
        self.example = example

    def get_default(self) -> Any:
        """The default (a callable one, e.g. reading a setting, is called each time)."""
        return self.default() if callable(self.default) else copy.deepcopy(self.default)

    # --- validation ---------------------------------------------------------------------
    def clean(self, value: Any) -> Any:
        if value is None:
            if self.nullable:
                return None
            raise FieldErrors("May not be null.")
        return self.validate(value)

    def validate(self, value: Any) -> Any:
        raise NotImplementedError

    def from_text(self, text: str) -> Any:
        """A query-string value (always text) → the cleaned value."""
        check_text(text)
        return self.validate(text)

    def accepts(self, value: Any) -> bool:
        """Whether ``value`` has this field's JSON type (to pick a branch of AnyOf)."""
        return True

    def present(self, value: Any) -> bool:
        """Whether a given value counts for an :class:`Exclusive` group."""
        return value is not None

    # --- the document ---------------------------------------------------------------------
    def json_schema(self, refs: Refs) -> dict[str, Any]:
        raise NotImplementedError

    def schema(self, refs: Refs) -> dict[str, Any]:
        schema = self.json_schema(refs)
        if self.nullable:
            schema = _nullable(schema)
        extra: dict[str, Any] = {}
        if self.description:
            extra["description"] = self.description
        if self.default is not MISSING:
            extra["default"] = self.get_default()
        if self.example is not MISSING:
            extra["examples"] = [self.example]
        if extra:
            schema = {"allOf": [schema], **extra} if "$ref" in schema else {**schema, **extra}
        return schema


class Int(Field):
    kind = "an integer"

    def __init__(
        self,
        *,
        min_value: int | Callable[[], int] | None = None,
        max_value: int | Callable[[], int] | None = None,
        **kw,
    ):
        super().__init__(**kw)
        self.min_value = min_value
        self.max_value = max_value

    def accepts(self, value: Any) -> bool:
        # JSON Schema's "integer" includes 3.0: a number with a zero fraction.
        if isinstance(value, float):
            return value.is_integer()
        return isinstance(value, int) and not isinstance(value, bool)

    @property
    def bounds(self) -> tuple[int | None, int | None]:
        # A bound may be a callable reading a setting (API_MAX_PAGE_SIZE) when used.
        low, high = self.min_value, self.max_value
        return (low() if callable(low) else low, high() if callable(high) else high)

    def validate(self, value: Any) -> int:
        if not self.accepts(value):
            raise FieldErrors("Must be an integer.")
        value = int(value)
        low, high = self.bounds
        if low is not None and value < low:
            raise FieldErrors(f"Must be at least {low}.")
        if high is not None and value > high:
            raise FieldErrors(f"Must be at most {high}.")
        return value

    def from_text(self, text: str) -> int:
        # ASCII digits only: int() would read "١٠" as 10.
        number = ascii_int(text.strip())
        if number is None:
            raise FieldErrors("Must be an integer.")
        return self.validate(number)

    def json_schema(self, refs: Refs) -> dict[str, Any]:
        schema: dict[str, Any] = {"type": "integer"}
        low, high = self.bounds
        if low is not None:
            schema["minimum"] = low
        if high is not None:
            schema["maximum"] = high
        return schema


def Id(**kw) -> Int:  # noqa: N802 - reads as a field type
    """A primary key: a positive 64-bit integer."""
    return Int(min_value=1, max_value=MAX_ID, **kw)


class Bool(Field):
    kind = "true or false"

    _TEXT = {"true": True, "1": True, "false": False, "0": False}

    def accepts(self, value: Any) -> bool:
        return isinstance(value, bool)

    def validate(self, value: Any) -> bool:
        if not isinstance(value, bool):
            raise FieldErrors("Must be true or false.")
        return value

    def from_text(self, text: str) -> bool:
        try:
            return self._TEXT[text.strip().lower()]
        except KeyError:
            raise FieldErrors("Must be true or false.") from None

    def present(self, value: Any) -> bool:
        return value is True  # is_global: false is the same as not saying it

    def json_schema(self, refs: Refs) -> dict[str, Any]:
        return {"type": "boolean"}


class Str(Field):
    kind = "a string"

    def __init__(
        self,
        *,
        max_length: int | None = None,
        min_length: int = 0,
        pattern: str | None = None,
        pattern_message: str = "Has the wrong format.",
        **kw,
    ):
        super().__init__(**kw)
        self.max_length = max_length
        self.min_length = min_length
        #: An anchored (^…$) expression Python and JSON Schema (ECMA 262) read alike.
        self.pattern = re.compile(pattern) if pattern else None
        self.pattern_message = pattern_message

    def accepts(self, value: Any) -> bool:
        return isinstance(value, str)

    def validate(self, value: Any) -> str:
        if not isinstance(value, str):
            raise FieldErrors("Must be a string.")
        check_text(value)
        if self.max_length is not None and len(value) > self.max_length:
            raise FieldErrors(f"At most {self.max_length} characters (got {len(value)}).")
        if len(value) < self.min_length:
            raise FieldErrors(
                "May not be blank."
                if self.min_length == 1
                else f"At least {self.min_length} characters."
            )
        # fullmatch: Python's "$" also matches before a final newline, ECMA 262's does not.
        if self.pattern is not None and not self.pattern.fullmatch(value):
            raise FieldErrors(self.pattern_message)
        return value

    def json_schema(self, refs: Refs) -> dict[str, Any]:
        schema: dict[str, Any] = {"type": "string"}
        if self.max_length is not None:
            schema["maxLength"] = self.max_length
        if self.min_length:
            schema["minLength"] = self.min_length
        if self.pattern is not None:
            schema["pattern"] = self.pattern.pattern
        return schema


class Enum(Field):
    """One of a set of strings. ``choices`` may be a callable, for sets that come from
    settings or registries (levels, notification types), read when used."""

    def __init__(self, choices: Iterable[str] | Callable[[], Iterable[str]], **kw):
        super().__init__(**kw)
        self._choices = choices

    @property
    def choices(self) -> list[str]:
        choices = self._choices() if callable(self._choices) else self._choices
        return [str(c) for c in choices]

    def accepts(self, value: Any) -> bool:
        return isinstance(value, str)

    def validate(self, value: Any) -> str:
        choices = self.choices
        if not isinstance(value, str) or value not in choices:
            shown = ", ".join(choices[:20]) + (", …" if len(choices) > 20 else "")
            raise FieldErrors(f"Must be one of: {shown or 'none are configured'}.")
        return value

    def json_schema(self, refs: Refs) -> dict[str, Any]:
        choices = self.choices
        return {"type": "string", "enum": choices} if choices else {"type": "string"}


class DateTime(Field):
    """An ISO 8601 date-time; without an offset it is read in the current time zone."""

    def accepts(self, value: Any) -> bool:
        return isinstance(value, str)

    def validate(self, value: Any) -> datetime:
        if not isinstance(value, str):
            raise FieldErrors("Must be an ISO 8601 date-time string.")
        check_text(value)
        try:
            # ISO 8601 is ASCII; Django's fallback pattern would read other digits too.
            parsed = parse_datetime(value.strip()) if value.isascii() else None
        except ValueError:
            parsed = None
        if parsed is None:
            raise FieldErrors("Must be an ISO 8601 date-time, e.g. 2026-12-01T06:00:00+00:00.")
        try:
            if timezone.is_naive(parsed):
                parsed = timezone.make_aware(parsed)
            # In UTC: PostgreSQL refuses offsets beyond ±15:59 ("+17:49" is valid ISO), and
            # year 1 at +01:00 is before what a database stores.
            parsed = parsed.astimezone(UTC)
        except (OverflowError, ValueError):
            raise FieldErrors("Date-time out of range.") from None
        return parsed

    def from_text(self, text: str) -> datetime:
        # An unencoded "+" in a query string arrives as a space: "…T06:00:00 01:00".
        if " " in text.strip() and "+" not in text:
            head, _, tail = text.strip().rpartition(" ")
            if re.fullmatch(r"[0-9]{2}:?[0-9]{2}", tail):
                text = f"{head}+{tail}"
        return super().from_text(text)

    def json_schema(self, refs: Refs) -> dict[str, Any]:
        return {"type": "string", "format": "date-time"}


class Time(Field):
    """A wall-clock time, "HH:MM" (or "HH:MM:SS")."""

    def accepts(self, value: Any) -> bool:
        return isinstance(value, str)

    def validate(self, value: Any) -> time:
        match = _TIME.fullmatch(value) if isinstance(value, str) else None
        if match is None:
            raise FieldErrors("Must be a time as HH:MM, e.g. 22:00.")
        hour, minute, second = match.groups()
        return time(int(hour), int(minute), int(second or 0))

    def json_schema(self, refs: Refs) -> dict[str, Any]:
        return {"type": "string", "pattern": _TIME.pattern, "examples": ["22:00"]}


class JSONObject(Field):
    """Any JSON object (``meta_data``), nested at most 32 levels, with storable text and
    finite numbers."""

    kind = "an object"

    def accepts(self, value: Any) -> bool:
        return isinstance(value, dict)

    def validate(self, value: Any) -> dict:
        if not isinstance(value, dict):
            raise FieldErrors("Must be a JSON object.")
        stack: list[tuple[Any, int]] = [(value, 1)]
        while stack:  # iterative: a deep document must not exhaust the Python stack
            node, depth = stack.pop()
            if depth > _MAX_JSON_DEPTH:
                raise FieldErrors(f"Nested deeper than {_MAX_JSON_DEPTH} levels.")
            if isinstance(node, dict):
                for key, item in node.items():
                    check_text(key)
                    stack.append((item, depth + 1))
            elif isinstance(node, list):
                stack.extend((item, depth + 1) for item in node)
            elif isinstance(node, str):
                check_text(node)
            elif isinstance(node, float) and not math.isfinite(node):
                raise FieldErrors(NOT_FINITE)
        return value

    def json_schema(self, refs: Refs) -> dict[str, Any]:
        return {"type": "object"}


class Any_(Field):  # noqa: N801 - "Any" is taken by typing
    """Any JSON value (answers only)."""

    def validate(self, value: Any) -> Any:
        return value

    def json_schema(self, refs: Refs) -> dict[str, Any]:
        return {}


class List(Field):
    """A JSON array; in a query string a repeated parameter or a comma-separated list."""

    kind = "a list"

    def __init__(self, item: Field, *, min_items: int = 0, max_items: int | None = None, **kw):
        super().__init__(**kw)
        self.item = item
        self.min_items = min_items
        self.max_items = max_items

    def accepts(self, value: Any) -> bool:
        return isinstance(value, list)

    def _check_length(self, n: int) -> None:
        if n < self.min_items:
            raise FieldErrors(
                "May not be empty." if self.min_items == 1 else f"At least {self.min_items} items."
            )
        if self.max_items is not None and n > self.max_items:
            raise FieldErrors(f"At most {self.max_items} items (got {n}).")

    def validate(self, value: Any) -> list:
        if not isinstance(value, list):
            raise FieldErrors("Must be a list.")
        self._check_length(len(value))
        return self._items(value, self.item.clean)

    def _items(self, values: list, clean: Callable[[Any], Any]) -> list:
        errors: dict[str, list[str]] = {}
        out = []
        for i, item in enumerate(values):
            try:
                out.append(clean(item))
            except FieldErrors as exc:
                _merge(errors, exc.prefixed(f"[{i}]"))
        if errors:
            raise FieldErrors(errors)
        return out

    def from_texts(self, texts: list[str]) -> list:
        parts = [part.strip() for text in texts for part in text.split(",")]
        parts = [part for part in parts if part]
        self._check_length(len(parts))
        return self._items(parts, self.item.from_text)

    def json_schema(self, refs: Refs) -> dict[str, Any]:
        schema: dict[str, Any] = {"type": "array", "items": self.item.schema(refs)}
        if self.min_items:
            schema["minItems"] = self.min_items
        if self.max_items is not None:
            schema["maxItems"] = self.max_items
        return schema


class Mapping_(Field):  # noqa: N801 - "Mapping" is taken by collections.abc
    """A JSON object with free keys and values of one kind (``by_type`` counts)."""

    kind = "an object"

    def __init__(self, values: Field, *, max_items: int | None = None, **kw):
        super().__init__(**kw)
        self.values = values
        self.max_items = max_items

    def accepts(self, value: Any) -> bool:
        return isinstance(value, dict)

    def validate(self, value: Any) -> dict:
        if not isinstance(value, dict):
            raise FieldErrors("Must be a JSON object.")
        if self.max_items is not None and len(value) > self.max_items:
            raise FieldErrors(f"At most {self.max_items} keys (got {len(value)}).")
        errors: dict[str, list[str]] = {}
        out = {}
        for key, item in value.items():
            try:
                check_text(key)
                out[key] = self.values.clean(item)
            except FieldErrors as exc:
                _merge(errors, exc.prefixed(key))
        if errors:
            raise FieldErrors(errors)
        return out

    def json_schema(self, refs: Refs) -> dict[str, Any]:
        schema: dict[str, Any] = {
            "type": "object",
            "additionalProperties": self.values.schema(refs),
        }
        if self.max_items is not None:
            schema["maxProperties"] = self.max_items
        return schema


class AnyOf(Field):
    """The first branch whose JSON type matches decides (a list *or* a mapping)."""

    def __init__(self, *branches: Field, **kw):
        super().__init__(**kw)
        self.branches = branches

    def accepts(self, value: Any) -> bool:
        return any(b.accepts(value) for b in self.branches)

    def validate(self, value: Any) -> Any:
        for branch in self.branches:
            if branch.accepts(value):
                return branch.clean(value)
        raise FieldErrors(f"Must be {' or '.join(b.kind for b in self.branches)}.")

    def json_schema(self, refs: Refs) -> dict[str, Any]:
        return {"anyOf": [b.schema(refs) for b in self.branches]}


class Exclusive:
    """At most one (``required``: exactly one) of ``names`` may be given. A boolean counts
    only when true, so ``is_global: false`` next to a target is fine."""

    def __init__(self, *names: str, required: bool = True):
        self.names = names
        self.required = required

    def describe(self, fields: Mapping[str, Field]) -> str:
        shown = [f"{n}: true" if isinstance(fields[n], Bool) else n for n in self.names]
        head = ", ".join(shown[:-1])
        kind = "exactly" if self.required else "at most"
        return f"Give {kind} one of {head} or {shown[-1]}."

    def check(self, fields: Mapping[str, Field], values: dict, errors: dict) -> None:
        if any(name in errors for name in self.names):
            return  # the field's own error says more
        given = [n for n in self.names if n in values and fields[n].present(values[n])]
        if len(given) > 1 or (self.required and not given):
            message = self.describe(fields)
            for name in given or self.names[:1]:
                errors.setdefault(name, []).append(message)

    def json_schema(self, fields: Mapping[str, Field]) -> list[dict[str, Any]]:
        def given(name: str) -> dict[str, Any]:
            if isinstance(fields[name], Bool):
                return {"required": [name], "properties": {name: {"const": True}}}
            return {"required": [name]}

        pairs = [
            {"allOf": [given(a), given(b)]}
            for i, a in enumerate(self.names)
            for b in self.names[i + 1 :]
        ]
        clauses: list[dict[str, Any]] = [{"not": {"anyOf": pairs}}]
        if self.required:
            clauses.append({"anyOf": [given(n) for n in self.names]})
        return clauses


class Object(Field):
    """A JSON object with known keys; others are refused ("Unknown field.").

    ``name``: the document lists it once under ``components/schemas`` and refers to it.
    ``all_required``: an answer shape whose every key is always present.
    """

    kind = "an object"

    def __init__(
        self,
        fields: Mapping[str, Field],
        *,
        name: str | None = None,
        groups: Iterable[Exclusive] = (),
        all_required: bool = False,
        **kw,
    ):
        super().__init__(**kw)
        self.fields = dict(fields)
        self.name = name
        self.groups = list(groups)
        if all_required:
            for key, field in self.fields.items():
                self.fields[key] = field = copy.copy(field)
                field.required = True

    def accepts(self, value: Any) -> bool:
        return isinstance(value, dict)

    def validate(self, value: Any) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise FieldErrors("Must be a JSON object.")
        errors: dict[str, list[str]] = {}
        for key in value:
            if key not in self.fields:
                errors[str(key)] = ["Unknown field."]
        out = self._fill({k: v for k, v in value.items() if k in self.fields}, errors, "clean")
        if errors:
            raise FieldErrors(errors)
        return out

    def _fill(self, given: dict[str, Any], errors: dict, how: str) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name, field in self.fields.items():
            if name in given:
                try:
                    out[name] = field.clean(given[name]) if how == "clean" else given[name](field)
                except FieldErrors as exc:
                    _merge(errors, exc.prefixed(name))
            elif field.required:
                errors.setdefault(name, []).append("This field is required.")
            elif field.default is not MISSING:
                out[name] = field.get_default()
        for group in self.groups:
            group.check(self.fields, out, errors)
        return out

    def definition(self, refs: Refs) -> dict[str, Any]:
        schema: dict[str, Any] = {
            "type": "object",
            "properties": {name: f.schema(refs) for name, f in self.fields.items()},
            "additionalProperties": False,
        }
        required = [name for name, f in self.fields.items() if f.required]
        if required:
            schema["required"] = required
        clauses = [c for g in self.groups for c in g.json_schema(self.fields)]
        if clauses:
            schema["allOf"] = clauses
        return schema

    def json_schema(self, refs: Refs) -> dict[str, Any]:
        if self.name is None:
            return self.definition(refs)
        if self.name not in refs:
            refs[self.name] = {}  # placeholder: a shape may refer to itself
            refs[self.name] = self.definition(refs)
        return {"$ref": f"#/components/schemas/{self.name}"}


class Query(Object):
    """Query-string parameters: the same fields, read from a ``QueryDict``."""

    def from_query(self, query) -> dict[str, Any]:
        errors: dict[str, list[str]] = {}
        given: dict[str, Any] = {}
        for key in query:
            values = query.getlist(key)
            field = self.fields.get(key)
            if field is None:
                errors[key] = ["Unknown parameter."]
            elif isinstance(field, List):
                given[key] = lambda f, v=values: f.from_texts(v)
            elif len(values) > 1:
                errors[key] = ["Give this parameter once."]
            else:
                given[key] = lambda f, v=values[0]: f.from_text(v)
        out = self._fill(given, errors, "text")
        if errors:
            raise FieldErrors(errors)
        return out

    def parameters(self, refs: Refs) -> list[dict[str, Any]]:
        params = []
        for name, field in self.fields.items():
            param: dict[str, Any] = {
                "name": name,
                "in": "query",
                "required": field.required,
                "schema": field.schema(refs),
            }
            if field.description:
                param["description"] = field.description
            if isinstance(field, List):
                param.update(style="form", explode=True)
            params.append(param)
        return params
