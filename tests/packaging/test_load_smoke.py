"""The load benchmarks (benchmarks/load/run.py) run end to end at their smoke size.

A test of the harness, not of speed: 5 stream clients and 5 polling bells for 3 seconds
against a real uvicorn with 2 workers, PostgreSQL and Redis pub/sub, and 3 seconds of
email and of webhooks through a real Celery worker into receivers on loopback. It checks
that every stream connected, that every committed notification reached every listener it
was meant for, that the bells got answers, that every delivery arrived once (each webhook
verified) and that the reports were written. No timing is asserted (the full-size
figures are in docs/performance.md). About a minute, so it runs in the ``bench`` tox env
(``pytest -m bench``). Needs PostgreSQL (the runs build their own databases,
``<NOTIFY_PG_NAME>_load_smoke`` and ``…_load_deliver_smoke``, on the server at
``NOTIFY_PG_HOST``) and Redis.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.run import pg_answers
from tests.support.services import missing, redis_client

pytestmark = pytest.mark.bench


ROOT = Path(__file__).resolve().parents[2]
RUN = ROOT / "benchmarks" / "load" / "run.py"


@pytest.fixture(scope="module")
def load_env():
    # The run builds its own database on the server, whatever the suite runs on.
    if importlib.util.find_spec("psycopg") is None:
        missing("the load benchmarks need psycopg (the postgres extra)")
    if not pg_answers():
        missing("the load benchmarks need PostgreSQL at NOTIFY_PG_HOST:NOTIFY_PG_PORT")
    redis_client().close()
    prefix = os.environ.get("NOTIFY_PG_NAME", "notify").replace("-", "_").replace(".", "_")
    # The run's own subprocesses pick their settings; never hand them ours.
    env = {k: v for k, v in os.environ.items() if k not in ("DJANGO_SETTINGS_MODULE",)}
    # Django's connection pool where psycopg's pool is installed, else a connection each.
    pool = "4" if importlib.util.find_spec("psycopg_pool") else "0"
    return env, ["--smoke", "--db-name", f"{prefix}_load_smoke", "--pool", pool]


def run(env, args, tmp_path, name: str | None = None) -> dict:
    proc = subprocess.run(
        [sys.executable, str(RUN), *args, "--out", str(tmp_path)],
        capture_output=True, text=True, timeout=300, env=env,
    )  # fmt: skip
    assert proc.returncode == 0, f"{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}"
    name = name or f"load-{args[0]}-smoke"
    assert (tmp_path / f"{name}.md").read_text().startswith(f"# Load: {args[0]}")
    return json.loads((tmp_path / f"{name}.json").read_text())


def test_stream_smoke(load_env, tmp_path):
    env, common = load_env
    report = run(env, ["stream", *common], tmp_path)
    assert report["ready"] == report["clients"] == 5
    assert report["notifications_committed"]["direct"] > 0
    assert report["notifications_committed"]["team"] > 0
    # Every commit reached every stream that should hear it, once.
    assert report["missing"] == {"direct": 0, "team": 0, "organization": 0, "system": 0}
    assert report["duplicates"] == 0
    assert report["error_count"] == 0, report["errors"]
    assert report["latency_ms"]["n"] == report["deliveries"] > 0
    assert report["cpu_seconds"]["server"] > 0


def test_poll_smoke(load_env, tmp_path):
    env, common = load_env
    report = run(env, ["poll", *common, "--tool", "asyncio"], tmp_path)
    assert report["error_count"] == 0, report["errors"]
    by_request = report["latency_ms_by_request"]
    assert by_request["unread-count"]["n"] > 0 and by_request["first page"]["n"] > 0
    assert report["requests"] == sum(figures["n"] for figures in by_request.values())


def test_poll_smoke_with_locust(load_env, tmp_path):
    if importlib.util.find_spec("locust") is None:
        pytest.skip("locust is not installed")
    env, common = load_env
    report = run(env, ["poll", *common, "--tool", "locust"], tmp_path)
    assert report["error_count"] == 0, report["errors"]
    assert report["latency_ms_by_request"]["unread-count"]["n"] > 0
    assert report["latency_ms_by_request"]["first page"]["n"] > 0


def test_poll_smoke_under_gunicorn(load_env, tmp_path):
    """The bells under a WSGI server (gunicorn's gthread workers), the deployment
    docs/scaling.md recommends for the API next to uvicorn for the stream."""
    if importlib.util.find_spec("gunicorn") is None:
        missing("the WSGI poll run needs gunicorn (the bench env installs it)")
    env, common = load_env
    report = run(env, ["poll", *common, "--tool", "asyncio", "--server", "gunicorn"], tmp_path)
    assert report["error_count"] == 0, report["errors"]
    assert report["settings"]["server"] == "gunicorn"
    by_request = report["latency_ms_by_request"]
    assert by_request["unread-count"]["n"] > 0 and by_request["first page"]["n"] > 0


def test_the_stream_refuses_a_wsgi_server(load_env, tmp_path):
    env, common = load_env
    proc = subprocess.run(
        [sys.executable, str(RUN), "stream", *common, "--server", "gunicorn"],
        capture_output=True, text=True, timeout=60, env=env, cwd=tmp_path,
    )  # fmt: skip
    assert proc.returncode == 2
    assert "the stream needs an ASGI server" in proc.stderr


@pytest.mark.parametrize("channel", ["email", "webhook"])
def test_deliver_smoke(load_env, tmp_path, channel):
    """3 s of notify() calls while a real worker (2 processes, Redis) sends into a receiver
    on loopback: every planned delivery sent and received once, nothing else received."""
    env, common = load_env
    db_name = common[common.index("--db-name") + 1].replace("_load_smoke", "_load_deliver_smoke")
    args = ["deliver", "--smoke", "--channel", channel, "--db-name", db_name]
    report = run(env, args, tmp_path, name=f"load-deliver-{channel}-smoke")
    assert report["offered"] == report["deliveries"] == report["received"] > 0
    assert report["statuses"] == {"sent": report["deliveries"]}
    assert report["attempts"] == {"1": report["deliveries"]}
    assert report["lost"] == report["duplicates"] == report["unplanned"] == 0
    assert report["unfinished_at_end"] == 0
    assert report["error_count"] == 0, report["errors"]
    if channel == "webhook":
        assert report["verified"] == report["received"] and report["verify_failures"] == 0
    assert report["cpu_seconds"]["worker"] > 0
