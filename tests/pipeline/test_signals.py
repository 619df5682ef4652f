import pytest
from django.db import connection

from django_notify import notify, signals
from django_notify.tenancy import Role


@pytest.fixture
def recorder():
    events = []

    def make(name):
        def receiver(sender, **kwargs):
            if "notification_ids" in kwargs:  # a bulk call: one signal, every id
                ids = tuple(sorted(kwargs["notification_ids"]))
                events.append((name, ids, kwargs["user"], kwargs["everything"]))
            else:
                events.append((name, kwargs["notification"].pk, kwargs.get("user")))

        return receiver

    names = ("notification_created", "notification_read", "notification_dismissed",
             "notifications_read", "notifications_dismissed")  # fmt: skip
    receivers = {name: make(name) for name in names}
    for name, receiver in receivers.items():
        getattr(signals, name).connect(receiver)
    yield events
    for name, receiver in receivers.items():
        getattr(signals, name).disconnect(receiver)


def test_signals_fire_once_per_real_change(recorder, make_org, make_user, make_team, Notification):
    org = make_org()
    admin = make_user(Role.ORG_ADMIN, org)
    dev = make_user(Role.DEV_USER, org)
    team = make_team(org, members=[dev, admin])
    [direct] = Notification.send(admin, title="d", target_user=dev)
    [broadcast] = Notification.send(admin, title="t", target_team=team)
    assert [e[0] for e in recorder] == ["notification_created"] * 2
    recorder.clear()

    direct.mark_read(dev)
    direct.mark_read(dev)
    broadcast.mark_read(dev)
    broadcast.mark_read(dev)
    assert recorder == [
        ("notification_read", direct.pk, dev),
        ("notification_read", broadcast.pk, dev),
    ]
    recorder.clear()
    assert Notification.objects.mark_all_read(dev) == 0
    assert Notification.objects.mark_all_read(admin) == 1  # only the team row is admin's
    # A bulk call sends one signal with the ids, not one per row.
    assert recorder == [("notifications_read", (broadcast.pk,), admin, True)]
    recorder.clear()
    assert Notification.objects.dismiss_all(dev) == 2
    assert Notification.objects.dismiss_all(dev) == 0
    ids = tuple(sorted([direct.pk, broadcast.pk]))
    assert recorder == [("notifications_dismissed", ids, dev, True)]
    recorder.clear()
    assert Notification.objects.mark_read_many(admin, [broadcast.pk, direct.pk]) == 0  # read
    [other] = Notification.send(admin, title="o", target_team=team)
    recorder.clear()
    assert Notification.objects.mark_read_many(admin, [other.pk, direct.pk]) == 1
    assert Notification.objects.dismiss_many(admin, [other.pk]) == 1
    assert recorder == [
        ("notifications_read", (other.pk,), admin, False),
        ("notifications_dismissed", (other.pk,), admin, False),
    ]


def test_created_signal_names_the_sender(recorder, make_user, Notification):
    captured = []

    def receiver(sender, notification, created_by, **kwargs):
        captured.append((sender, created_by))

    signals.notification_created.connect(receiver)
    try:
        user = make_user()
        Notification.send_to_self(user, title="x")
        notify([user], title="y")
    finally:
        signals.notification_created.disconnect(receiver)
    assert captured == [(Notification, user), (Notification, None)]


# --- event signals ------------------------------------------------------------------

EVENT_TYPE = "team.joined"  # declared in tests/swapped/notifications.py


class EventRecorder(list):
    """``(signal, event pk, …)`` per event signal received, and whether each receiver ran
    inside a transaction (``in_transaction``)."""

    def __init__(self):
        super().__init__()
        self.in_transaction: list[bool] = []

    def emitted(self, sender, event, **kwargs):
        from django_notify.models import Event

        self.append(("emitted", event.pk, Event.objects.filter(pk=event.pk).exists()))
        self.in_transaction.append(connection.in_atomic_block)

    def processed(self, sender, event, notifications, **kwargs):
        self.append(("processed", event.pk, event.status, sorted(n.pk for n in notifications)))
        self.in_transaction.append(connection.in_atomic_block)


@pytest.fixture
def event_signals():
    recorder = EventRecorder()
    signals.event_emitted.connect(recorder.emitted)
    signals.event_processed.connect(recorder.processed)
    yield recorder
    signals.event_emitted.disconnect(recorder.emitted)
    signals.event_processed.disconnect(recorder.processed)


