"""``visible_per_user``: many users' visibility of a few rows and their unread counts in a
fixed number of statements, the same answers as ``visible_to(user)`` and
``unread_count(user)`` user by user, whatever form the adapter gives the keys in."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from django_notify import feed_checks, send, send_system
from django_notify.feed_checks import visible_per_user
from tests.support.notify_settings import notify_override
from tests.testapp.models import Membership, Team
from tests.testapp.tenancy import TestTenancyAdapter

pytestmark = pytest.mark.django_db


class ListKeys(TestTenancyAdapter):
    """Keys as lists: no membership table for the feed to read."""

    def get_team_ids(self, user):
        return list(Team.objects.filter(members=user).values_list("pk", flat=True))

    def get_organization_filter(self, user):
        return self.get_organization_id(user)


class QuerysetKeys(TestTenancyAdapter):
    """Keys as one-column querysets, embedded as subqueries."""

    def get_team_ids(self, user):
        return Team.objects.filter(members=user).values("pk")

    def get_organization_filter(self, user):
        return Membership.objects.filter(user=user).values("organization")


ADAPTERS = {
    "membership tables": "tests.testapp.tenancy.TestTenancyAdapter",
    "lists": f"{__name__}.ListKeys",
    "querysets": f"{__name__}.QuerysetKeys",
}


@pytest.fixture
def world(make_org, make_user, make_team, Notification):
    """Two organizations; teams; every kind of row; read, dismissed and expired ones."""
    org, other_org = make_org(), make_org()
    boss = make_user("ORG_ADMIN", org)
    ada, bob, cy = make_user(org=org), make_user(org=org), make_user(org=org)
    outsider = make_user("ORG_ADMIN", other_org)
    orphan = make_user(org=False)
    staff = make_user(org=org, staff=True)
    red = make_team(org, members=[ada, bob])
    blue = make_team(org, members=[bob])
    far = make_team(other_org, members=[outsider])
    rows = [
        *send(boss, title="to ada", target_user=ada),
        *send(boss, title="to bob and cy", user_ids=[bob.pk, cy.pk]),
        *send(boss, title="red", target_team=red),
        *send(boss, title="blue", target_team=blue),
        *send(boss, title="org", is_global=True),
        *send(outsider, title="far team", target_team=far),
        *send(outsider, title="far org", is_global=True),
        *send_system(staff, title="everyone"),
        *send_system(staff, title="everyone, expired"),
        *send_system(staff, title="everyone, dismissed by bob"),
        *send_system(staff, title="everyone, read by ada"),
    ]
    by_title = {row.title: row for row in rows}
    Notification.objects.filter(pk=by_title["everyone, expired"].pk).update(
        expires_at=timezone.now() - timedelta(minutes=1)
    )
    by_title["everyone, dismissed by bob"].dismiss(bob)
    by_title["everyone, read by ada"].mark_read(ada)
    by_title["red"].mark_read(bob)
    by_title["to ada"].mark_read(ada)
    users = [boss, ada, bob, cy, outsider, orphan, staff]
    return users, rows


def expected(Notification, user, ids):
    visible = Notification.objects.visible_to(user).filter(pk__in=ids)
    return set(visible.values_list("pk", "created_at")), Notification.objects.unread_count(user)


@pytest.mark.parametrize("adapter", ADAPTERS)
def test_the_same_answers_as_one_user_at_a_time(adapter, world, Notification):
    users, rows = world
    ids = [row.pk for row in rows]
    with notify_override(TENANCY_ADAPTER=ADAPTERS[adapter]):
        answers = visible_per_user(Notification, users, ids, counts_for=[users[-1].pk])
        for user in users:
            rows_seen, count = expected(Notification, user, ids)
            answer = answers[user.pk]
            assert set(answer.rows) == rows_seen and len(answer.rows) == len(rows_seen), user
            assert answer.count == (count if rows_seen or user is users[-1] else None), user
        # A subset of the ids: a direct row of someone else is never another user's.
        some = [rows[0].pk, rows[-1].pk]
        answers = visible_per_user(Notification, users, some)
        for user in users:
            assert set(answers[user.pk].rows) == expected(Notification, user, some)[0], user


def test_two_statements_whatever_the_number_of_users(
    world, make_user, Notification, django_assert_num_queries
):
    users, rows = world
    ids = [row.pk for row in rows]
    with django_assert_num_queries(2):  # the visible rows, then the counts
        few = visible_per_user(Notification, users[:2], ids)
    many_users = users + [make_user() for _ in range(20)]
    with django_assert_num_queries(2):
        many = visible_per_user(Notification, many_users, ids)
    assert {pk: few[pk] for pk in few} == {pk: many[pk] for pk in few}
    with django_assert_num_queries(1):  # nobody sees anything: no count is needed
        assert all(a.count is None for a in visible_per_user(Notification, users, [0]).values())
    with django_assert_num_queries(1):  # counts only
        counts = visible_per_user(Notification, users, [], counts_for=[u.pk for u in users])
    assert {pk: a.count for pk, a in counts.items()} == {
        u.pk: Notification.objects.unread_count(u) for u in users
    }
    assert all(a.rows == [] for a in counts.values())


def test_users_in_chunks(world, Notification, monkeypatch, django_assert_num_queries):
    users, rows = world
    ids = [row.pk for row in rows]
    whole = visible_per_user(Notification, users, ids)
    monkeypatch.setattr(feed_checks, "USERS_PER_STATEMENT", 3)
    with django_assert_num_queries(6):  # 7 users: 3 chunks of two statements
        chunked = visible_per_user(Notification, users, ids)
    assert {pk: (set(a.rows), a.count) for pk, a in chunked.items()} == {
        pk: (set(a.rows), a.count) for pk, a in whole.items()
    }


def test_a_user_given_twice_is_answered_once(world, Notification):
    users, rows = world
    answers = visible_per_user(Notification, [users[1], users[1]], [rows[0].pk])
    assert list(answers) == [users[1].pk]
    assert [pk for pk, _ in answers[users[1].pk].rows] == [rows[0].pk]
