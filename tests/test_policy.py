"""Seed 000's "Who Can Send To Whom", organization and system rules, as a table."""

import pytest
from django.core.exceptions import ValidationError

from django_notify import SendRefused
from django_notify.tenancy import Role
from django_notify.types import Origin, Scope


@pytest.fixture
def world(make_org, make_user, make_team):
    acme, globex = make_org("Acme"), make_org("Globex")
    u = {
        "light": make_user(Role.LIGHT_USER, acme),
        "dev": make_user(Role.DEV_USER, acme),
        "peer": make_user(Role.DEV_USER, acme),
        "opsguy": make_user(Role.DEV_USER, acme),
        "outsider": make_user(Role.DEV_USER, acme),
        "orgadmin": make_user(Role.ORG_ADMIN, acme),
        "staff": make_user(Role.DEV_USER, acme, staff=True),
        "superuser": make_user(Role.DEV_USER, acme, superuser=True),
        "foreign": make_user(Role.DEV_USER, globex),
        "orphan": make_user(org=False),
    }
    t = {
        "research": make_team(acme, members=[u["dev"], u["peer"], u["light"]]),
        "ops": make_team(acme, members=[u["opsguy"]], shared_with=[u["dev"]]),
        "other": make_team(acme, members=[u["outsider"]]),
        "foreign": make_team(globex, members=[u["foreign"]]),
    }
    return u, t


OK = None
# (sender, path, target kind, target name, refusing rule or OK)
TABLE = [
    # LIGHT_USER
    ("light", "self", None, None, OK),
    ("light", "send", "user", "peer", "light_user.self_only"),
    ("light", "send", "users", "peer", "light_user.self_only"),
    ("light", "send", "team", "research", "light_user.no_teams"),
    ("light", "send", "teams", "research", "light_user.no_teams"),
    ("light", "send", "org", None, "organization.global_admin_only"),
    ("light", "system", "global", None, "system.staff_only"),
    ("light", "send", "user", "foreign", "organization.same_organization_user"),
    # DEV_USER
    ("dev", "self", None, None, OK),
    ("dev", "send", "user", "peer", OK),
    ("dev", "send", "users", "peer", OK),
    ("dev", "send", "user", "opsguy", OK),
    ("dev", "send", "user", "outsider", "dev_user.team_members_only"),
    ("dev", "send", "team", "research", OK),
    ("dev", "send", "team", "ops", OK),
    ("dev", "send", "teams", "other", "dev_user.accessible_teams_only"),
    ("dev", "send", "org", None, "organization.global_admin_only"),
    ("dev", "system", "global", None, "system.staff_only"),
    ("dev", "system", "users", "peer", "system.staff_only"),
    ("dev", "send", "user", "foreign", "organization.same_organization_user"),
    ("dev", "send", "team", "foreign", "organization.same_organization_team"),
    # ORG_ADMIN
    ("orgadmin", "self", None, None, OK),
    ("orgadmin", "send", "user", "outsider", OK),
    ("orgadmin", "send", "team", "other", OK),
    ("orgadmin", "send", "org", None, OK),
    ("orgadmin", "system", "global", None, "system.staff_only"),
    ("orgadmin", "send", "users", "foreign", "organization.same_organization_user"),
    ("orgadmin", "send", "teams", "foreign", "organization.same_organization_team"),
    # staff / superuser
    ("staff", "send", "user", "outsider", OK),
    ("staff", "send", "org", None, OK),
    ("staff", "system", "global", None, OK),
    ("staff", "system", "users", "foreign", OK),
    ("staff", "system", "teams", "foreign", OK),
    ("staff", "send", "user", "foreign", "organization.same_organization_user"),
    ("superuser", "system", "global", None, OK),
    ("superuser", "send", "team", "other", OK),
    # organization rules
    ("orphan", "self", None, None, "organization.sender_member"),
    ("orphan", "send", "user", "dev", "organization.sender_member"),
]


