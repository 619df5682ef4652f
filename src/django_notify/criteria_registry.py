"""The criteria registry: named functions a :class:`DynamicCriterion` calls with JSON
params (dynamic rule criteria).

```python
@django_notify.criteria.register("on_call_engineers")
def on_call_engineers(target=None, *, rota: str, include_backup: bool = False):
    return User.objects.filter(...)
```

A function takes the event's ``target`` (``None`` when syncing subscriptions) and its
declared keyword parameters, and returns users (a queryset, users or pks). Parameters
are validated against the signature, including simple annotations (str, int, float,
bool, list, dict).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from typing import Any

from django.core.exceptions import ValidationError

from .registry import Registry

_SIMPLE = {"str": str, "int": int, "float": (int, float), "bool": bool, "list": list,
           "dict": dict}  # fmt: skip

#: Named criterion functions.
criteria: Registry[Callable[..., Any]] = Registry("criterion")


def parameters(func: Callable[..., Any]) -> dict[str, inspect.Parameter]:
    """The JSON-settable parameters of a criterion function (all but ``target``)."""
    return {
        name: p
        for name, p in inspect.signature(func).parameters.items()
        if name != "target" and p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)
    }


def _expected(param: inspect.Parameter) -> tuple[str, Any] | None:
    annotation = param.annotation
    name = annotation if isinstance(annotation, str) else getattr(annotation, "__name__", None)
    if name in _SIMPLE:
        return name, _SIMPLE[name]
    return None


def validate_params(name: str, params: Any) -> dict[str, Any]:
    """Check ``params`` against the registered function; raise ``ValidationError`` on
    ``name`` (unregistered) or ``params`` (unknown, missing or wrongly typed keys)."""
    if name not in criteria:
        known = ", ".join(criteria.keys()) or "none registered"
        raise ValidationError({"name": f"No criterion function is registered as {name!r} "
                                       f"(registered: {known})."})  # fmt: skip
    if params is None:
        params = {}
    if not isinstance(params, Mapping):
        raise ValidationError({"params": "params must be a JSON object."})
    declared = parameters(criteria.get(name))
    errors = []
    unknown = sorted(set(params) - set(declared))
    if unknown:
        errors.append(f"unknown parameter(s) {', '.join(unknown)}")
    for pname, param in declared.items():
        if pname not in params:
            if param.default is inspect.Parameter.empty:
                errors.append(f"missing parameter {pname!r}")
            continue
        expected = _expected(param)
        value = params[pname]
        if expected and (
            not isinstance(value, expected[1])
            or (expected[0] != "bool" and isinstance(value, bool))
        ):
            errors.append(f"{pname!r} must be {expected[0]}, got {type(value).__name__}")
    if errors:
        raise ValidationError({"params": f"{name}: " + "; ".join(errors) + "."})
    return dict(params)
