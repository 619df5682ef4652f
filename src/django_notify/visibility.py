"""Visibility as SQL: the feed split into its branches, each answered by its own index.

A user sees their direct rows, their teams' rows, their organization's rows and the
system's rows, minus expired rows and what they dismissed. Written as one ``OR`` of the
four, no index returns the rows in feed order or tests "unread" inside its condition:
the database reads every row the user can see, sorts them and filters read state
afterwards, so the cost grows with the feed, not with the page. Here the feed is two
``SELECT`` statements, each answered by its own index (see ``AbstractNotification.Meta``):

==============  =================================================  ===================
branch          condition                                          index
==============  =================================================  ===================
direct          ``scope = 'user' AND recipient_id = U``            ``dn_…_direct``
direct, unread  … ``AND read_at IS NULL AND dismissed_at IS NULL``   ``dn_…_unread``
broadcast       ``scope <> 'user' AND audience key IN (U's keys)``  ``dn_…_audience``
==============  =================================================  ===================

The audience key (:mod:`django_notify.feed_keys`) puts team, organization and system
rows under one indexed value, so a site with any mix of scopes plans and runs one
broadcast branch.

* :class:`FeedTable` stands where the notification table would in a queryset's ``FROM``:
  ``(branch UNION ALL branch) "alias"``. Filters, ordering, slicing, ``count()``, joins
  and prefetches of the queryset apply to it unchanged. When the queryset is a page of
  the feed (ordered newest first, sliced, filtered on the row's own columns), its
  filter, order and limit are copied into both branches, so each reads about one page
  from its index, whatever the size of the feed or the depth of the cursor (on
  PostgreSQL the broadcast rows of a page are read key by key, see
  :meth:`FeedQuery.rows`).
* :meth:`FeedQuery.unread_count` sums one ``COUNT(*)`` per branch, each from its index.
* :meth:`FeedQuery.direct_where` / :meth:`FeedQuery.broadcast_where` are the conditions
  the bulk read/dismiss statements use.

The SQL is written here rather than built through the ORM: it is the same for every
request, and building it from querysets cost several times the query itself. Scopes are
literals, not parameters, so prepared statements still match the partial indexes.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import datetime
from functools import lru_cache
from typing import Any

from django.core.exceptions import EmptyResultSet, FullResultSet
from django.db import connections, models
from django.db.models import F, Q
from django.db.models.expressions import Col, Expression, Value
from django.db.models.functions import Cast
from django.db.models.lookups import In, Lookup
from django.db.models.sql.datastructures import BaseTable
from django.db.models.sql.query import Query
from django.db.models.sql.where import WhereNode
from django.utils.functional import cached_property

from .feed_keys import BROADCAST_ROWS, ORGANIZATION_PREFIX, SYSTEM_KEY, TEAM_PREFIX, audience_key
from .feed_users import UserJoin
from .keyset import KeysetColumns
from .models.receipt import NotificationReceipt
from .tenancy import MemberKeys, feed_keys, get_adapter, key_column
from .types import Scope

#: The read state a feed row carries for the user it was read for.
USER_READ_AT = "user_read_at"
#: The feed order; a queryset in this order can have its page computed per branch.
FEED_ORDER = ("-created_at", "-id")


class _InKeys(In):
    """``field IN (subquery)``, written ``field = ANY(ARRAY(subquery))`` on PostgreSQL
    (see :meth:`FeedQuery._keys`). Used by ``audience_q()``."""

    def as_postgresql(self, compiler, connection):
        lhs, lhs_params = self.process_lhs(compiler, connection)
        rhs, rhs_params = self.process_rhs(compiler, connection)
        return f"{lhs} = ANY(ARRAY{rhs})", (*lhs_params, *rhs_params)


def _keys_as_text(keys: models.QuerySet) -> models.QuerySet:
    """The adapter's one-column queryset, its column cast to text like the key columns."""
    return keys.annotate(_notify_key=Cast(key_column(keys), models.CharField())).values(
        "_notify_key"
    )


