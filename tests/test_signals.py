import pytest

from django_notify import notify, signals
from django_notify.tenancy import Role


@pytest.fixture
def recorder():
    events = []

    def make(name):
        def receiver(sender, **kwargs):
            events.append((name, kwargs["notification"].pk, kwargs.get("user")))

        return receiver

    receivers = {
        name: make(name) for name in ("notification_created", "notification_read",
                                      "notification_dismissed")
    }  # fmt: skip
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
    assert recorder == [("notification_read", broadcast.pk, admin)]
    recorder.clear()
    assert Notification.objects.dismiss_all(dev) == 2
    assert Notification.objects.dismiss_all(dev) == 0
    assert sorted(recorder) == sorted(
        [("notification_dismissed", direct.pk, dev), ("notification_dismissed", broadcast.pk, dev)]
    )


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
