"""A fan-out's deliveries written by the database (``shared_deliveries``) are the rows
the one-by-one planner writes: compared over random preferences, organization
defaults, subscription switches, opt-outs, quiet hours, time zones, missing addresses,
rate limits and priorities, on the same data at the same instant."""

import os
from datetime import timedelta
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from django_notify import notify
from django_notify.channels.registry import get_channel
from django_notify.models import (
    Delivery,
    DeliveryStatus,
    NotificationPreference,
    OptOut,
    OrganizationPreference,
    RecipientSettings,
    Subscription,
)
from django_notify.pipeline import shared_deliveries
from tests.support.notify_settings import notify_override

pytestmark = pytest.mark.django_db

PROPERTY_SETTINGS = settings(
    max_examples=int(os.environ.get("SHARED_DELIVERY_EXAMPLES", "40")),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
TYPES = ["test.alert", "test.news", "test.security", "test.limited"]
CHANNELS = ["email", "outbox", "in_app"]
switch = st.sampled_from([None, True, False])
frequency = st.sampled_from(["", "immediate", "hourly", "daily"])
SCOPES = {
    "type": lambda key: {"notification_type": key, "category": ""},
    "category": lambda key: {"notification_type": "", "category": "alerts"},
    "all": lambda key: {"notification_type": "", "category": ""},
}


def _written(users, type_key, priority, *, set_based: bool, now=None, sourceless=None):
    """The deliveries, hidden rows, keys and SQL of one ``notify()``, rolled back.
    ``sourceless``: a channel that says nothing of where its addresses are (its
    ``get_addresses()`` stays), so only the others are set-based."""
    with pytest.MonkeyPatch.context() as mp:
        if not set_based:
            mp.setattr(shared_deliveries, "channels_for", lambda *a: [])
        if sourceless is not None:
            mp.setattr(type(get_channel(sourceless)), "address_source", lambda self: None)
        if now is not None:  # quiet hours and digests due at the same instant
            mp.setattr("django_notify.pipeline.write.timezone", SimpleNamespace(now=lambda: now))
        with transaction.atomic(), CaptureQueriesContext(connection) as ctx:
            rows = notify(users, type_key, title="x", priority=priority)
            ids = [row.pk for row in rows]
            written = Delivery.objects.filter(notification__in=ids)
            deliveries = sorted(
                written.values_list(
                    "user_id",
                    "channel",
                    "notification_type",
                    "status",
                    "next_attempt_at",
                    "reason",
                    "address",
                    "frequency",
                )  # fmt: skip
            )
            hidden = sorted(r.recipient_id for r in rows if r.dismissed_at is not None)
            keys = list(written.values_list("idempotency_key", flat=True))
            transaction.set_rollback(True)
    sql = " ".join(q["sql"] for q in ctx.captured_queries)
    return deliveries, hidden, keys, sql


@PROPERTY_SETTINGS
@given(data=st.data())
def test_the_database_writes_what_the_planner_writes(data, make_org, make_user):
    orgs = [make_org(), make_org()]
    users = []
    for i in range(8):
        email = data.draw(st.sampled_from(["", f"u{i}@x.io"]), label=f"email {i}")
        users.append(make_user(org=orgs[i % 2] if i < 6 else False, email=email))
    type_key = data.draw(st.sampled_from(TYPES), label="type")
    priority = data.draw(st.sampled_from(["normal", "critical"]), label="priority")
    for org in orgs:
        for channel in CHANNELS:
            scope = data.draw(st.sampled_from([None, *SCOPES]), label=f"org {org.pk} {channel}")
            said = (data.draw(switch), data.draw(frequency))
            if scope is not None and said != (None, ""):
                OrganizationPreference.objects.create(
                    organization_key=str(org.pk), channel=channel, enabled=said[0],
                    frequency=said[1], **SCOPES[scope](type_key),
                )  # fmt: skip
    now = timezone.now()
    kinds = ["prefs", "subscription", "opt-out", "quiet", "zone", "sent"]
    for user in users:
        # What the user has of their own: often nothing (the database writes theirs),
        # often exactly one thing (which must send them to the planner).
        extra = data.draw(st.sets(st.sampled_from(kinds), max_size=2), label="extra")
        for channel in CHANNELS if "prefs" in extra else ():
            scope = data.draw(st.sampled_from([*SCOPES]), label=f"user {channel}")
            said = (data.draw(switch), data.draw(frequency))
            if said != (None, ""):
                NotificationPreference.objects.create(
                    user=user, channel=channel, enabled=said[0], frequency=said[1],
                    **SCOPES[scope](type_key),
                )  # fmt: skip
        if "subscription" in extra:
            Subscription.objects.create(
                user=user, notification_type=type_key,
                email_enabled=data.draw(st.booleans()), in_app_enabled=data.draw(st.booleans()),
            )  # fmt: skip
        if "opt-out" in extra:
            OptOut.objects.create(user=user, notification_type=type_key)
        if "quiet" in extra or "zone" in extra:
            zone = "Pacific/Auckland" if "zone" in extra else ""
            local = now.astimezone(ZoneInfo(zone or "UTC"))  # quiet hours around now
            RecipientSettings.objects.create(
                user=user,
                quiet_hours_start=(local - timedelta(hours=1)).time() if "quiet" in extra else None,
                quiet_hours_end=(local + timedelta(hours=1)).time() if "quiet" in extra else None,
                timezone=zone,
            )
        if "sent" in extra:  # counts towards a rate limit
            for _ in range(data.draw(st.integers(1, 2))):
                earlier = notify([user], type_key, title="before")
                Delivery.objects.filter(notification=earlier[0]).update(
                    status=DeliveryStatus.SENT, created_at=now - timedelta(minutes=5)
                )
    # Sometimes one channel lacks an address source: it is planned one by one for
    # everyone while the other stays set-based.
    sourceless = data.draw(st.sampled_from([None, "email", "outbox"]), label="sourceless")
    planner = _written(users, type_key, priority, set_based=False, now=now)
    # A batch smaller than the fan-out: its rows go in batches (staged on PostgreSQL).
    batch = data.draw(st.sampled_from([10_000, 3]), label="BULK_BATCH_SIZE")
    with notify_override(BULK_BATCH_SIZE=batch):
        database = _written(
            users, type_key, priority, set_based=True, now=now, sourceless=sourceless
        )
    assert database[0] == planner[0]
    assert database[1] == planner[1]
    # Neither draws keys: the first claim does (tests/delivery/test_dispatch_batches.py).
    assert set(database[2]) <= {None} and set(planner[2]) <= {None}


def test_plain_recipients_are_written_by_one_statement_per_channel(make_user):
    """Recipients without anything of their own: one INSERT … SELECT for the email
    deliveries, joined to the users for the address; no address look-up of its own."""
    users = [make_user(email=f"p{i}@x.io") for i in range(30)] + [make_user(email="")]
    deliveries, _, keys, sql = _written(users, "test.alert", "normal", set_based=True)
    assert sql.count('INSERT INTO "django_notify_delivery"') == 1
    assert 'JOIN "auth_user" "u"' in sql
    assert '"auth_user"."email"' not in sql
    assert len(deliveries) == 31 and keys == [None] * 31
    no_address = [d for d in deliveries if d[6] == ""]
    assert [(d[3], d[5]) for d in no_address] == [(DeliveryStatus.SKIPPED, "no address")]
    assert {d[3] for d in deliveries if d[6]} == {DeliveryStatus.PENDING}


def test_a_channel_overriding_get_addresses_has_no_address_source():
    from django_notify.channels.email import EmailChannel

    class Directory(EmailChannel):
        def get_addresses(self, users):
            return {u.pk: "x@y.io" for u in users}

    assert EmailChannel.__new__(EmailChannel).address_source() == ("field", "email")
    assert Directory.__new__(Directory).address_source() is None


def test_a_channel_without_an_address_source_is_planned_one_by_one(
    make_org, make_user, monkeypatch
):
    """Email lacks an address source here: its deliveries are planned one by one for
    everyone (one address look-up, one INSERT of value tuples), while the type's other
    channel (locmem, on by the organization's default) stays one INSERT … SELECT."""
    from django_notify.channels.email import EmailChannel

    monkeypatch.setattr(EmailChannel, "address_source", lambda self: None)
    monkeypatch.setattr(
        EmailChannel, "get_addresses", lambda self, users: {u.pk: "x@y.io" for u in users}
    )
    org = make_org()
    OrganizationPreference.objects.create(
        organization_key=str(org.pk), channel="outbox", enabled=True, notification_type="",
        category="",
    )  # fmt: skip
    users = [make_user(org=org, email=f"q{i}@x.io") for i in range(3)]
    deliveries, _, _, sql = _written(users, "test.alert", "normal", set_based=True)
    assert {(d[1], d[6]) for d in deliveries} == {("email", "x@y.io"), ("outbox", "outbox")}
    assert len(deliveries) == 6
    assert sql.count('INSERT INTO "django_notify_delivery"') == 2
    assert 'JOIN "auth_user" "u"' not in sql  # email is not joined; the outbox is a constant


def test_the_database_writes_in_batches_of_bulk_batch_size(make_user, notify_settings):
    """Past ``BULK_BATCH_SIZE`` rows inside a transaction the rows are staged (into a
    temporary table, one INSERT from it): COPY on PostgreSQL, executemany on SQLite."""
    notify_settings(BULK_BATCH_SIZE=7)
    users = [make_user(email=f"b{i}@x.io") for i in range(20)]
    deliveries, _, keys, sql = _written(users, "test.alert", "normal", set_based=True)
    assert sql.count('INSERT INTO "django_notify_delivery"') == 1
    # Two staging tables: the notifications' and these.
    assert sql.count("CREATE TEMPORARY TABLE") == 2
    if connection.vendor == "postgresql":
        assert sql.count("COPY ") == 2
    else:
        assert sql.count("DROP TABLE temp.") == 2
    assert len(deliveries) == 20 and keys == [None] * 20
    assert sorted(d[0] for d in deliveries) == sorted(u.pk for u in users)


@pytest.mark.parametrize(
    ("attribute", "source"),
    [
        (None, ("constant", "box")),
        ("email", ("field", "email")),
        ("first_name", ("field", "first_name")),
        ("get_full_name", None),  # a method: only get_addresses() can call it
        ("is_staff", None),  # not text
    ],
)
def test_locmem_address_source(attribute, source):
    from django_notify.channels.locmem import LocmemChannel

    assert LocmemChannel("box", ADDRESS_ATTRIBUTE=attribute).address_source() == source


def test_a_locmem_column_address_is_read_by_the_join(make_user, notify_settings):
    notify_settings(
        CHANNELS={"outbox": {"BACKEND": "locmem", "OPTIONS": {"ADDRESS_ATTRIBUTE": "first_name"}}}
    )
    users = [make_user(first_name="Ann"), make_user(first_name="")]
    deliveries, _, _, sql = _written(users, "test.limited", "normal", set_based=True)
    outbox = {d[0]: (d[3], d[5], d[6]) for d in deliveries if d[1] == "outbox"}
    assert outbox == {
        users[0].pk: (DeliveryStatus.PENDING, "", "Ann"),
        users[1].pk: (DeliveryStatus.SKIPPED, "no address", ""),
    }
    assert '"u"."first_name"' in sql
