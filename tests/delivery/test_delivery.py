"""The delivery pipeline end to end, inline dispatch: planning, sending, retries, digests,
quiet hours, preferences, rate limits, audit rows."""

from datetime import UTC, datetime, timedelta

import pytest
from django.core import mail
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from django_notify import notify, signals
from django_notify.channels import locmem
from django_notify.delivery import dispatch, preferences, sweep
from django_notify.exceptions import DeliveryCancelled, RateLimited
from django_notify.models import (
    Delivery,
    DeliveryStatus,
    Digest,
    NotificationPreference,
    OptOut,
    OrganizationPreference,
    RecipientSettings,
)
from django_notify.tenancy import Role
from tests.support.notify_settings import notify_override


@pytest.fixture(autouse=True)
def _clean_outbox():
    locmem.outbox.clear()
    yield
    locmem.outbox.clear()


@pytest.fixture
def send(django_capture_on_commit_callbacks):
    """notify() in a transaction whose on-commit work (dispatch) runs."""

    def run(users, type_key="test.alert", **kw):
        kw.setdefault("title", "Disk full")
        if type_key == "test.alert":
            kw.setdefault("meta_data", {"context": {"what": "disk", "secret": "s3cr3t"}})
        with django_capture_on_commit_callbacks(execute=True):
            return notify(users, type_key, **kw)

    return run


def rows(**filters):
    return list(Delivery.objects.filter(**filters).order_by("pk"))


# --- sending ------------------------------------------------------------------------


def test_email_is_sent_after_commit_with_an_audit_row(make_user, send):
    user = make_user(email="ada@example.com")
    (notification,) = send([user], body="<p>Check <b>/var</b></p>", url="/disks/1/")
    (delivery,) = rows(channel="email")
    assert delivery.status == DeliveryStatus.SENT
    assert (delivery.attempts, delivery.address, delivery.user_id) == (1, user.email, user.pk)
    assert delivery.notification_id == notification.pk and delivery.sent_at is not None
    (message,) = mail.outbox
    assert message.to == ["ada@example.com"]
    assert message.subject == "Disk full"
    assert message.extra_headers["Message-ID"] == f"<{delivery.idempotency_key}@notify.example>"
    assert delivery.response["message_id"] == message.extra_headers["Message-ID"]
    unsubscribe = message.extra_headers["List-Unsubscribe"]
    assert unsubscribe.startswith("<https://notify.example/notifications/unsubscribe/")
    assert message.extra_headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    html, mimetype = message.alternatives[0]
    assert mimetype == "text/html" and "<b>/var</b>" in html
    assert "https://notify.example/disks/1/" in message.body and "<b>" not in message.body


def test_rolled_back_send_leaves_nothing(make_user, django_capture_on_commit_callbacks):
    user = make_user(email="ada@example.com")
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        with pytest.raises(RuntimeError), transaction.atomic():
            notify([user], "test.alert", title="x", meta_data={"context": {"what": "d"}})
            assert Delivery.objects.count() == 1  # written with the row…
            raise RuntimeError
    assert Delivery.objects.count() == 0  # …and gone with it
    assert callbacks == [] and mail.outbox == []


def test_untyped_notifications_plan_nothing(make_user, send, django_assert_num_queries):
    user = make_user(email="ada@example.com")
    send([user], type_key=None)
    assert Delivery.objects.count() == 0 and mail.outbox == []


def test_a_delivery_is_sent_once_however_often_it_is_dispatched(make_user, send):
    user = make_user(email="ada@example.com")
    send([user])
    (delivery,) = rows(channel="email")
    assert dispatch.deliver(delivery.pk) is None  # already sent: nothing to claim
    dispatch.InlineDispatcher().dispatch([delivery.pk, delivery.pk])
    assert sweep.send_due()["dispatched"] == 0
    assert len(mail.outbox) == 1


