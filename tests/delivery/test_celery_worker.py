"""Delivery through a REAL Celery worker: a ``celery worker`` subprocess consuming from the
real Redis broker, sending email into a real SMTP server (aiosmtpd) and webhooks into a
real HTTP server, both on loopback, against the same PostgreSQL test database as this
process. Nothing is mocked or eager.

Wiring (see tests/support/celery_app.py and tests/support/worker_settings.py): this process
creates the test database, then starts the worker with
``DJANGO_SETTINGS_MODULE=tests.support.worker_settings`` and the test database's name, the
broker queue and the ``DJANGO_NOTIFY`` dict in its environment; the tests install the same
dict with ``override_settings``, so what is planned here is what the worker sends.
``DISPATCHER`` is ``"celery"``, so after commit this process publishes
``django_notify.deliver_batch`` tasks to the worker's queue.

Needs PostgreSQL (``NOTIFY_DB=postgres``) and Redis at ``NOTIFY_REDIS_URL``; skipped
without them, failed instead when ``NOTIFY_REQUIRE_SERVICES=1``.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.db import connection, transaction
from django.test import override_settings
from django.utils import timezone
from standardwebhooks.webhooks import Webhook

from django_notify import emit, notify
from django_notify.models import Delivery, DeliveryStatus, NotificationPreference
from django_notify.models.endpoint import WebhookEndpoint, generate_secret
from tests.support.celery_worker import CeleryWorker
from tests.support.http_servers import RecordingServer, closed_port
from tests.support.notify_settings import merged
from tests.support.services import REDIS_URL, redis_client, require_postgres_for
from tests.support.smtp_server import SmtpServer

pytestmark = [pytest.mark.postgres, pytest.mark.worker]
#: On each test, not in pytestmark: conftest adds a plain django_db mark to "postgres"
#: tests, and a mark on the function is the one pytest-django reads first. The worker
#: must see committed rows, and on_commit dispatch must run, so no wrapping transaction.
worker_db = pytest.mark.django_db(transaction=True)

ROOT = Path(__file__).resolve().parents[2]
SECRET = generate_secret()

MAX_ATTEMPTS = 3
RETRY_BACKOFF = 1  # attempt n waits RETRY_BACKOFF * 2**(n-1) s, "equal jitter": [c/2, c]
RETRY_BACKOFF_MAX = 8  # above RETRY_COUNTDOWN_MAX, so a Retry-After can outwait a countdown
RETRY_COUNTDOWN_MAX = 4  # below the broker's visibility timeout (tests/support/celery_app.py)
SENDING_TIMEOUT = 3
HTTP_TIMEOUT = 1.5
FINAL = (DeliveryStatus.SENT, DeliveryStatus.DEAD, DeliveryStatus.SKIPPED)


class Peers:
    """The worker (restartable), the SMTP and HTTP servers, the broker."""

    def __init__(self, env, log_dir, smtp, http, redis_client, config):
        self.env, self.log_dir = env, log_dir
        self.smtp: SmtpServer = smtp
        self.http: RecordingServer = http
        self.redis = redis_client
        self.config: dict[str, Any] = config
        self.workers: list[CeleryWorker] = []

    @property
    def worker(self) -> CeleryWorker:
        return self.workers[-1]

    def start_worker(self) -> CeleryWorker:
        worker = CeleryWorker(
            "tests.support.celery_app",
            self.env,
            Path(self.log_dir) / f"worker-{len(self.workers) + 1}.log",
            queue=self.env["NOTIFY_CELERY_QUEUE"],
        )
        self.workers.append(worker)
        return worker.start()

    def logs(self) -> str:
        return "\n".join(f"===== {w.log_path.name} =====\n{w.log()}" for w in self.workers)

    def queued(self) -> int:
        """Messages waiting in the worker's queue: LLEN of its Redis list(s)."""
        from tests.support.celery_app import KEY_PREFIX, QUEUE

        keys = list(self.redis.scan_iter(match=f"{KEY_PREFIX}{QUEUE}*"))
        return sum(self.redis.llen(k) for k in keys if self.redis.type(k) == b"list")

    def wait(self, predicate: Callable[[], Any], what: str, timeout: float = 15.0) -> Any:
        deadline = time.monotonic() + timeout
        while True:
            value = predicate()
            if value:
                return value
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"timed out after {timeout}s waiting for {what}\n{self.logs()[-6000:]}"
                )
            time.sleep(0.03)

    def watch(self, pks: list[Any], timeout: float = 20.0) -> dict[Any, list[dict]]:
        """Poll the rows until all are final; every distinct state each went through."""
        seen: dict[Any, list[dict]] = {pk: [] for pk in pks}
        fields = ("status", "attempts", "next_attempt_at", "claimed_at", "last_error")

        def step():
            for row in Delivery.objects.filter(pk__in=pks).values("pk", *fields):
                pk = row.pop("pk")
                if not seen[pk] or seen[pk][-1] != row:
                    seen[pk].append(row)
            return all(states and states[-1]["status"] in FINAL for states in seen.values())

        self.wait(step, f"deliveries {pks} to reach a final status", timeout)
        return seen