def key_lookup(field_name: str, keys: Any):
    """``field IN keys`` as a ``Q`` (keys: a list or a one-column queryset); ``None`` when
    there is nothing to match."""
    if keys is None:
        return None
    if isinstance(keys, models.QuerySet):
        return Q(_InKeys(F(field_name), _keys_as_text(keys)))
    values = key_list(keys)
    return Q(**{f"{field_name}__in": values}) if values else None


def prefixed_key(connection, prefix: str, column: str) -> str:
    """SQL for an audience key from an adapter's key column: ``prefix`` and the key as
    text (PostgreSQL needs the cast; SQLite's ``||`` converts)."""
    if connection.vendor == "postgresql":
        return f"'{prefix}' || CAST({column} AS text)"
    return f"'{prefix}' || {column}"


def _output_field(keys: models.QuerySet):
    """The field of the one column ``keys`` selects; ``None`` if it selects whole rows."""
    query = keys.query
    if len(query.values_select) + len(query.annotation_select) != 1:
        return None
    if query.annotation_select:
        return next(iter(query.annotation_select.values())).output_field
    return query.select[0].output_field if query.select else None


def is_subquery(keys: Any) -> bool:
    return isinstance(keys, models.QuerySet | MemberKeys)


def key_list(keys: Any) -> list[str]:
    if isinstance(keys, str | int) or not hasattr(keys, "__iter__"):
        keys = [keys]
    return [str(k) for k in keys if k is not None]


@dataclass(frozen=True)
class FeedSpec:
    """Whose feed, and which part of it.

    ``teams`` and ``organizations`` are what the tenancy adapter gives: keys, a
    one-column queryset or a declared membership table's :class:`MemberKeys`
    (``None``: none). ``unread`` keeps unread rows only;
    ``with_dismissed`` keeps the rows the user dismissed (so a repeated dismiss is a
    quiet no-op); ``ids`` narrows to those rows.
    """

    user_pk: Any
    teams: Any
    organizations: Any
    now: datetime
    unread: bool = False
    with_dismissed: bool = False
    ids: tuple[Any, ...] | None = None
    #: A page also reads the users among its sender, actors and targets (see
    #: :class:`UserJoin`).
    join_users: bool = False
    #: The adapter's key subqueries as compiled SQL, per database: shared by every part
    #: of this feed (``but()`` keeps it), so a page and its count compile them once.
    compiled: dict = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def for_user(cls, user, now: datetime, **kwargs) -> FeedSpec:
        teams, organizations = feed_keys(get_adapter(), user)
        return cls(
            user_pk=user.pk,
            teams=teams,
            organizations=organizations,
            now=now,
            **kwargs,
        )

    def but(self, **changes) -> FeedSpec:
        return replace(self, **changes)


@dataclass(frozen=True)
class _Names:
    """Quoted names of one notification model on one database. The branches read the
    notification table as ``n`` and receipts as ``r``: short aliases keep a feed page's
    SQL within the length a database driver caches the parsing of (4 kB in psycopg)."""

    table: str  # the notification table, unaliased (UPDATE)
    source: str  # the notification table as "n" (FROM)
    pk: str
    pk_column: str  # unqualified (RETURNING)
    columns: tuple[str, ...]
    scope: str
    recipient: str
    team_key: str
    organization_key: str
    created_at: str
    expires_at: str
    read_at: str
    dismissed_at: str
    receipts: str  # the receipt table, unaliased (INSERT)
    receipt_source: str  # the receipt table as "r" (FROM)
    receipt_notification: str
    receipt_user: str
    receipt_read_at: str
    receipt_dismissed_at: str
    audience: str  # the audience key expression, as the audience index has it
    broadcast: str  # the audience index's condition: the broadcast rows


#: The notification table's alias inside the branches.
BRANCH_ALIAS = "n"


