"""Fault injection: the PostgreSQL session of a Celery worker terminated in the middle of
its work (``SELECT pg_terminate_backend(pid)``), as a failover, an administrator or an
idle-session killer would.

The real worker of tests/delivery/test_celery_worker.py (its database sessions named
``PGAPPNAME``, so ``pg_stat_activity`` tells them apart) sends emails into a loopback SMTP
server. To catch a session mid-statement, this test holds ``LOCK TABLE … IN SHARE MODE``
on the delivery table from a connection of its own: reads and ``SELECT … FOR UPDATE`` go
through, every ``UPDATE`` waits. The worker's session is terminated while it waits, then
the lock is released.

Needs PostgreSQL and Redis (skipped without them, failed under NOTIFY_REQUIRE_SERVICES=1).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator

import pytest
from django.db import connection

from django_notify.models import Delivery, DeliveryStatus
from tests.support.fault_peers import (
    each_test,
    message_id,
    running_peers,
    sweep_until_settled,
    terminate,
    worker_backends,
)
from tests.support.notify_settings import notify_override
from tests.support.services import redis_client, require_postgres_for

from . import test_celery_worker as harness
from .test_celery_worker_batches import make_many

pytestmark = [pytest.mark.postgres, pytest.mark.worker]
worker_db = harness.worker_db


@pytest.fixture(scope="module")
def peers(django_db_setup, tmp_path_factory):
    require_postgres_for("the fault-injection worker tests")
    redis_client().close()
    with running_peers(tmp_path_factory) as peers:
        yield peers


@pytest.fixture(autouse=True)
def _each(require_postgres, peers, request):
    with each_test(peers, request):
        yield


@contextlib.contextmanager
def writes_to_deliveries_wait() -> Iterator[None]:
    """Inside the block, every UPDATE of the delivery table waits (a SHARE lock held by a
    connection of this test's own); SELECT and SELECT … FOR UPDATE do not."""
    import psycopg

    db = connection.settings_dict
    with psycopg.connect(
        dbname=db["NAME"],
        user=db["USER"],
        host=db["HOST"],
        port=db["PORT"],
        application_name="django-notify-fault-test-lock",
    ) as lock:
        lock.execute(f'LOCK TABLE "{Delivery._meta.db_table}" IN SHARE MODE')
        try:
            yield
        finally:
            lock.rollback()


def wait_for_blocked_updates(peers, n: int) -> list[dict]:
    def blocked():
        found = [
            b
            for b in worker_backends(waiting_on_lock=True)
            if b["query"].lstrip().upper().startswith("UPDATE")
        ]
        return found if len(found) >= n else None

    return peers.wait(blocked, f"{n} worker session(s) waiting to UPDATE deliveries")


def row_locks_held(pids: list[int]) -> bool:
    """Whether each session's transaction has a transaction id: it has already written,
    here the row locks of SELECT … FOR UPDATE."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE pid = ANY(%s) "
            "AND backend_xid IS NOT NULL AND state = 'active'",
            [pids],
        )
        return cursor.fetchone()[0] == len(pids)


def worker_pid(peers) -> int:
    return peers.worker.proc.pid


@worker_db
def test_a_session_terminated_inside_the_claim_loses_nothing_and_the_worker_recovers(peers):
    """Invariant, over every delivery: a claim cut off mid-transaction commits nothing
    (each row is still ``pending`` with no attempt counted, none half-claimed), the same
    worker process goes on working on a new session, and after the sweep every row is
    ``sent`` with one attempt and its Message-ID arrived exactly once."""
    from django_notify.delivery.tasks import deliver_batch_task

    users = make_many(200, email=True)
    with notify_override(DISPATCHER="tests.delivery.test_dispatch_batches.Hold"):
        harness.alert(users)  # planned, not dispatched
    rows = Delivery.objects.filter(channel="email")
    ids = list(rows.order_by("pk").values_list("pk", flat=True))
    assert len(ids) == 200
    pid = worker_pid(peers)
    log_before = len(peers.worker.log())

    with writes_to_deliveries_wait():
        for start in (0, 100):  # one batch per worker thread
            deliver_batch_task.apply_async((ids[start : start + 100],))
        # Both claims have locked their rows (SELECT … FOR UPDATE) and wait to mark them.
        blocked = wait_for_blocked_updates(peers, 2)
        pids = [b["pid"] for b in blocked]
        assert row_locks_held(pids)
        assert terminate(pids) == 2
    failed = "raised unexpected: OperationalError('terminating connection"
    peers.wait(
        lambda: peers.worker.log().count(failed, log_before) == 2,
        "both tasks to fail on their terminated sessions",
    )
    assert set(rows.values_list("status", "attempts")) == {(DeliveryStatus.PENDING, 0)}
    assert peers.smtp.messages == []

    sweep_until_settled(peers, rows)
    assert worker_pid(peers) == pid and peers.worker.proc.poll() is None
    time.sleep(0.3)  # a late duplicate would arrive now
    final = list(rows.values("idempotency_key", "status", "attempts"))
    received = peers.smtp.message_ids()
    for row in final:
        assert (row["status"], row["attempts"]) == (DeliveryStatus.SENT, 1), row
        assert received[message_id(row["idempotency_key"])] == 1, row
    assert sum(received.values()) == len(final) == 200


@worker_db
def test_a_session_terminated_while_recording_sends_sends_each_email_once(peers):
    """Invariant, over every delivery: a worker whose session is terminated while it
    holds claimed (``sending``) rows, some of them already accepted by the receiver,
    records those as ``sent`` on a new session instead of leaving them to be sent again;
    the rest are recovered by the sweeper. Every row ends ``sent`` and its Message-ID
    arrived exactly once: no duplicate, because no send went unrecorded."""
    users = make_many(100, email=True)
    peers.smtp.hold_from(40)  # the worker is held mid-batch, its rows claimed
    harness.alert(users)
    rows = Delivery.objects.filter(channel="email")
    assert rows.count() == 100
    pid = worker_pid(peers)
    log_before = len(peers.worker.log())
    peers.wait(lambda: peers.smtp.held == 1, "the worker held mid-batch")
    assert rows.filter(status=DeliveryStatus.SENDING).exists()

    with writes_to_deliveries_wait():
        # Held long enough that the next step is a write: recording what went out,
        # or renewing the claim of the rows not reached yet.
        time.sleep(1.2)
        peers.smtp.release()
        (blocked,) = wait_for_blocked_updates(peers, 1)
        assert terminate([blocked["pid"]]) == 1
        at_termination = peers.smtp.message_ids()
    peers.wait(
        lambda: (
            "terminating connection" in peers.worker.log()[log_before:]
            or not rows.filter(status=DeliveryStatus.SENDING).exists()
        ),
        "the worker to meet the terminated session",
    )

    sweep_until_settled(peers, rows)
    assert worker_pid(peers) == pid and peers.worker.proc.poll() is None
    time.sleep(0.3)  # a late duplicate would arrive now
    final = list(rows.values("idempotency_key", "status"))
    received = peers.smtp.message_ids()
    assert len(at_termination) >= 40
    for row in final:
        assert row["status"] == DeliveryStatus.SENT, row
        assert received[message_id(row["idempotency_key"])] == 1, row
    assert sum(received.values()) == len(final) == 100
    assert "on a new database connection" in peers.worker.log()[log_before:]
