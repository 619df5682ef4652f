"""Who may send to whom, by role and scope. The one place the sender rules live.

Used by the send functions (once per call, with bulk look-ups) and by model
validation (``Notification.clean()`` and ``save()``), so a row that breaks a rule is
refused whatever the entry point. A refusal raises :class:`SendRefused` naming the rule.

Rows without a sender are trusted, system-originated rows (``notify()``, ``emit()``)
and are not subject to the sender rules.

Unknown roles fail closed: a sender whose adapter answers ``None`` or a value that is
not a :class:`~django_notify.tenancy.Role` gets LIGHT_USER rights (see :func:`role_of`).
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from .exceptions import SendRefused
from .tenancy import Role, as_key_set, get_adapter
from .types import ANYONE, STAFF, SYSTEM, Origin, Scope, notification_types

logger = logging.getLogger("django_notify.policy")


#: The fields that decide who a row addresses and under which rules it was sent. A
#: saved row whose targeting changes is checked against the sender rules again.
TARGETING_FIELDS = (
    "scope", "recipient_id", "team_key", "organization_key", "origin", "sender_id", "is_global",
)  # fmt: skip


class SenderRule(enum.Enum):
    """Every rule, with a stable code (used in errors and the API) and its message."""

    SENDER_ACTIVE = ("sender.active", "The sender must be an active, authenticated user.")
    SYSTEM_STAFF_ONLY = (
        "system.staff_only",
        "Only staff users or superusers may send system notifications.",
    )
    ORG_SENDER_MEMBER = (
        "organization.sender_member",
        "The sender must belong to the source organization.",
    )
    ORG_SAME_ORGANIZATION_USER = (
        "organization.same_organization_user",
        "Targeted users must belong to the sender's organization.",
    )
    ORG_SAME_ORGANIZATION_TEAM = (
        "organization.same_organization_team",
        "Targeted teams must belong to the sender's organization.",
    )
    ORG_GLOBAL_ADMIN_ONLY = (
        "organization.global_admin_only",
        "Only organization admins, staff or superusers may notify the whole organization.",
    )
    LIGHT_USER_SELF_ONLY = (
        "light_user.self_only",
        "A LIGHT_USER can only send notifications to themselves.",
    )
    LIGHT_USER_NO_TEAMS = ("light_user.no_teams", "A LIGHT_USER cannot send to teams.")
    DEV_USER_TEAM_MEMBERS = (
        "dev_user.team_members_only",
        "A DEV_USER can only target users in teams they belong to or can access.",
    )
    DEV_USER_ACCESSIBLE_TEAMS = (
        "dev_user.accessible_teams_only",
        "A DEV_USER can only send to teams they belong to or can access.",
    )
    TYPE_SYSTEM_ONLY = (
        "type.system_only",
        "Notifications of this type are sent by the system only, not by a person.",
    )
    TYPE_SENDER_NOT_ALLOWED = (
        "type.sender_not_allowed",
        "The sender may not send notifications of this type.",
    )

    def __init__(self, code: str, message: str):
        self.code = code
        self.message = message


@dataclass
class Addressees:
    """What one send addresses: the union of its rows' targets."""

    origin: str = Origin.ORGANIZATION
    user_ids: set[Any] = field(default_factory=set)
    team_keys: set[str] = field(default_factory=set)
    organization_keys: set[str] = field(default_factory=set)
    system_global: bool = False
    #: Organizations stored on direct and team rows (the rows' source organization).
    source_organization_keys: set[str] = field(default_factory=set)
    #: The notification types the rows carry.
    type_keys: set[str] = field(default_factory=set)


def is_staff(user) -> bool:
    return bool(getattr(user, "is_staff", False) or getattr(user, "is_superuser", False))


def role_of(user, adapter=None) -> Role:
    """The sender's role, least privilege first: anything the adapter answers that is
    not a :class:`Role` (``None``, a typo, a role the host invented) is LIGHT_USER."""
    adapter = adapter or get_adapter()
    role = adapter.get_role(user)
    try:
        return Role(role)
    except ValueError:
        logger.warning(
            "TenancyAdapter.get_role(%r) returned %r, which is not a Role; "
            "treating the user as LIGHT_USER.",
            user,
            role,
        )
        return Role.LIGHT_USER


