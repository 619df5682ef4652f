"""Fault injection: the Celery broker (Redis) restarted while events are emitted and their
deliveries are queued.

This module starts a Redis of its own (tests/support/fault_peers.py: a free loopback port,
a temporary directory, nothing kept on disk) and runs the real worker of
tests/delivery/test_celery_worker.py against it; this process publishes there too. The
shared Redis is never touched. Restarting that Redis loses every message it held: the
queued ``deliver_batch`` tasks and the unacknowledged ones.

Needs PostgreSQL, Redis's ``redis-server`` and the worker's Redis client (skipped without
them, failed under NOTIFY_REQUIRE_SERVICES=1).
"""

from __future__ import annotations

import time

import pytest

from django_notify import emit
from django_notify.models import Delivery, DeliveryStatus, Event
from tests.support.fault_peers import (
    PrivateRedis,
    each_test,
    message_id,
    running_peers,
    sweep_until_settled,
)
from tests.support.services import require_postgres_for

from . import test_celery_worker as harness
from .test_celery_worker_batches import make_many

pytestmark = [pytest.mark.postgres, pytest.mark.worker]
worker_db = harness.worker_db

PER_EVENT = 100  # one deliver_batch task per event


@pytest.fixture(scope="module")
def private_redis():
    redis = PrivateRedis().start()
    try:
        yield redis
    finally:
        redis.close()


@pytest.fixture(scope="module")
def peers(django_db_setup, tmp_path_factory, private_redis):
    require_postgres_for("the fault-injection worker tests")
    with running_peers(tmp_path_factory, redis_url=private_redis.url) as peers:
        yield peers


@pytest.fixture(autouse=True)
def _each(require_postgres, peers, request):
    with each_test(peers, request):
        yield


def emit_to(users, what: str) -> Event:
    return emit("test.alert", recipients=users, context={"what": what})


@worker_db
def test_a_broker_restart_loses_no_committed_delivery(peers, private_redis):
    """Invariant, over every event and every delivery: an ``emit()`` made while the
    broker is down returns normally (no error reaches the caller after its commit) with
    its event processed and its deliveries committed ``pending``; the tasks the restart
    lost are made good by the sweeper; every event ends ``done`` and every delivery
    ``sent``, its Message-ID received exactly once."""
    users = make_many(6 * PER_EVENT, email=True)
    groups = [users[i : i + PER_EVENT] for i in range(0, len(users), PER_EVENT)]
    log_before = len(peers.worker.log())

    # Before: four events, the worker busy with two of their batches (held mid-send),
    # the other two waiting in the broker.
    peers.smtp.hold_from(PER_EVENT // 2)
    before = [emit_to(group, f"before {i}") for i, group in enumerate(groups[:4])]
    peers.wait(lambda: peers.smtp.held == 2, "both worker threads busy")
    assert peers.queued() == 2

    # The broker dies with what it held; the worker finishes the sends in hand.
    private_redis.stop()
    peers.smtp.release()
    during, took = [], []
    for i, group in enumerate(groups[4:5]):
        started = time.monotonic()
        during.append(emit_to(group, f"during {i}"))  # must not raise
        took.append(time.monotonic() - started)
    during_rows = Delivery.objects.filter(notification__meta_data__event=during[0].pk)
    assert during_rows.count() == PER_EVENT
    assert set(during_rows.values_list("status", flat=True)) == {DeliveryStatus.PENDING}

    private_redis.start()  # empty: the two queued tasks are gone
    assert peers.queued() == 0
    after = [emit_to(group, f"after {i}") for i, group in enumerate(groups[5:])]

    rows = Delivery.objects.filter(channel="email")
    assert rows.count() == len(users)
    sweep_until_settled(peers, rows)
    time.sleep(0.3)  # a late duplicate would arrive now

    events = Event.objects.filter(pk__in=[e.pk for e in before + during + after])
    assert set(events.values_list("status", flat=True)) == {Event.Status.DONE}
    final = list(rows.values("idempotency_key", "status"))
    received = peers.smtp.message_ids()
    for row in final:
        assert row["status"] == DeliveryStatus.SENT, row
        assert received[message_id(row["idempotency_key"])] == 1, row
    assert sum(received.values()) == len(final) == len(users)
    assert "Connection to broker lost" in peers.worker.log()[log_before:]
    print(
        f"\n[faults] broker restart: emit() during the outage took {max(took):.2f} s and "
        f"committed {PER_EVENT} pending deliveries; {len(final)} deliveries all sent once"
    )