def test_the_machine_payload_leaves_sensitive_context_out(make_user, send):
    user = make_user(email="ada@example.com")
    with notify_override(CHANNELS={"outbox": {"BACKEND": "locmem"}}):
        NotificationPreference.objects.create(
            user=user, notification_type="test.alert", channel="outbox", enabled=True
        )
        send([user])
    (message,) = locmem.outbox
    assert message.data["context"] == {"what": "disk"}
    assert "s3cr3t" not in str(message.data)
    assert message.data["recipient"] == {"id": user.pk} and message.data["type"] == "test.alert"


# --- who gets what: preferences, required channels, opt-outs, addresses ---------------


def test_user_preference_switches_a_default_channel_off(make_user, send):
    user = make_user(email="ada@example.com")
    preferences.update_preferences(
        user, [{"category": "alerts", "channel": "email", "enabled": False}]
    )
    send([user])
    (delivery,) = rows()
    assert delivery.status == DeliveryStatus.SKIPPED
    assert delivery.reason == "switched off (user: category)"
    assert mail.outbox == []


def test_type_preference_beats_category_and_organization(make_org, make_user, send):
    org = make_org()
    admin, user = make_user(role=Role.ORG_ADMIN, org=org), make_user(org=org, email="u@x.io")
    preferences.update_organization_defaults(
        admin, org, [{"category": "alerts", "channel": "email", "enabled": False}]
    )
    send([user])
    assert rows()[0].reason == "switched off (organization: category)"
    preferences.update_preferences(user, {"test.alert": {"email_enabled": True}})
    send([user])
    assert rows()[-1].status == DeliveryStatus.SENT


def test_only_an_organizations_admin_sets_its_defaults(make_org, make_user):
    org, other = make_org(), make_org()
    dev, admin = make_user(org=org), make_user(role=Role.ORG_ADMIN, org=other)
    entry = [{"notification_type": "test.alert", "channel": "email", "enabled": False}]
    for who in (dev, admin):
        with pytest.raises(Exception, match="Only an admin of this organization"):
            preferences.update_organization_defaults(who, org, entry)
    assert not OrganizationPreference.objects.exists()


def test_required_channels_cannot_be_switched_off(make_user, send):
    user = make_user(email="ada@example.com")
    with pytest.raises(ValidationError) as exc:
        preferences.update_preferences(
            user, [{"notification_type": "test.security", "channel": "email", "enabled": False}]
        )
    assert "preferences[0].enabled" in exc.value.message_dict
    # Even a row written behind the API's back does not switch it off.
    NotificationPreference.objects.create(
        user=user, category="alerts", channel="email", enabled=False
    )
    send([user], type_key="test.security", title="Password changed")
    assert rows()[0].status == DeliveryStatus.SENT


def test_opted_out_users_are_skipped_with_the_reason(make_user, send):
    user = make_user(email="ada@example.com")
    OptOut.objects.create(user=user, notification_type="test.alert")
    send([user])
    assert (rows()[0].status, rows()[0].reason) == (DeliveryStatus.SKIPPED, "opted out")


def test_users_without_an_address_are_skipped(make_user, send):
    send([make_user(email="")])
    assert (rows()[0].status, rows()[0].reason) == (DeliveryStatus.SKIPPED, "no address")


@pytest.mark.parametrize(
    "data, field",
    [
        (
            [{"notification_type": "nope", "channel": "email", "enabled": True}],
            "preferences[0].notification_type",
        ),
        (
            [{"notification_type": "test.alert", "channel": "sms", "enabled": True}],
            "preferences[0].channel",
        ),
        ([{"category": "nope", "channel": "email", "enabled": True}], "preferences[0].category"),
        (
            [{"notification_type": "test.alert", "channel": "email", "enabled": "yes"}],
            "preferences[0].enabled",
        ),
        (
            [{"notification_type": "test.alert", "channel": "email", "frequency": "yearly"}],
            "preferences[0].frequency",
        ),
        ([{"notification_type": "test.alert", "channel": "email"}], "preferences[0].enabled"),
        (
            [{"notification_type": "test.alert", "channel": "email", "enabled": True, "x": 1}],
            "preferences[0].x",
        ),
        (
            [{"notification_type": "test.alert", "channel": "in_app", "frequency": "daily"}],
            "preferences[0].frequency",
        ),
        ({"test.alert": {"email": True}}, "test.alert.email"),
        ("email", "preferences"),
    ],
)
def test_bad_preferences_are_refused_naming_the_entry(make_user, data, field):
    user = make_user()
    good = {"notification_type": "test.alert", "channel": "email", "enabled": False}
    payload = [good, *data] if isinstance(data, list) else data
    if isinstance(data, list):
        field = field.replace("[0]", "[1]")
    with pytest.raises(ValidationError) as exc:
        preferences.update_preferences(user, payload)
    assert field in exc.value.message_dict
    assert not NotificationPreference.objects.exists()  # all or nothing


