"""Set-based inserts of many rows that share most of their values.

A fan-out writes thousands of rows that differ in two or three columns (the recipient,
their organization; the delivery's user and address). ``bulk_create`` prepares every
value of every row in Python and binds each one (measured: 250,000 values prepared and
quoted for 10,000 notification rows, about 1 s on PostgreSQL). :func:`insert` binds each
column whose value is the same in every row once, and carries the varying columns of
all rows in one JSON array, which the database expands into rows of one
``INSERT … SELECT`` (``jsonb_array_elements`` on PostgreSQL, ``json_each`` on SQLite):

    INSERT INTO t (a, b, c) SELECT CAST(%s AS …), CAST(j.value->>0 AS …), …
    FROM jsonb_array_elements(%s) WITH ORDINALITY j ORDER BY j.n

Serialising that array is one ``json.dumps`` (C speed), and the statement has as many
parameters as the table has columns whatever the number of rows, so SQLite's parameter
limit never splits it. Primary keys come back with ``RETURNING`` and are assigned in
row order: one statement takes its sequence (or rowid) values in the order the
``SELECT`` feeds it. Other databases fall back to ``bulk_create``.

Rows past one batch inside a transaction are *staged* instead: written into a temporary
table and inserted from it by one ``INSERT … SELECT``, the new keys read back in slices.
On PostgreSQL they are streamed with ``COPY`` into a table dropped at the commit (the
role's right to create temporary tables is checked first); on SQLite one
``executemany`` fills the table from the rows as they come, and it is dropped once the
``INSERT`` has been read. However many rows, that is four statements per table, and no
batch of rows is ever held as one parameter.
"""

from __future__ import annotations

import json
import operator
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import nullcontext
from itertools import chain, islice
from typing import Any

from django.db import connections, models, router
from django.db.models.fields import DateField, Field

from .db_values import stored_as_is

#: Rows per statement unless the caller says: the arrays (or the JSON text) of one
#: chunk stay a few hundred KB.
CHUNK = 10_000

_PLAIN_PRE_SAVE = Field.pre_save


def supported(connection) -> bool:
    if connection.vendor == "postgresql":
        return True
    if connection.vendor == "sqlite":
        return connection.features.can_return_rows_from_bulk_insert
    return False


def insert(
    model, objs: Sequence[models.Model], *, using: str | None = None, batch_size: int | None = None
) -> list[Any]:
    """Insert ``objs`` (unsaved instances of ``model``, no multi-table inheritance) and
    set their primary keys and saved state, as ``bulk_create`` does; returns them.
    Field ``pre_save`` hooks (``auto_now_add`` and the like) run as for a save."""
    objs = list(objs)
    if not objs:
        return objs
    using = using or router.db_for_write(model)
    connection = connections[using]
    opts = model._meta
    if not supported(connection) or opts.parents:
        return model._base_manager.using(using).bulk_create(objs, batch_size=batch_size)
    pk = opts.pk
    auto_pk = pk.db_returning and all(obj.pk is None for obj in objs)
    fields = [f for f in opts.concrete_fields if not (auto_pk and f is pk) and not f.generated]
    statements = []
    size = batch_size or CHUNK
    for start in range(0, len(objs), size):
        chunk = objs[start : start + size]
        try:
            statements.append((chunk, *_statement(model, fields, chunk, connection, auto_pk)))
        except (TypeError, ValueError):
            # A value JSON cannot carry to SQLite (bytes, a non-finite float): let
            # bulk_create bind it as a parameter.
            return model._base_manager.using(using).bulk_create(objs, batch_size=batch_size)
    for chunk, sql, params in statements:
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            if auto_pk:
                ids = sorted(row[0] for row in cursor.fetchall())
                if len(ids) != len(chunk):  # never expected: one row per SELECT row
                    raise RuntimeError(f"inserted {len(ids)} rows for {len(chunk)}")
                for obj, value in zip(chunk, ids, strict=True):
                    obj.pk = pk.to_python(value)
    for obj in objs:
        obj._state.adding = False
        obj._state.db = using
    return objs


