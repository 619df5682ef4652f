"""The peers of the fault-injection tests (tests/delivery/test_faults_*.py): the real Celery
worker of tests/delivery/test_celery_worker.py, started against a broker of the test's
choosing, an SMTP server that can hold its answers, a private Redis that a test may
restart, and the worker's PostgreSQL backends found by name.

``HoldingSmtpServer``  an :class:`~tests.support.smtp_server.SmtpServer` that, from the
                       n-th message on, accepts and records each message but keeps its
                       ``250`` back until :meth:`release`: the sender is stuck between
                       "the receiver has it" and "the sender knows", which is where a
                       crash duplicates a message.
``PrivateRedis``       a ``redis-server`` of the test's own on a free loopback port, in a
                       temporary directory, keeping nothing on disk: a stop and a start
                       lose every queued message. The shared Redis is never touched.
``start_peers``        a worker (``PGAPPNAME`` names its database sessions) and the
                       ``DJANGO_NOTIFY`` both processes use.
``publishing_to``      this process's Celery app for another broker, for a block.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import subprocess
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from django.db import connection

from tests.delivery import test_celery_worker as harness
from tests.support.notify_settings import merged
from tests.support.services import REDIS_URL, missing
from tests.support.smtp_server import Received, SmtpServer, _Handler, free_port

#: ``application_name`` of every PostgreSQL session the fault tests' worker opens.
WORKER_APP_NAME = "django-notify-fault-worker"


# --- SMTP ------------------------------------------------------------------------------------


class _HoldingHandler(_Handler):
    async def handle_DATA(self, server, session, envelope):  # noqa: N802
        answer = await super().handle_DATA(server, session, envelope)
        owner = self.owner
        if owner._hold_from is not None and len(owner.messages) >= owner._hold_from:
            with owner._lock:
                owner.held += 1
            try:
                while not owner._released.is_set():
                    await asyncio.sleep(0.01)
            finally:
                with owner._lock:
                    owner.held -= 1
        return answer


class HoldingSmtpServer(SmtpServer):
    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        #: Sessions whose message is recorded and whose answer is held right now.
        self.held = 0
        self._hold_from: int | None = None
        self._released = threading.Event()

    def hold_from(self, n: int) -> None:
        """From the ``n``-th message on (counting every message recorded so far), record
        it and hold the answer until :meth:`release`."""
        self._released.clear()
        self._hold_from = n

    def release(self) -> None:
        self._hold_from = None
        self._released.set()

    def reset(self) -> None:
        self.release()
        super().reset()

    def message_ids(self) -> Counter[str]:
        """How many times each Message-ID arrived."""
        with self._lock:
            received: list[Received] = list(self.messages)
        return Counter(m.message["Message-ID"] for m in received)

    def start(self) -> HoldingSmtpServer:
        self._controller = Controller(_HoldingHandler(self), hostname=self.host, port=self.port)
        self._controller.start()
        return self

    def stop(self) -> None:
        self.release()  # a held coroutine would keep the server's loop from stopping
        super().stop()


def message_id(idempotency_key: str) -> str:
    """The Message-ID the email channel gives a delivery (docs/channels/email.md)."""
    return f"<{idempotency_key}@notify.example>"


# --- Redis -----------------------------------------------------------------------------------


class PrivateRedis:
    """``redis-server`` on a free loopback port, persisting nothing."""

    def __init__(self) -> None:
        self.binary = shutil.which("redis-server")
        if self.binary is None:
            missing("redis-server is not installed (the broker-restart test starts its own)")
        self.port = free_port()
        self.dir = tempfile.mkdtemp(prefix="notify-redis-")
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc: subprocess.Popen | None = None
        self.starts = 0

    def start(self, timeout: float = 10) -> PrivateRedis:
        import redis

        self.starts += 1
        log = open(Path(self.dir) / f"redis-{self.starts}.log", "wb")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [
                self.binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                self.dir,
                "--protected-mode",
                "no",
            ],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        client = redis.Redis(port=self.port, socket_connect_timeout=1)
        deadline = time.monotonic() + timeout
        try:
            while True:
                try:
                    client.ping()
                    return self
                except redis.RedisError:
                    if self.proc.poll() is not None or time.monotonic() > deadline:
                        raise RuntimeError(
                            f"redis-server did not start on port {self.port}:\n"
                            + (Path(self.dir) / f"redis-{self.starts}.log").read_text()
                        ) from None
                    time.sleep(0.02)
        finally:
            client.close()

    def stop(self) -> None:
        """SIGKILL: whatever it held is gone, as after a crash of a Redis without
        persistence."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


@contextlib.contextmanager
def publishing_to(redis_url: str) -> Iterator[Any]:
    """The package's tasks publish through a Celery app for ``redis_url`` inside the
    block (the same queue and key prefix as tests.support.celery_app's)."""
    from celery import Celery

    from tests.support import celery_app

    if redis_url == celery_app.REDIS_URL:
        yield celery_app.app
        return
    app = Celery("tests-private-broker")
    app.conf.update(
        {
            **{k: v for k, v in celery_app.app.conf.items() if k.startswith(("task_", "broker_"))},
            "broker_url": redis_url,
        }
    )
    app.set_current()
    try:
        yield app
    finally:
        app.close()
        celery_app.app.set_current()


# --- the worker ------------------------------------------------------------------------------