def test_get_and_reset_preferences(make_user):
    user = make_user()
    preferences.update_preferences(
        user, {"test.news": {"email_enabled": True, "email_batch_frequency": "weekly"}}
    )
    got = {t["notification_type"]: t for t in preferences.get_preferences(user)["types"]}
    assert got["test.news"]["channels"]["email"] == {
        "enabled": True, "frequency": "weekly", "source": "user: type", "required": False,
    }  # fmt: skip
    assert got["test.security"]["channels"]["email"]["required"] is True
    assert got["test.alert"]["channels"]["email"]["source"] == "type default"
    assert preferences.reset_preferences(user) == 1
    got = {t["notification_type"]: t for t in preferences.get_preferences(user)["types"]}
    assert got["test.news"]["channels"]["email"]["frequency"] == "daily"


# --- when: quiet hours, digests, priorities ---------------------------------------------


def _quiet(user, start, end, tz="UTC"):
    return preferences.update_recipient_settings(
        user, quiet_hours_start=start, quiet_hours_end=end, timezone=tz
    )


def test_quiet_hours_schedule_for_their_end(make_user, send):
    user = make_user(email="ada@example.com")
    now = timezone.now()
    start = (now - timedelta(hours=1)).time().replace(second=0, microsecond=0)
    end = (now + timedelta(hours=2)).time().replace(second=0, microsecond=0)
    _quiet(user, start, end)
    send([user])
    (delivery,) = rows()
    assert (delivery.status, delivery.reason) == (DeliveryStatus.SCHEDULED, "quiet hours")
    expected = datetime.combine(now.date(), end, tzinfo=UTC)
    if expected < now:
        expected += timedelta(days=1)
    assert delivery.next_attempt_at == expected
    assert mail.outbox == [] and sweep.send_due()["dispatched"] == 0
    Delivery.objects.update(next_attempt_at=now - timedelta(seconds=1))  # the end has come
    assert sweep.send_due()["dispatched"] == 1
    assert rows()[0].status == DeliveryStatus.SENT and len(mail.outbox) == 1


def test_critical_priority_bypasses_quiet_hours(make_user, send):
    user = make_user(email="ada@example.com")
    now = timezone.now()
    _quiet(user, (now - timedelta(hours=1)).time(), (now + timedelta(hours=1)).time())
    send([user], type_key="test.security", title="Password changed")
    assert rows()[0].status == DeliveryStatus.SENT
    with notify_override(BYPASS_PRIORITY=None):
        send([user], type_key="test.security", title="Password changed again")
    assert rows()[-1].status == DeliveryStatus.SCHEDULED


def test_invalid_quiet_hours_are_refused(make_user):
    user = make_user()
    for fields, name in [
        ({"quiet_hours_start": "22:00"}, "quiet_hours_end"),
        ({"quiet_hours_start": "22:00", "quiet_hours_end": "22:00"}, "quiet_hours_end"),
        ({"quiet_hours_start": "25:00", "quiet_hours_end": "07:00"}, "quiet_hours_start"),
        (
            {"quiet_hours_start": "22:00", "quiet_hours_end": "07:00", "timezone": "Mars/Base"},
            "timezone",
        ),
        ({"language": "xx-nope"}, "language"),
        ({"bedtime": "22:00"}, "bedtime"),
    ]:
        with pytest.raises(ValidationError) as exc:
            preferences.update_recipient_settings(user, **fields)
        assert name in exc.value.message_dict, (fields, exc.value.message_dict)
    assert not RecipientSettings.objects.exclude(quiet_hours_start=None).exists()


