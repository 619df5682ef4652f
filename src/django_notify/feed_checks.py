"""Which of a few notifications each of many users can see, and each one's unread
count, in two statements whatever the number of users.

A broadcast wakes every open stream of a process with the same notification ids, and
each stream must check them against its own user's feed before sending anything. One
user at a time that is a statement per open stream (500 streams, 500 statements for
one system broadcast); here it is one statement for the visible rows of every user and
one for their unread counts. The conditions are the feed's own
(:class:`~django_notify.visibility.FeedQuery`), written against a relation of the
users' audience keys instead of one user's:

* ``a(u, k)``: every user with the system key, plus their team and organization keys.
  A membership table the adapter declares is read once for all the users
  (``WHERE user IN (…)``); keys the adapter returns as lists are rows of one
  ``VALUES``; a queryset is embedded once per user.
* the visible rows: a user's own direct rows among the ids, and the broadcast rows among
  the ids whose audience key is one of the user's, less the ones they dismissed;
* the unread counts: the direct branch's ``COUNT(*)`` grouped by recipient, and the
  broadcast branch's grouped by user, both from their partial indexes.

The tests check the answers against ``visible_to(user)`` and ``unread_count(user)``
user by user.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from typing import Any

from django.db import connections
from django.utils import timezone

from .feed_keys import ORGANIZATION_PREFIX, SYSTEM_KEY, TEAM_PREFIX
from .tenancy import MemberKeys
from .types import Scope
from .visibility import SQL, FeedQuery, FeedSpec, is_subquery, key_list, prefixed_key, sql_names

#: Users per statement: keeps every ``IN`` list and ``UNION ALL`` well inside SQLite's
#: limits (500 compound terms, 32,766 variables).
USERS_PER_STATEMENT = 200


@dataclass(frozen=True)
class FeedCheck:
    """One user's answer: the visible rows among the ids (``(pk, created_at)``, oldest
    first) and the unread count (``None`` when it was not asked for)."""

    rows: list[tuple[Any, Any]]
    count: int | None


def visible_per_user(
    model,
    users: Sequence[Any],
    ids: Iterable[Any],
    *,
    counts_for: Iterable[Any] = (),
    using: str = "default",
    now: datetime | None = None,
) -> dict[Any, FeedCheck]:
    """For each of ``users`` (keyed by pk): which of ``ids`` they can see, and their
    unread count if they can see any of them or their pk is in ``counts_for``.

    Two statements per :data:`USERS_PER_STATEMENT` users (one when nobody needs a
    count), plus whatever the tenancy adapter spends to give each user's keys when it
    declares no membership table.
    """
    now = now or timezone.now()
    connection = connections[using]
    ids = list(dict.fromkeys(ids))
    wanted = set(counts_for)
    unique = list({user.pk: user for user in users}.values())
    answers: dict[Any, FeedCheck] = {}
    read_pk, read_created = (
        _reader(model, "pk", connection),
        _reader(model, "created_at", connection),
    )
    for start in range(0, len(unique), USERS_PER_STATEMENT):
        chunk = unique[start : start + USERS_PER_STATEMENT]
        feeds = ManyFeeds(model, [FeedSpec.for_user(u, now) for u in chunk], connection)
        rows: dict[Any, list[tuple[Any, Any]]] = {user.pk: [] for user in chunk}
        if ids:
            for user_pk, pk, created_at in _fetch(connection, feeds.visible(ids)):
                rows[feeds.user_pk(user_pk)].append((read_pk(pk), read_created(created_at)))
        counted = [user.pk for user in chunk if rows[user.pk] or user.pk in wanted]
        counts = dict.fromkeys(counted, 0)
        if counted:
            for user_pk, count in _fetch(connection, feeds.unread_counts(counted)):
                counts[feeds.user_pk(user_pk)] = int(count)
        for user in chunk:
            ordered = sorted(rows[user.pk], key=lambda row: (row[1], row[0]))
            answers[user.pk] = FeedCheck(ordered, counts.get(user.pk))
    return answers


def _reader(model, name: str, connection) -> Callable[[Any], Any]:
    """What turns the database's value of a column into the field's Python value, as the
    ORM would (a datetime string on SQLite, a UUID stored as text)."""
    field = model._meta.pk if name == "pk" else model._meta.get_field(name)
    column = field.get_col(model._meta.db_table)
    converters = connection.ops.get_db_converters(column) + column.get_db_converters(connection)

    def read(value: Any) -> Any:
        for converter in converters:
            value = converter(value, column, connection)
        return value

    return read


def _fetch(connection, statement: SQL) -> list[tuple[Any, ...]]:
    sql, params = statement
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


class ManyFeeds:
    """The SQL of several users' feeds at once (one :class:`FeedSpec` per user, all at
    the same ``now``) on one database connection."""

    def __init__(self, model, specs: list[FeedSpec], connection) -> None:
        self.model, self.specs, self.connection = model, specs, connection
        self.n = sql_names(model, connection.vendor, connection.alias)
        self.user_field = model._meta.get_field("recipient")
        user_type = self.user_field.target_field.rel_db_type(connection)
        #: A user pk as a bound value typed like the user column.
        self.user_placeholder = f"CAST(%s AS {user_type})"
        self.now = connection.ops.adapt_datetimefield_value(specs[0].now)
        self._pks = {self._prep(spec.user_pk): spec.user_pk for spec in specs}

    def user_pk(self, value: Any) -> Any:
        """The pk of the spec a database value of the user column stands for."""
        return self._pks.get(value, value)

    def _prep(self, user_pk: Any) -> Any:
        return self.user_field.get_db_prep_value(user_pk, self.connection)

    def _user(self, user_pk: Any) -> SQL:
        return self.user_placeholder, [self._prep(user_pk)]

    def _in(self, values: list[Any]) -> str:
        return f"IN ({', '.join(['%s'] * len(values))})"

    # --- the users' audience keys ------------------------------------------------------------
    def _prefixed(self, prefix: str, column: str) -> str:
        return prefixed_key(self.connection, prefix, column)

    @cached_property
    def audience(self) -> SQL:
        """``SELECT u, k``: every user's audience keys (``s`` for each, and their team and
        organization keys with their prefixes)."""
        parts: list[str] = []
        params: list[Any] = []
        values: list[tuple[Any, str]] = [(spec.user_pk, SYSTEM_KEY) for spec in self.specs]
        tables: dict[tuple[Any, str], list[Any]] = {}
        for spec in self.specs:
            for prefix, keys in (
                (TEAM_PREFIX, spec.teams),
                (ORGANIZATION_PREFIX, spec.organizations),
            ):
                if isinstance(keys, MemberKeys):
                    tables.setdefault((keys.table, prefix), []).append(spec.user_pk)
                elif is_subquery(keys):
                    part = self._queryset_keys(spec, keys, prefix)
                    if part is not None:
                        parts.append(part[0])
                        params += part[1]
                elif keys is not None:
                    values += [(spec.user_pk, prefix + key) for key in key_list(keys)]
        for (membership, prefix), user_pks in tables.items():
            # One read of a declared membership table for all its users.
            table, user, key = membership.columns_sql(self.connection.alias)
            parts.append(
                f"SELECT {user}, {self._prefixed(prefix, key)} FROM {table} "
                f"WHERE {user} {self._in(user_pks)}"
            )
            params += [self._prep(pk) for pk in user_pks]
        rows, row_params = self._values(values)
        return " UNION ALL ".join([rows, *parts]), [*row_params, *params]

    def _values(self, values: list[tuple[Any, str]]) -> SQL:
        rows = ", ".join([f"({self.user_placeholder}, %s)"] * len(values))
        params = [p for user_pk, key in values for p in (self._prep(user_pk), key)]
        if self.connection.vendor == "sqlite":
            return f"SELECT column1, column2 FROM (VALUES {rows})", params
        return f'SELECT "v"."u", "v"."k" FROM (VALUES {rows}) "v"("u", "k")', params

    def _queryset_keys(self, spec: FeedSpec, keys: Any, prefix: str) -> SQL | None:
        """One user's keys from the adapter's queryset, as ``SELECT u, k``."""
        compiled = FeedQuery(self.model, spec, self.connection).compile_keys(keys)
        if compiled is None:
            return None
        user, user_params = self._user(spec.user_pk)
        k = self.connection.ops.quote_name("k")
        sql = (
            f"SELECT {user}, {self._prefixed(prefix, 'v')} "
            f"FROM (WITH {k}(v) AS ({compiled[0]}) SELECT v FROM {k}) {k}"
        )
        return sql, [*user_params, *compiled[1]]

    # --- statements ------------------------------------------------------------------------
    def _unexpired(self) -> SQL:
        return f"({self.n.expires_at} IS NULL OR {self.n.expires_at} > %s)", [self.now]

    def _receipt(self, state: str) -> str:
        n = self.n
        return (
            f"NOT EXISTS (SELECT 1 FROM {n.receipt_source} WHERE {n.receipt_notification} = "
            f'{n.pk} AND {n.receipt_user} = "a"."u" AND ({state}))'
        )

    def _with_audience(self, sql: str, params: list[Any]) -> SQL:
        audience, audience_params = self.audience  # built once for both statements
        return f'WITH "a"("u", "k") AS ({audience}) {sql}', [*audience_params, *params]

    def visible(self, ids: list[Any]) -> SQL:
        """``SELECT user, pk, created_at`` of every (user, row) among ``ids`` the user can
        see."""
        n = self.n
        users = [self._prep(spec.user_pk) for spec in self.specs]
        pk = self.model._meta.pk
        ids = [pk.get_db_prep_value(i, self.connection) for i in ids]
        unexpired, unexpired_params = self._unexpired()
        direct = (
            f"SELECT {n.recipient}, {n.pk}, {n.created_at} FROM {n.source} "
            f"WHERE {n.scope} = '{Scope.USER.value}' AND {n.recipient} {self._in(users)} "
            f"AND {n.dismissed_at} IS NULL AND {unexpired} AND {n.pk} {self._in(ids)}"
        )
        broadcast = (
            f'SELECT "a"."u", {n.pk}, {n.created_at} FROM {n.source} '
            f'INNER JOIN "a" ON {n.audience} = "a"."k" '
            f"WHERE {n.broadcast} AND {unexpired} AND {n.pk} {self._in(ids)} "
            f"AND {self._receipt(f'{n.receipt_dismissed_at} IS NOT NULL')}"
        )
        params = [*users, *unexpired_params, *ids, *unexpired_params, *ids]
        return self._with_audience(f"{direct} UNION ALL {broadcast}", params)

    def unread_counts(self, user_pks: list[Any]) -> SQL:
        """``SELECT user, count``: the unread count of each of ``user_pks`` (users with
        nothing unread have no row)."""
        n = self.n
        users = [self._prep(pk) for pk in user_pks]
        unexpired, unexpired_params = self._unexpired()
        direct = (
            f'SELECT {n.recipient} AS "u", COUNT(*) AS "c" FROM {n.source} '
            f"WHERE {n.scope} = '{Scope.USER.value}' AND {n.recipient} {self._in(users)} "
            f"AND {n.read_at} IS NULL AND {n.dismissed_at} IS NULL AND {unexpired} "
            f"GROUP BY {n.recipient}"
        )
        state = f"{n.receipt_read_at} IS NOT NULL OR {n.receipt_dismissed_at} IS NOT NULL"
        broadcast = (
            f'SELECT "a"."u", COUNT(*) FROM "a" INNER JOIN {n.source} '
            f'ON {n.audience} = "a"."k" WHERE "a"."u" {self._in(users)} AND {n.broadcast} '
            f'AND {unexpired} AND {self._receipt(state)} GROUP BY "a"."u"'
        )
        sql = (
            f'SELECT "t"."u", SUM("t"."c") FROM ({direct} UNION ALL {broadcast}) "t" '
            f'GROUP BY "t"."u"'
        )
        params = [*users, *unexpired_params, *users, *unexpired_params]
        return self._with_audience(sql, params)
