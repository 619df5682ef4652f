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