def test_event_emitted_once_per_emit_not_for_a_repeated_key(
    event_signals, make_user, django_capture_on_commit_callbacks
):
    from django_notify import emit

    user = make_user()
    with django_capture_on_commit_callbacks():
        first = emit(EVENT_TYPE, context={"team": "x"}, recipients=[user])
        second = emit(EVENT_TYPE, context={"team": "x"}, recipients=[user])
        keyed = emit(EVENT_TYPE, context={"team": "x"}, idempotency_key="k")
        again = emit(EVENT_TYPE, context={"team": "x"}, idempotency_key="k")
    assert again.pk == keyed.pk
    # Sent inside emit()'s transaction, once the row is written.
    assert event_signals == [("emitted", e.pk, True) for e in (first, second, keyed)]


def test_event_emitted_is_sent_inside_a_transaction_that_may_roll_back(
    event_signals, make_user, Notification, django_capture_on_commit_callbacks
):
    """By design: the signal fires when the row is written, before the caller's commit.
    A rolled-back transaction leaves no event and no notification, but receivers have
    already run; side effects that need the event to exist belong in on_commit."""
    from django.db import transaction

    from django_notify import emit
    from django_notify.models import Event

    user = make_user()
    with django_capture_on_commit_callbacks() as callbacks:
        with pytest.raises(RuntimeError), transaction.atomic():
            event = emit(EVENT_TYPE, context={"team": "x"}, recipients=[user])
            raise RuntimeError("the host's transaction fails")
    assert event_signals == [("emitted", event.pk, True)]
    assert not Event.objects.filter(pk=event.pk).exists()
    assert callbacks == []  # nothing left to process
    assert Notification.objects.count() == 0


def test_event_processed_once_after_processing_with_the_rows(
    event_signals, make_user, Notification, django_capture_on_commit_callbacks
):
    from django_notify import emit
    from django_notify.pipeline.events import process_event

    users = [make_user(), make_user()]
    with django_capture_on_commit_callbacks(execute=True):
        event = emit(EVENT_TYPE, context={"team": "x"}, recipients=users)
    rows = sorted(Notification.objects.values_list("pk", flat=True))
    assert len(rows) == 2
    assert event_signals == [("emitted", event.pk, True), ("processed", event.pk, "done", rows)]
    event_signals.clear()
    assert process_event(event.pk) is False  # already done: no second signal
    assert event_signals == []


def test_event_processed_not_sent_when_processing_fails_or_reaches_nobody(
    event_signals, make_user, Notification
):
    from django_notify.models import Event
    from django_notify.pipeline.events import process_event, sweep

    user = make_user()
    event = Event.objects.create(
        notification_type=EVENT_TYPE, context={"team": "x"}, recipients=[str(user.pk)]
    )

    def crash(sender, **kwargs):
        raise RuntimeError("receiver failed")

    signals.notification_created.connect(crash)
    try:
        with pytest.raises(RuntimeError):
            process_event(event.pk)
    finally:
        signals.notification_created.disconnect(crash)
    assert event_signals == []
    assert sweep()["processed"] == 1
    [row] = Notification.objects.values_list("pk", flat=True)
    assert event_signals == [("processed", event.pk, "done", [row])]

    event_signals.clear()
    empty = Event.objects.create(notification_type=EVENT_TYPE, context={"team": "x"})
    assert process_event(empty.pk) is True
    assert event_signals == [("processed", empty.pk, "done", [])]  # sent, with no rows


@pytest.mark.django_db(transaction=True)
def test_event_emitted_inside_the_transaction_event_processed_after_commit(
    event_signals, make_user, Notification
):
    """Outside the test transaction: event_emitted runs in emit()'s transaction,
    event_processed once the processing has committed (the rows are there to read)."""
    from django_notify import emit

    user = make_user()
    assert not connection.in_atomic_block
    event = emit(EVENT_TYPE, context={"team": "x"}, recipients=[user])  # commits at once
    [row] = Notification.objects.values_list("pk", flat=True)
    assert event_signals == [("emitted", event.pk, True), ("processed", event.pk, "done", [row])]
    assert event_signals.in_transaction == [True, False]