def insert_columns(
    model,
    columns: Sequence[str],
    rows: Iterable[Sequence[Any]],
    *,
    constants: dict[str, Any] | None = None,
    using: str | None = None,
    batch_size: int | None = None,
) -> list[Any]:
    """Insert rows given as value tuples, without building model instances; returns
    the new primary keys in row order. ``rows`` may be a generator: it is read one
    batch at a time.

    ``columns`` names (attnames) the values of each tuple in ``rows``; ``constants``
    gives one value for every row. Any other field takes its default: a callable
    default of a unique field (a generated key) is called per row, any other default
    once. Nothing runs per instance (no ``pre_save``, no signals): callers pass what
    ``auto_now`` fields would have set. The database's own path is the same
    ``INSERT … SELECT`` as :func:`insert`; on a database without it, instances are built
    and ``bulk_create`` writes them.
    """
    constants = dict(constants or {})
    using = using or router.db_for_write(model)
    connection = connections[using]
    opts = model._meta
    fields = [f for f in opts.concrete_fields if not f.primary_key and not f.generated]
    per_row = _defaults(opts, fields, [*columns, *constants], constants)
    names = [*columns, *(f.attname for f in per_row)]
    if not supported(connection) or opts.parents:
        objs = [
            model(**constants, **dict(zip(columns, row, strict=True))) for row in rows
        ]  # per-row defaults are called by the model itself
        model._base_manager.using(using).bulk_create(objs, batch_size=batch_size)
        return [obj.pk for obj in objs]
    by_name = {f.attname: f for f in fields}
    pks: list[Any] = []
    size = batch_size or CHUNK
    rows = iter(rows)
    first = list(islice(rows, size + 1))
    if len(first) > size and _stages(connection):
        every: Iterable[Sequence[Any]] = chain(first, rows)
        if per_row:  # a generated key per row, as below
            every = ((*row, *(f.get_default() for f in per_row)) for row in every)
        statement = _Statement(model, by_name, names, {}, constants, ("", ()), [opts.pk.attname],
                               connection)  # fmt: skip
        found: list[Any] = []
        statement.staged(every, size, lambda batch: found.extend(row[0] for row in batch))
        return keys_of(opts.pk, sorted(found))
    rows = chain(first, rows)
    while chunk := list(islice(rows, size)):
        vectors = [list(v) for v in zip(*chunk, strict=True)] if columns else []
        vectors += [[f.get_default() for _ in chunk] for f in per_row]
        parts = [(by_name[name], values) for name, values in zip(names, vectors, strict=True)]
        parts += [(by_name[name], [value]) for name, value in constants.items()]
        parts.sort(key=lambda part: fields.index(part[0]))
        sql, params = _statement_from_columns(model, parts, len(chunk), connection, returning=True)
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            ids = sorted(row[0] for row in cursor.fetchall())
        if len(ids) != len(chunk):  # never expected: one row per SELECT row
            raise RuntimeError(f"inserted {len(ids)} rows for {len(chunk)}")
        pks += keys_of(opts.pk, ids)
    return pks


def keys_of(pk, values: list[Any]) -> list[Any]:
    """Primary key values read back, as the field's Python values (the driver's ints
    already are; anything else goes through ``to_python``)."""
    if stored_as_is(pk, values) and not pk.is_relation:
        return values
    return [pk.to_python(value) for value in values]


def _defaults(opts, fields, given: list[str], constants: dict[str, Any]) -> list[Any]:
    """Check that every ``given`` attname is a field; put the default of every other
    field into ``constants`` (called once), except the generated unique keys (a unique
    field, or the one field of a unique constraint, with a callable default): returns
    those, which need a value per row."""
    for name in given:
        opts.get_field(name)  # FieldDoesNotExist names the mistake
    unique = {f.name for f in fields if f.unique} | {
        c.fields[0]
        for c in opts.constraints
        if isinstance(c, models.UniqueConstraint) and len(c.fields) == 1
    }
    keys = []
    for f in fields:
        if f.attname in given:
            continue
        if f.name in unique and f.has_default() and callable(f.default):
            keys.append(f)
        else:
            constants[f.attname] = f.get_default()
    return keys