@pytest.fixture(scope="module")
def peers(django_db_setup, tmp_path_factory):
    require_postgres_for("the Celery worker tests")
    client = redis_client()

    # Importing the app makes it Celery's current app here too: the package's shared
    # tasks publish through it, to the queue the worker consumes.
    from tests.support import celery_app

    smtp = SmtpServer().start()
    http = RecordingServer().start()
    # The test settings' dict with these keys, the same in this process and its peers.
    config = merged(
        **{
            "DISPATCHER": "celery",
            "CHANNELS": {
                "email": {
                    "BACKEND": "email",
                    "OPTIONS": {
                        "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
                        "CONNECTION": {"host": smtp.host, "port": smtp.port, "timeout": 5},
                    },
                },
                # test.alert's channels are in_app, email and outbox: the webhook channel
                # takes the "outbox" alias, so no test type needs changing.
                "outbox": {
                    "BACKEND": "webhook",
                    "OPTIONS": {
                        "URL": http.url("/hook"),
                        "SECRET": SECRET,
                        "TIMEOUT": HTTP_TIMEOUT,
                    },
                },
            },
            "WEBHOOK_ALLOWED_HOSTS": ["127.0.0.1"],
            "MAX_ATTEMPTS": MAX_ATTEMPTS,
            "RETRY_BACKOFF": RETRY_BACKOFF,
            "RETRY_BACKOFF_MAX": RETRY_BACKOFF_MAX,
            "RETRY_COUNTDOWN_MAX": RETRY_COUNTDOWN_MAX,
            "SENDING_TIMEOUT": SENDING_TIMEOUT,
        }
    )
    path = os.pathsep.join(
        [str(ROOT), str(ROOT / "example_project"), *filter(None, [os.environ.get("PYTHONPATH")])]
    )
    env = {
        **os.environ,
        "PYTHONPATH": path,
        "DJANGO_SETTINGS_MODULE": "tests.support.worker_settings",
        # The database this process created for the tests, not the configured one.
        "NOTIFY_WORKER_DB_NAME": connection.settings_dict["NAME"],
        "NOTIFY_WORKER_DJANGO_NOTIFY": json.dumps(config),
        "NOTIFY_CELERY_QUEUE": celery_app.QUEUE,
        "NOTIFY_REDIS_URL": REDIS_URL,
        "PYTHONUNBUFFERED": "1",
    }
    log_dir = tempfile.mkdtemp(prefix="notify-worker-", dir=tmp_path_factory.getbasetemp())
    peers = Peers(env, log_dir, smtp, http, client, config)
    try:
        peers.start_worker()
        yield peers
    finally:
        for worker in peers.workers:
            worker.stop()
        smtp.stop()
        http.stop()
        for key in client.scan_iter(match=f"{celery_app.KEY_PREFIX}*"):
            client.delete(key)
        # Release the broker connections this process opened to publish.
        celery_app.app.close()


