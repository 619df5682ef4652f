"""The feed's statements as server-side prepared statements, on a PostgreSQL connection
that runs them more than once.

The unread count and a feed page are the same SQL for every user; only the parameters
differ. PostgreSQL parses and plans each statement again on every call, and for the
feed's branches that planning costs more than running them (0.2–0.3 ms against 0.1 ms
for a page on the benchmark's data). A prepared statement is planned once per
connection. Django binds parameters on the client by default, so nothing it sends can
be prepared, and it switches psycopg's automatic preparing off (``prepare_threshold``
``None``) to keep transaction-mode poolers working.

Inside :func:`preparing`, the cursors Django opens on the connection run their
statement as psycopg's server-bound, prepared statement once this connection has run
that same SQL text before (:data:`REPEATS` times), and as usual until then. A
connection that lives for one request (``CONN_MAX_AGE = 0``) seldom repeats a statement
and so never prepares one: it pays nothing. Persistent connections and Django's
connection pool prepare each statement once.

Off when ``DJANGO_NOTIFY["PREPARED_STATEMENTS"]`` is false (a transaction-mode pooler
that cannot keep prepared statements: PgBouncer before 1.21, or with
``max_prepared_statements = 0``), when the database's ``OPTIONS`` set
``prepare_threshold`` to ``None`` (the host's own "never prepare"), on other databases
and under psycopg 2. When the ``OPTIONS`` turn on ``server_side_binding`` with a
threshold, psycopg already prepares every repeated statement and nothing changes here.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from weakref import WeakKeyDictionary

from .conf import app_settings

#: Runs of the same SQL on a connection before it is prepared: the second run prepares.
REPEATS = 1
#: SQL texts counted per connection, least recently used dropped first (psycopg's own
#: limit of prepared statements per connection is 100).
TRACKED = 100

_seen: WeakKeyDictionary[Any, OrderedDict[str, int]] = WeakKeyDictionary()


def _driver_connection(connection) -> Any | None:
    """The psycopg 3 connection under ``connection`` if statements may be prepared on it."""
    if connection.vendor != "postgresql" or not app_settings.PREPARED_STATEMENTS:
        return None
    options = connection.settings_dict.get("OPTIONS") or {}
    if "prepare_threshold" in options and options["prepare_threshold"] is None:
        return None
    if options.get("server_side_binding") is True and options.get("prepare_threshold"):
        return None  # psycopg prepares every repeated statement already
    connection.ensure_connection()
    raw = connection.connection
    if raw is None or not hasattr(raw, "prepare_threshold"):  # psycopg 2
        return None
    return raw


def _due(raw, sql: str) -> bool:
    """Count one run of ``sql`` on ``raw``; True once it has run :data:`REPEATS` times."""
    counts = _seen.get(raw)
    if counts is None:
        counts = _seen[raw] = OrderedDict()
    runs = counts.get(sql, 0)
    counts[sql] = runs + 1
    counts.move_to_end(sql)
    if len(counts) > TRACKED:
        counts.popitem(last=False)
    return runs >= REPEATS


class _Cursor:
    """What Django's cursor wraps inside :func:`preparing`: the connection's own cursor
    until a statement is due, then psycopg's server-bound cursor executing it prepared."""

    def __init__(self, raw, factory, **kwargs) -> None:
        self._raw = raw
        self._cursor = factory(raw, **kwargs)
        self._composed: tuple[str, Any] | None = None

    def execute(self, query, params=None, **kwargs):
        if isinstance(query, str) and not kwargs and _due(self._raw, query):
            from django.db.backends.postgresql.base import ServerBindingCursor

            server = ServerBindingCursor(self._raw)
            _keep_time_zone(self._cursor, server)
            self._cursor.close()
            self._cursor = server
            self._composed = (query, params)
            threshold = self._raw.prepare_threshold
            if threshold is None:
                # Django keeps psycopg from preparing anything; for this statement only.
                self._raw.prepare_threshold = REPEATS
            try:
                return self._cursor.execute(query, params, prepare=True)
            finally:
                self._raw.prepare_threshold = threshold
        return self._cursor.execute(query, params, **kwargs)

    @property
    def _query(self):
        # Django's query log reads the statement the driver sent; a prepared one is sent
        # with $1 placeholders, so it is logged as the client-bound cursor would send it.
        if self._composed is None:
            return self._cursor._query
        from psycopg import ClientCursor

        return _Logged(ClientCursor(self._raw).mogrify(*self._composed).encode())

    def __iter__(self) -> Iterator[Any]:
        return iter(self._cursor)

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self._cursor.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._cursor, name)


def _keep_time_zone(replaced, server) -> None:
    """Django gives a cursor its own ``timestamptz`` loader when the database's time
    zone is no longer the one the connection opened with (``create_cursor``): the
    server-bound cursor that replaces it reads times the same way."""
    from psycopg.postgres import types
    from psycopg.pq import Format

    oid = types["timestamptz"].oid
    loader = replaced.adapters.get_loader(oid, Format.TEXT)
    if loader is not server.adapters.get_loader(oid, Format.TEXT):
        server.adapters.register_loader(oid, loader)


class _Logged:
    def __init__(self, query: bytes) -> None:
        self.query = query


@contextmanager
def preparing(connection) -> Iterator[None]:
    """Statements that cursors opened on ``connection`` run inside the block are prepared
    from their second run on this connection (see the module's docstring)."""
    raw = _driver_connection(connection)
    factory = getattr(raw, "cursor_factory", None)
    if raw is None or getattr(factory, "notify_preparing", False):  # off, or nested
        yield
        return

    def cursor(raw_connection, **kwargs):
        return _Cursor(raw_connection, factory, **kwargs)

    cursor.notify_preparing = True
    raw.cursor_factory = cursor
    try:
        yield
    finally:
        raw.cursor_factory = factory
