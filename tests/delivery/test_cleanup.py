"""Retention clean-up: ``cleanup()`` and ``manage.py notify_cleanup`` delete old rows in
bounded batches, one transaction each, and say what they deleted."""

import re
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from django_notify.delivery.checks import check_delivery as check_settings
from django_notify.delivery.sweep import cleanup
from django_notify.exceptions import NotifyConfigurationError
from django_notify.models import Delivery, Digest, Event, NotificationReceipt
from tests.support.notify_settings import notify_override

pytestmark = pytest.mark.django_db

OLD_ROWS = 50_000
BATCH = 5_000
RETENTION = {"notifications": 30, "deliveries": 30, "events": 30}


def _retention(**overrides):
    return notify_override(RETENTION_DAYS={**RETENTION, **overrides})


def _direct(Notification, user, age: timedelta, n: int = 1, **fields) -> list:
    now = timezone.now()
    rows = [
        Notification(title=f"row {i}", scope="user", recipient=user, created_at=now - age, **fields)
        for i in range(n)
    ]
    return Notification.objects.bulk_create(rows, batch_size=5_000)


def _delivery(notification, user, age: timedelta, status="sent", **fields):
    return Delivery(
        notification=notification, user=user, channel=fields.pop("channel", "email"),
        status=status, created_at=timezone.now() - age, **fields,
    )  # fmt: skip


@pytest.fixture
def old_world(make_org, make_user, make_team, Notification):
    """50,000 deletable old notifications (with 200 old deliveries and a read team
    broadcast's receipts among them), old deliveries/digests/events, and what must stay:
    young rows, an old notification with a delivery still to send, an old pending event."""
    org = make_org()
    users = [make_user(org=org) for _ in range(3)]
    team = make_team(org, members=users)
    day = timedelta(days=1)
    old = timedelta(days=400)
    old_rows = _direct(Notification, users[0], old, OLD_ROWS - 1)
    broadcast = Notification.objects.create(
        title="old team news", scope="team", team_key=str(team.pk),
        organization_key=str(org.pk), created_at=timezone.now() - old,
    )  # fmt: skip
    NotificationReceipt.objects.bulk_create(
        NotificationReceipt(notification=broadcast, user=u, read_at=timezone.now()) for u in users
    )
    Delivery.objects.bulk_create(_delivery(n, users[0], old) for n in old_rows[:200])
    [waiting] = _direct(Notification, users[1], old)
    Delivery.objects.bulk_create([_delivery(waiting, users[1], old, status="pending")])
    young = _direct(Notification, users[2], day, 20)
    Delivery.objects.bulk_create(_delivery(n, users[2], day) for n in young)
    Digest.objects.bulk_create(
        [
            Digest(user=users[0], channel="email", frequency="daily", status="sent",
                   created_at=timezone.now() - old),
            Digest(user=users[0], channel="email", frequency="daily", status="sent",
                   created_at=timezone.now() - day),
        ]
    )  # fmt: skip
    events = [
        Event(notification_type="team.joined", status=status, created_at=timezone.now() - age)
        for status, age, n in [("done", old, 300), ("cancelled", old, 5), ("pending", old, 2),
                               ("failed", old, 1), ("done", day, 10)]
        for _ in range(n)
    ]  # fmt: skip
    Event.objects.bulk_create(events)
    return {"waiting": waiting, "young": young}


def _statements(ctx, verb: str, model) -> int:
    table = connection.ops.quote_name(model._meta.db_table)
    return sum(1 for q in ctx.captured_queries if q["sql"].startswith(f"{verb} FROM {table}"))


def _check_old_world_result(Notification, old_world):
    """Every old row gone but the one with a delivery still to send; young rows kept."""
    assert set(Notification.objects.values_list("pk", flat=True)) == {
        old_world["waiting"].pk,
        *(n.pk for n in old_world["young"]),
    }
    assert NotificationReceipt.objects.count() == 0
    assert Delivery.objects.count() == 21  # the waiting one and the 20 young ones
    assert Digest.objects.count() == 1
    assert sorted(Event.objects.values_list("status", flat=True)) == (
        ["done"] * 10 + ["failed"] + ["pending"] * 2
    )


def test_50k_old_rows_go_in_batches_with_a_fixed_number_of_statements_each(old_world, Notification):
    """One 50,000-row world (built once: it is the slow part) for the statement count,
    the command's output and what is left."""
    out = StringIO()
    with _retention(), CaptureQueriesContext(connection) as ctx:
        call_command("notify_cleanup", "--batch-size", str(BATCH), stdout=out)
    assert out.getvalue().splitlines() == [
        "notifications: 50000 deleted (older than 30 days, none with a delivery to send)",
        "receipts: 3 deleted (with their notifications)",
        "deliveries: 200 deleted (finished and older than 30 days, or with their notification)",
        "digests: 1 deleted (older than 30 days with no delivery left)",
        "events: 305 deleted (done or cancelled and older than 30 days)",
        "total: 50509 rows deleted",
    ]
    _check_old_world_result(Notification, old_world)

    # Notifications: 50,000 / 5,000 = 10 batches, each one transaction of a fixed number
    # of statements: select the batch's keys, delete its receipts, its deliveries, then
    # the rows. (The test runs inside a transaction, so each batch's transaction shows
    # as SAVEPOINT ... RELEASE SAVEPOINT.)
    batches = OLD_ROWS // BATCH
    assert _statements(ctx, "DELETE", Notification) == batches
    assert _statements(ctx, "DELETE", NotificationReceipt) == batches
    # 10 batches of notifications + 1 batch of old deliveries (every row fits in one)
    assert _statements(ctx, "DELETE", Delivery) == batches + 1
    assert _statements(ctx, "DELETE", Digest) == 1
    assert _statements(ctx, "DELETE", Event) == 1
    per_batch = {"notifications": 6, "deliveries": 4, "digests": 5, "events": 4}
    empty_batch = 3  # SAVEPOINT, a select that finds nothing, RELEASE
    expected = (
        batches * per_batch["notifications"]
        + per_batch["deliveries"] + per_batch["digests"] + per_batch["events"]
        + 4 * empty_batch
    )  # fmt: skip
    assert len(ctx.captured_queries) == expected, [q["sql"][:90] for q in ctx.captured_queries]
    selects = [q["sql"] for q in ctx.captured_queries if q["sql"].startswith("SELECT")]
    assert all(f"LIMIT {BATCH}" in sql for sql in selects)
    if connection.vendor == "postgresql":
        assert all(sql.endswith("FOR UPDATE SKIP LOCKED") for sql in selects)