def _plain_pre_save(field) -> bool:
    """``pre_save`` returns the attribute as it is (date fields without ``auto_now``)."""
    if type(field).pre_save is _PLAIN_PRE_SAVE:
        return True
    return isinstance(field, DateField) and not (field.auto_now or field.auto_now_add)


def _values(field, objs) -> list[Any]:
    if _plain_pre_save(field):
        attname = field.attname
        # Unsaved instances hold every value in __dict__; getattr would go through the
        # field's descriptor (and a change tracker's wrapper) for each of them.
        return [
            obj.__dict__[attname] if attname in obj.__dict__ else getattr(obj, attname)
            for obj in objs
        ]
    return [field.pre_save(obj, True) for obj in objs]


def _columns(fields, objs) -> list[list[Any]]:
    """Each field's values over ``objs``. Fields with a plain ``pre_save`` whose values
    every instance holds in ``__dict__`` (rows built in bulk do) are read in one C-level
    pass per row and transposed, not one Python step per value."""
    plain = [f for f in fields if _plain_pre_save(f)]
    read: dict[Any, list[Any]] = {}
    if plain:
        getter = operator.itemgetter(*(f.attname for f in plain))
        try:
            rows = [getter(obj.__dict__) for obj in objs]
        except KeyError:  # a deferred or unset field: read each value as below
            pass
        else:
            columns = zip(*rows, strict=True) if len(plain) > 1 else [rows]
            read = {f: list(c) for f, c in zip(plain, columns, strict=True)}
    return [read[f] if f in read else _values(f, objs) for f in fields]


def _statement(model, fields, objs, connection, returning: bool) -> tuple[str, list[Any]]:
    parts = list(zip(fields, _columns(fields, objs), strict=True))
    return _statement_from_columns(model, parts, len(objs), connection, returning=returning)


def _prepared(field, values: list[Any], connection) -> list[Any]:
    if stored_as_is(field, values):
        return values
    return [field.get_db_prep_save(v, connection) for v in values]


def _statement_from_columns(
    model, parts: list[tuple[Field, list[Any]]], n: int, connection, *, returning: bool
) -> tuple[str, list[Any]]:
    """``parts``: (field, its value for each of the ``n`` rows, or one value for all)."""
    qn = connection.ops.quote_name
    select: list[str] = []
    params: list[Any] = []
    varying: list[list[Any]] = []
    for field, values in parts:
        first = values[0]
        # Both in C: every value equal to the first, and of one type (True == 1).
        if values.count(first) == len(values) and len(set(map(type, values))) == 1:
            select.append(_constant(field, connection))
            params.append(field.get_db_prep_save(first, connection))
        else:
            select.append(_column(field, connection, len(varying)))
            varying.append(_carried(field, values, connection))
    columns = ", ".join(qn(field.column) for field, _ in parts)
    table = qn(model._meta.db_table)
    # Tuples (JSON arrays all the same): a tuple of plain values stops being tracked by
    # the garbage collector at its first pass, where 10,000 lists would each be traced
    # by every full collection until the statement is sent.
    rows = list(zip(*varying, strict=True)) if varying else [()] * n
    sql = f"INSERT INTO {table} ({columns}) SELECT {', '.join(select)} FROM {_source(connection)}"
    params.append(json.dumps(rows, allow_nan=False, default=str))
    if returning:
        sql += f" RETURNING {qn(model._meta.pk.column)}"
    return sql, params


def _carried(field, values: list[Any], connection) -> list[Any]:
    """``values`` as the JSON array carries them to the database."""
    if connection.vendor == "postgresql" and _is_json(field, connection):
        # The document itself (not the driver's adapter), read back with ->.
        encoder = field.encoder
        return [None if v is None else json.loads(json.dumps(v, cls=encoder)) for v in values]
    return _prepared(field, values, connection)


