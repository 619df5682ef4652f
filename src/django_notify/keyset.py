"""Keyset pagination's condition: the rows strictly older than a ``(timestamp, pk)``
cursor, newest first.

On PostgreSQL and SQLite it is one row-value comparison, ``(created_at, id) < (%s, %s)``,
which each database turns into the range of an index on ``(…, created_at DESC, id
DESC)``: a page deep in a feed starts reading at the cursor, and the planner has one
condition to place instead of an ``AND`` of an ``OR``. Other databases get the expanded
form, whose first term (``created_at <= …``, implied by the rest) is the index range.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db.models import Expression, F
from django.db.models.lookups import Lookup

#: Databases that compare row values with an index range (SQLite from 3.15).
_ROW_VALUES = ("postgresql", "sqlite")


class KeysetColumns(Expression):
    """The cursor's two columns, the timestamp and the primary key (resolved like any
    column of the query; :class:`OlderThan` writes them)."""

    def __init__(self, field: str) -> None:
        super().__init__()
        self.columns = [F(field), F("pk")]

    def get_source_expressions(self) -> list[Any]:
        return self.columns

    def set_source_expressions(self, exprs) -> None:
        self.columns = list(exprs)


class OlderThan(Lookup):
    """``filter(OlderThan("created_at", moment, pk))``: rows ordered after ``(moment,
    pk)`` in ``-created_at, -pk`` order, i.e. older.

    A lookup, not a plain boolean expression, so that databases without a boolean type
    (SQLite) get the comparison itself in the ``WHERE``, not ``(…) = 1``, which no index
    answers.
    """

    lookup_name = "older_than"  # built directly, never registered on a field
    prepare_rhs = False

    def __init__(self, field: str, moment: datetime, pk: Any) -> None:
        super().__init__(KeysetColumns(field), (moment, pk))

    def as_sql(self, compiler, connection):
        timestamp, key = self.lhs.get_source_expressions()
        (moment_col, moment_params), (pk_col, pk_params) = (
            compiler.compile(column) for column in (timestamp, key)
        )
        moment = timestamp.output_field.get_db_prep_value(self.rhs[0], connection)
        pk = key.output_field.get_db_prep_value(self.rhs[1], connection)
        if connection.vendor in _ROW_VALUES:
            return f"({moment_col}, {pk_col}) < (%s, %s)", [*moment_params, *pk_params, moment, pk]
        sql = f"{moment_col} <= %s AND ({moment_col} < %s OR ({moment_col} = %s AND {pk_col} < %s))"
        # Each column appears more than once: its own params (none for a plain column)
        # follow it every time.
        params = [*moment_params, moment, *moment_params, moment, *moment_params, moment]
        return sql, [*params, *pk_params, pk]
