"""The read side: one feed query, ``visible_to(user)``, and the bulk state changes.

Visible = system-global ∪ the user's organization's global ∪ direct ∪ the user's teams,
minus expired rows and whatever the user dismissed. Everything user-facing (API,
template tags, the stream) goes through it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db import models
from django.db.models import Case, Exists, F, OuterRef, Q, Subquery, Value, When
from django.db.models.functions import Cast
from django.db.models.lookups import In
from django.utils import timezone

from .types import Scope


def _receipts():
    from .models import NotificationReceipt

    return NotificationReceipt.objects


class _InKeys(In):
    """``field IN (subquery)``, written ``field = ANY(ARRAY(subquery))`` on PostgreSQL.

    Under the OR of visible_to(), PostgreSQL turns ``IN (SELECT ...)`` into a hashed
    SubPlan *filter*, so the team and organization branches fall back to the scope
    index and read every tenant's broadcast rows. ``ARRAY(SELECT ...)`` is an InitPlan
    evaluated once and ``col = ANY($1)`` is an index condition, so each branch uses its
    own index. Still one SQL statement (measured: 122 ms → 3.9 ms at 196k rows).
    """

    def as_postgresql(self, compiler, connection):
        lhs, lhs_params = self.process_lhs(compiler, connection)
        rhs, rhs_params = self.process_rhs(compiler, connection)
        return f"{lhs} = ANY(ARRAY{rhs})", (*lhs_params, *rhs_params)


def _key_lookup(field: str, keys: Any) -> Q | None:
    """``field IN keys`` where keys is a list or a one-column queryset (a subquery)."""
    if keys is None:
        return None
    if isinstance(keys, models.QuerySet):
        from .tenancy import key_column

        subquery = keys.annotate(_notify_key=Cast(key_column(keys), models.CharField())).values(
            "_notify_key"
        )
        return Q(_InKeys(F(field), subquery))
    if isinstance(keys, str | int) or not hasattr(keys, "__iter__"):
        keys = [keys]
    values = [str(k) for k in keys if k is not None]
    return Q(**{f"{field}__in": values}) if values else None


#: What a feed page renders besides the row itself (see ``with_related``).
_RELATED = ("sender", "actor", "target")


def _sender_cached(row) -> bool:
    return type(row).sender.is_cached(row)


def _is_authenticated(user) -> bool:
    return bool(user is not None and getattr(user, "is_authenticated", False) and user.pk)


class NotificationQuerySet(models.QuerySet):
    # --- visibility -------------------------------------------------------------------
    def audience_q(self, user) -> Q:
        """Rows addressed to ``user`` (before expiry and dismissal)."""
        from .tenancy import get_adapter

        adapter = get_adapter()
        q = Q(scope=Scope.USER, recipient=user) | Q(scope=Scope.SYSTEM)
        teams = _key_lookup("team_key", adapter.get_team_ids(user))
        if teams is not None:
            q |= Q(scope=Scope.TEAM) & teams
        org = _key_lookup("organization_key", adapter.get_organization_filter(user))
        if org is not None:
            q |= Q(scope=Scope.ORGANIZATION) & org
        return q

    def addressed_to(self, user) -> NotificationQuerySet:
        """Unexpired rows addressed to ``user``, including ones they dismissed."""
        if not _is_authenticated(user):
            return self.none()
        now = timezone.now()
        return self.filter(self.audience_q(user)).filter(
            Q(expires_at__isnull=True) | Q(expires_at__gt=now)
        )

    def visible_to(self, user) -> NotificationQuerySet:
        """The user's feed, newest first, annotated with ``user_read_at``.

        Sender, actor and target are prefetched with it (see :meth:`with_related`), so
        a page of any size costs the same number of queries; counts, ``exists()`` and
        ``values()`` ignore the prefetches and stay one query.
        """
        if not _is_authenticated(user):
            # Keep the annotation so .unread()/.read() chain on the empty result too.
            return self.annotate(user_read_at=Value(None, models.DateTimeField())).none()
        receipts = _receipts().filter(notification=OuterRef("pk"), user=user)
        dismissed = Exists(receipts.filter(dismissed_at__isnull=False))
        return (
            self.addressed_to(user)
            .filter(
                Q(scope=Scope.USER, dismissed_at__isnull=True) | (~Q(scope=Scope.USER) & ~dismissed)
            )
            .annotate(
                user_read_at=Case(
                    When(scope=Scope.USER, then=F("read_at")),
                    default=Subquery(receipts.values("read_at")[:1]),
                )
            )
            .order_by("-created_at", "-id")
            .with_related()
        )

    def with_related(self) -> NotificationQuerySet:
        """Fetch sender, actor and target for a page in a fixed number of queries: one
        for the page's senders, one per content type for actors and for targets.

        ``visible_to()`` applies it already; calling it again changes nothing.

        The sender is prefetched, not joined: a ``LEFT JOIN`` of the user table sits
        below the feed's sort and LIMIT, and when PostgreSQL underestimates the feed's
        rows (the unread filter) it picks a nested loop over the whole user table
        (measured: 15 ms instead of 0.5 ms for ``unread(user)[:20]`` with 2,000 users).
        The prefetch reads only the page's senders by primary key.
        """
        missing = [name for name in _RELATED if name not in self._prefetch_related_lookups]
        return self.prefetch_related(*missing) if missing else self

    def unread(self, user=None) -> NotificationQuerySet:
        """Unread rows of a ``visible_to(user)`` queryset (or pass ``user``)."""
        qs = self.visible_to(user) if user is not None else self
        return qs.filter(user_read_at__isnull=True)

    def read(self, user=None) -> NotificationQuerySet:
        qs = self.visible_to(user) if user is not None else self
        return qs.filter(user_read_at__isnull=False)

    def after(self, created_at: datetime, pk: Any) -> NotificationQuerySet:
        """Keyset pagination: rows strictly older than ``(created_at, pk)``."""
        return self.filter(Q(created_at__lt=created_at) | Q(created_at=created_at, pk__lt=pk))

    # --- writing -----------------------------------------------------------------------
    def bulk_create(self, objs, *args, **kwargs):
        """``bulk_create`` that keeps the model's guarantees: rows are sanitised and
        their senders checked against the rules, as ``save()`` does one by one."""
        objs = list(objs)
        for obj in objs:
            if not getattr(obj, "_notify_prepared", False):
                obj.prepare()
        self._check_senders(objs)
        created = super().bulk_create(objs, *args, **kwargs)
        for obj in created:
            obj._remember_targeting()  # as from_db() does: later edits are compared to it
        return created

    def bulk_update(self, objs, fields, *args, **kwargs):
        """``bulk_update`` that re-checks the sender rules for rows whose targeting
        (scope, recipient, team, organization, origin, sender) changed, as ``save()``
        does."""
        from .models.base import TARGETING_FIELDS

        objs = list(objs)
        names = {self.model._meta.get_field(name).attname for name in fields}
        if names & set(TARGETING_FIELDS):
            self._check_senders([obj for obj in objs if obj.changed_targeting()])
        updated = super().bulk_update(objs, fields, *args, **kwargs)
        for obj in objs:
            obj._remember_targeting(names)
        return updated

    def _check_senders(self, objs) -> None:
        """The sender rules for a batch of rows: one check per sender and origin."""
        from . import policy

        groups: dict[tuple[Any, str], list[Any]] = {}
        for obj in objs:
            if obj.sender_id is not None:
                groups.setdefault((obj.sender_id, obj.origin), []).append(obj)
        uncached = {sid for (sid, _), rows in groups.items() if not _sender_cached(rows[0])}
        senders = self.model._meta.get_field("sender").related_model._default_manager.in_bulk(
            uncached
        )
        for (sender_id, _), rows in groups.items():
            sender = rows[0].sender if sender_id not in uncached else senders.get(sender_id)
            policy.check(sender, policy.audience_of(rows))

    # --- counts and bulk state --------------------------------------------------------
    def unread_count(self, user) -> int:
        """One query, whatever the size of the feed."""
        return self.unread(user).count()

    def mark_all_read(self, user) -> int:
        """Mark everything visible to ``user`` read. Returns how many rows changed."""
        from .read_state import mark_many

        return mark_many(self.visible_to(user), user, "read_at")

    def dismiss_all(self, user) -> int:
        """Dismiss everything visible to ``user``. Returns how many rows changed."""
        from .read_state import mark_many

        return mark_many(self.visible_to(user), user, "dismissed_at")


class NotificationManager(models.Manager.from_queryset(NotificationQuerySet)):
    pass
