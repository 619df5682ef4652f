"""Editing a sent row: the sender rules apply again when its targeting changes.

A row remembers its targeting fields (scope, recipient, team, organization, origin,
sender, is_global) as loaded; ``save()`` and ``clean()`` re-run the sender rules when
any of them changed, against the row's sender. Edits that keep the targeting (title,
body, priority, ...) save as before.
"""

import pytest
from django.core.exceptions import ValidationError

from django_notify import SendRefused
from django_notify.tenancy import Role
from django_notify.types import Origin, Scope


@pytest.fixture
def world(make_org, make_user, make_team):
    acme, globex = make_org("Acme"), make_org("Globex")
    light = make_user(Role.LIGHT_USER, acme)
    dev = make_user(Role.DEV_USER, acme)
    peer = make_user(Role.DEV_USER, acme)
    admin = make_user(Role.ORG_ADMIN, acme)
    foreign = make_user(Role.DEV_USER, globex)
    research = make_team(acme, members=[dev, peer])
    other = make_team(acme)
    foreign_team = make_team(globex, members=[foreign])
    return {
        "acme": acme, "globex": globex, "light": light, "dev": dev, "peer": peer,
        "admin": admin, "foreign": foreign, "research": research, "other": other,
        "foreign_team": foreign_team,
    }  # fmt: skip


def _own_row(Notification, w):
    """A LIGHT_USER's note to self, loaded fresh from the database."""
    [row] = Notification.send_to_self(w["light"], title="note to self")
    return Notification.objects.get(pk=row.pk)


# (field changes, the rule that refuses them) — all on the LIGHT_USER's own row.
RETARGETS = [
    ({"recipient_id": "foreign"}, "organization.same_organization_user"),
    ({"recipient_id": "peer"}, "light_user.self_only"),
    ({"scope": Scope.TEAM, "recipient_id": None, "team_key": "research"}, "light_user.no_teams"),
    (
        {"scope": Scope.TEAM, "recipient_id": None, "team_key": "foreign_team"},
        "organization.same_organization_team",
    ),
    (
        {"scope": Scope.ORGANIZATION, "recipient_id": None, "is_global": True},
        "organization.global_admin_only",
    ),
    (
        {"scope": Scope.SYSTEM, "recipient_id": None, "organization_key": "", "is_global": True},
        "system.staff_only",
    ),
    ({"origin": Origin.SYSTEM}, "system.staff_only"),
    ({"organization_key": "globex"}, "organization.sender_member"),
    ({"sender_id": "foreign"}, "organization.same_organization_user"),
]


def _apply(row, w, changes):
    for name, value in changes.items():
        if name in ("recipient_id", "sender_id") and value is not None:
            value = w[value].pk
        elif name == "team_key":
            value = str(w[value].pk)
        elif name == "organization_key" and value:
            value = str(w[value].pk)
        setattr(row, name, value)


def _ids(params):
    return "+".join(f"{k}={v}" for k, v in params[0].items())


@pytest.mark.parametrize(("changes", "rule"), RETARGETS, ids=[_ids(p) for p in RETARGETS])
def test_save_refuses_a_retarget(world, Notification, changes, rule):
    row = _own_row(Notification, world)
    before = Notification.objects.values().get(pk=row.pk)
    _apply(row, world, changes)
    with pytest.raises(SendRefused) as info:
        row.save()
    assert info.value.code == rule
    assert Notification.objects.values().get(pk=row.pk) == before


@pytest.mark.parametrize(("changes", "rule"), RETARGETS, ids=[_ids(p) for p in RETARGETS])
def test_full_clean_refuses_a_retarget(world, Notification, changes, rule):
    row = _own_row(Notification, world)
    _apply(row, world, changes)
    with pytest.raises(ValidationError) as info:
        row.full_clean()
    assert rule in str(info.value)


def test_the_seed_example_retarget_to_another_organization(world, Notification):
    """The audit's case: a send_to_self row pointed at another organization's user."""
    row = _own_row(Notification, world)
    row.recipient = world["foreign"]
    with pytest.raises(ValidationError, match="organization.same_organization_user"):
        row.full_clean()
    with pytest.raises(SendRefused, match="organization.same_organization_user"):
        row.save()
    assert Notification.objects.get(pk=row.pk).recipient_id == world["light"].pk
    assert not Notification.objects.visible_to(world["foreign"]).exists()


def test_an_edit_that_keeps_the_targeting_saves(world, Notification):
    row = _own_row(Notification, world)
    row.title = "renamed"
    row.description = "<b>now</b> with a body"
    row.priority = 30
    row.full_clean()
    row.save()
    stored = Notification.objects.get(pk=row.pk)
    assert (stored.title, stored.description, stored.priority) == (
        "renamed", "<b>now</b> with a body", 30,
    )  # fmt: skip


