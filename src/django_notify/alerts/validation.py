"""What an alert may hold: the severities, the size limits, and the checks that name every
bad field at once."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import Any

from django.core.exceptions import ValidationError

from ..models.alert import PlatformAlert, Severity
from ..validation import check_meta_data

#: Severity order, lowest first: escalation keeps the higher one, lists sort by it.
SEVERITY_RANK: dict[str, int] = {s.value: rank for rank, s in enumerate(Severity, start=1)}
#: Entries kept per affected list. A problem raised for thousands of organizations keeps
#: the first ones: the row is rewritten on every occurrence and must stay small.
MAX_AFFECTED = 200
#: Longest entry of an affected list.
MAX_AFFECTED_ENTRY = 200
#: Longest ``message`` and resolution notes (a stack trace fits; a log file does not).
MAX_TEXT = 20_000


def _field_max(name: str) -> int:
    return PlatformAlert._meta.get_field(name).max_length


def default_fingerprint(alert_type: str, title: str) -> str:
    """SHA-256 (hex) of the type and the title, ignoring case and runs of whitespace, so
    "Disk  full" and "disk full" are one problem."""
    normalised = " ".join(title.split()).casefold()
    return hashlib.sha256(f"{alert_type.strip()}\n{normalised}".encode()).hexdigest()


def _text(errors: dict, name: str, value: Any, *, required: bool, max_length: int) -> str:
    if value is None:
        value = ""
    if not isinstance(value, str):
        errors[name] = f"{name} must be a string, not {type(value).__name__}."
        return ""
    value = value.strip()
    if required and not value:
        errors[name] = f"{name} must not be empty."
    elif len(value) > max_length:
        errors[name] = f"{name} must be at most {max_length} characters (it has {len(value)})."
    return value


def _affected(errors: dict, name: str, value: Any) -> list[str]:
    """A list of non-empty strings (numbers become strings: organization keys are often
    pks), in order, without duplicates."""
    if value is None:
        return []
    # A string is iterable too: "api" would otherwise become ["a", "p", "i"].
    if isinstance(value, str | bytes | dict) or not isinstance(value, Iterable):
        errors[name] = f"{name} must be a list of strings, not {type(value).__name__}."
        return []
    items = sorted(value) if isinstance(value, set | frozenset) else list(value)
    if len(items) > MAX_AFFECTED:
        errors[name] = f"{name} may list at most {MAX_AFFECTED} entries (it has {len(items)})."
        return []
    cleaned: dict[str, None] = {}
    for item in items:
        if isinstance(item, int) and not isinstance(item, bool):
            item = str(item)
        if not isinstance(item, str) or not item.strip():
            errors[name] = f"{name} entries must be non-empty strings (got {item!r})."
            return []
        if len(item.strip()) > MAX_AFFECTED_ENTRY:
            errors[name] = f"{name} entries must be at most {MAX_AFFECTED_ENTRY} characters."
            return []
        cleaned.setdefault(item.strip(), None)
    return list(cleaned)


def _meta(errors: dict, value: Any) -> dict:
    if value is None:
        return {}
    if not isinstance(value, dict):
        errors["meta_data"] = (
            f"meta_data must be a JSON object (a dict), not {type(value).__name__}."
        )
        return {}
    try:
        # Finite numbers, JSON-serialisable, at most MAX_META_DATA_BYTES as JSON.
        check_meta_data(value)
    except ValidationError as exc:
        errors["meta_data"] = exc.message_dict["meta_data"][0]
        return {}
    return value


def clean_alert(
    alert_type: Any,
    severity: Any,
    title: Any,
    message: Any = "",
    *,
    fingerprint: Any = None,
    affected_systems: Any = (),
    affected_organizations: Any = (),
    meta_data: Any = None,
) -> dict[str, Any]:
    """Validate :func:`~django_notify.alerts.raise_alert`'s arguments; the cleaned values
    as a dict.

    Raises one ``ValidationError`` listing every bad field by name (the API and the admin
    form show them all at once).
    """
    errors: dict[str, str] = {}
    data: dict[str, Any] = {
        "alert_type": _text(
            errors, "alert_type", alert_type, required=True, max_length=_field_max("alert_type")
        ),
        "title": _text(errors, "title", title, required=True, max_length=_field_max("title")),
        "message": _text(errors, "message", message, required=False, max_length=MAX_TEXT),
        "affected_systems": _affected(errors, "affected_systems", affected_systems),
        "affected_organizations": _affected(
            errors, "affected_organizations", affected_organizations
        ),
        "meta_data": _meta(errors, meta_data),
    }
    if isinstance(severity, str) and severity.strip().lower() in SEVERITY_RANK:
        data["severity"] = severity.strip().lower()
    else:
        names = ", ".join(SEVERITY_RANK)
        errors["severity"] = f"Unknown severity {severity!r}: use one of {names}."
    fingerprint = _text(
        errors, "fingerprint", fingerprint, required=False, max_length=_field_max("fingerprint")
    )
    if errors:
        raise ValidationError(errors)
    data["fingerprint"] = fingerprint or default_fingerprint(data["alert_type"], data["title"])
    return data


def clean_notes(notes: Any) -> str:
    """Resolution notes, stripped; ``ValidationError`` on ``notes`` if not text or too long."""
    errors: dict[str, str] = {}
    notes = _text(errors, "notes", notes, required=False, max_length=MAX_TEXT)
    if errors:
        raise ValidationError(errors)
    return notes