def insert_select(
    model,
    *,
    varying: dict[str, Sequence[Any]],
    expressions: dict[str, tuple[str, Sequence[Any]]] | None = None,
    constants: dict[str, Any] | None = None,
    join: tuple[str, Sequence[Any]] = ("", ()),
    returning: Sequence[str] = (),
    using: str | None = None,
    batch_size: int | None = None,
    on_rows: Callable[[list[tuple]], None] | None = None,
) -> list[tuple]:
    """``INSERT … SELECT`` whose rows are the ``varying`` columns (attname → one value per
    row, carried as one JSON array per ``batch_size`` rows, or staged: see the module
    text) joined to other tables: returns the ``returning`` columns (attnames) of the
    new rows.

    The rows are the subquery ``"r"``, one column per ``varying`` attname. ``join`` is
    SQL placed after it (``JOIN auth_user u ON u.id = "r"."user_id"``), and
    ``expressions`` give columns computed over ``"r"`` and the joined tables, as
    (SQL, params). ``constants`` give one value for every row; any other field takes its
    default, called once, except that a unique field with a callable default (a
    generated key) must be given; ``auto_now`` fields are the caller's, as in
    :func:`insert_columns`. ``on_rows``: called with the returned rows a slice at a time
    (at most ``batch_size``), and nothing is returned: a large write's rows are never
    all held at once. Only where :func:`supported` says so.
    """
    using = using or router.db_for_write(model)
    connection = connections[using]
    if not supported(connection):
        raise NotImplementedError(f"INSERT … SELECT with RETURNING on {connection.vendor}")
    pk_name = model._meta.pk.attname
    returning = [pk_name if name == "pk" else name for name in returning]
    opts = model._meta
    expressions = dict(expressions or {})
    constants = dict(constants or {})
    fields = [f for f in opts.concrete_fields if not f.primary_key and not f.generated]
    by_name = {f.attname: f for f in fields}
    keys = _defaults(opts, fields, [*varying, *expressions, *constants], constants)
    if keys:  # one value per row is the caller's to carry
        raise TypeError(f"insert_select() needs a value for {keys[0].attname} (a unique key)")
    n = len(next(iter(varying.values()))) if varying else 0
    if not n:
        return []
    found: list[tuple] = []
    collect = on_rows or found.extend
    statement = _Statement(model, by_name, varying, expressions, constants, join, returning,
                           connection)  # fmt: skip
    size = batch_size or CHUNK
    columns = [values if isinstance(values, list) else list(values) for values in varying.values()]
    if n <= size:  # one batch: the columns as given, not copied
        statement.carried(columns, collect)
    elif _stages(connection):
        statement.staged(zip(*columns, strict=True), size, collect)
    else:
        for start in range(0, n, size):
            statement.carried([column[start : start + size] for column in columns], collect)
    return found