def test_daily_digest_is_one_message_sent_once(make_user, send):
    user = make_user(email="ada@example.com")
    send([user], type_key="test.news", title="First")
    send([user], type_key="test.news", title="Second")
    scheduled = rows()
    assert {d.status for d in scheduled} == {DeliveryStatus.SCHEDULED}
    assert {d.reason for d in scheduled} == {"daily digest"}
    assert len({d.next_attempt_at for d in scheduled}) == 1  # the same window
    assert sweep.send_digests() == {"created": 0, "dispatched": 0}  # window still open
    Delivery.objects.update(next_attempt_at=timezone.now() - timedelta(seconds=1))
    assert sweep.send_digests() == {"created": 1, "dispatched": 1}
    assert sweep.send_digests() == {"created": 0, "dispatched": 0}  # a second run: nothing
    (message,) = mail.outbox
    assert message.subject == "2 new notifications"
    assert "First" in message.body and "Second" in message.body
    (digest,) = Digest.objects.all()
    assert digest.status == DeliveryStatus.SENT and digest.deliveries.count() == 2
    assert {d.status for d in rows()} == {DeliveryStatus.SENT}
    assert message.extra_headers["Message-ID"] == f"<{digest.idempotency_key}@notify.example>"


def test_digest_failing_is_retried_then_dead_with_its_deliveries(make_user, send):
    user = make_user()
    with notify_override(
        CHANNELS={"outbox": {"BACKEND": "locmem", "OPTIONS": {"FAIL": "retry"}}}, MAX_ATTEMPTS=2
    ):
        preferences.update_preferences(user, {"test.news": {"outbox_enabled": True}})
        send([user], type_key="test.news")
        Delivery.objects.update(next_attempt_at=timezone.now() - timedelta(seconds=1))
        sweep.send_digests()
        digest = Digest.objects.get(channel="outbox")
        assert (digest.status, digest.attempts) == (DeliveryStatus.FAILED, 1)
        Digest.objects.update(next_attempt_at=timezone.now())
        sweep.send_digests()
        digest.refresh_from_db()
        assert (digest.status, digest.attempts) == (DeliveryStatus.DEAD, 2)
        assert rows(channel="outbox")[0].status == DeliveryStatus.DEAD


# --- failures, retries, crashes ---------------------------------------------------------


def test_transient_failures_back_off_then_die(make_user, send):
    user = make_user()
    NotificationPreference.objects.create(
        user=user, notification_type="test.alert", channel="outbox", enabled=True
    )
    failing = {"outbox": {"BACKEND": "locmem", "OPTIONS": {"FAIL": "retry"}}}
    with notify_override(CHANNELS=failing, MAX_ATTEMPTS=3, RETRY_BACKOFF=10):
        send([user])
        (delivery,) = rows(channel="outbox")
        assert (delivery.status, delivery.attempts) == (DeliveryStatus.FAILED, 1)
        wait = (delivery.next_attempt_at - delivery.updated_at).total_seconds()
        assert 5 <= wait <= 10.5  # 10 s × 2**0 with equal jitter
        assert "configured to fail" in delivery.last_error
        assert dispatch.deliver(delivery.pk) is None  # not due yet
        for attempt in (2, 3):
            Delivery.objects.filter(pk=delivery.pk).update(next_attempt_at=timezone.now())
            outcome = dispatch.deliver(delivery.pk)
            delivery.refresh_from_db()
            assert delivery.attempts == attempt
        assert outcome.status == delivery.status == DeliveryStatus.DEAD
        assert delivery.reason == "gave up after 3 attempts"
    assert locmem.outbox == []


