"""A processing run killed mid-way (simulated with a ``BaseException``, which nothing in
django-notify catches, as a SIGKILL or a worker shutdown would) leaves the event
processable with no notifications; the sweep then processes it exactly once."""

from __future__ import annotations

import pytest
from django.contrib.contenttypes.models import ContentType

import django_notify
from django_notify import emit, signals
from django_notify.models import Event
from django_notify.pipeline.events import process_event, sweep
from django_notify.rules import DynamicCriterion, SubscriptionRule

TYPE = "team.joined"  # declared in tests/swapped/notifications.py
KILLER_FN = "crash_tests_killer"


class Killed(BaseException):
    """Stands for the process dying: not an ``Exception``, so no handler records it."""


@pytest.fixture
def kill_switch():
    """Arm it with "receiver" (after some rows are inserted: kill in the middle of the
    fan-out) or "criterion" (while the audience is resolved); disarmed, nothing dies."""
    state = {"where": None, "kills": 0}

    def receiver(sender, notification, **kwargs):
        if state["where"] == "receiver":
            state["kills"] += 1
            raise Killed("killed after inserting rows")

    @django_notify.criteria.register(KILLER_FN)
    def killer(target=None):
        if state["where"] == "criterion" and target is not None:
            state["kills"] += 1
            raise Killed("killed while resolving the audience")
        return []

    signals.notification_created.connect(receiver)
    yield state
    signals.notification_created.disconnect(receiver)
    django_notify.criteria.unregister(KILLER_FN)


def _world(make_org, make_user, make_team):
    org = make_org()
    users = [make_user(org=org) for _ in range(3)]
    team = make_team(org, members=users)
    rule = SubscriptionRule.objects.create(name="killer", notification_type=TYPE)
    DynamicCriterion.objects.create(rule=rule, name=KILLER_FN, evaluate_per_event=True)
    return users, team


def _check_swept_exactly_once(event, users, Notification):
    event.refresh_from_db()
    assert event.status == Event.Status.PENDING  # never claimed for good: still due
    assert event.attempts == 1  # the attempt was counted before it died
    assert Notification.objects.count() == 0  # the half-made fan-out was rolled back
    assert sweep() == {"processed": 1, "skipped": 0, "failed": 0}
    assert sweep() == {"processed": 0, "skipped": 0, "failed": 0}
    assert process_event(event.pk) is False
    event.refresh_from_db()
    assert (event.status, event.attempts, event.notification_count) == ("done", 2, len(users))
    assert sorted(Notification.objects.values_list("recipient_id", flat=True)) == sorted(
        u.pk for u in users
    )


@pytest.mark.parametrize("where", ["receiver", "criterion"])
def test_killed_on_commit_processing_is_swept_exactly_once(
    where, kill_switch, make_org, make_user, make_team, Notification,
    django_capture_on_commit_callbacks,
):  # fmt: skip
    users, team = _world(make_org, make_user, make_team)
    kill_switch["where"] = where
    with pytest.raises(Killed), django_capture_on_commit_callbacks(execute=True):
        event = emit(TYPE, target=team, recipients=users, context={"team": team.name})
    assert kill_switch["kills"] == 1
    kill_switch["where"] = None  # the next worker lives
    _check_swept_exactly_once(event, users, Notification)


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("where", ["receiver", "criterion"])
def test_killed_processing_outside_a_test_transaction(
    where, kill_switch, make_org, make_user, make_team, Notification
):
    """The same in autocommit mode, as in production: the attempt counter is its own
    committed statement, the claim and the rows roll back together."""
    users, team = _world(make_org, make_user, make_team)
    event = Event.objects.create(
        notification_type=TYPE,
        context={"team": team.name},
        recipients=[str(u.pk) for u in users],
        target_content_type=ContentType.objects.get_for_model(team),
        target_object_id=str(team.pk),
    )
    kill_switch["where"] = where
    with pytest.raises(Killed):
        process_event(event.pk)
    kill_switch["where"] = None
    _check_swept_exactly_once(event, users, Notification)
