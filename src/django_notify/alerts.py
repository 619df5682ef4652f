"""Platform alerts: one row per recurring problem, counted, resolved with notes.

An alert is not a notification. A notification tells a person something; an alert
records that the *platform* has a problem, for staff to look at and resolve. Raising
the same problem again while it is open counts an occurrence on the open row instead
of adding one::

    from django_notify import alerts

    alert, created = alerts.raise_alert(
        "integration", "error", "Letzshop sync failed",
        message=str(exc), affected_systems=["letzshop"], meta_data={"job": job.pk},
    )
    ...
    alerts.resolve(alert, request.user, notes="API key rotated")

Identity is the *fingerprint*: by default a SHA-256 of the alert type and the title
(case- and whitespace-insensitive); pass ``fingerprint=`` to group differently. At most
one unresolved alert per fingerprint exists (a partial unique constraint), so two
processes raising the same problem at once still make one row with a count of two.
Once resolved, the next occurrence opens a new alert: the problem came back.

To tell staff about alerts (by e-mail, in the bell...), connect :data:`alert_raised`.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable
from datetime import datetime, time
from functools import partial
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, models, router, transaction
from django.db.models import Case, Count, F, Q, Value, When
from django.dispatch import Signal
from django.utils import timezone

from .models.alert import AlertType, PlatformAlert, Severity
from .validation import check_meta_data

__all__ = [
    "AlertType",
    "PlatformAlert",
    "Severity",
    "SEVERITY_RANK",
    "MAX_AFFECTED",
    "MAX_AFFECTED_ENTRY",
    "MAX_TEXT",
    "alert_raised",
    "alert_resolved",
    "active_alerts",
    "can_manage_alerts",
    "clean_alert",
    "default_fingerprint",
    "raise_alert",
    "resolve",
    "resolve_many",
    "severity_rank_expression",
    "statistics",
    "to_dict",
    "with_severity_rank",
]

logger = logging.getLogger("django_notify.alerts")

#: An alert was raised: a new one, or another occurrence of an open one. Sent after the
#: transaction commits (never for a rolled-back alert), once per ``raise_alert`` call; a
#: receiver's error is logged and never reaches the caller. kwargs: ``alert`` (as
#: stored), ``created`` (True for a new row), ``escalated`` (True when an occurrence
#: raised an open alert's severity; always False when ``created``).
alert_raised = Signal()

#: An open alert was resolved (sent after commit, once per alert that changed).
#: kwargs: ``alert``, ``user`` (who resolved it).
alert_resolved = Signal()

#: Severity order, lowest first: escalation keeps the higher one, lists sort by it.
SEVERITY_RANK: dict[str, int] = {s.value: rank for rank, s in enumerate(Severity, start=1)}
#: Entries kept per affected list. A problem raised for thousands of organizations keeps
#: the first ones: the row is rewritten on every occurrence and must stay small.
MAX_AFFECTED = 200
#: Longest entry of an affected list.
MAX_AFFECTED_ENTRY = 200
#: Longest ``message`` and resolution notes (a stack trace fits; a log file does not).
MAX_TEXT = 20_000
# An IntegrityError on insert means another process opened the alert first; the retry
# finds its row. More than one retry is only needed if that row is resolved meanwhile.
_ATTEMPTS = 3


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
    """Validate :func:`raise_alert`'s arguments; the cleaned values as a dict.

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


def _merge(old: list, new: list) -> list:
    merged = dict.fromkeys(old)
    for item in new:
        if len(merged) >= MAX_AFFECTED:
            break
        merged.setdefault(item, None)
    return list(merged)


def _after_commit(using: str, **kwargs: Any) -> None:
    transaction.on_commit(partial(_send, **kwargs), using=using)


def _send(signal: Signal, **kwargs: Any) -> None:
    # Alerts are mostly raised from failure paths: a broken receiver must not replace the
    # original problem with its own exception, nor stop the other receivers.
    for receiver, result in signal.send_robust(sender=PlatformAlert, **kwargs):
        if isinstance(result, Exception):
            logger.error(
                "alert signal receiver %r failed",
                receiver,
                exc_info=(type(result), result, result.__traceback__),
            )


