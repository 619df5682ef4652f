"""How django-notify reads the host's organizations, teams and roles.

The package never imports the host's tenancy models. It asks a
:class:`TenancyAdapter` (named by ``DJANGO_NOTIFY["TENANCY_ADAPTER"]``) and stores
organizations and teams on notification rows as opaque string keys.

Methods that answer "which teams / which organization" for one user may return a
queryset of single values instead of a list: the read side then embeds it as a
subquery, so ``unread_count(user)`` stays one SQL query.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from django.apps import apps
from django.contrib.auth import get_user_model
from django.db import connections, models
from django.db.models.functions import Cast

from .conf import app_settings
from .id_lists import in_ids
from .loading import load_class
from .validation import MAX_ID, ascii_int


class Role(models.TextChoices):
    """Organization roles for the sender rules. Staff and superuser come from the user model."""

    LIGHT_USER = "LIGHT_USER", "Light user"
    DEV_USER = "DEV_USER", "Developer"
    ORG_ADMIN = "ORG_ADMIN", "Organization admin"


Keys = Iterable[Any] | models.QuerySet


@dataclass(frozen=True)
class MembershipTable:
    """A table with one row per membership: ``user_field`` names the member, ``key_field``
    the team (or organization). Declared on an adapter (``team_membership``,
    ``organization_membership``), it answers :meth:`TenancyAdapter.get_team_ids` /
    :meth:`TenancyAdapter.get_organization_filter`, and the feed reads it with SQL
    written once per process instead of a queryset built on every read.

    ``model`` is a model class or an ``"app_label.Model"`` label (a many-to-many's
    ``through`` model works: ``MembershipTable(Team.members.through, "user", "team")``).
    """

    model: Any
    user_field: str
    key_field: str

    def resolve_model(self) -> type[models.Model]:
        if isinstance(self.model, str):
            return apps.get_model(self.model)
        return self.model

    def keys_for(self, user) -> models.QuerySet:
        """The user's keys as a one-column queryset."""
        manager = self.resolve_model()._default_manager
        return manager.filter(**{self.user_field: user.pk}).values(self.key_field)

    def select_sql(self, alias: str) -> str:
        """``SELECT key FROM table WHERE user = %s`` on database ``alias``."""
        table, user, key = self.columns_sql(alias)
        return f"SELECT {key} FROM {table} WHERE {user} = %s"

    def columns_sql(self, alias: str) -> tuple[str, str, str]:
        """The table, its user column and its key column, quoted (the columns qualified)
        for database ``alias``: for SQL that reads the memberships of many users."""
        return _membership_names(self, alias)


@lru_cache(maxsize=32)
def _membership_names(table: MembershipTable, alias: str) -> tuple[str, str, str]:
    qn = connections[alias].ops.quote_name
    meta = table.resolve_model()._meta
    name = qn(meta.db_table)
    user = meta.get_field(table.user_field).column
    key = meta.get_field(table.key_field).column
    return name, f"{name}.{qn(user)}", f"{name}.{qn(key)}"


@dataclass(frozen=True)
class MemberKeys:
    """One user's keys in a :class:`MembershipTable`: what the feed matches broadcast
    rows against when the adapter declares the table."""

    table: MembershipTable
    user_pk: Any

    def as_sql(self, connection) -> tuple[str, list[Any]]:
        field = self.table.resolve_model()._meta.get_field(self.table.user_field)
        return self.table.select_sql(connection.alias), [
            field.get_db_prep_value(self.user_pk, connection)
        ]


