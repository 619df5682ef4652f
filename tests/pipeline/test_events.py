import threading
import time
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.db import connection, transaction
from django.utils import timezone

from django_notify import NotRegistered, emit, signals
from django_notify.models import Event, OptOut, Subscription
from django_notify.pipeline.events import process_event, sweep

TYPE = "team.joined"  # declared in tests/swapped/notifications.py


@pytest.fixture
def people(make_org, make_user, make_team):
    org = make_org()
    users = [make_user(org=org) for _ in range(4)]
    team = make_team(org, members=users[:2])
    return users, team


def _subscribe(user, target=None, **kw):
    entity = {}
    if target is not None:
        entity = {"entity_type": ContentType.objects.get_for_model(target),
                  "entity_id": str(target.pk)}  # fmt: skip
    return Subscription.objects.create(user=user, notification_type=TYPE, **entity, **kw)


def _emit(run, **kw):
    kw.setdefault("context", {"team": "Research"})
    with run(execute=True):
        return emit(TYPE, **kw)


def test_rolled_back_emit_leaves_nothing(people, Notification, django_capture_on_commit_callbacks):
    users, team = people
    with django_capture_on_commit_callbacks() as callbacks:
        with pytest.raises(RuntimeError), transaction.atomic():
            emit(TYPE, context={"team": "x"}, recipients=users)
            raise RuntimeError("host code failed after emitting")
    assert callbacks == []
    assert Event.objects.count() == 0
    assert Notification.objects.count() == 0


def test_committed_emit_notifies_recipients_and_subscribers_once(
    people, Notification, django_capture_on_commit_callbacks
):
    users, team = people
    _subscribe(users[2])  # global
    _subscribe(users[3], target=team)  # scoped to this team
    event = _emit(
        django_capture_on_commit_callbacks, recipients=[users[0], users[2].pk], target=team,
        actor=users[1],
    )  # fmt: skip
    event.refresh_from_db()
    assert (event.status, event.attempts, event.notification_count) == ("done", 1, 3)
    rows = Notification.objects.order_by("recipient_id")
    assert [r.recipient_id for r in rows] == [users[0].pk, users[2].pk, users[3].pk]
    assert {r.title for r in rows} == {f"{users[1]} joined Research"}
    assert all(r.notification_type == TYPE and r.target == team for r in rows)
    assert process_event(event.pk) is False  # a second run finds nothing to claim
    assert Notification.objects.count() == 3


def test_scoped_subscription_only_fires_for_its_object(
    people, make_team, Notification, django_capture_on_commit_callbacks
):
    users, team = people
    other_team = make_team(team.organization)
    _subscribe(users[3], target=team)
    _emit(django_capture_on_commit_callbacks, target=other_team)
    assert Notification.objects.count() == 0
    _emit(django_capture_on_commit_callbacks, target=team)
    assert list(Notification.objects.values_list("recipient_id", flat=True)) == [users[3].pk]


def test_opt_outs_and_inactive_users_win(people, Notification, django_capture_on_commit_callbacks):
    users, team = people
    for user in users:
        _subscribe(user)
    OptOut.objects.create(user=users[0], notification_type=TYPE)  # everything
    OptOut.objects.create(
        user=users[1], notification_type=TYPE, entity_type=ContentType.objects.get_for_model(team),
        entity_id=str(team.pk),
    )  # fmt: skip
    OptOut.objects.create(  # expired mute: no longer applies
        user=users[2], notification_type=TYPE, until=timezone.now() - timedelta(minutes=1)
    )
    get_user_model().objects.filter(pk=users[3].pk).update(is_active=False)
    _emit(django_capture_on_commit_callbacks, target=team, recipients=[users[0]])
    assert list(Notification.objects.values_list("recipient_id", flat=True)) == [users[2].pk]


def test_in_app_switch_off_means_no_in_app_row(
    people, Notification, django_capture_on_commit_callbacks
):
    users, team = people
    _subscribe(users[0], in_app_enabled=False)
    _emit(django_capture_on_commit_callbacks)
    assert Notification.objects.count() == 0


def test_idempotency_key_creates_one_event(
    people, Notification, django_capture_on_commit_callbacks
):
    users, team = people
    first = _emit(django_capture_on_commit_callbacks, recipients=users, idempotency_key="k1")
    second = _emit(django_capture_on_commit_callbacks, recipients=users, idempotency_key="k1")
    assert first.pk == second.pk
    assert Event.objects.count() == 1
    assert Notification.objects.count() == len(users)


