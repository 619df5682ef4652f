"""The delivery scenario of ``run.py``: sustained sending through a real Celery worker.

    python benchmarks/load/run.py deliver --channel email   [--duration 60] [--offer 250]
    python benchmarks/load/run.py deliver --channel webhook [--duration 60] [--offer 375]
    python benchmarks/load/run.py deliver --channel email --smoke   # 3 s (what CI runs)

A run

1. creates an empty PostgreSQL database (``notify_load_deliver`` unless ``--db-name``);
2. starts the receiver in this process: an SMTP server (aiosmtpd) or an HTTP server,
   both on loopback, stamping each message's arrival;
3. starts ``feeder.py`` (migrates, creates the users) and a ``celery worker`` with 2
   processes (``--pool prefork -c 2`` unless told) on Redis, the package's Celery
   dispatcher and the channel pointing at the receiver;
4. lets the feeder commit ``notify()`` calls at ``--offer`` deliveries a second for
   ``--duration`` seconds, each call one transaction of ``--chunk`` recipients, then
   waits until every delivery row is final (sent or dead);
5. checks every row against what arrived: each row ``sent``, its Message-ID (email) or
   ``webhook-id`` received exactly once, nothing received that no row planned, and every
   webhook verified with the ``standardwebhooks`` library;
6. writes ``<out>/load-deliver-<channel>.json`` and ``.md``.

The sustained rate is what arrived during the feeding window divided by its length: when
the worker keeps up it equals the offered rate, when it does not it is the worker's
capacity and the backlog grows (the lag from a row's creation to its arrival says which).
"""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
sys.path.insert(0, str(REPO))  # the receivers of the test suite (tests/support)

from run import django_env, log, machine, percentiles, pg_dsn, proc_cpu  # noqa: E402

from tests.support.celery_worker import CeleryWorker  # noqa: E402

TARGETS = {"email": 200.0, "webhook": 300.0}
TYPES = {"email": "load.email", "webhook": "load.webhook"}
FINAL = ("sent", "dead", "skipped")  # a row in one of these is done
BUCKET = 5  # seconds: the shortest stretch the report gives a rate for

_MESSAGE_ID = re.compile(rb"^Message-ID:\s*<([^@>]+)@", re.IGNORECASE | re.MULTILINE)


# --- the receivers ---------------------------------------------------------------------------


def smtp_receiver():
    from tests.support.smtp_server import SmtpServer

    class TimedSmtp(SmtpServer):
        """Keeps the arrival time and Message-ID of each message, not the message."""

        def __init__(self) -> None:
            super().__init__()
            self.arrivals: list[tuple[float, str]] = []

        def _record(self, received) -> None:
            found = _MESSAGE_ID.search(received.raw)
            key = found.group(1).decode() if found else ""
            with self._lock:
                self.arrivals.append((time.time(), key))

        def config(self) -> dict:
            return {
                "BACKEND": "email",
                "OPTIONS": {
                    "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
                    "CONNECTION": {"host": self.host, "port": self.port, "timeout": 10},
                },
            }

    return TimedSmtp().start()


def http_receiver(secret: str):
    from tests.support.http_servers import RecordingServer

    class TimedHttp(RecordingServer):
        """Keeps each request (for the signature check afterwards) and its arrival time."""

        def __init__(self) -> None:
            super().__init__()
            self.arrivals: list[tuple[float, str]] = []

        def _record(self, recorded) -> None:
            with self._lock:
                self.requests.append(recorded)
                self.arrivals.append((time.time(), recorded.headers.get("webhook-id", "")))

        def config(self) -> dict:
            return {
                "BACKEND": "webhook",
                "OPTIONS": {"URL": self.url("/hook"), "SECRET": secret, "TIMEOUT": 10},
            }

    return TimedHttp().start()


# --- the database, the feeder, the worker ----------------------------------------------------


