"""A feed page's users, read with the page.

A page shows its rows' sender, actor and target. Almost all of them are users, and
fetched apart they cost a query of their own (and another per other model among actors
and targets): a bell refresh was session, user, page, users, groups. The page query
joins the user table three times instead: the sender by its key, an actor or target when
its content type is the user model and its object id is a whole number. The joins sit
above the branches' own ``LIMIT``, so they read a page's worth of users by primary key,
however large the feed::

    SELECT p.*, s.id AS _s0, … FROM (<the branches>) p
    LEFT JOIN auth_user s ON s.id = p.sender_id
    LEFT JOIN auth_user a ON a.id = CASE WHEN p.actor_content_type_id = %s
                                          AND <object id is digits> THEN CAST(… AS bigint) END

A user model whose key is not an integer is joined as sender only; actors and targets of
other models are fetched as before, one query per model.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.contenttypes.models import ContentType
from django.db import connections, models

from . import row_loading

#: (relation, column prefix, is generic)
_RELATIONS = (("sender", "_s", False), ("actor", "_a", True), ("target", "_t", True))
_INTEGER_KEYS = (models.AutoField, models.BigAutoField, models.IntegerField)


@dataclass(frozen=True)
class Joined:
    """One relation read with the page: its name, the page's column names for the user's
    fields (in ``attnames`` order) and whether it is a generic relation."""

    relation: str
    columns: tuple[str, ...]
    generic: bool


class UserJoin:
    """The joins for one notification model on one database (see the module text)."""

    def __init__(self, model, alias: str) -> None:
        self.model = model
        self.alias = alias
        connection = connections[alias]
        self.vendor = connection.vendor
        self.user_model = get_user_model()
        user_meta = self.user_model._meta
        self.user_fields = list(user_meta.concrete_fields)
        self.attnames = [f.attname for f in self.user_fields]
        self.pk_index = self.attnames.index(user_meta.pk.attname)
        integer_key = isinstance(user_meta.pk, _INTEGER_KEYS)
        self.joined = tuple(
            Joined(name, tuple(f"{prefix}{i}" for i in range(len(self.user_fields))), generic)
            for name, prefix, generic in _RELATIONS
            if integer_key or not generic
        )

    @classmethod
    def of(cls, model, connection) -> UserJoin:
        return _join(model, connection.alias)

    def output_fields(self) -> list[tuple[str, models.Field]]:
        """(page column, the user field it holds), for every joined column."""
        return [
            (column, field)
            for joined in self.joined
            for column, field in zip(joined.columns, self.user_fields, strict=True)
        ]

    def wrap(self, sql: str, params: list[Any]) -> tuple[str, list[Any]]:
        connection = connections[self.alias]
        qn = connection.ops.quote_name
        meta, user_meta = self.model._meta, self.user_model._meta
        page = qn("p")
        user_table, user_pk = qn(user_meta.db_table), qn(user_meta.pk.column)
        selected, joins, join_params = [f"{page}.*"], [], []
        user_ct = ContentType.objects.db_manager(self.alias).get_for_model(self.user_model)
        for joined in self.joined:
            table = qn(f"j{joined.relation[0]}")
            selected += [
                f"{table}.{qn(field.column)} AS {qn(column)}"
                for column, field in zip(joined.columns, self.user_fields, strict=True)
            ]
            if joined.generic:
                ct = f"{page}.{qn(meta.get_field(joined.relation).ct_field + '_id')}"
                object_id = f"{page}.{qn(meta.get_field(joined.relation).fk_field)}"
                key = (
                    f"CASE WHEN {ct} = %s AND {self._digits(object_id)} "
                    f"THEN CAST({object_id} AS {self._integer()}) END"
                )
                join_params.append(user_ct.pk)
            else:
                key = f"{page}.{qn(meta.get_field(joined.relation).column)}"
            joins.append(f"LEFT JOIN {user_table} {table} ON {table}.{user_pk} = {key}")
        wrapped = f"SELECT {', '.join(selected)} FROM ({sql}) {page} {' '.join(joins)}"
        return wrapped, [*params, *join_params]

    def _digits(self, column: str) -> str:
        """The object id is a whole number a bigint holds (anything else is left to the
        per-model fetch, which skips ids that are not this model's)."""
        if self.vendor == "postgresql":
            return f"{column} ~ '^[0-9]{{1,18}}$'"
        return f"{column} <> '' AND {column} NOT GLOB '*[^0-9]*' AND length({column}) <= 18"

    def _integer(self) -> str:
        return "bigint" if self.vendor == "postgresql" else "INTEGER"

    def attach(self, row, values: dict[str, Any]) -> None:
        """Build the joined users of ``row`` from its page columns (``values``) and cache
        them on its relations; a relation whose user the join did not find is left for
        the per-model fetch."""
        meta = row._meta
        for joined in self.joined:
            found = [values[column] for column in joined.columns]
            if found[self.pk_index] is None:
                if not joined.generic and getattr(row, f"{joined.relation}_id") is None:
                    meta.get_field(joined.relation).set_cached_value(row, None)
                continue
            user = row_loading.from_db(self.user_model, self.alias, self.attnames, found)
            meta.get_field(joined.relation).set_cached_value(row, user)


@lru_cache(maxsize=16)
def _join(model, alias: str) -> UserJoin:
    return UserJoin(model, alias)
