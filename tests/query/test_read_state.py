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


@pytest.mark.parametrize("scope", ["direct", "team", "organization"])
def test_dismissed_rows_cannot_be_marked_read_or_unread(setup, Notification, scope):
    """Read state needs the row in the user's feed: a dismissed row raises NotVisible,
    changes nothing and signals nothing; dismissing it again stays a quiet no-op."""
    from django_notify import signals

    admin, a, b, stranger, team = setup
    target = {"direct": {"target_user": a}, "team": {"target_team": team},
              "organization": {"is_global": True}}[scope]  # fmt: skip
    [row] = Notification.send(admin, title="x", **target)
    row.mark_read(a)
    assert row.dismiss(a) is True
    before = (
        set(NotificationReceipt.objects.values_list("user_id", "read_at", "dismissed_at")),
        Notification.objects.values_list("read_at", "dismissed_at").get(pk=row.pk),
    )
    fired = []

    def receiver(sender, notification, user, **kw):
        fired.append(notification.pk)

    signals.notification_read.connect(receiver, weak=False)
    try:
        for method in (row.mark_read, row.mark_unread):
            with pytest.raises(NotVisible):
                method(a)
        assert row.dismiss(a) is False
    finally:
        signals.notification_read.disconnect(receiver)
    after = (
        set(NotificationReceipt.objects.values_list("user_id", "read_at", "dismissed_at")),
        Notification.objects.values_list("read_at", "dismissed_at").get(pk=row.pk),
    )
    assert after == before
    assert fired == []
    if scope != "direct":
        # Another member's state is theirs: b can still read it.
        assert row.mark_read(b) is True


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


# --- concurrency (PostgreSQL) ---------------------------------------------------------


def _race(n_threads: int, work) -> list:
    """Run ``work()`` in ``n_threads`` threads at once; return their results."""
    import threading

    from django.db import connection

    start = threading.Barrier(n_threads, timeout=30)
    results, errors = [], []

    def run():
        try:
            start.wait()
            results.append(work())
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(n_threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    return results


@pytest.fixture
def receipts_meet_before_insert(monkeypatch):
    """Hold every racing thread at the receipt INSERT until all of them got there, so
    each one has looked at the receipts before any is written (the window in which a
    check-then-insert would count a row twice)."""
    import threading

    real = NotificationReceipt.objects.bulk_create
    state = {}

    def arm(n):
        state["barrier"] = threading.Barrier(n, timeout=5)

    def bulk_create(*args, **kwargs):
        barrier = state.get("barrier")
        if barrier is not None:
            try:
                barrier.wait()
            except threading.BrokenBarrierError:
                pass
        return real(*args, **kwargs)

    monkeypatch.setattr(NotificationReceipt.objects, "bulk_create", bulk_create)
    return arm


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("field", ["read_at", "dismissed_at"])
def test_racing_calls_change_and_signal_a_broadcast_once(
    require_postgres, make_org, make_user, Notification, receipts_meet_before_insert, field
):
    from django_notify import signals

    org = make_org()
    admin, a = make_user(Role.ORG_ADMIN, org), make_user(Role.DEV_USER, org)
    rows = [Notification.send(admin, title=f"b{i}", is_global=True)[0] for i in range(30)]
    signal = signals.notification_read if field == "read_at" else signals.notification_dismissed
    bulk_signal = (
        signals.notifications_read if field == "read_at" else signals.notifications_dismissed
    )
    fired = []

    def receiver(sender, notification, user, **kw):
        fired.append((notification.pk, user.pk))

    def bulk_receiver(sender, notification_ids, user, **kw):
        fired.extend((pk, user.pk) for pk in notification_ids)

    signal.connect(receiver, weak=False)
    bulk_signal.connect(bulk_receiver, weak=False)
    n = 6
    try:
        # One row, n requests at once (a double-clicked button, two tabs).
        receipts_meet_before_insert(n)
        one = rows[0]
        act = one.mark_read if field == "read_at" else one.dismiss
        results = _race(n, lambda: act(a))
        assert sorted(results) == [False] * (n - 1) + [True]
        assert fired == [(one.pk, a.pk)]
        # The whole feed, n bulk calls released at once: each row changes (and is
        # reported by one call's bulk signal) exactly once.
        fired.clear()
        bulk = "mark_all_read" if field == "read_at" else "dismiss_all"
        results = _race(n, lambda: getattr(Notification.objects, bulk)(a))
        assert sum(results) == len(rows) - 1, results
        assert sorted(fired) == sorted((r.pk, a.pk) for r in rows[1:])
    finally:
        signal.disconnect(receiver)
        bulk_signal.disconnect(bulk_receiver)
    receipts = NotificationReceipt.objects.filter(user=a)
    assert receipts.count() == len(rows)
    assert not receipts.filter(**{f"{field}__isnull": True}).exists()
