"""Fan-out cost: one event for 10,000 subscribers is a bounded number of queries.

The audience is resolved in the database and the notifications are inserted in bulk, so
processing costs a fixed number of queries plus one INSERT per batch. The batch is
``BULK_BATCH_SIZE`` rows, or fewer where the backend caps the parameters of one query
(SQLite: 999 parameters, so a few dozen notification rows per INSERT).
"""

from __future__ import annotations

import math
import re
import time
from collections import Counter

from django.contrib.auth import get_user_model
from django.db import connection
from django.test.utils import CaptureQueriesContext

from django_notify.conf import app_settings
from django_notify.models import Event, Subscription
from django_notify.pipeline.events import process_event

TYPE = "team.joined"  # declared in tests/swapped/notifications.py
SUBSCRIBERS = 10_000
#: Queries other than the notification INSERTs: 27 measured on SQLite and PostgreSQL
#: alike (the event's claim and bookkeeping, the rules, the audience, organizations,
#: delivery planning), plus a small margin. Run with -s to see the breakdown.
OTHER_QUERIES = 32


def _insert_batches(model, n: int) -> int:
    """How many INSERTs bulk_create needs for ``n`` rows of ``model`` on this backend."""
    if connection.vendor in ("postgresql", "sqlite"):  # one INSERT … SELECT per batch
        return math.ceil(n / app_settings.BULK_BATCH_SIZE)
    fields = [f for f in model._meta.concrete_fields if not f.primary_key and not f.generated]
    backend_cap = connection.ops.bulk_batch_size(fields, [model()] * n)
    return math.ceil(n / max(1, min(app_settings.BULK_BATCH_SIZE, backend_cap)))


def _table(sql: str) -> str:
    match = re.match(r'\s*(INSERT INTO|UPDATE|DELETE FROM|SELECT .*? FROM)\s+"?(\w+)"?', sql, re.S)
    return f"{match.group(1).split()[0]} {match.group(2)}" if match else sql.split()[0]


def test_processing_an_event_for_10000_subscribers_is_bounded(db, Notification):
    started = time.perf_counter()
    User = get_user_model()
    User.objects.bulk_create(
        [User(username=f"fan{i}") for i in range(SUBSCRIBERS)], batch_size=5000
    )
    Subscription.objects.bulk_create(
        [Subscription(user_id=pk, notification_type=TYPE)
         for pk in User.objects.filter(username__startswith="fan").values_list("pk", flat=True)],
        batch_size=5000,
    )  # fmt: skip
    event = Event.objects.create(notification_type=TYPE, context={"team": "x"})
    setup = time.perf_counter() - started

    batches = _insert_batches(Notification, SUBSCRIBERS)
    table = Notification._meta.db_table
    started = time.perf_counter()
    with CaptureQueriesContext(connection) as ctx:
        assert process_event(event.pk)
    elapsed = time.perf_counter() - started

    kinds = Counter(_table(q["sql"]) for q in ctx.captured_queries)
    inserts = kinds.pop(f"INSERT {table}", 0)
    others = sum(kinds.values())
    print(
        f"\n[fan-out] {SUBSCRIBERS:,} subscribers on {connection.vendor}: {len(ctx)} queries "
        f"({inserts} notification INSERTs, {others} others: {dict(sorted(kinds.items()))}); "
        f"processing {elapsed:.2f} s, setup {setup:.2f} s"
    )
    assert Notification.objects.filter(notification_type=TYPE).count() == SUBSCRIBERS
    event.refresh_from_db()
    assert (event.status, event.notification_count) == ("done", SUBSCRIBERS)
    # At most one INSERT per batch; everything else a constant, whatever the audience.
    assert inserts <= batches
    assert others <= OTHER_QUERIES, dict(kinds)
    assert len(ctx) <= OTHER_QUERIES + batches


#: On in-app and "outbox" by default (tests/delivery_app/notifications.py).
CHUNKED = "test.limited"