@lru_cache(maxsize=32)
def sql_names(model, vendor: str, alias: str) -> _Names:
    qn = connections[alias].ops.quote_name
    meta, receipt = model._meta, NotificationReceipt._meta
    table, receipts = qn(meta.db_table), qn(receipt.db_table)
    n, r = qn(BRANCH_ALIAS), qn("r")

    def col(name: str) -> str:
        return f"{n}.{qn(meta.get_field(name).column)}"

    def rcol(name: str) -> str:
        return f"{r}.{qn(receipt.get_field(name).column)}"

    return _Names(
        table=table,
        source=f"{table} {n}",
        pk=f"{n}.{qn(meta.pk.column)}",
        pk_column=qn(meta.pk.column),
        columns=tuple(f"{n}.{qn(f.column)}" for f in meta.concrete_fields),
        scope=col("scope"),
        recipient=col("recipient"),
        team_key=col("team_key"),
        organization_key=col("organization_key"),
        created_at=col("created_at"),
        expires_at=col("expires_at"),
        read_at=col("read_at"),
        dismissed_at=col("dismissed_at"),
        receipts=receipts,
        receipt_source=f"{receipts} {r}",
        receipt_notification=rcol("notification"),
        receipt_user=rcol("user"),
        receipt_read_at=rcol("read_at"),
        receipt_dismissed_at=rcol("dismissed_at"),
        audience=_as_indexed(model, alias, audience_key()),
        broadcast=_as_indexed(model, alias, BROADCAST_ROWS),
    )


def _as_indexed(model, alias: str, expression) -> str:
    """``expression`` (or a ``Q``) compiled as an index definition compiles it: columns
    unqualified, values inlined. The database matches an expression index (and a partial
    index's condition) only against the same expression, and a bound parameter is not
    the same as a literal. Unqualified columns name the branch's only table."""
    connection = connections[alias]
    query = Query(model, alias_cols=False)
    compiler = query.get_compiler(connection=connection)
    if isinstance(expression, Q):
        sql, params = query.build_where(expression).as_sql(compiler, connection)
    else:
        sql, params = compiler.compile(expression.resolve_expression(query))
    return sql % tuple(_literal(p) for p in params)


def _literal(value: Any) -> str:
    # Only the package's own constants reach here (scopes, key prefixes).
    if not isinstance(value, str) or "%" in value:
        raise TypeError(f"not an inlinable constant: {value!r}")
    return "'" + value.replace("'", "''") + "'"


SQL = tuple[str, list[Any]]