class _Statement:
    """The ``INSERT … SELECT`` of :func:`insert_select` (and of staged rows), over the
    rows ``"r"`` from a JSON array or from a staging table."""

    def __init__(self, model, by_name, varying, expressions, constants, join, returning,
                 connection) -> None:  # fmt: skip
        self.connection = connection
        self.qn = qn = connection.ops.quote_name
        self.varying = [by_name[name] for name in varying]
        opts = model._meta
        order = [f for f in by_name.values() if f.attname in varying
                 or f.attname in expressions or f.attname in constants]  # fmt: skip
        outer: list[str] = []
        self.params: list[Any] = []
        for f in order:
            if f.attname in varying:
                outer.append(f'"r".{qn(f.attname)}')
            elif f.attname in expressions:
                sql, more = expressions[f.attname]
                outer.append(sql)
                self.params.extend(more)
            else:
                outer.append(_constant(f, connection))
                self.params.append(f.get_db_prep_save(constants[f.attname], connection))
        join_sql, self.join_params = join[0], list(join[1])
        self.head = (
            f"INSERT INTO {qn(opts.db_table)} ({', '.join(qn(f.column) for f in order)}) "
            f"SELECT {', '.join(outer)} FROM"
        )
        self.tail = f' AS "r" {join_sql}'
        if returning:
            self.tail += " RETURNING " + ", ".join(
                qn(opts.get_field(name).column) for name in returning
            )
        self.returning = bool(returning)

    def carried(self, columns: list[list[Any]], collect: Callable[[list[tuple]], None]) -> None:
        """The rows as one JSON array parameter."""
        connection, qn = self.connection, self.qn
        inner = [
            f"{_column(f, connection, i)} AS {qn(f.attname)}" for i, f in enumerate(self.varying)
        ]
        carried = [_carried(f, values, connection) for f, values in zip(self.varying, columns,
                                                                          strict=True)]  # fmt: skip
        rows = list(zip(*carried, strict=True))  # tuples, as in _statement_from_columns
        sql = f"{self.head} (SELECT {', '.join(inner)} FROM {_source(connection)}){self.tail}"
        params = [*self.params, json.dumps(rows, allow_nan=False, default=str), *self.join_params]
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            if self.returning:
                collect(cursor.fetchall())

    def staged(
        self, rows: Iterable[Sequence[Any]], size: int, collect: Callable[[list[tuple]], None]
    ) -> None:
        """The rows streamed into a staging table, then inserted from it (PostgreSQL)."""
        qn = self.qn
        stage = _stage(self.connection, self.varying, rows)
        inner = [f'"s".{qn(f"c{i}")} AS {qn(f.attname)}' for i, f in enumerate(self.varying)]
        sql = (
            f'{self.head} (SELECT {", ".join(inner)} FROM {qn(stage)} "s" '
            f'ORDER BY "s"."n"){self.tail}'
        )

        with self.connection.cursor() as cursor:
            cursor.execute(sql, [*self.params, *self.join_params])
            if self.returning:
                while batch := cursor.fetchmany(size):
                    collect(batch)
            if self.connection.vendor == "sqlite":  # no ON COMMIT DROP there
                cursor.execute(f"DROP TABLE temp.{qn(stage)}")


def _stages(connection) -> bool:
    """Rows past one batch are staged (see the module text) inside a transaction (on
    PostgreSQL the staging table lives until its commit; a failure takes it away on
    both): on SQLite, and on PostgreSQL through psycopg 3 (psycopg2 has another ``COPY``
    interface) for a role that may create temporary tables (a locked-down role may not:
    its rows go in batches, as on any other database)."""
    if not connection.in_atomic_block:
        return False
    if connection.vendor == "sqlite":
        return True
    if connection.vendor != "postgresql":
        return False
    if getattr(connection.Database, "__name__", "") != "psycopg":
        return False
    with connection.cursor() as cursor:
        cursor.execute("SELECT has_database_privilege(current_database(), 'TEMPORARY')")
        return bool(cursor.fetchone()[0])


def _stage(connection, fields, rows: Iterable[Sequence[Any]]) -> str:
    """A temporary table holding ``rows`` (one value per field each) in columns ``c0``…
    and their order in ``n``, filled by one ``COPY`` (PostgreSQL) or one
    ``executemany`` (SQLite); returns its name."""
    qn = connection.ops.quote_name
    name = f"django_notify_stage_{uuid.uuid4().hex[:16]}"
    columns = ", ".join(f"{qn(f'c{i}')} {f.db_type(connection)}" for i, f in enumerate(fields))
    # Columns whose values need preparing (not ints or text); NULL never does.
    prepare = [
        (i, p) for i, f in enumerate(fields) if (p := _copy_value(f, connection)) is not None
    ]
    if connection.vendor == "sqlite":
        return _stage_sqlite(connection, name, columns, len(fields), prepare, rows)
    copy_sql = (
        f"COPY {qn(name)} ({qn('n')}, {', '.join(qn(f'c{i}') for i in range(len(fields)))}) "
        "FROM STDIN"
    )
    with connection.cursor() as cursor:
        cursor.execute(f"CREATE TEMPORARY TABLE {qn(name)} ({qn('n')} bigint, {columns}) "
                       "ON COMMIT DROP")  # fmt: skip

        def copy(sql, params, many, context):
            with connection.wrap_database_errors, context["cursor"].cursor.copy(sql) as stream:
                for row in _numbered(rows, prepare):
                    stream.write_row(row)

        _through_wrappers(cursor, copy_sql, copy)
    return name