def raise_alert(
    alert_type: str,
    severity: str,
    title: str,
    message: str = "",
    *,
    fingerprint: str | None = None,
    affected_systems: Iterable[str] = (),
    affected_organizations: Iterable[str] = (),
    meta_data: dict[str, Any] | None = None,
) -> tuple[PlatformAlert, bool]:
    """Open an alert, or count another occurrence of the open one with this fingerprint.

    Returns ``(alert, created)``. An occurrence adds one to ``occurrence_count``, moves
    ``last_occurred_at`` to now, keeps the higher severity, adds new affected systems
    and organizations, merges ``meta_data`` (the new keys win; when the merge would be
    over ``MAX_META_DATA_BYTES``, the new ``meta_data`` replaces the old) and takes the
    new title, and the new message when one is given. Safe under concurrency: two processes
    raising one fingerprint at once make one row with a count of two. Bad arguments
    raise ``ValidationError`` naming the fields; nothing is written.
    """
    data = clean_alert(
        alert_type, severity, title, message, fingerprint=fingerprint,
        affected_systems=affected_systems, affected_organizations=affected_organizations,
        meta_data=meta_data,
    )  # fmt: skip
    using = router.db_for_write(PlatformAlert)
    manager = PlatformAlert._default_manager.db_manager(using)
    for attempt in range(_ATTEMPTS):
        try:
            with transaction.atomic(using=using):
                # The lock serialises occurrences of one open alert, and makes a
                # concurrent resolve() either wait for this occurrence or win before it
                # (then the row no longer matches and a new alert opens).
                alert = (
                    manager.select_for_update()
                    .filter(fingerprint=data["fingerprint"], is_resolved=False)
                    .first()
                )
                if alert is None:
                    now = timezone.now()
                    alert = manager.create(**data, first_occurred_at=now, last_occurred_at=now)
                    created, escalated = True, False
                else:
                    escalated = _occur(alert, data, manager)
                    created = False
                _after_commit(
                    using, signal=alert_raised, alert=alert, created=created, escalated=escalated
                )
            return alert, created
        except IntegrityError:
            # Another process opened this fingerprint between our read and our insert
            # (the partial unique constraint refused the second row): count on theirs.
            if attempt == _ATTEMPTS - 1:
                raise
    raise AssertionError("unreachable")  # pragma: no cover


def _occur(alert: PlatformAlert, data: dict[str, Any], manager) -> bool:
    """Record one more occurrence on the locked ``alert``; True if severity rose."""
    severity = max(alert.severity, data["severity"], key=lambda s: SEVERITY_RANK.get(s, 0))
    escalated = severity != alert.severity
    changes: dict[str, Any] = {
        "last_occurred_at": timezone.now(),
        "severity": severity,
        "title": data["title"],
        "affected_systems": _merge(alert.affected_systems or [], data["affected_systems"]),
        "affected_organizations": _merge(
            alert.affected_organizations or [], data["affected_organizations"]
        ),
        "meta_data": _merged_meta(alert, data["meta_data"]),
    }
    if data["message"]:
        changes["message"] = data["message"]
    # F(): exact even where select_for_update is a no-op (SQLite serialises writers).
    manager.filter(pk=alert.pk).update(occurrence_count=F("occurrence_count") + 1, **changes)
    for name, value in changes.items():
        setattr(alert, name, value)
    alert.refresh_from_db(fields=["occurrence_count"])
    return escalated


def _merged_meta(alert: PlatformAlert, new: dict[str, Any]) -> dict[str, Any]:
    """The old keys updated with the new ones, while that fits ``MAX_META_DATA_BYTES``.
    Past the limit the occurrence's own ``meta_data`` (checked to fit) replaces the old:
    a recurring alert must not grow its row without bound, and the occurrence is still
    counted."""
    merged = {**(alert.meta_data or {}), **new}
    try:
        check_meta_data(merged)
    except ValidationError:
        logger.warning(
            "Alert %s: the merged meta_data would be over MAX_META_DATA_BYTES; "
            "this occurrence's meta_data replaces the earlier keys.",
            alert.pk,
        )
        return dict(new)
    return merged


def can_manage_alerts(user: Any) -> bool:
    """Alerts are for staff: active staff users and superusers see and resolve them."""
    return bool(
        user is not None
        and getattr(user, "is_authenticated", False)
        and getattr(user, "is_active", False)
        and (getattr(user, "is_staff", False) or getattr(user, "is_superuser", False))
    )


def _check_staff(user: Any) -> None:
    if not can_manage_alerts(user):
        raise PermissionDenied("Only staff users may resolve platform alerts.")


def _clean_notes(notes: Any) -> str:
    errors: dict[str, str] = {}
    notes = _text(errors, "notes", notes, required=False, max_length=MAX_TEXT)
    if errors:
        raise ValidationError(errors)
    return notes


def resolve(alert: PlatformAlert | int, user: Any, notes: str = "") -> PlatformAlert:
    """Mark ``alert`` (an instance or its pk) resolved by ``user`` with ``notes``.

    Only staff may (``PermissionDenied`` otherwise). Resolving a resolved alert changes
    nothing and returns it as stored. The next occurrence of its fingerprint opens a
    new alert. A passed instance is updated in place too.
    """
    _check_staff(user)
    notes = _clean_notes(notes)
    pk = getattr(alert, "pk", alert)
    using = router.db_for_write(PlatformAlert)
    with transaction.atomic(using=using):
        changed = _resolve_locked(
            PlatformAlert._default_manager.db_manager(using).filter(pk=pk), user, notes, using
        )
        if changed:
            row = changed[0]
        else:
            row = PlatformAlert._default_manager.db_manager(using).get(pk=pk)
    if isinstance(alert, PlatformAlert) and alert is not row:
        for field in PlatformAlert._meta.concrete_fields:
            setattr(alert, field.attname, getattr(row, field.attname))
    return row


