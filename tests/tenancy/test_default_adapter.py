"""The adapter a host gets with no code: one organization, auth Groups as teams."""

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group

from django_notify import SendRefused
from tests.support.notify_settings import notify_override

DEFAULT = "django_notify.tenancy.DefaultTenancyAdapter"


@pytest.fixture
def people(db):
    User = get_user_model()
    boss = User.objects.create_user("boss", is_superuser=True)
    alice, bob, carol = (User.objects.create_user(n) for n in ("alice", "bob", "carol"))
    staff = User.objects.create_user("staff", is_staff=True)
    group = Group.objects.create(name="research")
    group.user_set.add(alice, bob)
    return boss, alice, bob, carol, staff, group


@notify_override(TENANCY_ADAPTER=DEFAULT)
def test_groups_are_teams_and_everyone_shares_one_organization(people, Notification):
    boss, alice, bob, carol, staff, group = people
    Notification.send(alice, title="to bob", target_user=bob)
    Notification.send(alice, title="to the team", target_team=group)
    with pytest.raises(SendRefused) as info:
        Notification.send(alice, title="to carol", target_user=carol)
    assert info.value.code == "dev_user.team_members_only"
    Notification.send(boss, title="everyone", is_global=True)
    assert Notification.objects.unread_count(bob) == 3
    assert Notification.objects.unread_count(carol) == 1
    assert Notification.objects.visible_to(carol).get().organization_key == "default"
    # Staff can address every group.
    Notification.send(staff, title="staff to team", team_ids=[group.pk])
    assert Notification.objects.unread_count(alice) == 3


@notify_override(TENANCY_ADAPTER=DEFAULT)
def test_unread_count_is_one_query(people, Notification, django_assert_num_queries):
    boss, alice, *_ = people
    Notification.send(boss, title="everyone", is_global=True)
    with django_assert_num_queries(1):
        assert Notification.objects.unread_count(alice) == 1
