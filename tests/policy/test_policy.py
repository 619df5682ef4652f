"""The sender rules ("who can send to whom"), organization and system, as a table."""

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
        "staffadmin": make_user(Role.ORG_ADMIN, acme, staff=True),
        "stafflight": make_user(Role.LIGHT_USER, acme, staff=True),
        # Roles the adapter answers with None or a value that is not a Role.
        "norole": make_user(Role.DEV_USER, acme, username="norole"),
        "oddrole": make_user(Role.DEV_USER, acme, username="oddrole"),
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


@pytest.fixture(autouse=True)
def _unknown_roles(monkeypatch):
    """The "norole" and "oddrole" users get None and "WIZARD" from the adapter."""
    from tests.testapp.tenancy import TestTenancyAdapter

    real = TestTenancyAdapter.get_role

    def get_role(self, user):
        username = user.get_username()
        if username.startswith("norole"):
            return None
        if username.startswith("oddrole"):
            return "WIZARD"
        return real(self, user)

    monkeypatch.setattr(TestTenancyAdapter, "get_role", get_role)


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
    # ORG_ADMIN who is also staff: system scope opens up.
    ("staffadmin", "system", "global", None, OK),
    ("staffadmin", "system", "users", "foreign", OK),
    ("staffadmin", "send", "org", None, OK),
    ("staffadmin", "send", "user", "foreign", "organization.same_organization_user"),
    # Staff whose organization role is LIGHT_USER: staff rights win.
    ("stafflight", "send", "user", "outsider", OK),
    ("stafflight", "send", "team", "other", OK),
    ("stafflight", "send", "org", None, OK),
    ("stafflight", "system", "global", None, OK),
    ("stafflight", "send", "team", "foreign", "organization.same_organization_team"),
    # Unknown roles get LIGHT_USER rights (least privilege), never DEV_USER's.
    ("norole", "self", None, None, OK),
    ("norole", "send", "user", "peer", "light_user.self_only"),
    ("norole", "send", "team", "research", "light_user.no_teams"),
    ("norole", "send", "org", None, "organization.global_admin_only"),
    ("norole", "system", "global", None, "system.staff_only"),
    ("oddrole", "self", None, None, OK),
    ("oddrole", "send", "users", "peer", "light_user.self_only"),
    ("oddrole", "send", "teams", "research", "light_user.no_teams"),
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
        [row] = rows
        expected_origin = Origin.SYSTEM if path == "system" else Origin.ORGANIZATION
        assert row.origin == expected_origin
        assert row.sender == users[sender]
        # The stored row addresses exactly what was asked for.
        row = Notification.objects.get(pk=row.pk)
        recipient = users[sender] if path == "self" else obj if kind in ("user", "users") else None
        team = obj if kind in ("team", "teams") else None
        expected_scope = {
            "org": Scope.ORGANIZATION, "global": Scope.SYSTEM, "team": Scope.TEAM,
            "teams": Scope.TEAM,
        }.get(kind, Scope.USER)  # fmt: skip
        assert row.scope == expected_scope
        assert row.recipient_id == (recipient.pk if recipient else None)
        assert row.team_key == (str(team.pk) if team else "")
        assert row.is_global == (kind in ("org", "global"))
        if kind == "global":
            expected_org = ""
        elif team is not None:
            expected_org = str(team.organization_id)
        elif recipient is not None:
            expected_org = str(recipient.testapp_membership.organization_id)
        else:
            expected_org = str(users[sender].testapp_membership.organization_id)
        assert row.organization_key == expected_org
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


# --- the system rule and foreign organizations through every model entry point ----


def _system_row(Notification, sender):
    return Notification(
        title="sneaky", scope=Scope.SYSTEM, origin=Origin.SYSTEM, is_global=True, sender=sender
    )


@pytest.mark.parametrize("who", ["orgadmin", "dev", "light"])
@pytest.mark.parametrize("entry", ["save", "bulk_create", "full_clean"])
def test_system_rule_holds_on_every_entry_point(world, Notification, who, entry):
    users, _ = world
    row = _system_row(Notification, users[who])
    if entry == "full_clean":
        with pytest.raises(ValidationError) as info:
            row.full_clean()
        assert "system.staff_only" in str(info.value)
    else:
        with pytest.raises(SendRefused) as info:
            row.save() if entry == "save" else Notification.objects.bulk_create([row])
        assert info.value.code == "system.staff_only"
    assert Notification.objects.count() == 0


@pytest.mark.parametrize("entry", ["save", "bulk_create"])
def test_system_origin_targeted_row_needs_staff(world, Notification, entry):
    users, _ = world
    row = Notification(
        title="x", scope=Scope.USER, origin=Origin.SYSTEM, recipient=users["foreign"],
        sender=users["orgadmin"],
    )  # fmt: skip
    with pytest.raises(SendRefused) as info:
        row.save() if entry == "save" else Notification.objects.bulk_create([row])
    assert info.value.code == "system.staff_only"
    assert Notification.objects.count() == 0


@pytest.mark.parametrize("entry", ["save", "bulk_create"])
def test_staff_system_row_through_the_model(world, Notification, entry):
    users, _ = world
    row = _system_row(Notification, users["staffadmin"])
    row.save() if entry == "save" else Notification.objects.bulk_create([row])
    stored = Notification.objects.get()
    assert (stored.scope, stored.organization_key, stored.is_global) == (Scope.SYSTEM, "", True)


@pytest.mark.parametrize("who", ["orgadmin", "staff", "superuser"])
@pytest.mark.parametrize("entry", ["save", "bulk_create", "full_clean"])
def test_organization_key_of_a_foreign_organization(world, Notification, who, entry):
    """An organization row whose organization_key is another organization's is refused
    even for admins and staff (the organization rules, not the system ones)."""
    users, teams = world
    globex = teams["foreign"].organization_id
    row = Notification(
        title="x", scope=Scope.ORGANIZATION, is_global=True, organization_key=str(globex),
        sender=users[who],
    )  # fmt: skip
    if entry == "full_clean":
        with pytest.raises(ValidationError) as info:
            row.full_clean()
        assert "organization.sender_member" in str(info.value)
    else:
        with pytest.raises(SendRefused) as info:
            row.save() if entry == "save" else Notification.objects.bulk_create([row])
        assert info.value.code == "organization.sender_member"
    assert Notification.objects.count() == 0


def test_direct_row_stored_under_a_foreign_organization(world, Notification):
    """A hand-made direct row for a colleague, filed under another organization."""
    users, teams = world
    row = Notification(
        title="x", scope=Scope.USER, recipient=users["peer"], sender=users["orgadmin"],
        organization_key=str(teams["foreign"].organization_id),
    )  # fmt: skip
    with pytest.raises(SendRefused) as info:
        row.save()
    assert info.value.code == "organization.sender_member"
    assert Notification.objects.count() == 0


def test_unknown_role_is_logged(world, Notification, caplog):
    users, _ = world
    with caplog.at_level("WARNING", logger="django_notify.policy"):
        with pytest.raises(SendRefused):
            Notification.send(users["oddrole"], title="x", target_user=users["peer"])
    assert "'WIZARD'" in caplog.text
    assert "LIGHT_USER" in caplog.text