class FeedQuery:
    """The SQL of one :class:`FeedSpec` on one database connection."""

    def __init__(self, model, spec: FeedSpec, connection) -> None:
        self.model, self.spec, self.connection = model, spec, connection
        self.n = sql_names(model, connection.vendor, connection.alias)
        user_field = model._meta.get_field("recipient")
        self.user = user_field.get_db_prep_value(spec.user_pk, connection)
        self.now = connection.ops.adapt_datetimefield_value(spec.now)

    # --- conditions -----------------------------------------------------------------------
    def direct_where(self) -> SQL:
        n, spec = self.n, self.spec
        sql = f"{n.scope} = '{Scope.USER.value}' AND {n.recipient} = %s"
        if not spec.with_dismissed:
            sql += f" AND {n.dismissed_at} IS NULL"
        if spec.unread:
            sql += f" AND {n.read_at} IS NULL"
        return self._common(sql, [self.user])

    def broadcast_where(self) -> SQL:
        """The user's team, organization and system rows: the condition of the broadcast
        branch, one lookup of the user's audience keys in the audience index."""
        n = self.n
        match, params = self._audience_match()
        return self._broadcast(f"{n.broadcast} AND {n.audience} {match}", params)

    def broadcast_ids(self) -> SQL:
        """``SELECT`` the ids of the user's broadcast rows in this part of the feed."""
        n = self.n
        where, params = self.broadcast_where()
        return f"SELECT {n.pk} FROM {n.source} WHERE {where}", params

    def _broadcast(self, sql: str, params: list[Any], *, per_row: bool = False) -> SQL:
        """A broadcast condition plus expiry, ``ids`` and the user's receipts.

        ``per_row``: the receipt is looked up row by row (``OFFSET 0`` keeps the
        subquery from becoming a join), for a branch that reads about a page. A prepared
        statement's generic plan, not knowing the user, estimates their receipts from
        the average user: as a join it read all of a user's receipts and compared every
        row with each (at 1M rows, a user with 500 receipts: 4 ms instead of 0.4).
        """
        sql, params = self._common(sql, params)
        hidden = self._hidden()
        if hidden is not None:
            fence = " OFFSET 0" if per_row else ""
            sql += f" AND NOT EXISTS ({hidden[0]}{fence})"
            params += hidden[1]
        return sql, params

    def _common(self, sql: str, params: list[Any]) -> SQL:
        n = self.n
        sql += f" AND ({n.expires_at} IS NULL OR {n.expires_at} > %s)"
        params = [*params, self.now]
        if self.spec.ids is not None:
            pk = self.model._meta.pk
            ids = [pk.get_db_prep_value(i, self.connection) for i in self.spec.ids]
            sql += f" AND {n.pk} IN ({', '.join(['%s'] * len(ids))})"
            params += ids
        return sql, params

    def _audience_match(self) -> SQL:
        """The audience key's match against the user's keys, without the expression:
        ``= ANY(array)`` on PostgreSQL (an index condition, the array an InitPlan
        evaluated once), ``IN (…)`` elsewhere."""
        if self.connection.vendor == "postgresql":
            array, params = self.audience_array()
            return f"= ANY({array})", params
        parts, params = [f"SELECT '{SYSTEM_KEY}'"], []
        for prefix, keys in self._audiences():
            part = self._prefixed_keys(prefix, keys)
            if part is not None:
                parts.append(part[0])
                params += part[1]
        return f"IN ({' UNION ALL '.join(parts)})", params

    def audience_array(self) -> SQL:
        """PostgreSQL: the user's audience keys as one ``text[]``."""
        sql, params = f"ARRAY['{SYSTEM_KEY}']", []
        for prefix, keys in self._audiences():
            if is_subquery(keys):
                compiled = self.compile_keys(keys)
                if compiled is not None:
                    k = self.connection.ops.quote_name("k")
                    sql += (
                        f" || ARRAY(SELECT {prefixed_key(self.connection, prefix, f'{k}.v')} "
                        f"FROM ({compiled[0]}) {k}(v))"
                    )
                    params += compiled[1]
            elif keys is not None:
                values = [prefix + value for value in key_list(keys)]
                if values:
                    sql += f" || ARRAY[{', '.join(['%s'] * len(values))}]::text[]"
                    params += values
        return sql, params

    def _audiences(self) -> list[tuple[str, Any]]:
        """The adapter's keys, each with the prefix of its scope's audience keys."""
        return [(TEAM_PREFIX, self.spec.teams), (ORGANIZATION_PREFIX, self.spec.organizations)]

    def _prefixed_keys(self, prefix: str, keys: Any) -> SQL | None:
        """A ``SELECT`` of the keys with their prefix (not PostgreSQL); ``None`` when there
        are none."""
        if is_subquery(keys):
            compiled = self.compile_keys(keys)
            if compiled is None:
                return None
            # A CTE names the subquery's one column whatever the adapter called it.
            k = self.connection.ops.quote_name("k")
            return (
                f"SELECT {prefixed_key(self.connection, prefix, 'v')} "
                f"FROM (WITH {k}(v) AS ({compiled[0]}) SELECT v FROM {k})",
                compiled[1],
            )
        values = [prefix + value for value in key_list(keys)] if keys is not None else []
        if not values:
            return None
        return " UNION ALL ".join(["SELECT %s"] * len(values)), values

    def compile_keys(self, keys: models.QuerySet | MemberKeys) -> SQL | None:
        if isinstance(keys, MemberKeys):
            return keys.as_sql(self.connection)
        cache_key = (id(keys), self.connection.alias)
        if cache_key not in self.spec.compiled:
            self.spec.compiled[cache_key] = self._compile_keys_now(keys)
        compiled = self.spec.compiled[cache_key]
        return None if compiled is None else (compiled[0], list(compiled[1]))

    def _compile_keys_now(self, keys: models.QuerySet) -> SQL | None:
        if _output_field(keys) is None:
            keys = _keys_as_text(keys)  # whole rows: their key column
        try:
            sql, params = keys.query.get_compiler(connection=self.connection).as_sql()
        except EmptyResultSet:
            return None
        return sql, list(params)

    def _receipt(self, extra: str) -> SQL:
        n = self.n
        sql = (
            f"SELECT 1 FROM {n.receipt_source} WHERE {n.receipt_notification} = {n.pk} "
            f"AND {n.receipt_user} = %s{extra}"
        )
        return sql, [self.user]

    def _hidden(self) -> SQL | None:
        """The receipt that takes a broadcast row out of this part of the feed."""
        n, spec = self.n, self.spec
        if spec.unread and not spec.with_dismissed:
            state = f"{n.receipt_read_at} IS NOT NULL OR {n.receipt_dismissed_at} IS NOT NULL"
        elif spec.unread:
            state = f"{n.receipt_read_at} IS NOT NULL"
        elif not spec.with_dismissed:
            state = f"{n.receipt_dismissed_at} IS NOT NULL"
        else:
            return None
        return self._receipt(f" AND ({state})")

    # --- statements ------------------------------------------------------------------------
    def rows(self, page: Page | None = None) -> SQL:
        """Every branch's rows (the model's columns plus ``user_read_at``) as one
        ``UNION ALL``; with ``page``, each branch keeps only its first ``page.limit``
        rows in feed order that pass ``page.where``.

        On PostgreSQL a page reads broadcast rows key by key (a ``LATERAL`` scan of each
        of the user's audience keys, newest first, stopping at the page's end): it
        reads about a page per key instead of every broadcast the user can see, and its
        cost estimate stays small enough that the planner never starts parallel workers
        for it.
        """
        n, qn = self.n, self.connection.ops.quote_name
        columns = ", ".join(n.columns)
        user_read_at = qn(USER_READ_AT)
        if self.spec.unread:
            # Typed: inside a branch's own subquery an untyped NULL would be text.
            db_type = self.model._meta.get_field("read_at").db_type(self.connection)
            read_at: SQL = (f"CAST(NULL AS {db_type})", [])
        else:
            read_at = (
                f"(SELECT {n.receipt_read_at} FROM {n.receipt_source} "
                f"WHERE {n.receipt_notification} = {n.pk} AND {n.receipt_user} = %s)",
                [self.user],
            )
        select_read = (f"{read_at[0]} AS {user_read_at}", read_at[1])
        # (SELECT list, its params, WHERE, its params, keys to scan one by one)
        branches = [(f"{n.read_at} AS {user_read_at}", [], *self.direct_where(), None)]
        if page is not None and self.connection.vendor == "postgresql":
            sql = f"{n.broadcast} AND {n.audience} = {qn('k')}.v"
            branch = self._broadcast(sql, [], per_row=True)
            branches.append((*select_read, *branch, self.audience_array()))
        else:
            branches.append((*select_read, *self.broadcast_where(), None))
        sqls, params = [], []
        for number, (select, select_params, where, where_params, array) in enumerate(branches):
            sql = f"SELECT {columns}, {select} FROM {n.source} WHERE {where}"
            part = [*select_params, *where_params]
            if page is not None:
                if page.where:
                    sql += f" AND ({page.where})"
                    part += page.params
                sql += f" ORDER BY {n.created_at} DESC, {n.pk} DESC LIMIT {int(page.limit)}"
                alias = qn(f"f{number}")
                if array is not None:
                    sql = (
                        f"SELECT {alias}.* FROM unnest({array[0]}) {qn('k')}(v) "
                        f"CROSS JOIN LATERAL ({sql}) {alias}"
                    )
                    part = [*array[1], *part]
                else:
                    # Wrapped: SQLite allows ORDER BY and LIMIT only at the end of a compound.
                    sql = f"SELECT * FROM ({sql}) {alias}"
            sqls.append(sql)
            params += part
        return " UNION ALL ".join(sqls), params

    def unread_count(self) -> SQL:
        """The sum of one ``COUNT(*)`` per branch: one statement, each count an
        index-only scan of its branch's partial index (no sort, no row fetched)."""
        query = (
            self
            if self.spec.unread
            else FeedQuery(self.model, self.spec.but(unread=True), self.connection)
        )
        counts, params = [], []
        for where, where_params in (query.direct_where(), query.broadcast_where()):
            counts.append(f"(SELECT COUNT(*) FROM {query.n.source} WHERE {where})")
            params += where_params
        return "SELECT " + " + ".join(counts), params