def test_an_unchanged_edit_is_not_checked_again(world, Notification, monkeypatch):
    """A row whose sender has since lost the right (e.g. demoted) can still be edited,
    as long as its audience stays the same."""
    [row] = Notification.send(world["dev"], title="to peer", target_user=world["peer"])
    membership = world["dev"].testapp_membership
    membership.role = Role.LIGHT_USER
    membership.save()
    row = Notification.objects.get(pk=row.pk)
    row.title = "typo fixed"
    row.full_clean()
    row.save()
    # ...but retargeting it now runs the rules against today's role.
    row.recipient = world["dev"]  # to self: still fine for a LIGHT_USER
    row.save()
    row.recipient = world["peer"]
    with pytest.raises(SendRefused, match="light_user.self_only"):
        row.save()


def test_allowed_retarget_saves_and_moves_the_organization(world, Notification):
    """An ORG_ADMIN's row moved to another colleague is allowed; a direct row keeps its
    recipient's organization."""
    [row] = Notification.send(world["admin"], title="x", target_user=world["dev"])
    row = Notification.objects.get(pk=row.pk)
    row.recipient = world["peer"]
    row.full_clean()
    row.save()
    stored = Notification.objects.get(pk=row.pk)
    assert stored.recipient_id == world["peer"].pk
    assert stored.organization_key == str(world["acme"].pk)
    # And a second save of the now-remembered targeting is a plain edit.
    stored.title = "again"
    stored.save()


def test_rows_returned_by_send_remember_their_targeting(world, Notification):
    """Rows handed back by send() (bulk_create) compare against what was inserted."""
    [row] = Notification.send_to_self(world["light"], title="x")
    assert row.changed_targeting() == []
    row.title = "y"
    row.save()
    row.recipient = world["foreign"]
    assert row.changed_targeting() == ["recipient_id"]
    with pytest.raises(SendRefused):
        row.save()


def test_partial_refresh_keeps_an_unsaved_retarget(world, Notification):
    """refresh_from_db(fields=[...]) of other fields must not launder a retarget."""
    row = _own_row(Notification, world)
    row.recipient = world["foreign"]
    row.refresh_from_db(fields=["title"])
    with pytest.raises(SendRefused):
        row.save()
    row.refresh_from_db()
    assert row.changed_targeting() == []
    row.save()


def test_deferred_targeting_fields(world, Notification):
    row = Notification.objects.only("title").get(pk=_own_row(Notification, world).pk)
    row.title = "only the title"
    row.save(update_fields=["title"])  # nothing targeting was loaded or changed
    assert Notification.objects.get(pk=row.pk).title == "only the title"
    # Loading a deferred field later remembers the loaded value...
    assert row.recipient_id == world["light"].pk
    assert row.changed_targeting() == []
    # ...and setting a deferred field without loading it counts as a change.
    row = Notification.objects.only("title").get(pk=row.pk)
    row.recipient_id = world["foreign"].pk
    assert "recipient_id" in row.changed_targeting()
    with pytest.raises(SendRefused):
        row.save()


def test_trusted_rows_can_be_retargeted(world, Notification):
    """Rows without a sender are trusted (notify(), emit()): no sender rules apply."""
    from django_notify import notify

    [row] = notify([world["light"]], title="from code")
    row = Notification.objects.get(pk=row.pk)
    row.recipient = world["foreign"]
    row.full_clean()
    row.save()
    stored = Notification.objects.get(pk=row.pk)
    assert stored.recipient_id == world["foreign"].pk
    assert stored.organization_key == str(world["globex"].pk)


def test_bulk_update_refuses_a_retarget(world, Notification):
    rows = [_own_row(Notification, world) for _ in range(3)]
    rows[1].recipient = world["foreign"]
    for row in rows:
        row.title = "bulk edited"
    with pytest.raises(SendRefused, match="organization.same_organization_user"):
        Notification.objects.bulk_update(rows, ["title", "recipient"])
    assert set(Notification.objects.values_list("title", flat=True)) == {"note to self"}
    # Updating only fields that keep the targeting is a plain edit...
    Notification.objects.bulk_update(rows, ["title"])
    assert set(Notification.objects.values_list("title", flat=True)) == {"bulk edited"}
    # ...and leaves the unsaved retarget a change that save() still refuses.
    with pytest.raises(SendRefused):
        rows[1].save()


def test_bulk_update_allows_what_the_sender_may_send(world, Notification):
    [a, b] = Notification.send(world["admin"], title="x", user_ids=[world["dev"], world["peer"]])
    a.recipient, b.recipient = world["peer"], world["dev"]
    Notification.objects.bulk_update([a, b], ["recipient"])
    assert a.changed_targeting() == b.changed_targeting() == []
    stored = dict(Notification.objects.values_list("pk", "recipient_id"))
    assert stored == {a.pk: world["peer"].pk, b.pk: world["dev"].pk}