def test_permanent_failures_are_not_retried(make_user, send):
    user = make_user()
    NotificationPreference.objects.create(
        user=user, notification_type="test.alert", channel="outbox", enabled=True
    )
    with notify_override(
        CHANNELS={"outbox": {"BACKEND": "locmem", "OPTIONS": {"FAIL": "permanent"}}}
    ):
        send([user])
    (delivery,) = rows(channel="outbox")
    assert (delivery.status, delivery.attempts, delivery.reason) == (
        DeliveryStatus.DEAD,
        1,
        "permanent error",
    )


def test_failure_signals_say_whether_it_will_retry(make_user, send):
    user = make_user()
    NotificationPreference.objects.create(
        user=user, notification_type="test.alert", channel="outbox", enabled=True
    )
    seen = []

    def receiver(delivery, error, will_retry, **kw):
        seen.append((delivery.channel, will_retry))

    signals.delivery_failed.connect(receiver)
    try:
        with notify_override(
            CHANNELS={"outbox": {"BACKEND": "locmem", "OPTIONS": {"FAIL": "retry"}}}, MAX_ATTEMPTS=1
        ):
            send([user])
    finally:
        signals.delivery_failed.disconnect(receiver)
    assert seen == [("outbox", False)]


def test_a_worker_killed_mid_send_is_recovered_with_the_same_key(make_user, send):
    user = make_user(email="ada@example.com")
    with notify_override(SENDING_TIMEOUT=60):
        with transaction.atomic():  # the on-commit dispatch never runs: a process died
            notify([user], "test.alert", title="x", meta_data={"context": {"what": "d"}})
        (delivery,) = rows()
        assert dispatch.claim(Delivery, delivery.pk, timezone.now())  # then a worker died
        assert sweep.send_due()["dispatched"] == 0  # still "sending", not yet stale
        Delivery.objects.update(claimed_at=timezone.now() - timedelta(seconds=61))
        assert sweep.send_due() == {"recovered": 1, "dispatched": 1}
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == (DeliveryStatus.SENT, 2)
    (message,) = mail.outbox
    assert message.extra_headers["Message-ID"] == f"<{delivery.idempotency_key}@notify.example>"


def test_pre_send_can_cancel_a_delivery(make_user, send):
    user = make_user(email="ada@example.com")

    def veto(delivery, message, **kw):
        raise DeliveryCancelled("user is on holiday")

    signals.pre_send.connect(veto)
    try:
        send([user])
    finally:
        signals.pre_send.disconnect(veto)
    assert (rows()[0].status, rows()[0].reason) == (DeliveryStatus.SKIPPED, "user is on holiday")
    assert mail.outbox == []


def test_retry_dead_revives_deliveries(make_user, send):
    user = make_user(email="ada@example.com")
    send([user])
    Delivery.objects.update(status=DeliveryStatus.DEAD, attempts=5)
    assert sweep.retry_dead(channel="email") == 1
    assert sweep.send_due()["dispatched"] == 1
    assert len(mail.outbox) == 2


# --- rate limits ------------------------------------------------------------------------


def test_sender_rate_limit_refuses_and_writes_nothing(make_org, make_user, Notification):
    org = make_org()
    sender, target = make_user(role=Role.ORG_ADMIN, org=org), make_user(org=org)
    with notify_override(RATE_LIMITS={"sender": "2/minute"}):
        Notification.send(sender, title="one", target_user=target)
        Notification.send(sender, title="two", target_user=target)
        with pytest.raises(RateLimited) as exc:
            Notification.send(sender, title="three", target_user=target)
    assert exc.value.limit == "sender" and 50 <= exc.value.retry_after <= 60
    assert "at most 2 notifications per minute" in str(exc.value)
    assert Notification.objects.filter(sender=sender).count() == 2


def test_user_type_rate_limit_skips_with_the_reason(make_user, send):
    user = make_user()
    for _ in range(3):
        send([user], type_key="test.limited")
    assert [d.status for d in rows()] == [DeliveryStatus.SENT] * 2 + [DeliveryStatus.SKIPPED]
    assert rows()[-1].reason == "rate limited: 2 per hour"
    assert len(locmem.outbox) == 2


# --- broadcasts and bulk ----------------------------------------------------------------