@pytest.fixture(autouse=True)
def _each(require_postgres, peers, request):
    peers.smtp.reset()
    peers.http.requests.clear()
    peers.http.answers.clear()
    peers.http.connections = 0
    failed_before = request.session.testsfailed
    with override_settings(DJANGO_NOTIFY=peers.config):
        yield
    if request.session.testsfailed > failed_before:
        print(f"worker logs ({peers.log_dir}):\n{peers.logs()[-20000:]}")


# --- helpers ------------------------------------------------------------------------------


def enable_webhook(user, url: str | None = None) -> None:
    """Switch test.alert's "outbox" (webhook) channel on for the user; ``url`` gives the
    user an endpoint of their own instead of the channel's URL option."""
    NotificationPreference.objects.create(
        user=user, notification_type="test.alert", channel="outbox", enabled=True
    )
    if url is not None:
        WebhookEndpoint.objects.create(channel="outbox", url=url, user=user, secrets=[SECRET])


def alert(users, what="disk"):
    return notify(
        users, "test.alert", title=f"{what} happened", meta_data={"context": {"what": what}}
    )


def deliveries(channel: str) -> list[Delivery]:
    return list(Delivery.objects.filter(channel=channel).order_by("pk"))


def failed_states(states: list[dict]) -> list[dict]:
    return [s for s in states if s["status"] == DeliveryStatus.FAILED]


def assert_backoff(states: list[dict], attempt_takes: float = 1.0) -> None:
    """Each failure scheduled the next attempt RETRY_BACKOFF * 2**(n-1) s out (equal
    jitter: between half and all of it) after its attempt (at most ``attempt_takes``
    seconds from the claim), and the next claim waited for it."""
    failures = failed_states(states)
    assert [s["attempts"] for s in failures] == list(range(1, MAX_ATTEMPTS))
    for n, state in enumerate(failures, start=1):
        ceiling = min(RETRY_BACKOFF_MAX, RETRY_BACKOFF * 2 ** (n - 1))
        waited = (state["next_attempt_at"] - state["claimed_at"]).total_seconds()
        assert ceiling / 2 <= waited <= ceiling + attempt_takes, (n, waited)
    later = [s["next_attempt_at"] for s in failures]
    assert later == sorted(later) and len(set(later)) == len(later)
    # Attempt n + 1 was not claimed before the time attempt n's failure set.
    claimed = {s["attempts"]: s["claimed_at"] for s in states if s["claimed_at"] is not None}
    for failure in failures:
        assert claimed[failure["attempts"] + 1] >= failure["next_attempt_at"]


def verified(request) -> dict:
    return Webhook(SECRET).verify(request.body, request.headers)


# --- 1. the happy path ----------------------------------------------------------------------


@worker_db
def test_worker_delivers_email_and_signed_webhook(peers, make_user):
    user = make_user(email="ada@example.com")
    enable_webhook(user)
    started = time.monotonic()
    emit("test.alert", recipients=[user], context={"what": "disk"})
    (email_row,) = deliveries("email")
    (hook_row,) = deliveries("outbox")
    peers.watch([email_row.pk, hook_row.pk])
    elapsed = time.monotonic() - started

    email_row.refresh_from_db()
    hook_row.refresh_from_db()
    for row in (email_row, hook_row):
        assert row.status == DeliveryStatus.SENT, row.last_error
        assert (row.attempts, row.last_error) == (1, "")
        assert row.sent_at is not None
    assert elapsed < 5, elapsed

    (received,) = peers.smtp.messages
    message = received.message
    assert received.rcpt_tos == ["ada@example.com"]
    assert message["Message-ID"] == f"<{email_row.idempotency_key}@notify.example>"
    assert message["Subject"] == "disk happened"
    assert email_row.response == {"message_id": message["Message-ID"], "sent": 1}

    (request,) = peers.http.requests
    assert request.path == "/hook"
    assert request.headers["webhook-id"] == hook_row.idempotency_key
    payload = verified(request)  # raises WebhookVerificationError on a bad signature
    assert payload["type"] == "test.alert"
    assert hook_row.response["status_code"] == 200
    assert hook_row.address == str(WebhookEndpoint.objects.get(url=peers.http.url("/hook")).pk)
    # Only in_app, email and outbox are planned; in-app is the notification row itself.
    assert Delivery.objects.count() == 2


