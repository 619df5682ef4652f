"""Batched dispatch (``deliver_many``): a batch is claimed and loaded in a fixed number of
queries, each channel's share goes over one connection (counted by the real SMTP and HTTP
servers on loopback), and every delivery is still sent once: under concurrent claims, with
a transient failure or a ``pre_send`` cancellation in the batch, and when a slow batch
outlasts ``SENDING_TIMEOUT``."""

from __future__ import annotations

import math
import threading
import time
import uuid

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP
from django.conf import settings
from django.core import mail
from django.core.checks import run_checks
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from django_notify import notify, signals
from django_notify.delivery.dispatch import (
    BaseDispatcher,
    InlineDispatcher,
    Outcome,
    claim_batch,
    deliver,
    deliver_many,
)
from django_notify.delivery.sweep import recover_interrupted, send_due
from django_notify.exceptions import DeliveryCancelled
from django_notify.models import (
    Delivery,
    DeliveryStatus,
    NotificationPreference,
    NotificationTemplate,
    RecipientSettings,
)
from django_notify.models.endpoint import generate_secret
from django_notify.template_sandbox import person
from tests.support.http_servers import RecordingServer
from tests.support.notify_settings import notify_override
from tests.support.smtp_server import SmtpServer, _Handler


def smtp_channel(port: int) -> dict:
    return {
        "BACKEND": "email",
        "OPTIONS": {
            "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
            "CONNECTION": {"host": "127.0.0.1", "port": port, "timeout": 5},
            "FROM_EMAIL": "alerts@notify.example",
        },
    }


class CountingSmtpServer(SmtpServer):
    """The suite's loopback SMTP server, also counting the connections it accepts."""

    connections = 0

    def start(self) -> CountingSmtpServer:
        owner = self

        class CountingSMTP(SMTP):
            def connection_made(self, transport):
                with owner._lock:
                    owner.connections += 1
                super().connection_made(transport)

        class CountingController(Controller):
            def factory(self):
                return CountingSMTP(self.handler, **self.SMTP_kwargs)

        self._controller = CountingController(_Handler(self), hostname=self.host, port=self.port)
        self._controller.start()
        self.connections = 0  # the controller's own "is it up" connection
        return self


@pytest.fixture
def smtp():
    with CountingSmtpServer() as server:
        yield server


class Hold(BaseDispatcher):
    """Dispatches nothing: the tests hand the rows to a batch themselves."""

    def dispatch(self, delivery_ids):
        pass


@pytest.fixture
def plan():
    """Write the notifications and their Delivery rows without dispatching them (also in
    transactional tests, where on-commit callbacks run at once); returns the channel's
    delivery pks in creation order."""

    def run(users, *, channel="email", what="disk", **kw):
        with notify_override(DISPATCHER=f"{__name__}.Hold"):
            rows = notify(
                users, "test.alert", title=f"{what} happened",
                meta_data={"context": {"what": what}}, **kw,
            )  # fmt: skip
        return list(
            Delivery.objects.filter(notification__in=[r.pk for r in rows], channel=channel)
            .order_by("pk")
            .values_list("pk", flat=True)
        )

    return run


def make_users(make_user, n, org=None, prefix="u", *, email=True):
    """``email=False``: no address, so only the webhook channel plans a row."""
    tag = uuid.uuid4().hex[:6]
    return [
        make_user(org=org, email=f"{prefix}{i}-{tag}@example.com" if email else "")
        for i in range(n)
    ]


def statuses(pks) -> dict[str, int]:
    found: dict[str, int] = {}
    for status in Delivery.objects.filter(pk__in=pks).values_list("status", flat=True):
        found[status] = found.get(status, 0) + 1
    return found


# --- queries: a constant per batch ----------------------------------------------------------


