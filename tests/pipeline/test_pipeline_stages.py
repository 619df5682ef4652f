"""The write path stage by stage: each stage is a function of its inputs and can be run
on its own (audience → decisions → rows → deliveries → hand-off), and write() runs them
in one transaction."""

from __future__ import annotations

import pytest
from django.core import mail
from django.utils import timezone

from django_notify import SendRefused, bulk_insert, emit, signals
from django_notify.channels import channels
from django_notify.models import (
    Delivery,
    DeliveryStatus,
    Event,
    NotificationPreference,
    OrganizationPreference,
    Subscription,
)
from django_notify.pipeline import audience
from django_notify.pipeline import write as write_module
from django_notify.pipeline.decisions import decide_all
from django_notify.pipeline.deliveries import due_now, write_deliveries
from django_notify.pipeline.handoff import hand_off
from django_notify.pipeline.planned import PlannedColumns, PlannedList
from django_notify.pipeline.request import WriteRequest
from django_notify.pipeline.rows import (
    DirectRows,
    ModelRows,
    insert_rows,
    row_set,
    system_rows,
    user_rows,
)
from django_notify.pipeline.write import write
from django_notify.tenancy import Role

pytestmark = pytest.mark.django_db
TYPE = "team.joined"  # channels in-app and email; declared in tests/swapped/notifications.py


def _wants_email(*users):
    """The type sends email only to those who switch it on (its default is in-app)."""
    for user in users:
        NotificationPreference.objects.create(
            user=user, notification_type=TYPE, channel="email", enabled=True
        )


def _rows(Notification, users):
    return system_rows(
        Notification, [u.pk for u in users], TYPE, title="Ada joined Research", body="Hi"
    )


def test_audience_reaches_each_channel_on_its_own(make_user, make_team, make_org):
    org = make_org()
    named, subscriber, email_only = (make_user(org=org, email=f"{n}@x.test") for n in "abc")
    team = make_team(org)
    Subscription.objects.create(user=subscriber, notification_type=TYPE)
    Subscription.objects.create(user=email_only, notification_type=TYPE, channels={"in_app": False})
    event = Event.objects.create(
        notification_type=TYPE, context={"team": "Research"}, recipients=[str(named.pk)]
    )
    from django_notify.types import notification_types

    reach = audience.event_reach(
        event, notification_types.get(TYPE), channels.keys(), channels.row_channels()
    )
    assert reach == {
        "in_app": {named.pk, subscriber.pk},
        "email": {named.pk, subscriber.pk, email_only.pk},
    }
    assert team  # teams take no part without a rule


def test_decisions_are_taken_before_any_row_exists(make_user, Notification):
    shown, hidden = make_user(email="s@x.test"), make_user(email="h@x.test")
    _wants_email(shown, hidden)
    NotificationPreference.objects.create(
        user=hidden, notification_type=TYPE, channel="in_app", enabled=False
    )
    rows = _rows(Notification, [shown, hidden])
    now = timezone.now()
    (group,) = decide_all(rows, now=now)
    assert Notification.objects.count() == 0  # nothing written by deciding
    assert group.channels == ["email"]  # in-app delivers by the row: no Delivery
    assert [r.dismissed_at for r in rows] == [None, now]  # born hidden, not hidden later
    assert group.decisions[(shown.pk, "email")].enabled
    assert group.addresses["email"] == {shown.pk: "s@x.test", hidden.pk: "h@x.test"}


def test_rows_are_inserted_in_bulk_and_signalled(make_user, Notification):
    users = [make_user(), make_user()]
    seen = []

    def receiver(sender, notification, created_by, **kwargs):
        seen.append((notification.pk, created_by))

    signals.notification_created.connect(receiver, dispatch_uid="stage-test")
    try:
        created = insert_rows(_rows(Notification, users), created_by=None)
    finally:
        signals.notification_created.disconnect(dispatch_uid="stage-test")
    assert [r.recipient_id for r in created] == [u.pk for u in users]
    assert seen == [(r.pk, None) for r in created]


def test_deliveries_record_what_goes_out_and_why_not(make_user, Notification):
    with_address, without = make_user(email="a@x.test"), make_user(email="")
    _wants_email(with_address, without)
    rows = _rows(Notification, [with_address, without])
    now = timezone.now()
    groups = decide_all(rows, now=now)
    insert_rows(rows)
    deliveries = write_deliveries(groups, now)
    found = {(d.user_id, d.channel): (d.status, d.reason) for d in deliveries}
    assert found == {
        (with_address.pk, "email"): (DeliveryStatus.PENDING, ""),
        (without.pk, "email"): (DeliveryStatus.SKIPPED, "no address"),
    }
    assert due_now(deliveries) == [d.pk for d in deliveries if d.user_id == with_address.pk]


def test_the_hand_off_waits_for_the_commit(
    make_user, Notification, django_capture_on_commit_callbacks
):
    user = make_user(email="a@x.test")
    _wants_email(user)
    rows = _rows(Notification, [user])
    now = timezone.now()
    groups = decide_all(rows, now=now)
    insert_rows(rows)
    deliveries = write_deliveries(groups, now)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        hand_off(rows, deliveries)
    assert mail.outbox == [] and Delivery.objects.get().status == DeliveryStatus.PENDING
    for callback in callbacks:
        callback()
    assert [m.to for m in mail.outbox] == [["a@x.test"]]
    assert Delivery.objects.get().status == DeliveryStatus.SENT


