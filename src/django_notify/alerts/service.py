"""Raising and resolving alerts: dedupe by fingerprint under a row lock, count
occurrences, resolve with notes, and announce both after commit."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from functools import partial
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, models, router, transaction
from django.db.models import F
from django.dispatch import Signal
from django.utils import timezone

from ..models.alert import PlatformAlert
from ..validation import check_meta_data
from .signals import alert_raised, alert_resolved
from .validation import MAX_AFFECTED, SEVERITY_RANK, clean_alert, clean_notes

# The name the documentation gives for the receivers' and the meta_data merge's messages.
logger = logging.getLogger("django_notify.alerts")

# An IntegrityError on insert means another process opened the alert first; the retry
# finds its row. More than one retry is only needed if that row is resolved meanwhile.
_ATTEMPTS = 3


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


def resolve(alert: PlatformAlert | int, user: Any, notes: str = "") -> PlatformAlert:
    """Mark ``alert`` (an instance or its pk) resolved by ``user`` with ``notes``.

    Only staff may (``PermissionDenied`` otherwise). Resolving a resolved alert changes
    nothing and returns it as stored. The next occurrence of its fingerprint opens a
    new alert. A passed instance is updated in place too.
    """
    _check_staff(user)
    notes = clean_notes(notes)
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
    notes = clean_notes(notes)
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