def resolve_many(queryset: models.QuerySet, user: Any, notes: str = "") -> list[PlatformAlert]:
    """Resolve the open alerts of ``queryset`` in one update; the alerts that changed.

    The admin's "Resolve selected" action. Same rules as :func:`resolve`.
    """
    _check_staff(user)
    notes = _clean_notes(notes)
    using = queryset.db
    with transaction.atomic(using=using):
        return _resolve_locked(queryset, user, notes, using)


def _resolve_locked(queryset, user, notes: str, using: str) -> list[PlatformAlert]:
    # Locked, so an occurrence raised meanwhile is either counted before the resolution
    # or opens a new alert after it; never lost on a row that was just closed.
    rows = list(queryset.filter(is_resolved=False).select_for_update().order_by("pk"))
    if not rows:
        return []
    now = timezone.now()
    changes = {
        "is_resolved": True, "resolved_at": now, "resolved_by": user, "resolution_notes": notes,
    }  # fmt: skip
    PlatformAlert._default_manager.db_manager(using).filter(pk__in=[r.pk for r in rows]).update(
        **changes
    )
    for row in rows:
        for name, value in changes.items():
            setattr(row, name, value)
        _after_commit(using, signal=alert_resolved, alert=row, user=user)
    return rows


def severity_rank_expression() -> Case:
    """An integer expression, higher for more severe alerts (for ``order_by``)."""
    return Case(
        *(When(severity=name, then=Value(rank)) for name, rank in SEVERITY_RANK.items()),
        default=Value(0),
        output_field=models.IntegerField(),
    )


def with_severity_rank(queryset: models.QuerySet) -> models.QuerySet:
    """``queryset`` annotated with ``severity_rank`` (1 = info … 4 = critical)."""
    return queryset.annotate(severity_rank=severity_rank_expression())


def active_alerts() -> models.QuerySet:
    """Unresolved alerts, most severe first, then most recently seen."""
    return with_severity_rank(PlatformAlert._default_manager.filter(is_resolved=False)).order_by(
        "-severity_rank", "-last_occurred_at", "-id"
    )


def _start_of_today() -> datetime:
    today = timezone.localdate()
    return timezone.make_aware(datetime.combine(today, time.min))


def statistics() -> dict[str, Any]:
    """The figures of the alert stat cards, in one query::

        {"active": 3, "critical": 1, "resolved_today": 2,
         "by_severity": {"info": 0, "warning": 1, "error": 1, "critical": 1},
         "by_type": {"integration": 2, "security": 1}}

    ``active``, ``critical`` and both breakdowns count unresolved alerts; ``by_severity``
    always has the four severities. ``resolved_today`` counts alerts resolved since
    midnight in the current time zone.
    """
    rows = (
        PlatformAlert._default_manager.filter(
            Q(is_resolved=False) | Q(is_resolved=True, resolved_at__gte=_start_of_today())
        )
        .values("is_resolved", "severity", "alert_type")
        .annotate(n=Count("id"))
        .order_by()
    )
    by_severity = dict.fromkeys(SEVERITY_RANK, 0)
    by_type: dict[str, int] = {}
    resolved_today = 0
    for row in rows:
        if row["is_resolved"]:
            resolved_today += row["n"]
            continue
        by_severity[row["severity"]] = by_severity.get(row["severity"], 0) + row["n"]
        by_type[row["alert_type"]] = by_type.get(row["alert_type"], 0) + row["n"]
    return {
        "active": sum(by_severity.values()),
        "critical": by_severity[Severity.CRITICAL],
        "resolved_today": resolved_today,
        "by_severity": by_severity,
        "by_type": dict(sorted(by_type.items(), key=lambda item: (-item[1], item[0]))),
    }


def _user_json(user: Any) -> dict[str, Any] | None:
    if user is None:
        return None
    name = user.get_full_name() if hasattr(user, "get_full_name") else ""
    return {"id": user.pk, "name": name or user.get_username()}


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def to_dict(alert: PlatformAlert) -> dict[str, Any]:
    """The contract's JSON shape of an alert. Select ``resolved_by`` with the rows
    (``select_related("resolved_by")``) when serialising a list."""
    return {
        "id": alert.pk,
        "alert_type": alert.alert_type,
        "severity": alert.severity,
        "title": alert.title,
        "message": alert.message,
        "fingerprint": alert.fingerprint,
        "affected_systems": list(alert.affected_systems or []),
        "affected_organizations": list(alert.affected_organizations or []),
        "meta_data": alert.meta_data or {},
        "occurrence_count": alert.occurrence_count,
        "first_occurred_at": _iso(alert.first_occurred_at),
        "last_occurred_at": _iso(alert.last_occurred_at),
        "is_resolved": alert.is_resolved,
        "resolved_at": _iso(alert.resolved_at),
        "resolved_by": _user_json(alert.resolved_by) if alert.resolved_by_id else None,
        "resolution_notes": alert.resolution_notes,
    }