@dataclass(frozen=True)
class Page:
    """What the outer query keeps, copied into each branch: its filter (SQL over the
    model's own columns, written against the branch alias ``n``) and how many rows it
    reads."""

    where: str
    params: list[Any]
    limit: int
    #: The filter can match nothing (``pk__in=[]``).
    empty: bool = False


# --- the feed table in a queryset's FROM ----------------------------------------------------


class FeedTable(BaseTable):
    """The branches of one user's feed, standing where the notification table would in
    a query's ``FROM``: ``(SELECT … UNION ALL SELECT …) "alias"``."""

    def __init__(self, table_name: str, alias: str | None, spec: FeedSpec, model) -> None:
        super().__init__(table_name, alias)
        self.spec = spec
        self.model = model

    def as_sql(self, compiler, connection):
        query = FeedQuery(self.model, self.spec, connection)
        page = self._page(compiler, query.n)
        if page is not None and not page.empty:
            # Every branch applies the whole filter: the outer query need not apply it
            # again. Left there, PostgreSQL would also filter each branch's rows above
            # its LIMIT, and with a parameter in the filter (a deep page's cursor) a
            # prepared statement's generic plan would estimate that filter blind and
            # cost more than a plan made for the values, so the page would be planned
            # anew on every call. (Django compiles the FROM before the WHERE; were it
            # ever the other way round, the filter would merely stay.) An empty page
            # keeps it: Django then answers without a query.
            compiler.where = None
        sql, params = query.rows(page)
        if self.spec.join_users:
            if page is None:  # the queryset checked pageable() before asking for it
                raise ValueError("the users of a feed are joined only into a page")
            sql, params = UserJoin.of(self.model, connection).wrap(sql, params)
        return f"({sql}) {quote_alias(compiler, self.table_alias)}", params

    def pageable(self, outer) -> bool:
        """Whether the query's page can be computed per branch: ordered newest first,
        sliced, and filtered only on the row's own columns (a filter on a join or an
        annotation can only be applied after the union)."""
        return not (
            outer.high_mark is None
            or tuple(outer.order_by) not in (FEED_ORDER, ("-created_at", "-pk"))
            or not outer.standard_ordering  # reverse(), last()
            or outer.distinct
            or outer.combinator
            or outer.group_by is not None
            or outer.extra_order_by
            or not _own_columns_only(outer.where, self.table_alias)
        )

    def _page(self, compiler, names: _Names) -> Page | None:
        """The outer query's page, if it can be computed per branch (:meth:`pageable`)."""
        outer = compiler.query
        if not self.pageable(outer):
            return None
        own = outer.where.relabeled_clone({self.table_alias: BRANCH_ALIAS})
        try:
            where, params = compiler.compile(own)
        except FullResultSet:
            where, params = "", []
        except EmptyResultSet:
            return Page("1 = 0", [], outer.high_mark, empty=True)  # e.g. pk__in=[]
        return Page(where, list(params), outer.high_mark)

    def relabeled_clone(self, change_map):
        alias = change_map.get(self.table_alias, self.table_alias)
        return self.__class__(self.table_name, alias, self.spec, self.model)

    @property
    def identity(self):
        return self.__class__, self.table_name, self.table_alias, id(self.spec)

    def __hash__(self):
        return hash(self.identity)