def test_team_broadcast_is_one_row_with_a_delivery_per_member(
    make_org, make_user, make_team, Notification, django_capture_on_commit_callbacks
):
    org = make_org()
    admin = make_user(role=Role.ORG_ADMIN, org=org)
    members = [make_user(org=org, email=f"m{i}@x.io") for i in range(3)]
    team = make_team(org, members=members)
    with django_capture_on_commit_callbacks(execute=True):
        (row,) = Notification.send(
            admin, title="Standup", target_team=team, notification_type="test.alert",
            meta_data={"context": {"what": "standup"}},
        )  # fmt: skip
    assert {d.user_id for d in rows(notification=row)} == {m.pk for m in members}
    assert sorted(m.to[0] for m in mail.outbox) == ["m0@x.io", "m1@x.io", "m2@x.io"]


def test_planning_is_set_based(make_user):
    """The same queries for 3 recipients as for 60, and at most two more when some have
    preferences of their own (their addresses, read for them alone): only INSERT
    batches grow (SQLite caps the parameters of one statement)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    few = [make_user(email=f"a{i}@x.io") for i in range(3)]
    plain = [make_user(email=f"c{i}@x.io") for i in range(60)]
    many = [make_user(email=f"b{i}@x.io") for i in range(60)]
    for user in many[:10]:
        NotificationPreference.objects.create(
            user=user, notification_type="test.alert", channel="outbox", enabled=True
        )
    counts = []
    for users in (few, plain, many):
        with transaction.atomic(), CaptureQueriesContext(connection) as ctx:
            notify(users, "test.alert", title="x", meta_data={"context": {"what": "d"}})
        sql = [q["sql"] for q in ctx.captured_queries]
        counts.append(len([q for q in sql if not q.startswith("INSERT")]))
    assert counts[0] == counts[1] <= counts[2] <= 11, counts
    assert Delivery.objects.filter(channel="outbox").count() == 10
    assert Delivery.objects.filter(channel="email").count() == 123


# --- scheduled sends --------------------------------------------------------------------


def test_scheduled_send_waits_and_can_be_cancelled(make_user, django_capture_on_commit_callbacks):
    from django_notify import cancel, emit
    from django_notify.models import Event
    from django_notify.pipeline.events import sweep as sweep_events

    user = make_user(email="ada@example.com")
    later = timezone.now() + timedelta(hours=1)
    with django_capture_on_commit_callbacks(execute=True):
        kept = emit("test.alert", context={"what": "kept"}, recipients=[user], send_at=later)
        dropped = emit(
            "test.alert", context={"what": "dropped"}, recipients=[user], send_at=later,
            cancellation_key="reminder-1",
        )  # fmt: skip
    assert sweep_events() == {"processed": 0, "skipped": 0, "failed": 0}  # not yet
    assert cancel("reminder-1") is True and cancel("reminder-1") is False
    assert cancel("unknown") is False
    Event.objects.update(deliver_at=timezone.now() - timedelta(seconds=1))
    with django_capture_on_commit_callbacks(execute=True):
        assert sweep_events()["processed"] == 1
    kept.refresh_from_db(), dropped.refresh_from_db()
    assert (kept.status, dropped.status) == ("done", "cancelled")
    assert [m.subject for m in mail.outbox] == ["kept happened"]
    assert cancel("reminder-1") is False


def test_scheduled_send_bad_input(make_user):
    from django_notify import emit

    user = make_user()
    with pytest.raises(ValidationError) as exc:
        emit("test.alert", context={"what": "x"}, recipients=[user], send_at=datetime(2030, 1, 1))
    assert "send_at" in exc.value.message_dict
    emit("test.alert", context={"what": "x"}, recipients=[user], cancellation_key="k")
    with pytest.raises(ValidationError) as exc:
        emit("test.alert", context={"what": "x"}, recipients=[user], cancellation_key="k")
    assert "cancellation_key" in exc.value.message_dict


def test_a_stored_bad_time_zone_does_not_stop_the_fan_out(make_user, send):
    user = make_user(email="ada@example.com")
    RecipientSettings.objects.create(user=user, timezone="Mars/Base")  # behind the API's back
    send([user])
    assert rows()[0].status == DeliveryStatus.SENT


def test_in_app_switched_off_hides_the_row_but_other_channels_deliver(
    make_user, send, Notification
):
    user = make_user(email="ada@example.com")
    preferences.update_preferences(user, {"test.alert": {"in_app_enabled": False}})
    (row,) = send([user])
    assert not Notification.objects.visible_to(user).exists()
    assert Notification.objects.get(pk=row.pk).dismissed_at is not None
    assert rows()[0].status == DeliveryStatus.SENT and len(mail.outbox) == 1
    assert Delivery.objects.filter(channel="in_app").count() == 0
    preferences.reset_preferences(user)
    send([user])
    assert Notification.objects.visible_to(user).count() == 1


def test_a_subscriber_with_in_app_off_still_gets_the_email(
    make_user, Notification, django_capture_on_commit_callbacks
):
    from django_notify import emit
    from django_notify.models import Subscription

    email_only, in_app_only, both = (make_user(email=f"{n}@x.io") for n in ("e", "i", "b"))
    Subscription.objects.create(
        user=email_only, notification_type="test.alert", in_app_enabled=False
    )
    Subscription.objects.create(
        user=in_app_only, notification_type="test.alert", email_enabled=False
    )
    Subscription.objects.create(user=both, notification_type="test.alert")
    with django_capture_on_commit_callbacks(execute=True):
        emit("test.alert", context={"what": "disk"})
    visible = {
        u.pk for u in (email_only, in_app_only, both) if Notification.objects.visible_to(u).exists()
    }
    assert visible == {in_app_only.pk, both.pk}
    assert sorted(m.to[0] for m in mail.outbox) == ["b@x.io", "e@x.io"]
    skipped = Delivery.objects.get(user=in_app_only)
    assert (skipped.status, skipped.reason) == (
        DeliveryStatus.SKIPPED,
        "switched off (subscription)",
    )


def test_a_partial_preference_update_keeps_the_other_field(make_user):
    user = make_user()
    preferences.update_preferences(
        user, {"test.news": {"email_enabled": True, "email_batch_frequency": "weekly"}}
    )
    preferences.update_preferences(
        user, [{"notification_type": "test.news", "channel": "email", "enabled": False}]
    )
    pref = NotificationPreference.objects.get(user=user)
    assert (pref.enabled, pref.frequency) == (False, "weekly")
    preferences.update_preferences(user, {"test.news": {"email_batch_frequency": "daily"}})
    pref.refresh_from_db()
    assert (pref.enabled, pref.frequency) == (False, "daily")


def test_sender_rate_limit_says_when_there_is_room_again(make_org, make_user, Notification):
    org = make_org()
    sender, target = make_user(role=Role.ORG_ADMIN, org=org), make_user(org=org)
    with notify_override(RATE_LIMITS={"sender": "2/hour"}):
        Notification.send(sender, title="one", target_user=target)
        Notification.objects.update(created_at=timezone.now() - timedelta(minutes=50))
        Notification.send(sender, title="two", target_user=target)
        with pytest.raises(RateLimited) as exc:
            Notification.send(sender, title="three", target_user=target)
        assert 590 <= exc.value.retry_after <= 601  # the first leaves the window in 10 min
        fresh = make_user(role=Role.ORG_ADMIN, org=org)
        others = [make_user(org=org) for _ in range(3)]
        with pytest.raises(RateLimited) as exc:  # one batch over the limit: waiting won't help
            Notification.send(fresh, title="many", user_ids=[u.pk for u in others])
        assert exc.value.retry_after is None


def test_get_preferences_costs_the_same_for_any_number_of_types(
    make_user, django_assert_max_num_queries
):
    user = make_user()
    preferences.update_preferences(user, {"test.news": {"email_enabled": True}})
    with django_assert_max_num_queries(4):  # organization, own rows, org rows, settings
        got = preferences.get_preferences(user)
    assert len(got["types"]) > 10