def test_a_large_audience_is_written_in_chunks_in_one_transaction(
    db, Notification, notify_settings, django_capture_on_commit_callbacks
):
    """Past ``BULK_BATCH_SIZE`` recipients an event is still one write: every recipient
    gets exactly one row and one Delivery per channel, the signals see every row, the
    live push routes every row from what the write kept (no re-read), each look-up is
    one query for the whole audience, and only the INSERTs go a chunk at a time."""
    from django_notify import signals
    from django_notify.models import Delivery
    from django_notify.pipeline.rows import StoredRows

    User = get_user_model()
    users = User.objects.bulk_create(
        [User(username=f"chunk{i}", email=f"chunk{i}@example.com") for i in range(11)]
    )
    Subscription.objects.bulk_create(
        [Subscription(user_id=u.pk, notification_type=CHUNKED) for u in users]
    )
    notify_settings(
        BULK_BATCH_SIZE=4,
        CHANNELS={"in_app": {"BACKEND": "in_app"}, "outbox": {"BACKEND": "locmem"}},
    )
    processed, published = [], []

    def on_processed(sender, event, notifications, **kwargs):
        processed.append(notifications)

    def on_published(sender, notification_ids, notifications, **kwargs):
        published.append((list(notification_ids), list(notifications)))

    signals.event_processed.connect(on_processed, dispatch_uid="chunks")
    signals.notification_published.connect(on_published, dispatch_uid="chunks")
    try:
        event = Event.objects.create(notification_type=CHUNKED)
        with django_capture_on_commit_callbacks(execute=True):
            with CaptureQueriesContext(connection) as ctx:
                assert process_event(event.pk)
    finally:
        signals.event_processed.disconnect(dispatch_uid="chunks")
        signals.notification_published.disconnect(dispatch_uid="chunks")

    rows = Notification.objects.filter(notification_type=CHUNKED)
    assert sorted(rows.values_list("recipient_id", flat=True)) == sorted(u.pk for u in users)
    assert Delivery.objects.filter(notification__in=rows, channel="outbox").count() == 11
    event.refresh_from_db()
    assert (event.status, event.notification_count) == ("done", 11)

    [seen] = processed
    assert isinstance(seen, StoredRows) and len(seen) == 11
    assert sorted(n.recipient_id for n in seen) == sorted(u.pk for u in users)
    assert seen[0].pk == seen.ids[0] and len(seen[1:3]) == 2

    # One announcement per chunk, each routed from the kept fields of its rows.
    assert [len(ids) for ids, _ in published] == [4, 4, 3]
    by_pk = {n.pk: n for n in rows}
    for ids, kept in published:
        assert [k.pk for k in kept] == ids
        for k in kept:
            row = by_pk[k.pk]
            assert (k.scope, k.recipient_id, k.organization_key) == (
                row.scope,
                row.recipient_id,
                row.organization_key,
            )
    # The look-ups (organizations, preferences, opt-outs, settings, rate-limit counts)
    # once each. The rows past one batch are staged: a temporary table filled by one
    # statement, and one INSERT per table from it, however many rows.
    table = Notification._meta.db_table
    kinds = Counter(_table(q["sql"]) for q in ctx.captured_queries)
    assert kinds.pop(f"INSERT {table}") == 1
    assert kinds.pop(f"INSERT {Delivery._meta.db_table}") == 1
    if connection.vendor == "postgresql":  # SELECT: may the role create temporary tables?
        assert kinds.pop("CREATE") == kinds.pop("COPY") == kinds.pop("SELECT") == 2
    else:  # filled by an executemany, dropped once read
        assert kinds.pop("CREATE") == kinds.pop("INSERT temp") == kinds.pop("DROP") == 2
    kinds.pop("UPDATE django_notify_event")  # the attempt, the claim, the count
    assert max(kinds.values()) == 1, kinds
    # Staging is 4 statements per table where batches are 3 here: 2 more in all.
    assert len(ctx) <= 21


def test_an_events_statements_do_not_grow_with_its_audience(
    db, Notification, notify_settings, django_capture_on_commit_callbacks
):
    """Past one batch the rows are staged (into a temporary table, one INSERT from it):
    the same statements for 9 subscribers as for 30, on PostgreSQL and on SQLite."""
    from django_notify.models import Delivery

    User = get_user_model()
    notify_settings(
        BULK_BATCH_SIZE=4,
        CHANNELS={"in_app": {"BACKEND": "in_app"}, "outbox": {"BACKEND": "locmem"}},
    )
    counts = {}
    for size in (9, 30):
        users = User.objects.bulk_create(
            [User(username=f"a{size}-{i}", email=f"a{size}-{i}@example.com") for i in range(size)]
        )
        Subscription.objects.filter(notification_type=CHUNKED).delete()
        Subscription.objects.bulk_create(
            [Subscription(user_id=u.pk, notification_type=CHUNKED) for u in users]
        )
        event = Event.objects.create(notification_type=CHUNKED)
        with django_capture_on_commit_callbacks(execute=True):
            with CaptureQueriesContext(connection) as ctx:
                assert process_event(event.pk)
        assert Notification.objects.filter(meta_data__event=event.pk).count() == size
        assert Delivery.objects.filter(notification__meta_data__event=event.pk).count() == size
        counts[size] = Counter(_table(q["sql"]) for q in ctx.captured_queries)
    table = Notification._meta.db_table
    assert counts[9] == counts[30]
    assert counts[30][f"INSERT {table}"] == 1