def _nodes(node) -> Iterator[Any]:
    yield node
    for child in getattr(node, "get_source_expressions", lambda: [])():
        if child is not None:
            yield from _nodes(child)


def _own_columns_only(where: WhereNode, alias: str) -> bool:
    """True if ``where`` reads only columns of ``alias`` (no join, annotation, subquery
    or raw SQL), so it means the same inside a branch."""
    for node in _nodes(where):
        if isinstance(node, Col):
            if node.alias != alias:
                return False
        elif isinstance(node, WhereNode | Expression):
            if not _safe_node(node):
                return False
    return True


def _safe_node(node) -> bool:
    return isinstance(node, WhereNode | Lookup | Value | Cast | KeysetColumns)


class FeedColumn(Expression):
    """A column the feed table adds to the model's own (``user_read_at``), for
    ``annotate()``; relabelled with its table when the query becomes a subquery."""

    contains_column_references = True

    def __init__(self, alias: str, column: str = USER_READ_AT, output_field=None) -> None:
        super().__init__(output_field=output_field or models.DateTimeField())
        self.alias, self.column = alias, column

    def as_sql(self, compiler, connection):
        column = connection.ops.quote_name(self.column)
        return f"{quote_alias(compiler, self.alias)}.{column}", []

    def relabeled_clone(self, change_map):
        alias = change_map.get(self.alias, self.alias)
        return self.__class__(alias, self.column, self.output_field)

    def resolve_expression(
        self, query=None, allow_joins=True, reuse=None, summarize=False, for_save=False
    ):
        # Nothing to resolve (no source expressions, and the alias is the feed table's
        # already), and never changed in place: the expression is its own resolved form.
        # Django's default copies it, once per joined user column of every page.
        if summarize:
            return super().resolve_expression(query, allow_joins, reuse, summarize, for_save)
        return self

    @cached_property
    def identity(self):
        # What Django's own identity says (it compares and hashes expressions by it),
        # without binding the constructor's signature with ``inspect``: a feed page
        # creates one of these per joined user column, and that binding was a third of
        # the Python time of building the page.
        field = self.output_field
        model = getattr(field, "model", None)
        key = (model._meta.label, field.name) if model is not None else type(field)
        return (type(self), self.alias, self.column, key)

    def get_group_by_cols(self):
        return [self]


def quote_alias(compiler, alias: str) -> str:
    """A table alias written as the compiler writes it in the rest of the query: Django
    5.2 leaves its own aliases (``U0``) unquoted, so PostgreSQL folds them to lower case;
    6.1 quotes every name. The feed table's alias must match either way."""
    quote = getattr(compiler, "quote_name", None) or compiler.quote_name_unless_alias
    return quote(alias)


def feed_table(query) -> FeedTable | None:
    """The query's feed table, if its ``FROM`` starts with one."""
    for table in query.alias_map.values():
        return table if isinstance(table, FeedTable) else None
    return None


def use_feed(query, spec: FeedSpec) -> str:
    """Make ``query`` read from the feed described by ``spec``; returns its alias."""
    alias = query.get_initial_alias()
    current = query.alias_map[alias]
    query.alias_map[alias] = FeedTable(current.table_name, alias, spec, query.model)
    return alias
