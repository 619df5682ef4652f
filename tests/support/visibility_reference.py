"""The feed as it was defined before the per-branch queries: one ``OR`` over the four
branches on the plain table, read state from a ``CASE``. Slow on large tables, but
obviously right; the property tests check that the per-branch queries return exactly
what it returns."""

from __future__ import annotations

from django.db.models import Case, Exists, F, OuterRef, Q, QuerySet, Subquery, When
from django.utils import timezone

from django_notify.models import NotificationReceipt
from django_notify.tenancy import get_adapter
from django_notify.types import Scope


def _keys(keys):
    """The adapter's answer (keys or a one-column queryset) as a list of strings."""
    if keys is None:
        return None
    if isinstance(keys, QuerySet):
        keys = [
            next(iter(item.values())) if isinstance(item, dict) else getattr(item, "pk", item)
            for item in keys
        ]
    elif isinstance(keys, str | int):
        keys = [keys]
    return [str(k) for k in keys if k is not None]


def reference_feed(Notification, user, *, with_dismissed: bool = False):
    """The rows ``visible_to(user)`` must return (``addressed_to`` with dismissed),
    newest first, annotated with ``ref_read_at``."""
    adapter = get_adapter()
    audience = Q(scope=Scope.USER, recipient=user) | Q(scope=Scope.SYSTEM)
    teams = _keys(adapter.get_team_ids(user))
    if teams:
        audience |= Q(scope=Scope.TEAM, team_key__in=teams)
    orgs = _keys(adapter.get_organization_filter(user))
    if orgs:
        audience |= Q(scope=Scope.ORGANIZATION, organization_key__in=orgs)
    now = timezone.now()
    receipts = NotificationReceipt.objects.filter(notification=OuterRef("pk"), user=user)
    rows = Notification._base_manager.filter(audience).filter(
        Q(expires_at__isnull=True) | Q(expires_at__gt=now)
    )
    if not with_dismissed:
        dismissed = Exists(receipts.filter(dismissed_at__isnull=False))
        rows = rows.filter(
            Q(scope=Scope.USER, dismissed_at__isnull=True) | (~Q(scope=Scope.USER) & ~dismissed)
        )
    return rows.annotate(
        ref_read_at=Case(
            When(scope=Scope.USER, then=F("read_at")),
            default=Subquery(receipts.values("read_at")[:1]),
        )
    ).order_by("-created_at", "-id")


def feed_rows(queryset) -> list[tuple]:
    """(pk, created_at, read?) per row, in order: what two feeds must agree on."""
    read_field = "ref_read_at" if "ref_read_at" in queryset.query.annotations else "user_read_at"
    return [
        (pk, created_at, read_at is not None)
        for pk, created_at, read_at in queryset.values_list("pk", "created_at", read_field)
    ]
