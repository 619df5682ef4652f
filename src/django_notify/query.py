"""The read side: one feed query, ``visible_to(user)``, and the bulk state changes.

Visible = system-global ∪ the user's organization's global ∪ direct ∪ the user's teams,
minus expired rows and whatever the user dismissed. Everything user-facing (API,
template tags, the stream) goes through it. How the branches become SQL, and which index
answers each, is in :mod:`django_notify.visibility`.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from functools import lru_cache
from typing import Any

from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError
from django.db import connections, models
from django.db.models import Q, Value, prefetch_related_objects
from django.db.models.expressions import RawSQL
from django.db.models.query import ModelIterable
from django.utils import timezone

from . import bulk_insert, policy, read_state
from .feed_users import UserJoin
from .keyset import OlderThan
from .models.delivery import MARKED_EMAILED, Delivery, DeliveryStatus
from .policy import TARGETING_FIELDS
from .prepared import preparing
from .tenancy import get_adapter
from .types import Scope
from .visibility import (
    FEED_ORDER,
    FeedColumn,
    FeedQuery,
    FeedSpec,
    feed_table,
    key_lookup,
    use_feed,
)

#: What a feed page renders besides the row itself (see ``with_related``).
_RELATED = ("sender", "actor", "target")


#: The generic relations fetched together (see ``_prefetch_related_objects``).
_GENERIC = ("actor", "target")


def fetch_generic(rows, names, *, using: str) -> None:
    """Load the objects of the generic relations ``names`` of ``rows``: one query per
    content type among all of them, each object cached on every row pointing at it."""
    if not rows:
        return
    meta = rows[0]._meta
    # (the relation, its content-type attname, its object-id attname)
    fields = [
        (field, meta.get_field(field.ct_field).attname, field.fk_field)
        for field in (meta.get_field(name) for name in names)
    ]
    wanted: dict[Any, set[str]] = defaultdict(set)
    for row in rows:
        for field, ct_attname, id_attname in fields:
            if field.is_cached(row):  # read with the page (a user: see feed_users)
                continue
            ct_id, object_id = getattr(row, ct_attname), getattr(row, id_attname)
            if ct_id is not None and object_id not in (None, ""):
                wanted[ct_id].add(str(object_id))
    found: dict[tuple[Any, str], Any] = {}
    content_types = ContentType.objects.db_manager(using)
    for ct_id, object_ids in wanted.items():
        try:
            model = content_types.get_for_id(ct_id).model_class()
        except ContentType.DoesNotExist:  # the database does not check these columns
            continue
        if model is None:  # the model's app is gone
            continue
        pks = []
        for object_id in object_ids:
            try:
                pks.append(model._meta.pk.to_python(object_id))
            except ValidationError:
                continue  # an id that cannot be this model's: nothing to find
        for obj in model._base_manager.using(using).filter(pk__in=pks):
            found[(ct_id, str(obj.pk))] = obj
    for row in rows:
        for field, ct_attname, id_attname in fields:
            if field.is_cached(row):
                continue
            obj = found.get((getattr(row, ct_attname), str(getattr(row, id_attname))))
            field.set_cached_value(row, obj)


class FeedPageIterable(ModelIterable):
    """Rows of a feed queryset; a page of them (sliced, in feed order) reads the users
    among its senders, actors and targets in the same statement (see
    :mod:`django_notify.feed_users`)."""

    def __iter__(self):
        queryset = self.queryset
        join = _user_join(queryset)
        if join is None:
            yield from super().__iter__()
            return
        clone = queryset._chain()
        alias = use_feed(clone.query, feed_table(clone.query).spec.but(join_users=True))
        columns = []
        for column, expression in _joined_columns(join, alias):
            clone.query.add_annotation(expression, column, select=True)
            columns.append(column)
        rows = ModelIterable(clone, chunked_fetch=self.chunked_fetch, chunk_size=self.chunk_size)
        for row in rows:
            state = row.__dict__
            join.attach(row, {column: state.pop(column) for column in columns})
            yield row


@lru_cache(maxsize=32)
def _joined_columns(join: UserJoin, alias: str) -> tuple[tuple[str, FeedColumn], ...]:
    """The page's user columns as annotations, built once per join and table alias: a
    :class:`FeedColumn` is never changed in place (it resolves to itself), so every page
    can share them."""
    return tuple(
        (column, FeedColumn(alias, column, field)) for column, field in join.output_fields()
    )


def _user_join(queryset) -> UserJoin | None:
    """The joins to read a page's users with, if ``queryset`` is a page that asked for
    its sender, actor or target."""
    query = queryset.query
    if not set(_RELATED) & set(queryset._prefetch_related_lookups):
        return None
    table = feed_table(query)
    if table is None or not table.pageable(query):
        return None
    connection = connections[queryset.db]
    if connection.vendor not in ("postgresql", "sqlite"):
        return None
    return UserJoin.of(queryset.model, connection)


def _sender_cached(row) -> bool:
    return type(row).sender.is_cached(row)


def _is_authenticated(user) -> bool:
    return bool(user is not None and getattr(user, "is_authenticated", False) and user.pk)


class NotificationQuerySet(models.QuerySet):
    def _fetch_all(self):
        # A feed's statements are the same for every user: prepared on a connection
        # that repeats them (django_notify.prepared).
        if self._result_cache is None and feed_table(self.query) is not None:
            with preparing(connections[self.db]):
                return super()._fetch_all()
        return super()._fetch_all()

    # --- visibility -------------------------------------------------------------------
    def audience_q(self, user) -> Q:
        """Rows addressed to ``user`` (before expiry and dismissal) as one filter.

        For ad-hoc filters on the plain table (the admin, reports); the feed itself
        reads each branch from its own index (see :mod:`django_notify.visibility`).
        """
        adapter = get_adapter()
        q = Q(scope=Scope.USER, recipient=user) | Q(scope=Scope.SYSTEM)
        teams = key_lookup("team_key", adapter.get_team_ids(user))
        if teams is not None:
            q |= Q(scope=Scope.TEAM) & teams
        org = key_lookup("organization_key", adapter.get_organization_filter(user))
        if org is not None:
            q |= Q(scope=Scope.ORGANIZATION) & org
        return q

    def addressed_to(self, user) -> NotificationQuerySet:
        """Unexpired rows addressed to ``user``, including ones they dismissed, annotated
        with ``user_read_at`` (unordered)."""
        if not _is_authenticated(user):
            return self._empty_feed()
        return self._from_feed(FeedSpec.for_user(user, timezone.now(), with_dismissed=True))

    def visible_to(self, user) -> NotificationQuerySet:
        """The user's feed, newest first, annotated with ``user_read_at``.

        The rows come from the per-branch feed table (one index per branch, see
        :mod:`django_notify.visibility`); filters, slices, ``count()`` and
        ``exists()`` chain on it as on any queryset. Sender, actor and target are
        prefetched with it (see :meth:`with_related`), so a page of any size costs the
        same number of queries; counts, ``exists()`` and ``values()`` ignore the
        prefetches and stay one query.
        """
        if not _is_authenticated(user):
            return self._empty_feed()
        spec = FeedSpec.for_user(user, timezone.now())
        return self._from_feed(spec).order_by(*FEED_ORDER).with_related()

    def _from_feed(self, spec: FeedSpec) -> NotificationQuerySet:
        clone = self._chain()
        alias = use_feed(clone.query, spec)
        return clone.annotate(user_read_at=FeedColumn(alias))

    def _empty_feed(self) -> NotificationQuerySet:
        # Keep the annotation so .unread()/.read() chain on the empty result too.
        return self.annotate(user_read_at=Value(None, models.DateTimeField())).none()

    def _with_spec(self, **changes) -> NotificationQuerySet | None:
        """This feed queryset reading another part of the same feed (None if this is
        not a feed queryset)."""
        table = feed_table(self.query)
        if table is None:
            return None
        clone = self._chain()
        use_feed(clone.query, table.spec.but(**changes))
        return clone

    def _prefetch_related_objects(self):
        # Actor and target are both generic relations: fetched together, one query per
        # content type among both (a page whose actors and targets are users costs one
        # query, not two). Other lookups go through Django's prefetching as usual.
        lookups = list(self._prefetch_related_lookups)
        generic = [name for name in _GENERIC if name in lookups]
        if len(generic) < 2 or not issubclass(self._iterable_class, ModelIterable):
            return super()._prefetch_related_objects()  # values() rows have no relations
        rest = [lookup for lookup in lookups if lookup not in generic]
        if rest:
            prefetch_related_objects(self._result_cache, *rest)
        fetch_generic(self._result_cache, generic, using=self.db)
        self._prefetch_done = True

    def with_related(self) -> NotificationQuerySet:
        """Fetch sender, actor and target for a page in a fixed number of queries.

        A page (sliced, in feed order) reads its users with it: the sender, and actors
        and targets that are users, joined above the branches' own ``LIMIT`` so the joins
        read a page's worth of users by primary key (:mod:`django_notify.feed_users`).
        Actors and targets of other models cost one query per model. Other feed
        querysets prefetch: one query for the senders, one per content type among actors
        and targets. (A join *below* the feed's sort and LIMIT was measured at 15 ms
        instead of 0.5 ms when PostgreSQL underestimated the unread rows: it planned a
        nested loop over the whole user table. Above the branches' LIMIT it cannot.)

        ``visible_to()`` applies it already; calling it again changes nothing.
        """
        missing = [name for name in _RELATED if name not in self._prefetch_related_lookups]
        clone = self.prefetch_related(*missing) if missing else self._chain()
        if clone._iterable_class is ModelIterable:
            clone._iterable_class = FeedPageIterable
        return clone

    def unread(self, user=None) -> NotificationQuerySet:
        """Unread rows of a ``visible_to(user)`` queryset (or pass ``user``).

        On a feed queryset the unread condition goes into each branch, where the unread
        partial index answers it; on any other queryset it filters ``user_read_at``.
        """
        qs = self.visible_to(user) if user is not None else self
        narrowed = qs._with_spec(unread=True)
        return narrowed if narrowed is not None else qs.filter(user_read_at__isnull=True)

    def read(self, user=None) -> NotificationQuerySet:
        qs = self.visible_to(user) if user is not None else self
        return qs.filter(user_read_at__isnull=False)

    def after(self, created_at: datetime, pk: Any) -> NotificationQuerySet:
        """Keyset pagination: rows strictly older than ``(created_at, pk)``.

        One row-value comparison (see :mod:`django_notify.keyset`), copied into each
        branch of a feed page, where it becomes the range of the branch's index scan: a
        page deep in the feed starts reading at the cursor instead of skipping every
        newer row.
        """
        return self.filter(OlderThan("created_at", created_at, pk))

    # --- writes through a feed queryset --------------------------------------------------
    def _on_table(self) -> NotificationQuerySet:
        """The rows of this feed queryset, as a filter on the plain table: an UPDATE or
        DELETE cannot target a ``UNION ALL``."""
        ids = self.order_by().values("pk")
        return self.model._base_manager.filter(pk__in=ids)

    def update(self, **kwargs):
        """``update()`` that keeps the model's guarantees: a new ``description`` is
        sanitised (and its text derived), new links are checked, and the targeting
        fields, whose sender rules need each row, are refused (``ValidationError``
        naming them; load the rows and use ``save()`` or ``bulk_update()``)."""
        kwargs = self.model.prepare_update(kwargs)
        if feed_table(self.query) is not None:
            return self._on_table().update(**kwargs)
        return super().update(**kwargs)

    update.alters_data = True

    def delete(self):
        if feed_table(self.query) is not None:
            return self._on_table().delete()
        return super().delete()

    delete.alters_data = True
    delete.queryset_only = True

    def _combinator_check(self, other) -> None:
        if feed_table(self.query) is not None or feed_table(other.query) is not None:
            raise TypeError(
                "A visible_to()/addressed_to() queryset cannot be combined with | , & or ^; "
                "filter it with Q objects instead, or combine with .union()."
            )

    def __or__(self, other):
        self._combinator_check(other)
        return super().__or__(other)

    def __and__(self, other):
        self._combinator_check(other)
        return super().__and__(other)

    def __xor__(self, other):
        self._combinator_check(other)
        return super().__xor__(other)

    # --- writing -----------------------------------------------------------------------
    def bulk_create(self, objs, *args, **kwargs):
        """``bulk_create`` that keeps the model's guarantees: rows are sanitised and
        their senders checked against the rules, as ``save()`` does one by one."""
        objs = list(objs)
        for obj in objs:
            if not getattr(obj, "_notify_prepared", False):
                obj.prepare()
        self._check_senders([o for o in objs if not getattr(o, "_notify_senders_checked", False)])
        if not args and set(kwargs) <= {"batch_size"}:
            # The fan-out case: one INSERT … SELECT per chunk, shared values sent once.
            created = bulk_insert.insert(
                self.model, objs, using=self.db, batch_size=kwargs.get("batch_size")
            )
        else:
            created = super().bulk_create(objs, *args, **kwargs)
        for obj in created:
            obj._notify_senders_checked = False
            obj.remember_targeting()  # later edits are compared with what was inserted
        return created

    def check_senders(self, objs) -> None:
        """Check unsaved rows against the sender rules now (``SendRefused`` otherwise),
        so that a later :meth:`bulk_create` of the same rows does not check them again.
        The write path uses it to refuse a send before deciding anything for it."""
        objs = list(objs)
        self._check_senders(objs)
        for obj in objs:
            obj._notify_senders_checked = True

    def bulk_update(self, objs, fields, *args, **kwargs):
        """``bulk_update`` that keeps ``save()``'s guarantees: rows whose content fields
        are updated are sanitised and their links checked, and the sender rules are
        re-checked for rows whose targeting (scope, recipient, team, organization,
        origin, sender) changed."""
        objs = list(objs)
        fields = list(fields)
        names = {self.model._meta.get_field(name).attname for name in fields}
        if names & set(self.model.PREPARED_FIELDS):
            # As save() does: sanitise, derive the text and is_global, check the links.
            for obj in objs:
                obj.prepare()
            fields += [f for f in self.model.DERIVED_FIELDS if f not in names]
            names |= set(self.model.DERIVED_FIELDS)
        if names & set(TARGETING_FIELDS):
            self._check_senders([obj for obj in objs if obj.changed_targeting()])
        # The rows are checked above; Django writes them with update(Case(...)), which
        # this queryset's update() would refuse, so a plain queryset writes them.
        plain = models.QuerySet(model=self.model, using=self._db)
        updated = plain.bulk_update(objs, fields, *args, **kwargs)
        for obj in objs:
            obj.remember_targeting(names)
        return updated

    def _check_senders(self, objs) -> None:
        """The sender rules for a batch of rows: one check per sender and origin."""
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
            policy.check(sender, policy.addressees_of(rows))

    # --- counts and bulk state --------------------------------------------------------
    def unread_count(self, user) -> int:
        """One query, whatever the size of the feed: a ``COUNT(*)`` per branch, each an
        index-only scan, summed in one statement."""
        if not _is_authenticated(user):
            return 0
        if self.query.where or self.query.combinator or feed_table(self.query) is not None:
            return self.unread(user).count()  # a narrowed queryset: count what it keeps
        connection = connections[self.db]
        spec = FeedSpec.for_user(user, timezone.now(), unread=True)
        sql, params = FeedQuery(self.model, spec, connection).unread_count()
        with preparing(connection), connection.cursor() as cursor:
            cursor.execute(sql, params)
            return int(cursor.fetchone()[0])

    def with_email_state(self, email_channels: list[str]) -> NotificationQuerySet:
        """Annotate ``should_email`` (an email delivery was meant to go out: not skipped by
        a preference) and ``is_emailed`` (every such delivery was sent or marked as
        emailed), as two EXISTS subqueries over the Delivery rows of ``email_channels``
        (the aliases of the channels that send email): no query per row."""
        wanted = Delivery.objects.filter(
            notification=models.OuterRef("pk"), channel__in=email_channels
        ).exclude(Q(status=DeliveryStatus.SKIPPED) & ~Q(reason__startswith=MARKED_EMAILED))
        unfinished = wanted.exclude(status=DeliveryStatus.SENT).exclude(
            reason__startswith=MARKED_EMAILED
        )
        return self.annotate(
            should_email=models.Exists(wanted), _email_unfinished=models.Exists(unfinished)
        ).annotate(is_emailed=Q(should_email=True) & Q(_email_unfinished=False))

    def with_unread_count(self) -> NotificationQuerySet:
        """Annotate each row of a feed queryset with the user's total unread count
        (``feed_unread_count``): one scalar subquery the database evaluates once, so a
        page and the bell's count are one statement."""
        table = feed_table(self.query)
        if table is None:
            raise TypeError("with_unread_count() needs a visible_to() queryset.")
        spec = table.spec.but(unread=True, with_dismissed=False, ids=None)
        sql, params = FeedQuery(self.model, spec, connections[self.db]).unread_count()
        count = RawSQL(f"({sql})", params, output_field=models.IntegerField())
        return self.annotate(feed_unread_count=count)

    def mark_all_read(self, user) -> int:
        """Mark everything visible to ``user`` read. Returns how many rows changed."""
        return read_state.mark_many(self.model, user, "read_at", using=self.db)

    def dismiss_all(self, user) -> int:
        """Dismiss everything visible to ``user``. Returns how many rows changed."""
        return read_state.mark_many(self.model, user, "dismissed_at", using=self.db)

    def mark_read_many(self, user, ids) -> int:
        """Mark the rows ``ids`` read for ``user``; ids the user cannot see are left
        alone. Returns how many rows changed."""
        return read_state.mark_many(self.model, user, "read_at", ids=ids, using=self.db)

    def dismiss_many(self, user, ids) -> int:
        """Dismiss the rows ``ids`` for ``user``; ids the user cannot see are left
        alone. Returns how many rows changed."""
        return read_state.mark_many(self.model, user, "dismissed_at", ids=ids, using=self.db)


class NotificationManager(models.Manager.from_queryset(NotificationQuerySet)):
    pass