def test_crash_during_processing_is_retried_by_the_sweep_exactly_once(
    people, Notification, django_capture_on_commit_callbacks
):
    users, team = people

    def crash(sender, notification, **kwargs):
        raise RuntimeError("worker died mid fan-out")

    signals.notification_created.connect(crash)
    try:
        event = _emit(django_capture_on_commit_callbacks, recipients=users)
    finally:
        signals.notification_created.disconnect(crash)
    event.refresh_from_db()
    assert (event.status, event.attempts) == ("failed", 1)
    assert "worker died" in event.last_error
    assert Notification.objects.count() == 0  # the half-made fan-out was rolled back

    assert sweep() == {"processed": 1, "skipped": 0, "failed": 0}
    assert sweep() == {"processed": 0, "skipped": 0, "failed": 0}
    event.refresh_from_db()
    assert (event.status, event.attempts) == ("done", 2)
    assert Notification.objects.count() == len(users)


def test_event_never_processed_is_swept_by_the_command(people, Notification, capsys):
    users, team = people
    # Written without its on-commit processing, as when the process dies right after commit.
    Event.objects.create(notification_type=TYPE, context={"team": "x"},
                         recipients=[str(users[0].pk)])  # fmt: skip
    call_command("notify_process_events", "--older-than", "0")
    assert "1 processed" in capsys.readouterr().out
    assert Notification.objects.count() == 1


def test_gives_up_after_the_attempt_limit(people, Notification):
    event = Event.objects.create(notification_type=TYPE, status="failed", attempts=5)
    assert sweep() == {"processed": 0, "skipped": 0, "failed": 0}
    event.refresh_from_db()
    assert event.status == "failed"


@pytest.mark.parametrize(
    ("kwargs", "error", "needle"),
    [
        ({"type_key": "no.such.type"}, NotRegistered, "no.such.type"),
        ({"context": {}}, ValidationError, "team"),
        ({"context": {"team": {1, 2}}}, ValidationError, "context"),
        ({"context": "team"}, ValidationError, "context"),
        ({"recipients": "12"}, ValidationError, "recipients"),
    ],
)
def test_bad_input_writes_nothing(people, kwargs, error, needle):
    type_key = kwargs.pop("type_key", TYPE)
    kwargs.setdefault("context", {"team": "x"})
    with pytest.raises(error, match=needle):
        emit(type_key, **kwargs)
    assert Event.objects.count() == 0


def test_unsaved_target_is_refused(people):
    from tests.testapp.models import Team

    with pytest.raises(ValidationError, match="target"):
        emit(TYPE, context={"team": "x"}, target=Team(name="unsaved"))


@pytest.mark.django_db(transaction=True)
def test_concurrent_processing_notifies_once(require_postgres, make_org, make_user, Notification):
    users = [make_user() for _ in range(3)]
    event = Event.objects.create(
        notification_type=TYPE, context={"team": "x"}, recipients=[str(u.pk) for u in users]
    )
    started = threading.Event()

    def slow(sender, notification, **kwargs):
        started.set()
        time.sleep(0.5)  # hold the claim while the other worker tries

    results = []

    def worker():
        try:
            results.append(process_event(event.pk))
        finally:
            connection.close()

    signals.notification_created.connect(slow)
    try:
        first = threading.Thread(target=worker)
        first.start()
        assert started.wait(10)
        second = threading.Thread(target=worker)
        second.start()
        first.join(30)
        second.join(30)
    finally:
        signals.notification_created.disconnect(slow)
    assert sorted(results) == [False, True]
    assert Notification.objects.count() == 3
    event.refresh_from_db()
    assert (event.status, event.attempts) == ("done", 1)


def test_attempt_limit_applies_to_every_run(people, Notification):
    users, _ = people
    event = Event.objects.create(notification_type=TYPE, context={"team": "x"}, attempts=5,
                                 recipients=[str(users[0].pk)])  # fmt: skip
    assert process_event(event.pk) is False
    assert Notification.objects.count() == 0
    assert process_event(event.pk, force=True) is True
    assert Notification.objects.count() == 1


def test_context_is_text_in_the_body(people, Notification, django_capture_on_commit_callbacks):
    from django_notify import NotificationType, notification_types

    class Posted(NotificationType):
        key = "test.posted"
        context = {"text": "what was posted"}
        title = "{actor} posted"
        body = "<p>{actor} wrote: {text}</p>"

    notification_types.register(Posted)
    try:
        users, _ = people
        with django_capture_on_commit_callbacks(execute=True):
            emit("test.posted", actor=users[1], recipients=[users[0]],
                 context={"text": "a<b & <script>x</script>", "actor": "spoofed"})  # fmt: skip
    finally:
        notification_types.unregister("test.posted")
    row = Notification.objects.get()
    assert row.title == f"{users[1]} posted"  # the real actor wins over a context key
    assert (
        row.description == f"<p>{users[1]} wrote: a&lt;b &amp; &lt;script&gt;x&lt;/script&gt;</p>"
    )


def test_other_channel_switches(people):
    from django_notify.pipeline.audience import subscribers

    users, _ = people
    _subscribe(users[0], channels={"slack": False})
    _subscribe(users[1])
    slack = set(subscribers(TYPE, None, "slack").values_list("user_id", flat=True))
    assert slack == {users[1].pk}
