"""A fan-out's direct rows (``notify()``, an event's audience) travel the write path as a
template and three columns, not one model instance per recipient: what is stored, what
``notify()`` returns and what the stages see are the same as for rows built one by one.
An event's audience is read in one query for all of its channels."""

from __future__ import annotations

import re

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from django_notify import emit, notify, signals
from django_notify.models import Delivery, NotificationPreference, Subscription
from django_notify.models.delivery import new_keys
from django_notify.pipeline.rows import DirectRows
from django_notify.types import Origin, Scope

pytestmark = pytest.mark.django_db
TYPE = "team.joined"  # in-app and email; declared in tests/swapped/notifications.py


def test_notify_returns_the_saved_rows_built_as_they_are_read(make_user, make_org, Notification):
    org = make_org()
    users = [make_user(org=org), make_user(), make_user(org=org)]
    rows = notify(users, TYPE, title="Release", body="<b>v2</b>", meta_data={"v": 2})

    assert isinstance(rows, DirectRows) and len(rows) == 3
    stored = {n.pk: n for n in Notification.objects.filter(pk__in=[r.pk for r in rows])}
    assert len(stored) == 3
    for row, user in zip(rows, users, strict=True):
        saved = stored[row.pk]
        assert (row.recipient_id, saved.recipient_id) == (user.pk, user.pk)
        assert row.organization_key == saved.organization_key
        assert (row.scope, row.origin, row.is_global) == (Scope.USER, Origin.ORGANIZATION, False)
        assert (saved.title, saved.description, saved.meta_data) == (
            "Release",
            "<b>v2</b>",
            {"v": 2},
        )
        assert not row._state.adding and row.changed_targeting() == []
    assert stored[rows[0].pk].organization_key == str(org.pk)

    # One instance per row, once read: an edit sticks and saves like any row's.
    assert rows[0] is rows[0] is next(iter(rows)) and rows[-1] is rows[2]
    assert rows[1:] == [rows[1], rows[2]]
    rows[0].title = "Edited"
    rows[0].save()
    assert Notification.objects.get(pk=rows[0].pk).title == "Edited"
    with pytest.raises(IndexError):
        rows[3]
    # Lists add up as before.
    assert [r.pk for r in rows + notify([users[0]], title="more")][:3] == [r.pk for r in rows]
    assert len([users[0]] + rows) == 4


def test_a_recipient_with_in_app_off_gets_a_hidden_row(make_user, Notification):
    shown, hidden = make_user(), make_user()
    NotificationPreference.objects.create(
        user=hidden, notification_type=TYPE, channel="in_app", enabled=False
    )
    rows = notify([shown, hidden], TYPE, title="x")
    assert rows[0].dismissed_at is None and rows[1].dismissed_at is not None
    assert Notification.objects.get(pk=rows[1].pk).dismissed_at == rows[1].dismissed_at
    assert not Notification.objects.get(pk=rows[0].pk).dismissed_at


def test_created_signal_gets_full_saved_rows(make_user):
    users = [make_user(), make_user()]
    seen = []

    def receiver(sender, notification, created_by, **kwargs):
        seen.append((notification.pk, notification.recipient_id, notification.title))

    signals.notification_created.connect(receiver, dispatch_uid="direct-rows")
    try:
        rows = notify(users, title="signalled")
    finally:
        signals.notification_created.disconnect(dispatch_uid="direct-rows")
    assert seen == [(r.pk, u.pk, "signalled") for r, u in zip(rows, users, strict=True)]


def test_deliveries_pair_each_new_row_with_its_recipient(make_user):
    users = [make_user(email=f"u{i}@x.test") for i in range(3)]
    for user in users:
        NotificationPreference.objects.create(
            user=user, notification_type=TYPE, channel="email", enabled=True
        )
    rows = notify(users, TYPE, title="x")
    pairs = set(Delivery.objects.values_list("notification_id", "user_id", "address"))
    assert pairs == {(r.pk, u.pk, u.email) for r, u in zip(rows, users, strict=True)}
    # No key until a worker first claims the row.
    assert set(Delivery.objects.values_list("idempotency_key", flat=True)) == {None}


def test_new_keys_are_distinct_hex_keys():
    keys = new_keys(10_000)
    assert len(set(keys)) == 10_000
    assert all(len(k) == 32 for k in keys) and all(re.fullmatch("[0-9a-f]+", k) for k in keys[:50])
    assert new_keys(0) == []


def _processing_queries(n: int, make_user, on_commit) -> int:
    users = [make_user(email=f"s{n}-{i}@x.test") for i in range(n)]
    for user in users:
        Subscription.objects.create(user=user, notification_type=TYPE)
    with CaptureQueriesContext(connection) as ctx, on_commit(execute=True):
        event = emit(TYPE, context={"team": "Research"})
    event.refresh_from_db()
    assert (event.status, event.notification_count) == ("done", n)
    return len(ctx.captured_queries)


def test_an_event_costs_the_same_statements_for_3_and_for_40_subscribers(
    make_user, django_capture_on_commit_callbacks
):
    # The audience of both channels is one query; the write needs no savepoint inside the
    # event's own transaction, and an event without an idempotency key none for itself.
    few = _processing_queries(3, make_user, django_capture_on_commit_callbacks)
    Subscription.objects.all().delete()
    many = _processing_queries(40, make_user, django_capture_on_commit_callbacks)
    assert few == many <= 20


def test_audience_of_several_channels_is_one_query(make_user):
    from django_notify.pipeline import audience

    on_both, email_only, in_app_only = make_user(), make_user(), make_user()
    Subscription.objects.create(user=on_both, notification_type=TYPE)
    Subscription.objects.create(user=email_only, notification_type=TYPE, channels={"in_app": False})
    Subscription.objects.create(user=in_app_only, notification_type=TYPE, channels={"email": False})
    with CaptureQueriesContext(connection) as ctx:
        reach = audience.resolve_channels(TYPE, channels=["in_app", "email"])
    users = [q for q in ctx.captured_queries if "auth_user" in q["sql"]]
    assert len(users) == 1
    assert reach == {
        "in_app": {on_both.pk, in_app_only.pk},
        "email": {on_both.pk, email_only.pk},
    }
    assert audience.resolve(TYPE, channel="email") == sorted(reach["email"])


def test_a_queryset_of_users_is_read_once(make_user):
    """notify(<queryset of users>): its pks in one query, no second look-up to check
    they exist; in order, once each. A queryset of anything else is checked as ids."""
    from django.contrib.auth import get_user_model
    from django.core.exceptions import ValidationError

    from tests.testapp.models import Organization

    users = [make_user(username=f"qs{i}") for i in range(4)]
    audience = get_user_model().objects.filter(username__startswith="qs").order_by("-pk")
    with transaction.atomic(), CaptureQueriesContext(connection) as ctx:
        rows = notify(audience, title="x")
        transaction.set_rollback(True)
    assert [r.recipient_id for r in rows] == [u.pk for u in reversed(users)]
    reads = [q["sql"] for q in ctx.captured_queries if 'FROM "auth_user"' in q["sql"]]
    assert len(reads) == 1, reads
    missing = Organization.objects.create(name="not a user", pk=10**6)
    with pytest.raises(ValidationError, match="Unknown user id"):
        notify(Organization.objects.filter(pk=missing.pk), title="x")
