"""The demo as ``scripts/demo-live`` runs it: uvicorn (ASGI) for the site and its event
stream, a Celery worker with its beat (Redis broker) for the deliveries, Redis pub/sub for
live updates between processes.

The same commands as the script, against a private ``redis-server`` on a free port (so
no queue or channel is shared with anything else on the machine) and a temporary SQLite
database (or, with ``NOTIFY_DB=postgres``, a PostgreSQL database of its own). A
notification sent from another process (``manage.py shell``) must reach a stream that is
already open, and the worker must deliver it to the demo's receivers, verified.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time

import pytest

from tests.example_project.test_example_channels import (
    _last_received_id,
    _login,
    _received_since,
)
from tests.example_project.test_example_project import (
    EXAMPLE,
    _env,
    _free_port,
    _manage,
    _postgres_database,
    _shell,
)
from tests.support.asgi_server import SseClient
from tests.support.services import missing


def _wait_for_port(port: int, proc: subprocess.Popen, what: str, log_path) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            break
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.1)
    pytest.fail(f"{what} did not start:\n{log_path.read_text(errors='replace')}")


def _start(cmd: list[str], env: dict[str, str], log_path) -> subprocess.Popen:
    with open(log_path, "wb") as log:
        return subprocess.Popen(
            cmd,
            cwd=EXAMPLE,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def _stop(proc: subprocess.Popen) -> None:
    """SIGINT, as Ctrl-C sends it to scripts/demo-live's children; SIGKILL if need be."""
    if proc.poll() is not None:
        return
    os.killpg(proc.pid, signal.SIGINT)
    try:
        proc.wait(20)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    if shutil.which("redis-server") is None:
        missing("needs redis-server to start a private Redis")
    tmp = tmp_path_factory.mktemp("example_live")
    redis_port, port = _free_port(), _free_port()
    redis_url = f"redis://127.0.0.1:{redis_port}/0"
    env = _env(tmp / "db.sqlite3")
    env.pop("SITE_URL", None)
    env.update(
        PORT=str(port),
        NOTIFY_DISPATCHER="celery",
        NOTIFY_REALTIME_BROKER="redis",
        NOTIFY_REDIS_URL=redis_url,
        CELERY_BROKER_URL=redis_url,
    )
    drop = None
    if os.environ.get("NOTIFY_DB") == "postgres":
        env["DATABASE_URL"], drop = _postgres_database("live")
    procs: list[subprocess.Popen] = []
    logs = {name: tmp / f"{name}.log" for name in ("redis", "worker", "uvicorn")}
    try:
        redis = _start(
            ["redis-server", "--port", str(redis_port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(tmp)],
            env, logs["redis"],
        )  # fmt: skip
        procs.append(redis)
        _wait_for_port(redis_port, redis, "redis-server", logs["redis"])
        _manage(env, "migrate", "--noinput")
        _manage(env, "seed_demo")
        worker = _start(
            [sys.executable, "-m", "celery", "-A", "example", "worker", "--beat",
             "--schedule", str(tmp / "celerybeat-schedule"), "--concurrency", "2",
             "--loglevel", "INFO"],
            env, logs["worker"],
        )  # fmt: skip
        procs.append(worker)
        server = _start(
            [sys.executable, "-m", "uvicorn", "example.asgi:application",
             "--host", "127.0.0.1", "--port", str(port)],
            env, logs["uvicorn"],
        )  # fmt: skip
        procs.append(server)
        _wait_for_port(port, server, "uvicorn", logs["uvicorn"])
        deadline = time.monotonic() + 30
        while "ready." not in logs["worker"].read_text(errors="replace"):
            assert worker.poll() is None, logs["worker"].read_text(errors="replace")
            assert time.monotonic() < deadline, logs["worker"].read_text(errors="replace")
            time.sleep(0.2)
        yield {"env": env, "base": f"http://127.0.0.1:{port}", "logs": logs, "procs": procs}
    finally:
        for proc in reversed(procs):
            _stop(proc)
        if drop is not None:
            drop()
    for name in ("worker", "uvicorn"):
        output = logs[name].read_text(errors="replace")
        assert "Traceback" not in output, f"the {name} logged an error:\n{output}"


def test_a_send_from_another_process_reaches_the_open_stream_and_the_receivers(live):
    env = live["env"]
    last = _last_received_id(env)
    browser = _login(live, "light")
    cookies = {cookie.name: cookie.value for cookie in browser.jar}
    stream = SseClient(f"{live['base']}/notifications/stream/", cookies=cookies).start()
    try:
        assert stream.status == 200
        stream.next("count", timeout=10)
        sent = _shell(
            env,
            """
            import json
            from django.contrib.auth import get_user_model
            from django_notify import notify
            user = get_user_model().objects.get(username="light")
            (row,) = notify([user], "deploy.finished", title="Sent from the shell")
            print(json.dumps({"id": row.pk}))
            """,
        )
        event = stream.next("notification", timeout=15)
        assert event.data["id"] == sent["id"]
    finally:
        stream.close()

    # The worker, not the shell, sent the three deliveries to the receivers.
    deadline = time.monotonic() + 30
    received: list[dict] = []
    while time.monotonic() < deadline:
        received = _received_since(env, last)
        if len(received) >= 3:
            break
        time.sleep(0.5)
    assert sorted(r["channel"] for r in received) == ["slack", "teams", "webhook"], received
    assert all(r["verified"] for r in received), received
    assert "deliver_batch" in live["logs"]["worker"].read_text(errors="replace")


def test_the_page_says_the_worker_sends_and_the_digest_is_handed_over(live):
    env = live["env"]
    last = _last_received_id(env)
    browser = _login(live, "dev")
    _, _, page = browser.get("/channels/")
    assert "Deliveries are sent by the Celery worker." in page
    browser.post("/channels/digests/")
    _, _, page = browser.get("/channels/")
    assert "Digests: 1 created, 1 handed to the worker." in page
    deadline = time.monotonic() + 30
    received: list[dict] = []
    while time.monotonic() < deadline and not received:
        received = _received_since(env, last)
        time.sleep(0.5)
    assert [(r["channel"], r["verified"]) for r in received] == [("teams", True)]
    assert "3 new notifications" in received[0]["body"]


def test_ctrl_c_stops_the_worker_and_the_server(live):
    """Last: what the script's Ctrl-C does to its two children."""
    procs = live["procs"]
    worker, server = procs[1], procs[2]
    for proc in (server, worker):
        os.killpg(proc.pid, signal.SIGINT)
    assert server.wait(20) is not None
    assert worker.wait(30) is not None
    assert "Warm shutdown" in live["logs"]["worker"].read_text(errors="replace")
    assert "Finished server process" in live["logs"]["uvicorn"].read_text(errors="replace")