def _numbered(rows: Iterable[Sequence[Any]], prepare) -> Iterator[tuple]:
    """Each row with its number first and its ``prepare`` columns prepared, one at a time:
    the staging statement never holds them all."""
    for n, row in enumerate(rows):
        if prepare:
            row = list(row)
            for i, p in prepare:
                if row[i] is not None:
                    row[i] = p(row[i])
        yield (n, *row)


def _stage_sqlite(connection, name, columns, width, prepare, rows) -> str:
    qn = connection.ops.quote_name
    fill_sql = f"INSERT INTO temp.{qn(name)} VALUES ({', '.join(['?'] * (width + 1))})"

    def fill(sql, params, many, context):
        # sqlite3's own executemany, which reads the rows as it goes: Django's wrapper
        # tees them to peek at the first, and the tee would keep every row.
        with connection.wrap_database_errors:
            connection.Database.Cursor.executemany(
                context["cursor"].cursor, sql, _numbered(rows, prepare)
            )

    with connection.cursor() as cursor:
        cursor.execute(f"CREATE TEMPORARY TABLE {qn(name)} ({qn('n')} integer, {columns})")
        _through_wrappers(cursor, fill_sql, fill)
    return name


def _through_wrappers(cursor, sql: str, run: Callable) -> None:
    """Run ``run`` as the statement ``sql`` through the execute wrappers and the query
    log, like any statement: query counts and instrumentation see it."""
    debug = getattr(cursor, "debug_sql", None)
    with debug(sql) if debug is not None else nullcontext():
        cursor._execute_with_wrappers(sql, None, False, run)


def _copy_value(field, connection) -> Callable[[Any], Any] | None:
    """How a value of ``field`` goes into a staging table: None for integers and text
    (the driver writes them as they are), else as a statement parameter is prepared."""
    if stored_as_is(field, ()):
        return None
    return lambda value: field.get_db_prep_save(value, connection)


def value_sql(field, value: Any, connection) -> tuple[str, list[Any]]:
    """``value`` for ``field`` as a typed placeholder and its parameter, for SQL built
    around :func:`insert_select`."""
    return _constant(field, connection), [field.get_db_prep_save(value, connection)]


def _constant(field, connection) -> str:
    if connection.vendor == "postgresql":
        # Typed: an untyped literal in a SELECT list is resolved as text, and a NULL or a
        # number written as text does not assign to an integer or timestamp column.
        return f"CAST(%s AS {field.cast_db_type(connection)})"
    return "%s"


def _is_json(field, connection) -> bool:
    return field.cast_db_type(connection) in ("jsonb", "json")


def _column(field, connection, index: int) -> str:
    if connection.vendor == "postgresql":
        if _is_json(field, connection):
            return f'("j"."value" -> {index})'
        return f'CAST("j"."value" ->> {index} AS {field.cast_db_type(connection)})'
    return f'json_extract("j"."value", \'$[{index}]\')'


def _source(connection) -> str:
    """The rows, in order, from the one JSON parameter."""
    if connection.vendor == "postgresql":
        return (
            'jsonb_array_elements(CAST(%s AS jsonb)) WITH ORDINALITY AS "j"("value", "n") '
            'ORDER BY "j"."n"'
        )
    return 'json_each(%s) AS "j" ORDER BY "j"."key"'
