"""Membership tables declared on a tenancy adapter: what the adapter's methods return,
the SQL the feed embeds instead of calling them, and that an override still wins."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.db import connection

from django_notify.tenancy import MemberKeys, MembershipTable, feed_keys, get_adapter
from tests.support.notify_settings import notify_override
from tests.testapp.models import Membership, Team
from tests.testapp.tenancy import TestTenancyAdapter

pytestmark = pytest.mark.django_db


class TeamsFromAMethod(TestTenancyAdapter):
    """Declares the tables, but overrides the team method: the method must win."""

    def get_team_ids(self, user):
        return []


@pytest.fixture
def member(make_org, make_user, make_team):
    org = make_org()
    user = make_user(org=org)
    team = make_team(org, members=[user])
    make_team(org)  # another team of the organization, not the user's
    return user, org, team


def test_declared_tables_answer_the_adapter_methods(member):
    user, org, team = member
    adapter = get_adapter()
    assert isinstance(adapter, TestTenancyAdapter)
    assert list(adapter.get_team_ids(user).values_list("team", flat=True)) == [team.pk]
    assert list(adapter.get_organization_filter(user).values_list("organization", flat=True)) == [
        org.pk
    ]


def test_a_label_names_the_same_table(member):
    user, org, _team = member
    table = MembershipTable("testapp.Membership", "user", "organization")
    assert table.resolve_model() is Membership
    assert list(table.keys_for(user).values_list("organization", flat=True)) == [org.pk]
    expected = MembershipTable(Membership, "user", "organization").select_sql(connection.alias)
    assert table.select_sql(connection.alias) == expected


def test_the_feed_embeds_the_tables_sql_with_the_users_pk(member):
    user, _org, team = member
    teams, organizations = feed_keys(get_adapter(), user)
    assert teams == MemberKeys(TestTenancyAdapter.team_membership, user.pk)
    assert organizations == MemberKeys(TestTenancyAdapter.organization_membership, user.pk)
    qn = connection.ops.quote_name
    through = Team.members.through._meta.db_table
    sql, params = teams.as_sql(connection)
    assert sql == (
        f"SELECT {qn(through)}.{qn('team_id')} FROM {qn(through)} "
        f"WHERE {qn(through)}.{qn('user_id')} = %s"
    )
    assert params == [user.pk]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        assert cursor.fetchall() == [(team.pk,)]


def test_a_team_and_an_organization_broadcast_reach_the_member_only(
    member, make_user, Notification, django_assert_num_queries
):
    user, org, team = member
    outsider = make_user()  # another organization, no team
    boss = make_user(role="ORG_ADMIN", org=org)
    Notification.send(boss, title="to the team", target_team=team)
    Notification.send(boss, title="to the organization", is_global=True)
    with django_assert_num_queries(1):
        assert Notification.objects.unread_count(user) == 2
    titles = set(Notification.objects.visible_to(user).values_list("title", flat=True))
    assert titles == {"to the team", "to the organization"}
    assert Notification.objects.unread_count(outsider) == 0


def test_an_overridden_method_wins_over_the_declared_table(member, make_user, Notification):
    user, org, team = member
    boss = make_user(role="ORG_ADMIN", org=org)
    Notification.send(boss, title="to the team", target_team=team)
    path = f"{__name__}.{TeamsFromAMethod.__qualname__}"
    with notify_override(TENANCY_ADAPTER=path):
        teams, organizations = feed_keys(get_adapter(), user)
        assert teams == []
        assert isinstance(organizations, MemberKeys)
        assert Notification.objects.unread_count(user) == 0
        assert not Notification.objects.visible_to(user).exists()
    assert Notification.objects.unread_count(user) == 1


def test_the_default_adapter_reads_the_user_models_groups_table():
    with notify_override(TENANCY_ADAPTER="django_notify.tenancy.DefaultTenancyAdapter"):
        table = get_adapter().team_membership
    groups = get_user_model()._meta.get_field("groups")
    assert table == MembershipTable(groups.remote_field.through, "user", "group")