def test_write_refuses_before_deciding_anything(
    make_org, make_user, Notification, django_assert_max_num_queries
):
    light = make_user(Role.LIGHT_USER, make_org())
    other = make_user(Role.DEV_USER, make_org())
    row = Notification(title="x", scope="user", recipient=other, sender=light)
    with pytest.raises(SendRefused), django_assert_max_num_queries(6):
        write(WriteRequest([row], created_by=light))
    assert Notification.objects.count() == 0 and Delivery.objects.count() == 0


def test_emit_goes_through_the_same_stages(make_user, django_capture_on_commit_callbacks):
    user = make_user(email="a@x.test")
    _wants_email(user)
    with django_capture_on_commit_callbacks(execute=True):
        emit(TYPE, context={"team": "Research"}, recipients=[user])
    event = Event.objects.get()
    assert event.notification_count == 1
    assert [m.to for m in mail.outbox] == [["a@x.test"]]


def test_both_kinds_of_row_set_answer_the_stages_alike(make_user, Notification):
    """A fan-out's DirectRows (columns) and a send's ModelRows (instances) for the same
    recipients: the same decisions, hidden rows, deliveries and announcements."""
    shown, hidden = make_user(email="s@x.test"), make_user(email="h@x.test")
    _wants_email(shown, hidden)
    NotificationPreference.objects.create(
        user=hidden, notification_type=TYPE, channel="in_app", enabled=False
    )
    direct = _rows(Notification, [shown, hidden])
    models = row_set(user_rows(direct.template, direct.recipient_ids, direct.origin, None))
    assert isinstance(direct, DirectRows) and isinstance(models, ModelRows)
    assert row_set(direct) is direct and row_set(models) is models
    now = timezone.now()
    found = {}
    for kind, rows in (("direct", direct), ("models", models)):
        (group,) = decide_all(rows, now=now)
        insert_rows(rows)
        planned = write_deliveries([group], now)
        found[kind] = {
            "decisions": group.decisions,
            "dismissed": [r.dismissed_at for r in rows],
            "entries": [(uid, ntype) for _, ntype, (uid,) in group.entries()],
            "deliveries": sorted((d.user_id, d.channel, d.status) for d in planned),
            "announced": [(p.scope, p.recipient_id, p.organization_key) for p in rows.announced()],
        }
    assert found["direct"] == found["models"]
    assert found["direct"]["dismissed"] == [None, now]
    assert [p.pk for p in direct.announced()] == direct.pks
    assert models.announced() == list(models)  # the rows themselves


def test_a_send_is_decided_per_group_of_type_target_and_scope(
    make_org, make_user, make_team, Notification
):
    org = make_org()
    user, member = make_user(org=org), make_user(org=org)
    team = make_team(org, members=[member])
    template = system_rows(Notification, [user.pk], TYPE, title="t").template
    rows = row_set(
        [
            *user_rows(template, [user.pk], "organization", None),
            Notification(
                title="t",
                notification_type=TYPE,
                scope="team",
                team_key=str(team.pk),
                organization_key=str(org.pk),
            ),
        ]
    )
    groups = rows.groups()
    assert [g.scope for g in groups] == ["user", "team"]
    assert [g.users() for g in groups] == [[user.pk], [member.pk]]
    assert groups[1].organizations([member.pk]) == {member.pk: str(org.pk)}


@pytest.mark.parametrize("batch", [10_000, 2])
@pytest.mark.parametrize("returned", ["as written", "reversed"])
def test_a_fan_outs_shared_deliveries_reach_the_hand_off_as_columns(
    batch, returned, make_user, make_org, monkeypatch, notify_settings,
    django_capture_on_commit_callbacks,
):  # fmt: skip
    """Recipients who share their organization's decision get their deliveries written
    by one statement per channel; those wait for the commit as columns (no tuple per
    delivery) and read as the rows written, each with its status and reason, whether
    the rows went in one batch or several (staged on PostgreSQL) and in whatever order
    the database returns them."""
    notify_settings(BULK_BATCH_SIZE=batch)
    if returned == "reversed":
        insert_select = bulk_insert.insert_select

        def backwards(*args, on_rows, **kwargs):
            slices = []
            insert_select(*args, on_rows=slices.append, **kwargs)
            for rows in reversed(slices):
                on_rows(rows[::-1])

        monkeypatch.setattr(bulk_insert, "insert_select", backwards)
    org = make_org()
    users = [make_user(org=org, email="" if i in (1, 4) else f"u{i}@x.test") for i in range(6)]
    OrganizationPreference.objects.create(
        organization_key=str(org.pk), notification_type=TYPE, channel="email", enabled=True
    )
    columns = ("pk", "notification_id", "user_id", "channel", "status", "reason")
    handed, stored = [], []
    real = write_module.hand_off

    def spy(rows, deliveries):
        handed.append(deliveries)
        stored.append(sorted(Delivery.objects.filter(channel="email").values_list(*columns)))
        real(rows, deliveries)

    monkeypatch.setattr(write_module, "hand_off", spy)
    with django_capture_on_commit_callbacks(execute=True):
        emit(TYPE, context={"team": "Research"}, recipients=users)
    (deliveries,), (written,) = handed, stored
    assert isinstance(deliveries, PlannedList)
    assert [type(part) for part in deliveries.parts] == [PlannedColumns]
    assert sorted(tuple(d) for d in deliveries) == written  # as written, before sending
    assert {(d.status, d.reason) for d in deliveries} == {
        (DeliveryStatus.PENDING, ""),
        (DeliveryStatus.SKIPPED, "no address"),
    }
    assert sorted(due_now(deliveries)) == [
        pk for pk, *_, status, _ in written if status == "pending"
    ]
    assert sorted(m.to[0] for m in mail.outbox) == sorted(u.email for u in users if u.email)