def fresh_database(name: str) -> None:
    import psycopg

    with psycopg.connect(**pg_dsn("postgres"), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def row_states(db_name: str, channel: str) -> list[tuple]:
    import psycopg

    with psycopg.connect(**pg_dsn(db_name)) as conn:
        return conn.execute(
            "SELECT idempotency_key, status, attempts, extract(epoch from created_at)::float8, "
            "reason FROM django_notify_delivery WHERE channel = %s",
            [channel],
        ).fetchall()


def unfinished(db_name: str, channel: str) -> int:
    import psycopg

    with psycopg.connect(**pg_dsn(db_name)) as conn:
        return conn.execute(
            "SELECT count(*) FROM django_notify_delivery WHERE channel = %s "
            "AND NOT (status = ANY(%s))",
            [channel, list(FINAL)],
        ).fetchone()[0]


def purge_queue(redis_url: str, queue: str) -> None:
    import redis

    client = redis.Redis.from_url(redis_url)
    try:
        for key in client.scan_iter(match=f"{queue}:*"):
            client.delete(key)
    finally:
        client.close()


# --- the run ---------------------------------------------------------------------------------


def run_deliver(args) -> dict:
    channel = args.channel
    secret = None
    if channel == "webhook":
        from standardwebhooks.webhooks import Webhook  # noqa: F401 - fail before starting

        secret = "whsec_" + base64.b64encode(os.urandom(24)).decode()
    receiver = smtp_receiver() if channel == "email" else http_receiver(secret)
    queue = f"notify-load-deliver-{uuid.uuid4().hex[:10]}"
    config = {
        "DISPATCHER": "celery",
        "CHANNELS": {channel: receiver.config()},
        "WEBHOOK_ALLOWED_HOSTS": ["127.0.0.1"],
    }
    env = {
        **django_env(args),
        "LOAD_DELIVER": "1",
        "LOAD_NOTIFY": json.dumps(config),
        "LOAD_CELERY_QUEUE": queue,
        # A worker's usual database settings: a connection kept across tasks.
        "LOAD_POOL": "0",
        "LOAD_CONN_MAX_AGE": "60",
    }
    log(f"preparing an empty database {args.db_name}")
    fresh_database(args.db_name)
    info = machine()
    with tempfile.TemporaryDirectory(prefix="notify-deliver-") as tmp_name:
        tmp = Path(tmp_name)
        spec = {
            "type": TYPES[channel],
            "users": args.users,
            "rate": args.offer,
            "chunk": args.chunk,
            "duration": args.duration,
            "out": str(tmp / "fed.json"),
        }
        (tmp / "feed-spec.json").write_text(json.dumps(spec))
        feeder = subprocess.Popen(
            [sys.executable, str(HERE / "feeder.py"), str(tmp / "feed-spec.json")],
            cwd=HERE,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        worker = CeleryWorker(
            "load_celery",
            env,
            tmp / "worker.log",
            queue=queue,
            pool=args.worker_pool,
            concurrency=args.worker_processes,
            cwd=HERE,
        )
        try:
            if feeder.stdout.readline().strip() != "READY":
                raise SystemExit("feeder.py failed (see its output above)")
            log(f"starting the worker (--pool {args.worker_pool} -c {args.worker_processes})")
            worker.start(timeout=60)
            result = feed_and_drain(args, channel, receiver, feeder, worker)
        finally:
            if feeder.poll() is None:
                feeder.kill()
            worker.stop(timeout=20)
            receiver.stop()
            purge_queue(args.redis_url, queue)
        worker_log = worker.log()
        fed = json.loads((tmp / "fed.json").read_text())
    rows = row_states(args.db_name, channel)
    result.update(check(channel, rows, receiver, secret))
    result.update(rates(args, fed, receiver.arrivals, rows))
    errors = fed["errors"] + [line for line in worker_log.splitlines() if "ERROR" in line][:50]
    result["errors"] = errors[:50]
    result["error_count"] = len(errors)
    result["feeder"] = {
        "calls": len(fed["records"]),
        "call_ms": percentiles([r["call_ms"] for r in fed["records"]]),
        "late_ms": percentiles([max(r["late_ms"], 0) for r in fed["records"]]),
        "cpu_seconds": fed["cpu_seconds"],
    }
    return {
        "scenario": "deliver",
        "channel": channel,
        **result,
        "machine": info,
        "worker_log_tail": worker_log[-2000:],
    }


def feed_and_drain(args, channel: str, receiver, feeder, worker) -> dict:
    cpu0 = proc_cpu(worker.proc.pid)
    load0, t0 = os.getloadavg(), time.monotonic()
    log(f"feeding {args.offer:g} {channel} deliveries/s for {args.duration:g} s")
    feeder.stdin.write("go\n")
    feeder.stdin.flush()
    if feeder.stdout.readline().strip() != "DONE":
        raise SystemExit("feeder.py failed (see its output above)")
    fed_seconds = time.monotonic() - t0
    deadline = time.monotonic() + args.drain_max
    left = unfinished(args.db_name, channel)
    while left and time.monotonic() < deadline:
        time.sleep(0.5)
        left = unfinished(args.db_name, channel)
    drained_seconds = time.monotonic() - t0 - fed_seconds
    time.sleep(1.0)  # a duplicate would arrive now
    cpu = proc_cpu(worker.proc.pid) - cpu0
    log(f"fed in {fed_seconds:.1f} s, drained {drained_seconds:.1f} s later, {left} unfinished")
    return {
        "fed_seconds": round(fed_seconds, 2),
        "drain_seconds": round(drained_seconds, 2),
        "unfinished_at_end": left,
        "cpu_seconds": {"worker": round(cpu, 2)},
        "loadavg": {
            "start": [round(x, 2) for x in load0],
            "end": [round(x, 2) for x in os.getloadavg()],
        },
    }


def check(channel: str, rows: list[tuple], receiver, secret: str | None) -> dict:
    """Every row against what arrived: the invariants of the run."""
    planned = {key for key, *_ in rows}
    received = Counter(key for _, key in receiver.arrivals)
    statuses = Counter(status for _, status, *_ in rows)
    result = {
        "deliveries": len(rows),
        "statuses": dict(statuses),
        "attempts": dict(Counter(attempts for _, _, attempts, *_ in rows)),
        "received": sum(received.values()),
        "lost": len(planned - set(received)),
        "duplicates": sum(n - 1 for n in received.values() if n > 1),
        "unplanned": len(set(received) - planned),
        "dead_reasons": dict(Counter(row[4] for row in rows if row[1] == "dead")),
    }
    if channel == "webhook":
        from standardwebhooks.webhooks import Webhook

        verifier = Webhook(secret)
        failures = 0
        for request in receiver.requests:
            try:
                verifier.verify(request.body, request.headers)
            except Exception:  # noqa: BLE001 - counted; each is a failed verification
                failures += 1
        result["verified"] = len(receiver.requests) - failures
        result["verify_failures"] = failures
    return result


def rates(args, fed: dict, arrivals: list[tuple[float, str]], rows: list[tuple]) -> dict:
    records = fed["records"]
    if not records or not arrivals:
        return {
            "offered": 0,
            "offered_per_s": 0.0,
            "sustained_per_s": 0.0,
            "buckets_per_s": [],
            "overall_per_s": 0.0,
            "lag_ms": percentiles([]),
        }
    start = records[0]["commit"]
    end = start + args.duration
    times = sorted(t for t, _ in arrivals)
    in_window = sum(1 for t in times if start <= t < end)
    width = min(BUCKET, args.duration)
    buckets = [0] * max(1, int(args.duration // width))
    for t in times:
        index = int((t - start) // width)
        if 0 <= index < len(buckets):
            buckets[index] += 1
    created = {key: at for key, _, _, at, _ in rows}
    lag = [(t - created[key]) * 1000 for t, key in arrivals if key in created]
    offered = sum(r["recipients"] for r in records)
    return {
        "offered": offered,
        "offered_per_s": round(offered / args.duration, 1),
        "sustained_per_s": round(in_window / args.duration, 1),
        "buckets_per_s": [round(n / width, 1) for n in buckets],
        "overall_per_s": round(len(times) / max(times[-1] - start, 1e-9), 1),
        "lag_ms": percentiles(lag),
    }


def markdown(result: dict) -> str:
    s, channel = result["settings"], result["channel"]
    target = TARGETS[channel]
    buckets = result["buckets_per_s"]
    met = (
        result["sustained_per_s"] >= target
        and result["lost"] == result["duplicates"] == result["unplanned"] == 0
        and result.get("verify_failures", 0) == 0
        and s["duration"] >= 60
    )
    unit = "emails" if channel == "email" else "webhooks"
    lines = [
        f"# Load: deliver ({channel})",
        "",
        f"{result['date']}, {result['machine']['cpus']} cores, `celery worker --pool "
        f"{s['worker_pool']} -c {s['worker_processes']}`, Redis broker, PostgreSQL "
        f"`{s['db_name']}`, "
        f"{'an SMTP server (aiosmtpd)' if channel == 'email' else 'an HTTP server'} on "
        f"loopback. `notify()` to {s['chunk']} of {s['users']:,} users per call, "
        f"{result['offered_per_s']} {unit}/s offered for {s['duration']:g} s.",
        "",
        "| figure | value |",
        "|---|---:|",
        f"| sustained rate over the {s['duration']:g} s (target ≥ {target:g}/s) | "
        f"**{result['sustained_per_s']}/s** |",
        f"| slowest / fastest {BUCKET} s of the window | "
        f"{min(buckets, default=0)}/s / {max(buckets, default=0)}/s |",
        f"| deliveries planned / received | {result['deliveries']:,} / {result['received']:,} |",
        f"| lost / duplicated / unplanned | {result['lost']} / {result['duplicates']} / "
        f"{result['unplanned']} |",
    ]
    if channel == "webhook":
        lines.append(
            f"| verified with `standardwebhooks` | {result['verified']:,} of "
            f"{result['received']:,} |"
        )
    lag = result["lag_ms"]
    lines += [
        f"| row created → received, p50 / p95 / p99 / max | {lag['p50']} / {lag['p95']} / "
        f"{lag['p99']} / {lag['max']} ms |",
        f"| backlog drained after the last call | {result['drain_seconds']} s |",
        f"| `notify()` call, p50 / p95 | {result['feeder']['call_ms']['p50']} / "
        f"{result['feeder']['call_ms']['p95']} ms |",
        "",
        f"- target: ≥ {target:g} {unit}/s sustained for 60 s, none lost, none duplicated"
        f"{', every one verified' if channel == 'webhook' else ''}: "
        f"**{'met' if met else 'missed'}**",
        f"- rows by status: {result['statuses']}; attempts: {result['attempts']}",
        f"- CPU seconds: worker {result['cpu_seconds']['worker']}, feeder "
        f"{result['feeder']['cpu_seconds']} (over {result['fed_seconds']} s of feeding and "
        f"{result['drain_seconds']} s of draining on {result['machine']['cpus']} cores)",
        f"- load average (1, 5, 15 min): start {result['loadavg']['start']}, end "
        f"{result['loadavg']['end']}",
        f"- rate per {BUCKET} s: {buckets}",
    ]
    if result["errors"]:
        lines.append("- first errors: " + "; ".join(result["errors"][:5]))
    return "\n".join(lines) + "\n"


def main(args) -> int:
    result = run_deliver(args)
    result = {
        **result,
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "settings": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
    }
    args.out.mkdir(parents=True, exist_ok=True)
    name = f"load-deliver-{args.channel}{'-smoke' if args.smoke else ''}{args.label}"
    (args.out / f"{name}.json").write_text(json.dumps(result, indent=1) + "\n")
    (args.out / f"{name}.md").write_text(markdown(result))
    print(markdown(result))
    return 0
