from datetime import timedelta

import pytest
from django.utils import timezone

from django_notify import NotVisible, notify
from django_notify.models import NotificationReceipt
from django_notify.tenancy import Role


@pytest.fixture
def setup(make_org, make_user, make_team):
    org, other = make_org(), make_org()
    admin = make_user(Role.ORG_ADMIN, org)
    a, b = make_user(Role.DEV_USER, org), make_user(Role.DEV_USER, org)
    stranger = make_user(Role.DEV_USER, other)
    team = make_team(org, members=[a, b])
    return admin, a, b, stranger, team


def test_broadcast_is_one_row_with_receipts_only_on_action(setup, Notification):
    admin, a, b, stranger, team = setup
    [row] = Notification.send(admin, title="all", is_global=True)
    assert Notification.objects.count() == 1
    assert NotificationReceipt.objects.count() == 0
    row.mark_read(a)
    assert NotificationReceipt.objects.count() == 1
    assert Notification.objects.unread_count(a) == 0
    assert Notification.objects.unread_count(b) == 1
    row.mark_unread(a)
    assert Notification.objects.unread_count(a) == 1


def test_invisible_rows_cannot_be_touched(setup, Notification):
    admin, a, b, stranger, team = setup
    [direct] = Notification.send(admin, title="for a", target_user=a)
    [teamrow] = Notification.send(admin, title="team", target_team=team)
    for row in (direct, teamrow):
        with pytest.raises(NotVisible):
            row.mark_read(stranger)
        with pytest.raises(NotVisible):
            row.dismiss(stranger)
    with pytest.raises(NotVisible):
        direct.mark_read(b)
    direct.refresh_from_db()
    assert direct.read_at is None
    assert NotificationReceipt.objects.count() == 0


def test_dismissed_rows_leave_the_feed_for_that_user_only(setup, Notification):
    admin, a, b, stranger, team = setup
    [teamrow] = Notification.send(admin, title="team", target_team=team)
    teamrow.dismiss(a)
    assert list(Notification.objects.visible_to(a)) == []
    assert list(Notification.objects.visible_to(b)) == [teamrow]
    # Still addressed to a: a second dismiss (a double-clicked button) is a no-op.
    assert teamrow.dismiss(a) is False
    assert Notification.objects.dismiss_all(a) == 0


def test_expired_rows_are_not_visible(setup, Notification):
    admin, a, *_ = setup
    past = timezone.now() - timedelta(minutes=1)
    future = timezone.now() + timedelta(days=1)
    notify([a], title="old", expires_at=past)
    [fresh] = notify([a], title="fresh", expires_at=future)
    assert list(Notification.objects.visible_to(a)) == [fresh]
    assert Notification.objects.unread_count(a) == 1


def test_feed_annotates_read_state_and_paginates_by_keyset(setup, Notification):
    admin, a, *_ = setup
    now = timezone.now()
    rows = [notify([a], title=f"n{i}", created_at=now - timedelta(seconds=i))[0] for i in range(5)]
    rows[1].mark_read(a)
    feed = list(Notification.objects.visible_to(a))
    assert [n.pk for n in feed] == [r.pk for r in rows]
    assert [n.user_read_at is not None for n in feed] == [False, True, False, False, False]
    page2 = Notification.objects.visible_to(a).after(feed[1].created_at, feed[1].pk)
    assert [n.pk for n in page2] == [r.pk for r in rows[2:]]
    assert list(Notification.objects.visible_to(a).unread()) == [feed[0], *feed[2:]]


def test_anonymous_sees_nothing(setup, Notification):
    from django.contrib.auth.models import AnonymousUser

    assert list(Notification.objects.visible_to(AnonymousUser())) == []
    assert Notification.objects.unread_count(AnonymousUser()) == 0


def test_actor_and_target_generic_relations(setup, Notification):
    admin, a, b, stranger, team = setup
    [row] = notify([a], "team.joined", title="joined", actor=b, target=team)
    row = Notification.objects.visible_to(a).with_related().get()
    assert row.actor == b
    assert row.target == team
    assert row.notification_type == "team.joined"