class TenancyAdapter:
    """Subclass and override to wire the host's tenancy models.

    Keys (organization and team identifiers) may be ints, UUIDs or strings; the
    package stores them as strings.
    """

    #: Optional: the table that lists team memberships. When set, get_team_ids()
    #: reads it, and so does the feed, without building a queryset per read.
    team_membership: MembershipTable | None = None
    #: Optional: the same for organization memberships (get_organization_filter()).
    organization_membership: MembershipTable | None = None

    # --- one user -----------------------------------------------------------------
    def get_organization_id(self, user) -> Any | None:
        """The user's organization key, or ``None`` if they belong to none."""
        raise NotImplementedError

    def get_organization_filter(self, user) -> Any | models.QuerySet | None:
        """What the feed query matches organization rows against.

        Reads ``organization_membership`` when it is declared, else
        :meth:`get_organization_id`; override to return a one-column queryset when
        reading the organization costs a query.
        """
        if self.organization_membership is not None:
            return self.organization_membership.keys_for(user)
        return self.get_organization_id(user)

    def get_role(self, user) -> Role:
        """The user's role inside their organization."""
        raise NotImplementedError

    def get_team_ids(self, user) -> Keys:
        """Keys of the teams the user is a member of (a list or a one-column queryset).
        Reads ``team_membership`` when it is declared."""
        if self.team_membership is not None:
            return self.team_membership.keys_for(user)
        raise NotImplementedError

    def get_accessible_team_ids(self, user) -> Keys:
        """Keys of the teams the user can access (the team access model).

        Membership implies access; the default is just the member teams.
        """
        return self.get_team_ids(user)

    # --- many at once (used when validating a send) --------------------------------
    def get_user_organizations(self, user_ids: Iterable[Any]) -> dict[Any, Any]:
        """Map each known user id to its organization key (users with none omitted)."""
        raise NotImplementedError

    def get_team_organizations(self, team_ids: Iterable[Any]) -> dict[Any, Any]:
        """Map each existing team key to its organization key; unknown teams omitted."""
        raise NotImplementedError

    def get_team_member_ids(self, team_ids: Iterable[Any]) -> set[Any]:
        """User ids of everyone in any of the given teams."""
        raise NotImplementedError

    def get_organization_member_ids(self, organization_id: Any) -> Iterable[Any]:
        """User ids of the members of an organization (for delivery fan-out)."""
        raise NotImplementedError

    def get_role_member_ids(self, role: Role, organization_id: Any = None) -> Iterable[Any]:
        """User ids holding ``role`` (in ``organization_id``, or in any organization).

        Used by the organization-role rule criterion; may return a one-column queryset.
        """
        raise NotImplementedError

    # --- delivery -------------------------------------------------------------------
    def get_recipient_locales(self, user_ids: Iterable[Any]) -> dict[Any, tuple[str, str]]:
        """``{user pk: (language, time zone)}`` for rendering and quiet hours, for users
        whose profile lives in the host's models. A user's own ``RecipientSettings``
        win; users left out fall back to ``LANGUAGE_CODE`` and ``TIME_ZONE``."""
        return {}

    # --- identifying --------------------------------------------------------------
    def team_key(self, team: Any) -> str:
        """A team instance or id → the key stored on notification rows."""
        return str(getattr(team, "pk", team))

    def organization_key(self, organization: Any) -> str:
        return str(getattr(organization, "pk", organization))


def int_keys(keys: Iterable[Any]) -> list[int]:
    """The keys that can be integer primary keys, as ints, for ``pk__in`` lookups; the
    others are left out (no row has them, so they come out as unknown teams).

    A key is kept when it is ASCII digits (``str.isdigit()`` is not enough: it is True for
    ``"¹"``, which ``int()`` refuses, and for ``"١٠"``, which ``int()`` reads as 10) and
    fits a 64-bit column. Use it in adapters whose teams or organizations have integer
    pks::

        def get_team_organizations(self, team_ids):
            rows = Team.objects.filter(pk__in=int_keys(team_ids))
            return {str(pk): org for pk, org in rows.values_list("pk", "organization_id")}
    """
    found = (ascii_int(str(key), signed=False, min_value=1, max_value=MAX_ID) for key in keys)
    return [key for key in found if key is not None]