def check(sender, addressees: Addressees) -> None:
    """Raise :class:`SendRefused` if ``sender`` may not send to ``addressees``."""
    if sender is None:
        return
    if not getattr(sender, "is_authenticated", False) or not sender.is_active:
        raise SendRefused(SenderRule.SENDER_ACTIVE)
    adapter = get_adapter()
    for type_key in sorted(addressees.type_keys):
        check_type(sender, type_key, adapter)
    if addressees.origin == Origin.SYSTEM or addressees.system_global:
        if not is_staff(sender):
            raise SendRefused(SenderRule.SYSTEM_STAFF_ONLY)
        return  # system scope is exempt from the organization rules

    org = adapter.get_organization_id(sender)
    if org is None:
        raise SendRefused(SenderRule.ORG_SENDER_MEMBER, "the sender has no organization")
    org = str(org)
    foreign_orgs = addressees.organization_keys - {org}
    if foreign_orgs:
        raise SendRefused(SenderRule.ORG_SENDER_MEMBER, f"organization {sorted(foreign_orgs)[0]}")

    others = set(addressees.user_ids) - {sender.pk}
    if others:
        orgs = adapter.get_user_organizations(others)
        outside = sorted(str(u) for u in others if str(orgs.get(u)) != org)
        if outside:
            raise SendRefused(SenderRule.ORG_SAME_ORGANIZATION_USER, f"user {outside[0]}")
    if addressees.team_keys:
        team_orgs = {str(k): str(v) for k, v in adapter.get_team_organizations(
            addressees.team_keys).items()}  # fmt: skip
        outside = sorted(t for t in addressees.team_keys if team_orgs.get(t) != org)
        if outside:
            raise SendRefused(SenderRule.ORG_SAME_ORGANIZATION_TEAM, f"team {outside[0]}")
    # A hand-made direct or team row whose stored organization is not the sender's.
    foreign_sources = addressees.source_organization_keys - {org}
    if foreign_sources:
        raise SendRefused(
            SenderRule.ORG_SENDER_MEMBER, f"organization {sorted(foreign_sources)[0]}"
        )

    role = role_of(sender, adapter)
    if is_staff(sender) or role == Role.ORG_ADMIN:
        return
    if addressees.organization_keys:
        raise SendRefused(SenderRule.ORG_GLOBAL_ADMIN_ONLY)
    if role == Role.LIGHT_USER:
        if addressees.team_keys:
            raise SendRefused(SenderRule.LIGHT_USER_NO_TEAMS)
        if others:
            raise SendRefused(SenderRule.LIGHT_USER_SELF_ONLY)
        return
    # DEV_USER.
    accessible = as_key_set(adapter.get_accessible_team_ids(sender))
    denied_teams = sorted(addressees.team_keys - accessible)
    if denied_teams:
        raise SendRefused(SenderRule.DEV_USER_ACCESSIBLE_TEAMS, f"team {denied_teams[0]}")
    if others:
        reachable_teams = accessible | as_key_set(adapter.get_team_ids(sender))
        reachable = {str(u) for u in adapter.get_team_member_ids(reachable_teams)}
        denied = sorted(str(u) for u in others if str(u) not in reachable)
        if denied:
            raise SendRefused(SenderRule.DEV_USER_TEAM_MEMBERS, f"user {denied[0]}")


def check_type(sender, type_key: str, adapter=None) -> None:
    """Raise :class:`SendRefused` if the type's ``senders`` does not allow ``sender``
    (a person; rows without a sender are never checked)."""
    if type_key not in notification_types:
        return  # an unknown key is refused by the field's validation, naming the field
    ntype = notification_types.get(type_key)
    senders = ntype.senders
    if senders == ANYONE:
        return
    if senders == SYSTEM:
        raise SendRefused(SenderRule.TYPE_SYSTEM_ONLY, f"type {type_key}")
    if callable(senders):
        allowed = bool(senders(sender, ntype))
    elif senders == STAFF:
        allowed = is_staff(sender)
    else:
        wanted = {str(item) for item in senders}
        allowed = (STAFF in wanted and is_staff(sender)) or (
            bool(wanted - {STAFF}) and role_of(sender, adapter).value in wanted
        )
    if not allowed:
        raise SendRefused(SenderRule.TYPE_SENDER_NOT_ALLOWED, f"type {type_key}")


def addressees_of(rows: Iterable[Any]) -> Addressees:
    """The addressees a batch of unsaved rows addresses (all rows share one origin)."""
    addressees = Addressees()
    for row in rows:
        addressees.origin = row.origin
        if row.notification_type:
            addressees.type_keys.add(row.notification_type)
        if row.scope == Scope.USER:
            addressees.user_ids.add(row.recipient_id)
        elif row.scope == Scope.TEAM:
            addressees.team_keys.add(str(row.team_key))
        if row.scope in (Scope.USER, Scope.TEAM) and row.organization_key:
            addressees.source_organization_keys.add(str(row.organization_key))
        elif row.scope == Scope.ORGANIZATION:
            addressees.organization_keys.add(str(row.organization_key))
        elif row.scope == Scope.SYSTEM:
            addressees.system_global = True
    return addressees


def validate_notification(notification) -> None:
    """Model-level enforcement: the row's sender may send it."""
    if notification.sender_id is None:
        return
    check(notification.sender, addressees_of([notification]))