# --- 2. nothing leaves for a rollback -------------------------------------------------------


@worker_db
def test_rolled_back_transaction_enqueues_nothing(peers, make_user):
    user = make_user(email="ada@example.com")
    enable_webhook(user)
    log_before = len(peers.worker.log())
    with pytest.raises(RuntimeError), transaction.atomic():
        alert([user])
        assert Delivery.objects.count() == 2  # planned inside the transaction…
        raise RuntimeError("roll back")
    assert Delivery.objects.count() == 0  # …and gone with it
    assert peers.queued() == 0
    time.sleep(1.0)  # long enough for a published task to reach the worker and the peers
    assert peers.queued() == 0
    assert "received" not in peers.worker.log()[log_before:]
    assert peers.smtp.messages == [] and peers.smtp.rcpt_attempts == {}
    assert peers.http.requests == [] and peers.http.connections == 0

    # The same observation sees a committed send: the check above can fail.
    alert([user])
    peers.watch([d.pk for d in Delivery.objects.all()])
    assert "django_notify.deliver_batch[" in peers.worker.log()[log_before:]
    assert len(peers.smtp.messages) == len(peers.http.requests) == 1


# --- 3. SMTP failures -----------------------------------------------------------------------


@worker_db
def test_smtp_down_is_retried_with_backoff_then_dead(peers, make_user):
    user = make_user(email="ada@example.com")
    with peers.smtp.down():
        alert([user])
        (row,) = deliveries("email")
        states = peers.watch([row.pk])[row.pk]
    row.refresh_from_db()
    assert row.status == DeliveryStatus.DEAD
    assert row.attempts == MAX_ATTEMPTS
    assert row.sent_at is None
    assert "ConnectionRefusedError" in row.last_error
    assert row.reason == f"gave up after {MAX_ATTEMPTS} attempts"
    assert_backoff(states)
    assert peers.smtp.messages == []


@worker_db
def test_smtp_550_is_permanent_and_451_is_retried(peers, make_user):
    gone = make_user(email="gone@example.com")
    flaky = make_user(email="flaky@example.com")
    peers.smtp.refuse("gone@example.com", "550 5.1.1 no such user")
    peers.smtp.refuse("flaky@example.com", "451 4.3.0 try again later", times=1)
    alert([gone, flaky])
    by_user = {d.user_id: d for d in deliveries("email")}
    peers.watch([d.pk for d in by_user.values()])

    dead = Delivery.objects.get(pk=by_user[gone.pk].pk)
    assert (dead.status, dead.attempts, dead.reason) == ("dead", 1, "permanent error")
    assert "SMTPRecipientsRefused" in dead.last_error and "550" in dead.last_error
    assert dead.response == {"smtp_code": 550} and dead.sent_at is None
    assert peers.smtp.rcpt_attempts["gone@example.com"] == 1  # never retried

    sent = Delivery.objects.get(pk=by_user[flaky.pk].pk)
    assert (sent.status, sent.attempts) == ("sent", 2) and "451" in sent.last_error
    assert peers.smtp.rcpt_attempts["flaky@example.com"] == 2
    (message,) = peers.smtp.messages
    assert message.rcpt_tos == ["flaky@example.com"]
    assert message.message["Message-ID"] == f"<{sent.idempotency_key}@notify.example>"


# --- 4. webhook failures ----------------------------------------------------------------------


