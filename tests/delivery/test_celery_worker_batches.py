"""Batched delivery through a REAL Celery worker (the harness of
tests/delivery/test_celery_worker.py: a ``celery worker`` subprocess on the real Redis
broker, a real SMTP server and a real HTTP server on loopback, the same PostgreSQL test
database): a fan-out reaches the worker as one ``django_notify.deliver_batch`` task per
``DISPATCH_BATCH_SIZE`` deliveries, and every message arrives exactly once.

``NOTIFY_BATCH_PROOF_N`` raises the number of recipients (default 300) to measure the
throughput; the rates are printed (``-s``)."""

from __future__ import annotations

import math
import os
import re
import time

import pytest

from django_notify.models import Delivery, DeliveryStatus, NotificationPreference
from tests.support.notify_settings import notify_override

from . import test_celery_worker as harness

pytestmark = [pytest.mark.postgres, pytest.mark.worker]
# The harness's fixtures, used here too (a worker and servers of this module's own).
peers, _each = harness.peers, harness._each
alert, worker_db = harness.alert, harness.worker_db

N = int(os.environ.get("NOTIFY_BATCH_PROOF_N", "300"))
BATCH = 100  # the default DISPATCH_BATCH_SIZE, which the worker's settings leave alone


def make_many(n: int, *, email: bool):
    from django.contrib.auth import get_user_model

    from tests.testapp.models import Membership, Organization

    org = Organization.objects.create(name=f"batch-{time.monotonic_ns()}")
    model = get_user_model()
    tag = time.monotonic_ns()
    users = model.objects.bulk_create(
        [
            model(username=f"b{tag}-{i}", email=f"b{i}-{tag}@example.com" if email else "")
            for i in range(n)
        ]
    )
    Membership.objects.bulk_create([Membership(user=u, organization=org) for u in users])
    return users


def received_batches(peers, since: int) -> list[str]:
    return re.findall(r"django_notify\.deliver_batch\[([0-9a-f-]+)\] received",
                      peers.worker.log()[since:])  # fmt: skip


@worker_db
def test_a_fan_out_reaches_the_worker_in_batches_and_every_email_arrives_once(peers):
    users = make_many(N, email=True)
    log_before = len(peers.worker.log())
    started = time.monotonic()
    alert(users)
    published = time.monotonic() - started
    rows = list(Delivery.objects.filter(channel="email").values_list("pk", "address"))
    assert len(rows) == N
    peers.wait(lambda: len(peers.smtp.messages) >= N, f"{N} emails", timeout=30 + N / 20)
    elapsed = time.monotonic() - started
    peers.watch([pk for pk, _ in rows], timeout=30)
    time.sleep(0.3)  # a duplicate would arrive now
    assert Delivery.objects.filter(channel="email", status=DeliveryStatus.SENT).count() == N
    assert set(Delivery.objects.filter(channel="email").values_list("attempts", flat=True)) == {1}
    received = sorted(r for m in peers.smtp.messages for r in m.rcpt_tos)
    assert received == sorted(address for _, address in rows)  # none lost, none twice
    keys = {m.message["Message-ID"] for m in peers.smtp.messages}
    assert len(keys) == N
    assert len(received_batches(peers, log_before)) == math.ceil(N / BATCH)
    print(
        f"\n[batches] {N} emails via a real worker: notify() {published:.2f} s, "
        f"all received after {elapsed:.2f} s = {N / elapsed:.0f} emails/s"
    )


@worker_db
def test_a_fan_out_of_webhooks_arrives_once_each(peers):
    users = make_many(N, email=False)
    NotificationPreference.objects.bulk_create(
        [
            NotificationPreference(
                user=u, notification_type="test.alert", channel="outbox", enabled=True
            )
            for u in users
        ]
    )
    log_before = len(peers.worker.log())
    started = time.monotonic()
    alert(users)
    rows = list(Delivery.objects.filter(channel="outbox").values_list("pk", flat=True))
    assert len(rows) == N
    peers.wait(lambda: len(peers.http.requests) >= N, f"{N} webhooks", timeout=30 + N / 20)
    elapsed = time.monotonic() - started
    peers.watch(rows, timeout=30)
    time.sleep(0.3)
    assert Delivery.objects.filter(channel="outbox", status=DeliveryStatus.SENT).count() == N
    ids = [r.headers["webhook-id"] for r in peers.http.requests]
    assert len(ids) == len(set(ids)) == N
    assert set(ids) == set(
        Delivery.objects.filter(channel="outbox").values_list("idempotency_key", flat=True)
    )
    assert len(received_batches(peers, log_before)) == math.ceil(N / BATCH)
    # Two worker threads, each keeping its connection alive across its batches.
    assert peers.http.connections <= 2 * math.ceil(N / BATCH)
    print(
        f"\n[batches] {N} webhooks via a real worker: all received after {elapsed:.2f} s "
        f"= {N / elapsed:.0f} webhooks/s ({peers.http.connections} connections)"
    )


@worker_db
def test_the_same_batch_task_delivered_twice_at_once_sends_each_email_once(peers):
    """A broker may deliver a task twice (a redelivery racing the original). Both copies
    of one batch run at the same time on the worker's two threads: each claims what the
    other has not locked, and every email goes out once."""
    from django_notify.delivery.tasks import deliver_batch_task

    users = make_many(BATCH, email=True)
    with notify_override(DISPATCHER="tests.delivery.test_dispatch_batches.Hold"):
        alert(users)  # planned, not dispatched
    ids = list(Delivery.objects.filter(channel="email").values_list("pk", flat=True))
    assert len(ids) == BATCH
    log_before = len(peers.worker.log())
    deliver_batch_task.apply_async((ids,))
    deliver_batch_task.apply_async((ids,))
    peers.wait(lambda: len(received_batches(peers, log_before)) == 2, "both copies")
    peers.watch(ids, timeout=60)
    peers.wait(
        lambda: (
            len(
                re.findall(
                    r"deliver_batch\[[0-9a-f-]+\] succeeded", peers.worker.log()[log_before:]
                )
            )
            == 2
        ),  # fmt: skip
        "both copies to finish",
    )
    time.sleep(0.3)  # a duplicate would arrive now
    rows = Delivery.objects.filter(pk__in=ids)
    assert rows.filter(status=DeliveryStatus.SENT).count() == BATCH
    assert set(rows.values_list("attempts", flat=True)) == {1}  # claimed once each
    received = sorted(r for m in peers.smtp.messages for r in m.rcpt_tos)
    assert received == sorted(u.email for u in users)  # none lost, none twice