def test_statements_grow_with_rows_over_batch_size_not_with_rows(make_user, Notification):
    user = make_user()
    _direct(Notification, user, timedelta(days=40), 30)
    with _retention(), CaptureQueriesContext(connection) as ctx:
        counts = cleanup(batch_size=7)
    assert counts == {"notifications": 30, "receipts": 0, "deliveries": 0, "digests": 0,
                      "events": 0}  # fmt: skip
    # ceil(30 / 7) = 5 batches of 6 statements, one empty batch, and an empty batch for
    # each of deliveries, digests and events.
    assert len(ctx.captured_queries) == 5 * 6 + 3 + 3 * 3


def test_none_keeps_a_table_and_the_command_says_so(make_user, Notification):
    user = make_user()
    [row] = _direct(Notification, user, timedelta(days=4000))
    Delivery.objects.bulk_create([_delivery(row, user, timedelta(days=4000))])
    out = StringIO()
    with _retention(notifications=None, events=None):
        call_command("notify_cleanup", stdout=out)
    assert Notification.objects.filter(pk=row.pk).exists()
    assert not Delivery.objects.exists()  # deliveries still have a limit
    assert out.getvalue().splitlines() == [
        "notifications: 0 deleted (RETENTION_DAYS['notifications'] is None)",
        "receipts: 0 deleted (RETENTION_DAYS['notifications'] is None)",
        "deliveries: 1 deleted (finished and older than 30 days, or with their notification)",
        "digests: 0 deleted (older than 30 days with no delivery left)",
        "events: 0 deleted (RETENTION_DAYS['events'] is None)",
        "total: 1 rows deleted",
    ]


def test_default_batch_size_comes_from_the_setting(make_user, Notification):
    _direct(Notification, make_user(), timedelta(days=40), 5)
    setting = notify_override(RETENTION_DAYS=RETENTION, RETENTION_BATCH_SIZE=2)
    with setting, CaptureQueriesContext(connection) as ctx:
        call_command("notify_cleanup", stdout=StringIO())
    assert _statements(ctx, "DELETE", Notification) == 3  # 2 + 2 + 1


@pytest.mark.parametrize("size", ["0", "-5"])
def test_the_command_refuses_a_batch_size_below_one(size):
    with pytest.raises(CommandError, match="--batch-size must be a positive number"):
        call_command("notify_cleanup", "--batch-size", size)


@pytest.mark.parametrize(
    ("retention", "words"),
    [
        ({"deliveries": 0}, "RETENTION_DAYS']['deliveries'] is 0"),
        ({"events": -1}, "RETENTION_DAYS']['events'] must be a positive number of days"),
        ({"notifications": "30"}, "RETENTION_DAYS']['notifications'] must be a whole number"),
        ({"notifications": 1.5}, "RETENTION_DAYS']['notifications'] must be a whole number"),
        ({"events": True}, "RETENTION_DAYS']['events'] must be a whole number"),
        ({"receipts": 30}, "RETENTION_DAYS'] has an unknown key 'receipts'"),
        (30, "RETENTION_DAYS'] must be a dict"),
    ],
)
def test_nonsense_retention_is_refused_by_the_check_and_by_cleanup(retention, words):
    with notify_override(RETENTION_DAYS=retention):
        found = [e for e in check_settings() if e.id == "django_notify.E020"]
        assert len(found) == 1 and words in found[0].msg, found
        with pytest.raises(NotifyConfigurationError, match=re.escape(words)):
            cleanup()
        with pytest.raises(CommandError, match="RETENTION_DAYS"):
            call_command("notify_cleanup", stdout=StringIO())
    if retention == {"deliveries": 0}:
        assert "None" in found[0].hint and "forever" in found[0].hint


def test_zero_batch_size_setting_is_refused():
    with notify_override(RETENTION_BATCH_SIZE=0):
        assert "django_notify.E042" in [e.id for e in check_settings()]
        with pytest.raises(NotifyConfigurationError, match="RETENTION_BATCH_SIZE"):
            cleanup()


def test_delete_receivers_still_hear_every_row(make_user, Notification):
    """With a post_delete receiver on the model, batches go through QuerySet.delete()."""
    from django.db.models.signals import post_delete

    user = make_user()
    rows = _direct(Notification, user, timedelta(days=40), 5)
    NotificationReceipt.objects.create(notification=rows[0], user=user, read_at=timezone.now())
    heard = []

    def receiver(sender, instance, **kwargs):
        heard.append(instance.pk)

    post_delete.connect(receiver, sender=Notification)
    try:
        with _retention():
            counts = cleanup(batch_size=2)
    finally:
        post_delete.disconnect(receiver, sender=Notification)
    assert sorted(heard) == sorted(r.pk for r in rows)
    assert (counts["notifications"], counts["receipts"]) == (5, 1)