@worker_db
def test_webhook_500_timeout_and_refused_are_retried_then_dead(peers, make_user):
    http = peers.http
    http.respond("/fail", status=500, body="boom")
    http.respond("/slow", status=200, delay=HTTP_TIMEOUT + 1.5)
    users = {
        "500": make_user(email=""),
        "timeout": make_user(email=""),
        "refused": make_user(email=""),
    }
    enable_webhook(users["500"], http.url("/fail"))
    enable_webhook(users["timeout"], http.url("/slow"))
    enable_webhook(users["refused"], f"http://127.0.0.1:{closed_port()}/hook")
    alert(list(users.values()))
    rows = {d.user_id: d for d in deliveries("outbox")}
    assert len(rows) == 3
    states = peers.watch([d.pk for d in rows.values()], timeout=30)

    def final(kind):
        return Delivery.objects.get(pk=rows[users[kind].pk].pk)

    for kind in users:
        row = final(kind)
        assert (row.status, row.attempts, row.sent_at) == ("dead", MAX_ATTEMPTS, None), kind
        assert_backoff(states[row.pk], HTTP_TIMEOUT + 1.0 if kind == "timeout" else 1.0)

    row = final("500")
    assert "answered 500" in row.last_error and row.reason == "gave up after 3 attempts: http 500"
    assert row.response["status_code"] == 500 and row.response["body"] == "boom"
    row = final("timeout")
    assert (
        f"timed out after {HTTP_TIMEOUT:g}s" in row.last_error
        and row.reason == "gave up after 3 attempts: timeout"
    )
    assert row.response["error"] == "ReadTimeout"
    row = final("refused")
    assert (
        "could not connect" in row.last_error
        and row.reason == "gave up after 3 attempts: connection failed"
    )
    assert row.response["error"] == "ConnectError"

    # Every retry of one delivery is the same Standard Webhooks message: one webhook-id,
    # a fresh timestamp and signature per attempt, all verifying.
    for path, kind in (("/fail", "500"), ("/slow", "timeout")):
        seen = [r for r in http.requests if r.path == path]
        assert len(seen) == MAX_ATTEMPTS
        assert {r.headers["webhook-id"] for r in seen} == {final(kind).idempotency_key}
        stamps = [int(r.headers["webhook-timestamp"]) for r in seen]
        assert stamps == sorted(stamps)
        for r in seen:
            verified(r)


# --- 5. a duplicated task -----------------------------------------------------------------------


@worker_db
def test_a_task_delivered_twice_sends_one_email(peers, make_user):
    from django_notify.delivery.tasks import deliver_task

    user = make_user(email="ada@example.com")
    alert([user])  # one task published on commit…
    (row,) = deliveries("email")
    extra = [deliver_task.apply_async((row.pk,)) for _ in range(2)]  # …and two more
    peers.watch([row.pk])
    for result in extra:
        peers.wait(
            lambda result=result: re.search(
                rf"django_notify\.deliver\[{result.id}\] succeeded", peers.worker.log()
            ),
            f"task {result.id} to finish",
        )
    row.refresh_from_db()
    assert (row.status, row.attempts) == ("sent", 1)
    assert len(peers.smtp.messages) == 1
    assert peers.smtp.rcpt_attempts["ada@example.com"] == 1
    log = peers.worker.log()
    outcomes = [re.search(rf"deliver\[{r.id}\] succeeded in [\d.]+s: (\S+)", log)[1] for r in extra]
    assert outcomes.count("'sent'") <= 1 and "None" in outcomes


@worker_db
def test_a_retry_beyond_the_countdown_limit_waits_in_the_database(peers, make_user):
    """Retry-After 5 s > RETRY_COUNTDOWN_MAX: no Celery countdown; the row keeps the time
    and the send_due sweep hands it out once it has come."""
    from django_notify.delivery.tasks import send_due_task

    http = peers.http
    http.respond("/later", status=503, headers={"Retry-After": "5"})
    user = make_user(email="")
    enable_webhook(user, http.url("/later"))
    log_before = len(peers.worker.log())
    alert([user])
    (row,) = deliveries("outbox")
    peers.wait(
        lambda: Delivery.objects.filter(pk=row.pk, status=DeliveryStatus.FAILED).exists(),
        "the 503 to be recorded",
    )
    http.respond("/later", status=200)
    row.refresh_from_db()
    assert row.attempts == 1 and "answered 503" in row.last_error
    assert row.response["headers"]["retry-after"] == "5"
    waited = (row.next_attempt_at - row.claimed_at).total_seconds()
    assert 5 <= waited < 6, waited  # the receiver's Retry-After, not our 1 s backoff

    send_due_task.apply_async()  # too early: nothing is due yet
    peers.wait(lambda: "'dispatched': 0}" in peers.worker.log()[log_before:], "the early sweep")
    assert len(re.findall(r"deliver_batch\[[^]]+\] received", peers.worker.log()[log_before:])) == 1
    peers.wait(lambda: timezone.now() >= row.next_attempt_at, "the retry time", timeout=8)
    row.refresh_from_db()
    assert (row.status, row.attempts) == ("failed", 1)  # no countdown task took it
    send_due_task.apply_async()
    peers.watch([row.pk])
    row.refresh_from_db()
    assert (row.status, row.attempts) == ("sent", 2) and "answered 503" in row.last_error
    assert len(http.requests) == 2
    assert {r.headers["webhook-id"] for r in http.requests} == {row.idempotency_key}