def test_a_batch_costs_the_same_queries_for_100_as_for_200_deliveries(
    make_org, make_user, plan, Notification
):
    """Languages, organizations, database templates, senders, actors and targets all vary
    inside the batch; none of them adds a query per delivery."""
    org_a, org_b = make_org(), make_org()
    sender = make_user(org=org_a, staff=True)
    NotificationTemplate.objects.create(
        notification_type="test.alert", channel="email", subject="generic {{ what }}"
    )
    NotificationTemplate.objects.create(
        notification_type="test.alert", channel="email", language="fr", subject="french"
    )
    NotificationTemplate.objects.create(
        notification_type="test.alert", channel="email", organization_key=str(org_a.pk),
        subject="org a {{ sender_name }}",
    )  # fmt: skip
    groups = {}
    for size in (3, 100, 200):
        users = make_users(make_user, size // 2, org_a, "a") + make_users(
            make_user, size - size // 2, org_b, "b"
        )
        RecipientSettings.objects.bulk_create(
            [RecipientSettings(user=u, language="fr") for u in users[1::3]]
        )
        pks = plan(users, actor=org_a, target=users[0])
        notification_ids = Delivery.objects.filter(pk__in=pks).values("notification_id")
        Notification._base_manager.filter(pk__in=notification_ids).update(
            sender=sender, organization_key=""
        )
        a_rows = Delivery.objects.filter(pk__in=pks, user__in=[u.pk for u in users[: size // 2]])
        Notification._base_manager.filter(pk__in=a_rows.values("notification_id")).update(
            organization_key=str(org_a.pk)
        )
        groups[size] = (users, pks)

    counts = {}
    with notify_override(DISPATCH_BATCH_SIZE=500):
        for size, (_users, pks) in groups.items():  # 3 first: warms the content-type cache
            mail.outbox = []
            with CaptureQueriesContext(connection) as ctx:
                InlineDispatcher().dispatch(pks)
            counts[size] = len(ctx.captured_queries)
            assert statuses(pks) == {DeliveryStatus.SENT: size}
            assert len(mail.outbox) == size
    # savepoint, claim (SELECT, UPDATE), release; notifications, senders, actors, targets,
    # recipient settings, templates; the sent rows.
    assert counts[100] == counts[200] <= 11, counts

    # Each message got the template its recipient's organization and language select.
    users, pks = groups[200]
    subjects = dict(
        Delivery.objects.filter(pk__in=pks).values_list("user_id", "response__message_id")
    )
    by_id = {m.extra_headers["Message-ID"]: m.subject for m in mail.outbox}
    sender_name = person(sender)["name"]
    for i, user in enumerate(users):
        subject = by_id[subjects[user.pk]]
        if i < 100:
            assert subject == f"org a {sender_name}", (i, subject)
        elif i % 3 == 1:
            assert subject == "french", (i, subject)
        else:
            assert subject == "generic disk", (i, subject)


def test_the_dispatcher_sends_batches_of_the_setting(make_org, make_user, plan):
    org = make_org()
    small = plan(make_users(make_user, 3, org, "w"))
    hundred = plan(make_users(make_user, 100, org, "h"))
    two_hundred = plan(make_users(make_user, 200, org, "t"))
    counts = []
    with notify_override(DISPATCH_BATCH_SIZE=100):
        InlineDispatcher().dispatch(small)
        for pks in (hundred, two_hundred):
            with CaptureQueriesContext(connection) as ctx:
                InlineDispatcher().dispatch(pks)
            counts.append(len(ctx.captured_queries))
    assert counts[1] == 2 * counts[0], counts
    assert statuses(hundred + two_hundred) == {DeliveryStatus.SENT: 300}


def test_deliver_is_a_batch_of_one(make_user, plan):
    (pk,) = plan([make_user(email="ada@example.com")])
    outcome = deliver(pk)
    assert outcome == Outcome(DeliveryStatus.SENT)
    assert deliver(pk) is None  # nothing left to claim
    row = Delivery.objects.get(pk=pk)
    assert (row.status, row.attempts) == (DeliveryStatus.SENT, 1)
    assert row.response == {"message_id": mail.outbox[0].extra_headers["Message-ID"], "sent": 1}


def test_a_message_that_cannot_be_built_fails_its_delivery_only(make_user, plan, monkeypatch):
    """Building a message may raise a DeliveryError (a permanent one here): that row is
    dead with the reason, and the batch goes on with the others."""
    from django_notify.delivery import messages
    from django_notify.exceptions import DeliveryError

    users = [make_user(email=f"u{i}@example.com") for i in range(3)]
    pks = plan(users)
    build = messages.for_delivery

    def refuse_the_second(delivery, notification, channel, **kwargs):
        if delivery.pk == pks[1]:
            raise DeliveryError("no template for this language", reason="no template")
        return build(delivery, notification, channel, **kwargs)

    monkeypatch.setattr(messages, "for_delivery", refuse_the_second)
    outcomes = deliver_many(pks)
    assert [outcomes[pk].status for pk in pks] == ["sent", "dead", "sent"]
    dead = Delivery.objects.get(pk=pks[1])
    assert (dead.status, dead.reason) == (DeliveryStatus.DEAD, "no template")


def test_rows_not_due_or_not_immediate_stay_out_of_the_batch(make_user, plan):
    from datetime import timedelta

    from django.utils import timezone

    pks = plan(make_users(make_user, 4))
    later = timezone.now() + timedelta(hours=1)
    Delivery.objects.filter(pk=pks[0]).update(next_attempt_at=later)
    Delivery.objects.filter(pk=pks[1]).update(frequency="daily", status="scheduled")
    Delivery.objects.filter(pk=pks[2]).update(status=DeliveryStatus.SENT)
    outcomes = deliver_many(pks)
    assert set(outcomes) == {pks[3]}
    assert len(mail.outbox) == 1


# --- one connection per batch -------------------------------------------------------------


def test_a_batch_of_emails_is_one_smtp_connection(smtp, make_user, plan):
    users = make_users(make_user, 250)
    with notify_override(CHANNELS={"email": smtp_channel(smtp.port)}, DISPATCH_BATCH_SIZE=100):
        pks = plan(users)
        InlineDispatcher().dispatch(pks)
    assert statuses(pks) == {DeliveryStatus.SENT: 250}
    assert len(smtp.messages) == 250
    assert smtp.connections == math.ceil(250 / 100)
    keys = set(Delivery.objects.filter(pk__in=pks).values_list("idempotency_key", flat=True))
    received = [m.message["Message-ID"] for m in smtp.messages]
    assert len(set(received)) == 250
    assert {mid.strip("<>").split("@")[0] for mid in received} == keys


def test_a_refusal_in_a_batch_fails_that_delivery_only(smtp, make_user, plan):
    """451 for one recipient: that row is ``failed`` with a next attempt, the others are
    sent; the session after the refusal starts afresh."""
    users = make_users(make_user, 10)
    flaky = users[4].email
    smtp.refuse(flaky, "451 4.3.0 try again later", times=1)
    with notify_override(
        CHANNELS={"email": smtp_channel(smtp.port)}, RETRY_BACKOFF=60, DISPATCH_BATCH_SIZE=100
    ):
        pks = plan(users)
        outcomes = deliver_many(pks)
    failed = Delivery.objects.get(user=users[4], channel="email")
    assert outcomes[failed.pk].status == DeliveryStatus.FAILED
    assert 30 <= outcomes[failed.pk].retry_in <= 60
    assert failed.status == DeliveryStatus.FAILED and failed.attempts == 1
    assert "451" in failed.last_error and failed.next_attempt_at > failed.claimed_at
    assert statuses(pks) == {DeliveryStatus.SENT: 9, DeliveryStatus.FAILED: 1}
    assert sorted(r for m in smtp.messages for r in m.rcpt_tos) == sorted(
        u.email for u in users if u.email != flaky
    )
    assert smtp.connections == 2


def test_smtp_down_fails_the_whole_batch_for_a_retry(make_user, plan):
    from tests.support.smtp_server import free_port

    with notify_override(CHANNELS={"email": smtp_channel(free_port())}, RETRY_BACKOFF=60):
        pks = plan(make_users(make_user, 5))
        outcomes = deliver_many(pks)
    assert {o.status for o in outcomes.values()} == {DeliveryStatus.FAILED}
    assert statuses(pks) == {DeliveryStatus.FAILED: 5}
    assert all(
        "ConnectionRefusedError" in e
        for e in Delivery.objects.filter(pk__in=pks).values_list("last_error", flat=True)
    )


@pytest.fixture
def hooks():
    with RecordingServer() as server:
        yield server


def webhook_settings(server, **extra):
    return notify_override(
        CHANNELS={
            "outbox": {
                "BACKEND": "webhook",
                "OPTIONS": {"URL": server.url("/hook"), "SECRET": generate_secret()},
            }
        },
        WEBHOOK_ALLOWED_HOSTS=["127.0.0.1"],
        **extra,
    )


def enable_webhooks(users):
    NotificationPreference.objects.bulk_create(
        [
            NotificationPreference(
                user=u, notification_type="test.alert", channel="outbox", enabled=True
            )
            for u in users
        ]
    )


def test_a_batch_of_webhooks_reuses_one_connection(hooks, make_user, plan):
    users = make_users(make_user, 60, email=False)
    enable_webhooks(users)
    with webhook_settings(hooks):
        pks = plan(users, channel="outbox")
        with CaptureQueriesContext(connection) as ctx:
            InlineDispatcher().dispatch(pks)
    assert statuses(pks) == {DeliveryStatus.SENT: 60}
    assert len(hooks.requests) == 60
    assert hooks.connections == 1
    assert len({r.headers["webhook-id"] for r in hooks.requests}) == 60
    endpoint_reads = [q for q in ctx.captured_queries if "webhookendpoint" in q["sql"]]
    assert len(endpoint_reads) == 1  # the one endpoint, read once for the batch


def test_a_410_mid_batch_disables_the_endpoint_for_the_rest_of_it(hooks, make_user, plan):
    users = make_users(make_user, 5, email=False)
    enable_webhooks(users)
    hooks.respond("/hook", status=410)
    with webhook_settings(hooks):
        pks = plan(users, channel="outbox")
        outcomes = deliver_many(pks)
    assert len(hooks.requests) == 1  # the rest never left
    rows = {r.pk: r for r in Delivery.objects.filter(pk__in=pks)}
    assert rows[pks[0]].reason == "endpoint gone"
    assert {rows[pk].reason for pk in pks[1:]} == {"endpoint disabled"}
    assert {o.status for o in outcomes.values()} == {DeliveryStatus.DEAD}


# --- exactly once -------------------------------------------------------------------------


def test_signals_are_sent_once_per_delivery_and_a_cancel_skips_only_its_own(make_user, plan):
    users = make_users(make_user, 6)
    seen = {"pre_send": [], "sent": [], "failed": []}
    cancelled = users[2]

    def on_pre_send(sender, delivery, message, **kw):
        seen["pre_send"].append(delivery.pk)
        assert message.delivery is delivery and message.address == delivery.address
        if delivery.user_id == cancelled.pk:
            raise DeliveryCancelled("not this one")

    def on_sent(sender, delivery, result, **kw):
        # Receivers see the row recorded already.
        assert Delivery.objects.get(pk=delivery.pk).status == DeliveryStatus.SENT
        assert delivery.status == DeliveryStatus.SENT and delivery.sent_at is not None
        seen["sent"].append(delivery.pk)

    def on_failed(sender, delivery, **kw):
        seen["failed"].append(delivery.pk)

    pks = plan(users)
    signals.pre_send.connect(on_pre_send)
    signals.delivery_sent.connect(on_sent)
    signals.delivery_failed.connect(on_failed)
    try:
        outcomes = deliver_many(pks)
    finally:
        signals.pre_send.disconnect(on_pre_send)
        signals.delivery_sent.disconnect(on_sent)
        signals.delivery_failed.disconnect(on_failed)
    skipped = Delivery.objects.get(user=cancelled, channel="email")
    assert (skipped.status, skipped.reason) == (DeliveryStatus.SKIPPED, "not this one")
    assert outcomes[skipped.pk] == Outcome(DeliveryStatus.SKIPPED)
    assert sorted(seen["pre_send"]) == sorted(pks)
    assert sorted(seen["sent"]) == sorted(pk for pk in pks if pk != skipped.pk)
    assert seen["failed"] == []
    assert len(mail.outbox) == 5 and cancelled.email not in [m.to[0] for m in mail.outbox]


def test_the_same_batch_claimed_by_two_threads_sends_each_delivery_once(
    require_postgres, transactional_db, make_user, plan
):
    pks = plan(make_users(make_user, 120))
    start = threading.Barrier(2)
    results: list[dict] = []
    errors: list[BaseException] = []

    def worker():
        try:
            start.wait(5)
            results.append(deliver_many(pks))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert errors == []
    first, second = results
    assert not set(first) & set(second)
    assert set(first) | set(second) == set(pks)
    assert statuses(pks) == {DeliveryStatus.SENT: 120}
    assert sorted(m.to[0] for m in mail.outbox) == sorted(
        Delivery.objects.filter(pk__in=pks).values_list("address", flat=True)
    )
    assert set(Delivery.objects.filter(pk__in=pks).values_list("attempts", flat=True)) == {1}


def test_a_batch_skips_rows_another_transaction_holds(
    require_postgres, transactional_db, make_user, plan
):
    pks = plan(make_users(make_user, 10))
    held, locked, release = pks[:4], threading.Event(), threading.Event()

    def holder():
        try:
            with transaction.atomic():
                list(Delivery.objects.filter(pk__in=held).select_for_update())
                locked.set()
                release.wait(10)
        finally:
            connection.close()

    thread = threading.Thread(target=holder)
    thread.start()
    try:
        assert locked.wait(5)
        started = time.monotonic()
        first = deliver_many(pks)
        assert time.monotonic() - started < 3  # skipped, not waited for
    finally:
        release.set()
        thread.join(10)
    assert set(first) == set(pks[4:])
    second = deliver_many(pks)
    assert set(second) == set(held)
    assert statuses(pks) == {DeliveryStatus.SENT: 10} and len(mail.outbox) == 10


def test_claim_batch_moves_rows_to_sending_in_two_statements(make_user, plan):
    from django.utils import timezone

    pks = plan(make_users(make_user, 30))
    now = timezone.now()
    with CaptureQueriesContext(connection) as ctx:
        rows = claim_batch(pks, now)
    statements = [
        q["sql"] for q in ctx.captured_queries if not q["sql"].startswith(("SAVEPOINT", "RELEASE"))
    ]
    assert [s.split()[0] for s in statements] == ["SELECT", "UPDATE"]
    assert [r.pk for r in rows] == pks
    assert all(r.status == DeliveryStatus.SENDING and r.attempts == 1 for r in rows)
    assert all(r.user.email for r in rows)  # joined, no query per row
    assert statuses(pks) == {DeliveryStatus.SENDING: 30}
    assert claim_batch(pks, now) == []


@pytest.mark.parametrize("carried", ["json", "case"])
def test_the_first_claim_draws_each_key_and_later_claims_keep_it(
    make_user, plan, monkeypatch, carried
):
    """Planned rows have no idempotency key; the claim's own UPDATE gives each keyless
    row a distinct one (no extra statement), and a row claimed again (a retry) keeps
    the key it had, in the database and on the rows handed back. ``case``: the keys as
    other databases get them, one ``CASE`` branch per row."""
    from django.utils import timezone

    if carried == "case":
        monkeypatch.setattr(connection, "vendor", "other")
    pks = plan(make_users(make_user, 12))
    assert set(Delivery.objects.filter(pk__in=pks).values_list("idempotency_key", flat=True)) == {
        None
    }
    Delivery.objects.filter(pk=pks[0]).update(idempotency_key="kept-from-before")
    now = timezone.now()
    with CaptureQueriesContext(connection) as ctx:
        rows = claim_batch(pks, now)
    assert [q["sql"].split()[0] for q in ctx.captured_queries if "SAVEPOINT" not in q["sql"]] == [
        "SELECT",
        "UPDATE",
    ]
    update = next(q["sql"] for q in ctx.captured_queries if q["sql"].startswith("UPDATE"))
    assert ("CASE WHEN" in update) == (carried == "case")
    stored = dict(Delivery.objects.filter(pk__in=pks).values_list("pk", "idempotency_key"))
    assert {r.pk: r.idempotency_key for r in rows} == stored
    assert stored[pks[0]] == "kept-from-before"
    drawn = [stored[pk] for pk in pks[1:]]
    assert len(set(drawn)) == 11 and all(len(k) == 32 for k in drawn)
    # A failed attempt comes round again: the same keys.
    Delivery.objects.filter(pk__in=pks).update(status=DeliveryStatus.FAILED, next_attempt_at=now)
    again = claim_batch(pks, now)
    assert {r.pk: r.idempotency_key for r in again} == stored
    assert dict(Delivery.objects.filter(pk__in=pks).values_list("pk", "idempotency_key")) == stored


def test_a_slow_batch_keeps_its_claims_past_sending_timeout(hooks, make_user, plan):
    """Each webhook takes 0.25 s, the batch 1.5 s, SENDING_TIMEOUT is 0.6 s: the rows still
    waiting are claimed again as the batch goes, so a sweep mid-batch finds nothing
    interrupted, and every row is sent once."""
    hooks.respond("/hook", status=200, delay=0.25)
    users = make_users(make_user, 6, email=False)
    enable_webhooks(users)
    recovered = []

    def sweep_now(sender, delivery, **kw):
        recovered.append(recover_interrupted())

    with webhook_settings(hooks, SENDING_TIMEOUT=0.6):
        pks = plan(users, channel="outbox")
        signals.pre_send.connect(sweep_now)
        try:
            outcomes = deliver_many(pks)
        finally:
            signals.pre_send.disconnect(sweep_now)
    assert recovered == [0] * 6
    assert {o.status for o in outcomes.values()} == {DeliveryStatus.SENT}
    assert statuses(pks) == {DeliveryStatus.SENT: 6} and len(hooks.requests) == 6


def test_rows_the_sweeper_took_mid_batch_are_left_to_it(hooks, make_user, plan):
    """The worker stalls past SENDING_TIMEOUT on the first row and the sweeper declares
    the batch's rows interrupted meanwhile: the batch sends none of the others; they are
    ``failed``, due, and the next sweep sends each once."""
    users = make_users(make_user, 4, email=False)
    enable_webhooks(users)

    def stall_once(sender, delivery, **kw):
        signals.pre_send.disconnect(stall_once)
        time.sleep(0.7)
        assert recover_interrupted() == 4

    with webhook_settings(hooks, SENDING_TIMEOUT=0.6):
        pks = plan(users, channel="outbox")
        signals.pre_send.connect(stall_once)
        try:
            outcomes = deliver_many(pks)
        finally:
            signals.pre_send.disconnect(stall_once)
        # The one already on its way goes out: the message did leave.
        assert list(outcomes) == [pks[0]]
        assert statuses(pks) == {DeliveryStatus.SENT: 1, DeliveryStatus.FAILED: 3}
        assert send_due() == {"recovered": 0, "dispatched": 3}
    assert statuses(pks) == {DeliveryStatus.SENT: 4}
    assert len(hooks.requests) == 4
    assert len({r.headers["webhook-id"] for r in hooks.requests}) == 4
    assert set(Delivery.objects.filter(pk__in=pks[1:]).values_list("attempts", flat=True)) == {2}


# --- the Celery dispatcher ----------------------------------------------------------------


@pytest.fixture
def memory_broker():
    """A real Celery app on kombu's in-memory transport, current for the test: what the
    dispatcher publishes is counted by Celery's own ``after_task_publish`` signal."""
    celery = pytest.importorskip("celery")
    from celery import _state
    from celery.signals import after_task_publish

    previous = _state.get_current_app()
    app = celery.Celery("dispatch-tests", broker="memory://", set_as_current=False)
    app.conf.task_default_queue = f"dispatch-tests-{uuid.uuid4().hex[:8]}"
    app.set_current()
    published: list[tuple[str, tuple, dict]] = []

    def record(sender, body, headers, **kw):
        published.append((headers["task"], body[0], headers))

    after_task_publish.connect(record, weak=False)
    try:
        yield published
    finally:
        after_task_publish.disconnect(record)
        previous.set_current()
        app.close()


@pytest.mark.parametrize(("n", "size"), [(1, 100), (100, 100), (250, 100), (250, 7)])
def test_the_celery_dispatcher_publishes_one_task_per_batch(memory_broker, n, size):
    from django_notify.delivery.tasks import CeleryDispatcher

    ids = list(range(1, n + 1))
    with notify_override(DISPATCHER="celery", DISPATCH_BATCH_SIZE=size):
        CeleryDispatcher().dispatch(ids)
    assert len(memory_broker) == math.ceil(n / size)
    assert {name for name, _, _ in memory_broker} == {"django_notify.deliver_batch"}
    assert [pk for _, (batch,), _ in memory_broker for pk in batch] == ids


def test_a_batch_task_requeues_its_short_retries_as_batches(smtp, memory_broker, make_user, plan):
    from django_notify.delivery.tasks import deliver_batch_task

    users = make_users(make_user, 5)
    for user in users[:2]:
        smtp.refuse(user.email, "451 4.3.0 try again later", times=1)
    with notify_override(
        CHANNELS={"email": smtp_channel(smtp.port)},
        DISPATCHER="celery",
        RETRY_BACKOFF=4,
        RETRY_COUNTDOWN_MAX=300,
    ):
        pks = plan(users)
        result = deliver_batch_task(pks)  # the task body, run here
    assert result == {"sent": 3, "failed": 2}
    requeued = [(batch, headers["eta"]) for _, (batch,), headers in memory_broker]
    failed = set(Delivery.objects.filter(status=DeliveryStatus.FAILED).values_list("pk", flat=True))
    assert {pk for batch, _ in requeued for pk in batch} == failed
    assert 1 <= len(requeued) <= 2 and all(eta for _, eta in requeued)


# --- the setting's check ------------------------------------------------------------------


@pytest.mark.parametrize("bad", [0, -1, "x", True, 2.5, None])
def test_a_bad_batch_size_is_check_e053(bad):
    with notify_override(DISPATCH_BATCH_SIZE=bad):
        found = [m for m in run_checks(tags=["django_notify"]) if m.id == "django_notify.E053"]
    assert len(found) == 1 and "DISPATCH_BATCH_SIZE" in found[0].msg


def test_the_default_batch_size_passes_the_check():
    with notify_override(DISPATCH_BATCH_SIZE=1):
        assert not [m for m in run_checks(tags=["django_notify"]) if m.id.endswith("E053")]
    assert "DISPATCH_BATCH_SIZE" not in settings.DJANGO_NOTIFY  # the default: 100