def _call(Notification, sender, path, kind, target):
    kw = {"title": "t", "description": "d"}
    if kind == "user":
        kw["target_user"] = target
    elif kind == "users":
        kw["user_ids"] = [target.pk]
    elif kind == "team":
        kw["target_team"] = target
    elif kind == "teams":
        kw["team_ids"] = [target.pk]
    elif kind in ("org", "global"):
        kw["is_global"] = True
    if path == "self":
        return Notification.send_to_self(sender, **kw)
    if path == "system":
        kw.setdefault("is_global", False)
        return Notification.send_system(sender, **kw)
    return Notification.send(sender, **kw)


@pytest.mark.parametrize(("sender", "path", "kind", "target", "refused_by"), TABLE)
def test_sender_rules(world, Notification, sender, path, kind, target, refused_by):
    users, teams = world
    obj = None
    if target is not None:
        obj = teams[target] if kind in ("team", "teams") else users[target]
    before = Notification.objects.count()
    if refused_by is OK:
        rows = _call(Notification, users[sender], path, kind, obj)
        assert len(rows) == 1
        assert Notification.objects.count() == before + 1
        expected_origin = Origin.SYSTEM if path == "system" else Origin.ORGANIZATION
        assert rows[0].origin == expected_origin
    else:
        with pytest.raises(SendRefused) as info:
            _call(Notification, users[sender], path, kind, obj)
        assert info.value.code == refused_by
        assert refused_by in str(info.value)
        assert Notification.objects.count() == before


def test_inactive_sender_refused(world, Notification):
    users, _ = world
    users["dev"].is_active = False
    with pytest.raises(SendRefused) as info:
        Notification.send_to_self(users["dev"], title="x")
    assert info.value.code == "sender.active"


def test_anonymous_sender_refused(Notification, db):
    from django.contrib.auth.models import AnonymousUser

    with pytest.raises(SendRefused):
        Notification.send_to_self(AnonymousUser(), title="x")


def test_one_refused_target_refuses_the_whole_send(world, Notification):
    users, _ = world
    with pytest.raises(SendRefused) as info:
        Notification.send(
            users["dev"], title="x", user_ids=[users["peer"].pk, users["outsider"].pk]
        )
    assert info.value.code == "dev_user.team_members_only"
    assert Notification.objects.count() == 0


def test_model_save_enforces_the_rules(world, Notification):
    users, _ = world
    row = Notification(
        title="sneaky", scope=Scope.USER, recipient=users["outsider"], sender=users["dev"]
    )
    with pytest.raises(SendRefused):
        row.save()
    assert Notification.objects.count() == 0


def test_model_clean_reports_the_rule_as_validation_error(world, Notification):
    users, _ = world
    row = Notification(
        title="sneaky", scope=Scope.SYSTEM, is_global=True, sender=users["orgadmin"],
        origin=Origin.SYSTEM,
    )  # fmt: skip
    with pytest.raises(ValidationError) as info:
        row.full_clean()
    assert "system.staff_only" in str(info.value)


def test_trusted_rows_skip_the_rules(world, Notification):
    users, _ = world
    row = Notification(title="from code", scope=Scope.USER, recipient=users["foreign"])
    row.save()
    assert row.pk


def test_one_row_per_resolved_target(world, Notification):
    users, teams = world
    rows = Notification.send(
        users["orgadmin"], title="x",
        user_ids=[users["dev"].pk, users["peer"], users["dev"].pk],
    )  # fmt: skip
    assert sorted(r.recipient_id for r in rows) == sorted([users["dev"].pk, users["peer"].pk])
    rows = Notification.send(
        users["orgadmin"], title="x", team_ids=[teams["research"], teams["ops"].pk]
    )
    assert {r.scope for r in rows} == {Scope.TEAM}
    assert len(rows) == 2
    assert all(r.organization_key == str(teams["research"].organization_id) for r in rows)