class DefaultTenancyAdapter(TenancyAdapter):
    """Works with no host code: one organization, Django auth Groups as teams.

    Every user is in the organization named by ``DEFAULT_ORGANIZATION`` with the
    ``DEV_USER`` role; superusers are ``ORG_ADMIN``. Staff users can access every group.
    """

    def get_organization_id(self, user) -> str | None:
        return app_settings.DEFAULT_ORGANIZATION if user.pk is not None else None

    def get_role(self, user) -> Role:
        return Role.ORG_ADMIN if user.is_superuser else Role.DEV_USER

    def _groups(self):
        from django.contrib.auth.models import Group

        return Group.objects

    @property
    def team_membership(self) -> MembershipTable:
        # The user model's own groups table (its field names follow the model's name).
        groups = get_user_model()._meta.get_field("groups")
        return MembershipTable(
            groups.remote_field.through, groups.m2m_field_name(), groups.m2m_reverse_field_name()
        )

    def get_accessible_team_ids(self, user) -> Keys:
        if user.is_staff or user.is_superuser:
            return self._groups().annotate(key=Cast("pk", models.CharField())).values("key")
        return self.get_team_ids(user)

    def get_user_organizations(self, user_ids):
        org = app_settings.DEFAULT_ORGANIZATION
        found = get_user_model()._default_manager.filter(in_ids("pk", user_ids))
        return {pk: org for pk in found.values_list("pk", flat=True)}

    def get_team_organizations(self, team_ids):
        org = app_settings.DEFAULT_ORGANIZATION
        found = self._groups().filter(pk__in=int_keys(team_ids)).values_list("pk", flat=True)
        return {str(pk): org for pk in found}

    def get_team_member_ids(self, team_ids):
        users = get_user_model()._default_manager.filter(groups__in=int_keys(team_ids))
        return set(users.values_list("pk", flat=True).distinct())

    def get_organization_member_ids(self, organization_id):
        if str(organization_id) != app_settings.DEFAULT_ORGANIZATION:
            return []
        return get_user_model()._default_manager.values_list("pk", flat=True)

    def get_role_member_ids(self, role, organization_id=None):
        if (
            organization_id is not None
            and str(organization_id) != app_settings.DEFAULT_ORGANIZATION
        ):
            return []
        users = get_user_model()._default_manager
        if role == Role.ORG_ADMIN:
            return users.filter(is_superuser=True).values_list("pk", flat=True)
        if role == Role.DEV_USER:
            return users.filter(is_superuser=False).values_list("pk", flat=True)
        return []


@lru_cache(maxsize=8)
def _load(path: str) -> TenancyAdapter:
    return load_class(path, base=TenancyAdapter, setting='DJANGO_NOTIFY["TENANCY_ADAPTER"]')()


def get_adapter() -> TenancyAdapter:
    """The configured adapter (one instance per dotted path)."""
    return _load(app_settings.TENANCY_ADAPTER)


def feed_keys(adapter: TenancyAdapter, user) -> tuple[Any, Any]:
    """The user's team and organization keys as the feed reads them: a declared
    membership table as :class:`MemberKeys` (unless the adapter overrides the method that
    reads it), otherwise what the adapter's method returns."""
    cls = type(adapter)
    if adapter.team_membership is not None and cls.get_team_ids is TenancyAdapter.get_team_ids:
        teams: Any = MemberKeys(adapter.team_membership, user.pk)
    else:
        teams = adapter.get_team_ids(user)
    if (
        adapter.organization_membership is not None
        and cls.get_organization_filter is TenancyAdapter.get_organization_filter
    ):
        organizations: Any = MemberKeys(adapter.organization_membership, user.pk)
    else:
        organizations = adapter.get_organization_filter(user)
    return teams, organizations


def as_key_set(keys: Keys | None) -> set[str]:
    """Materialise adapter keys (list or one-column queryset) as a set of strings."""
    if keys is None:
        return set()
    if isinstance(keys, models.QuerySet):
        keys = keys.values_list(key_column(keys), flat=True)
    return {str(k) for k in keys if k is not None}


def key_column(qs: models.QuerySet) -> str:
    """The column an adapter's one-column queryset selects (``pk`` if it selects none)."""
    fields = list(qs.query.values_select) + list(qs.query.annotation_select)
    return fields[0] if fields else "pk"


def only_active(users: models.QuerySet) -> models.QuerySet:
    """Drop inactive users, when the user model has an ``is_active`` field at all."""
    if any(f.name == "is_active" for f in users.model._meta.concrete_fields):
        return users.filter(is_active=True)
    return users
