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
from functools import lru_cache
from typing import Any

from django.contrib.auth import get_user_model
from django.db import models
from django.db.models.functions import Cast

from .conf import app_settings
from .exceptions import NotifyConfigurationError


class Role(models.TextChoices):
    """Organization roles of seed 000. Staff and superuser come from the user model."""

    LIGHT_USER = "LIGHT_USER", "Light user"
    DEV_USER = "DEV_USER", "Developer"
    ORG_ADMIN = "ORG_ADMIN", "Organization admin"


Keys = Iterable[Any] | models.QuerySet


class TenancyAdapter:
    """Subclass and override to wire the host's tenancy models.

    Keys (organization and team identifiers) may be ints, UUIDs or strings; the
    package stores them as strings.
    """

    # --- one user -----------------------------------------------------------------
    def get_organization_id(self, user) -> Any | None:
        """The user's organization key, or ``None`` if they belong to none."""
        raise NotImplementedError

    def get_organization_filter(self, user) -> Any | models.QuerySet | None:
        """What the feed query matches organization rows against.

        Defaults to :meth:`get_organization_id`; override to return a one-column
        queryset when reading the organization costs a query.
        """
        return self.get_organization_id(user)

    def get_role(self, user) -> Role:
        """The user's role inside their organization."""
        raise NotImplementedError

    def get_team_ids(self, user) -> Keys:
        """Keys of the teams the user is a member of (a list or a one-column queryset)."""
        raise NotImplementedError

    def get_accessible_team_ids(self, user) -> Keys:
        """Keys of the teams the user can access (seed 000's team access model).

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

    def get_team_ids(self, user) -> models.QuerySet:
        return (
            self._groups()
            .filter(user=user)
            .annotate(key=Cast("pk", models.CharField()))
            .values("key")
        )

    def get_accessible_team_ids(self, user) -> Keys:
        if user.is_staff or user.is_superuser:
            return self._groups().annotate(key=Cast("pk", models.CharField())).values("key")
        return self.get_team_ids(user)

    def get_user_organizations(self, user_ids):
        org = app_settings.DEFAULT_ORGANIZATION
        found = get_user_model()._default_manager.filter(pk__in=list(user_ids))
        return {pk: org for pk in found.values_list("pk", flat=True)}

    def get_team_organizations(self, team_ids):
        org = app_settings.DEFAULT_ORGANIZATION
        ids = [int(t) for t in team_ids if str(t).isdigit()]
        found = self._groups().filter(pk__in=ids).values_list("pk", flat=True)
        return {str(pk): org for pk in found}

    def get_team_member_ids(self, team_ids):
        ids = [int(t) for t in team_ids if str(t).isdigit()]
        users = get_user_model()._default_manager.filter(groups__in=ids)
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
    from django.utils.module_loading import import_string

    try:
        cls = import_string(path)
    except ImportError as exc:
        raise NotifyConfigurationError(
            f'DJANGO_NOTIFY["TENANCY_ADAPTER"] = {path!r} cannot be imported: {exc}'
        ) from exc
    if not (isinstance(cls, type) and issubclass(cls, TenancyAdapter)):
        raise NotifyConfigurationError(
            f'DJANGO_NOTIFY["TENANCY_ADAPTER"] = {path!r} is not a TenancyAdapter subclass'
        )
    return cls()


def get_adapter() -> TenancyAdapter:
    """The configured adapter (one instance per dotted path)."""
    return _load(app_settings.TENANCY_ADAPTER)


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
