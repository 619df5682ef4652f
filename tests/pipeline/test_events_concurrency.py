"""Concurrency on PostgreSQL: several workers processing one event, and two requests
emitting with the same idempotency key, in real concurrent transactions."""

from __future__ import annotations

import threading
import time

import pytest
from django.db import connection, transaction

from django_notify import emit, signals
from django_notify.models import Event
from django_notify.pipeline.events import process_event

TYPE = "team.joined"  # declared in tests/swapped/notifications.py


def _run_together(n: int, work) -> tuple[list, list]:
    """Run ``work()`` in ``n`` threads released at once by a barrier; each thread has
    its own database connection. Returns (results, errors)."""
    barrier = threading.Barrier(n, timeout=20)
    results, errors = [], []

    def thread():
        try:
            barrier.wait()
            results.append(work())
        except BaseException as exc:  # reported by the test, not lost in the thread
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=thread) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not any(t.is_alive() for t in threads), "a worker hung"
    return results, errors


@pytest.mark.django_db(transaction=True)
def test_four_workers_process_one_event_once(require_postgres, make_user, Notification):
    users = [make_user() for _ in range(3)]
    event = Event.objects.create(
        notification_type=TYPE, context={"team": "x"}, recipients=[str(u.pk) for u in users]
    )

    def slow(sender, notification, **kwargs):
        time.sleep(0.05)  # keep the winner's transaction open while the others try

    signals.notification_created.connect(slow)
    try:
        results, errors = _run_together(4, lambda: process_event(event.pk))
    finally:
        signals.notification_created.disconnect(slow)
    assert errors == []
    assert sorted(results) == [False, False, False, True]
    assert sorted(Notification.objects.values_list("recipient_id", flat=True)) == sorted(
        u.pk for u in users
    )
    event.refresh_from_db()
    assert (event.status, event.notification_count) == ("done", 3)
    # Losers that counted their attempt before the winner's claim used one too.
    assert 1 <= event.attempts <= 4


@pytest.mark.django_db(transaction=True)
def test_concurrent_emits_with_one_idempotency_key_make_one_event(
    require_postgres, make_user, Notification
):
    users = [make_user() for _ in range(2)]
    emitted = []

    def record(sender, event, **kwargs):
        emitted.append(event.pk)

    def request():
        with transaction.atomic():
            event = emit(TYPE, context={"team": "x"}, recipients=users, idempotency_key="once")
            time.sleep(0.3)  # the other request's INSERT waits on the unique index
        return event.pk

    signals.event_emitted.connect(record)
    try:
        # The later INSERT blocks on the unique index until the first request commits,
        # then fails with an IntegrityError and emit() returns the committed event.
        results, errors = _run_together(2, request)
    finally:
        signals.event_emitted.disconnect(record)
    assert errors == []
    assert len(results) == 2 and results[0] == results[1]
    assert emitted == [results[0]]  # only the request that wrote the row signals
    assert Event.objects.filter(idempotency_key="once").count() == 1
    assert Event.objects.count() == 1
    event = Event.objects.get()
    assert (event.status, event.attempts) == ("done", 1)  # processed once, on commit
    assert Notification.objects.count() == len(users)