# --- 6. a worker killed mid-send --------------------------------------------------------------


@worker_db
def test_worker_killed_mid_send_is_recovered_with_the_same_webhook_id(peers, make_user):
    """Run last: it replaces the module's worker."""
    from django_notify.delivery.tasks import send_due_task

    http = peers.http
    http.respond("/hold", status=200, delay=HTTP_TIMEOUT + 1.5)  # held while we kill
    user = make_user(email="")
    enable_webhook(user, http.url("/hold"))
    log_before = len(peers.worker.log())
    alert([user])
    (row,) = deliveries("outbox")
    peers.wait(lambda: http.requests, "the webhook request to arrive")
    first_worker = peers.worker
    first_worker.kill()  # SIGKILL mid-request: no result recorded, message not acked
    killed_at = time.monotonic()
    http.respond("/hold", status=200)  # the receiver answers at once from now on
    (task_id,) = re.findall(
        r"django_notify\.deliver_batch\[([0-9a-f-]+)\] received", first_worker.log()[log_before:]
    )

    row.refresh_from_db()
    assert (row.status, row.attempts, row.sent_at) == ("sending", 1, None)

    peers.start_worker()
    # The row's conditional claim keeps a broker redelivery from sending it while it is
    # "sending"; the sweeper (the django_notify.send_due beat task) declares it
    # interrupted once SENDING_TIMEOUT has passed and hands it out again.
    peers.wait(
        lambda: Delivery.objects.filter(
            pk=row.pk, claimed_at__lt=timezone.now() - timedelta(seconds=SENDING_TIMEOUT)
        ).exists(),
        "the claim to grow stale",
    )
    send_due_task.apply_async()
    states = peers.watch([row.pk])[row.pk]
    recovered_after = time.monotonic() - killed_at
    row.refresh_from_db()
    assert row.status == DeliveryStatus.SENT
    assert row.attempts == 2 and row.sent_at is not None
    assert "interrupted while sending" in row.last_error  # the audit row tells the story
    assert "recovered 1 interrupted deliveries" in peers.worker.log()
    assert recovered_after < SENDING_TIMEOUT + 10, recovered_after
    assert [s["status"] for s in states][-1] == "sent"

    # The broker hands the killed task's message out again after the visibility timeout.
    # It races the sweeper's own message: whichever claims the recovered row first sends
    # it, and the other finds it sent and does nothing. Either way, one send.
    redelivered = peers.wait(
        lambda: re.search(
            rf"deliver_batch\[{task_id}\] succeeded in [\d.]+s: (\{{.*\}})", peers.worker.log()
        ),
        "the unacknowledged task to be redelivered",
    )
    assert redelivered.group(1) in ("{}", "{'sent': 1}"), redelivered.group(0)
    sends = re.findall(
        r"deliver_batch\[[0-9a-f-]+\] succeeded in [\d.]+s: \{'sent': 1\}", peers.worker.log()
    )
    assert len(sends) == 1, peers.worker.log()
    row.refresh_from_db()
    assert (row.status, row.attempts) == ("sent", 2)

    # The receiver saw the message twice (once cut off), with ONE webhook-id: receivers
    # dedupe on it (docs/celery.md).
    assert len(http.requests) == 2
    assert {r.headers["webhook-id"] for r in http.requests} == {row.idempotency_key}
    for r in http.requests:
        verified(r)