def start_peers(
    log_dir: str, smtp: SmtpServer, *, redis_url: str = REDIS_URL, **config: Any
) -> harness.Peers:
    """The module fixture of tests/delivery/test_celery_worker.py, for an SMTP server and a
    broker of the caller's: a started worker, whose database sessions carry
    :data:`WORKER_APP_NAME`, and ``peers.config`` for ``override_settings``."""
    import redis

    from tests.support import celery_app

    settings = merged(
        **{
            "DISPATCHER": "celery",
            "CHANNELS": {
                # A held answer must not time out before the test kills or releases:
                # a timed-out send is retried, and would arrive twice.
                "email": {
                    "BACKEND": "email",
                    "OPTIONS": {
                        "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
                        "CONNECTION": {"host": smtp.host, "port": smtp.port, "timeout": 10},
                    },
                },
            },
            "MAX_ATTEMPTS": harness.MAX_ATTEMPTS,
            "RETRY_BACKOFF": harness.RETRY_BACKOFF,
            "RETRY_BACKOFF_MAX": harness.RETRY_BACKOFF_MAX,
            "RETRY_COUNTDOWN_MAX": harness.RETRY_COUNTDOWN_MAX,
            "SENDING_TIMEOUT": harness.SENDING_TIMEOUT,
            **config,
        }
    )
    path = os.pathsep.join(
        [
            str(harness.ROOT),
            str(harness.ROOT / "example_project"),
            *filter(None, [os.environ.get("PYTHONPATH")]),
        ]
    )
    env = {
        **os.environ,
        "PYTHONPATH": path,
        "DJANGO_SETTINGS_MODULE": "tests.support.worker_settings",
        "NOTIFY_WORKER_DB_NAME": connection.settings_dict["NAME"],
        "NOTIFY_WORKER_DJANGO_NOTIFY": json.dumps(settings),
        "NOTIFY_CELERY_QUEUE": celery_app.QUEUE,
        "NOTIFY_REDIS_URL": redis_url,
        # libpq reads it: pg_stat_activity tells the worker's sessions from ours.
        "PGAPPNAME": WORKER_APP_NAME,
        "PYTHONUNBUFFERED": "1",
    }
    client = redis.Redis.from_url(redis_url, socket_connect_timeout=2, socket_timeout=5)
    peers = harness.Peers(env, log_dir, smtp, None, client, settings)
    peers.start_worker()
    return peers


@contextlib.contextmanager
def running_peers(tmp_path_factory, *, redis_url: str = REDIS_URL) -> Iterator[harness.Peers]:
    """For a module fixture: a :class:`HoldingSmtpServer` and a worker on ``redis_url``,
    this process publishing there too; all stopped at the end."""
    from tests.support import celery_app

    smtp = HoldingSmtpServer().start()
    peers = None
    try:
        with publishing_to(redis_url):
            peers = start_peers(str(tmp_path_factory.mktemp("faults")), smtp, redis_url=redis_url)
            yield peers
    finally:
        if peers is not None:
            stop_peers(peers)
        smtp.stop()
        celery_app.app.close()


@contextlib.contextmanager
def each_test(peers: harness.Peers, request) -> Iterator[None]:
    """For an autouse fixture: a fresh SMTP server record and the peers' settings; the
    worker logs printed when the test failed (or always, with NOTIFY_FAULTS_VERBOSE=1)."""
    from django.test import override_settings

    peers.smtp.reset()
    failed_before = request.session.testsfailed
    with override_settings(DJANGO_NOTIFY=peers.config):
        yield
    if request.session.testsfailed > failed_before or os.environ.get("NOTIFY_FAULTS_VERBOSE"):
        print(f"worker logs ({peers.log_dir}):\n{peers.logs()[-20000:]}")


#: The statuses a delivery must not be left in.
OPEN = ("pending", "sending", "failed")


def sweep_until_settled(peers: harness.Peers, rows, *, every: float = 1.5, timeout: float = 90):
    """Run the sweeper on the worker, as the beat schedule would (every ``every`` seconds
    here, every minute in production), until none of ``rows`` is open. A run is not
    queued while the worker still has tasks waiting, as a beat would not outpace it."""
    from django_notify.delivery.tasks import send_due_task

    deadline = time.monotonic() + timeout
    while rows.filter(status__in=OPEN).exists():
        if time.monotonic() > deadline:
            left = list(rows.filter(status__in=OPEN).values_list("pk", "status")[:20])
            raise AssertionError(
                f"rows still open after {timeout}s: {left}\n{peers.logs()[-6000:]}"
            )
        if not peers.queued():
            send_due_task.apply_async()
        settle = time.monotonic() + every
        while time.monotonic() < settle and rows.filter(status__in=OPEN).exists():
            time.sleep(0.1)


def stop_peers(peers: harness.Peers) -> None:
    from tests.support.celery_app import KEY_PREFIX

    for worker in peers.workers:
        worker.stop()
    with contextlib.suppress(Exception):
        for key in peers.redis.scan_iter(match=f"{KEY_PREFIX}*"):
            peers.redis.delete(key)
    peers.redis.close()


def worker_backends(*, waiting_on_lock: bool = False) -> list[dict[str, Any]]:
    """The worker's sessions on the test database (pid, state, wait event, query)."""
    sql = (
        "SELECT pid, state, wait_event_type, query FROM pg_stat_activity "
        "WHERE application_name = %s AND datname = current_database()"
    )
    if waiting_on_lock:
        sql += " AND wait_event_type = 'Lock'"
    with connection.cursor() as cursor:
        cursor.execute(sql, [WORKER_APP_NAME])
        columns = [c.name for c in cursor.description]
        return [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]


def terminate(pids: Iterable[int]) -> int:
    """``pg_terminate_backend`` each pid; how many were terminated."""
    with connection.cursor() as cursor:
        done = 0
        for pid in pids:
            cursor.execute("SELECT pg_terminate_backend(%s)", [pid])
            done += bool(cursor.fetchone()[0])
        return done
