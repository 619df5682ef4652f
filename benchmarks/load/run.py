#!/usr/bin/env python3
"""Load benchmarks against a real server: many SSE stream clients, many polling bells,
and sustained delivery through a real Celery worker.

    python benchmarks/load/run.py stream --clients 500 [--duration 30]
    python benchmarks/load/run.py poll --clients 200 --duration 60 [--tool locust|asyncio]
    python benchmarks/load/run.py deliver --channel email|webhook [--duration 60]
    python benchmarks/load/run.py stream --smoke        # 5 clients, 3 s (what CI runs)

The delivery scenario is described in ``deliver.py``; the stream and poll runs here.

Each run

1. builds (or reuses, when its stamp matches) a PostgreSQL database with users, their
   feeds, broadcasts and a logged-in session per user (``build.py``, set-based SQL);
2. starts uvicorn with ``--workers N`` (default 2, one per core) on the package's URLs
   (``load_settings.py``: DEBUG off, database sessions, Redis pub/sub for real time);
3. runs the load generator in its own process: ``stream_clients.py`` (asyncio + httpx,
   one SSE connection per user) while ``sender.py`` commits notifications through the
   package's API from another process; or locust (``locustfile.py``, headless) or
   ``poll_clients.py`` for the bells;
4. writes ``<out>/load-<scenario>.json`` (every figure, the settings, CPU time of the
   server, of the generator and of the sender, load averages) and ``.md``.

Everything runs on this machine: the server, PostgreSQL, Redis and the generator share
its cores, and the report says how much CPU each used. Exit status 0 when the run
completed (targets missed or not), 1 when it could not run.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import os
import platform
import socket
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
TARGETS = {"stream": ("p95", 500.0), "poll": ("p99", 50.0)}


def log(message: str) -> None:
    print(f"[load {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def percentiles(values: list[float]) -> dict:
    """Nearest-rank p50/p95/p99 and the max, in ms (``None`` for no sample)."""
    if not values:
        return {"n": 0, "p50": None, "p95": None, "p99": None, "max": None, "mean": None}
    ordered = sorted(values)

    def rank(q: float) -> float:
        return round(ordered[max(0, math.ceil(q * len(ordered)) - 1)], 2)

    return {
        "n": len(ordered),
        "p50": rank(0.50),
        "p95": rank(0.95),
        "p99": rank(0.99),
        "max": round(ordered[-1], 2),
        "mean": round(sum(ordered) / len(ordered), 2),
    }


def pg_dsn(db_name: str) -> dict:
    return {
        "dbname": db_name,
        "host": os.environ.get("NOTIFY_PG_HOST", "127.0.0.1"),
        "port": os.environ.get("NOTIFY_PG_PORT", "5432"),
        "user": os.environ.get("NOTIFY_PG_USER", "postgres"),
    }


def django_env(args) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("DJANGO_SETTINGS_MODULE", "PYTHONPATH")}
    return {
        **env,
        "DJANGO_SETTINGS_MODULE": "load_settings",
        "PYTHONPATH": os.pathsep.join([str(HERE), str(REPO / "example_project")]),
        "LOAD_DB_NAME": args.db_name,
        "LOAD_REDIS_URL": args.redis_url,
        "LOAD_CHANNEL_PREFIX": f"notify_load_{os.getpid()}",
        "LOAD_CONN_MAX_AGE": str(args.conn_max_age),
        "LOAD_POOL": str(args.pool),
        "LOAD_PREPARE": "1" if args.prepare else "0",
        "LOAD_SESSIONS": args.sessions,
        "PYTHONUNBUFFERED": "1",
    }


def build(args, env: dict) -> dict:
    log(f"preparing database {args.db_name} ({args.size})")
    # No pool for the build: a rebuild drops the database WITH (FORCE), which would
    # terminate the pool's idle connections under the build's own feet.
    proc = subprocess.run(
        [sys.executable, str(HERE / "build.py"), args.size],
        cwd=HERE,
        env={**env, "LOAD_POOL": "0"},
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        raise SystemExit(f"build.py failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def load_clients(args) -> list[dict]:
    import psycopg

    with psycopg.connect(**pg_dsn(args.db_name)) as conn:
        rows = conn.execute(
            "SELECT user_id, session_key, organization_id, team_id FROM load_client ORDER BY idx"
        ).fetchall()
    return [
        dict(zip(("user_id", "session_key", "organization_id", "team_id"), row, strict=True))
        for row in rows
    ]


# --- the server ------------------------------------------------------------------------------


class Server:
    """uvicorn with N worker processes on a free loopback port."""

    def __init__(self, args, env: dict, log_dir: Path) -> None:
        self.args, self.env = args, env
        self.log_path = log_dir / "uvicorn.log"
        self.proc: subprocess.Popen | None = None

    def start(self) -> Server:
        import httpx

        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        cmd = self.gunicorn() if self.args.server == "gunicorn" else self.uvicorn()
        with open(self.log_path, "wb") as handle:
            self.proc = subprocess.Popen(
                cmd,
                cwd=HERE,
                env=self.env,
                stdout=handle,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit(f"the server exited:\n{self.log_path.read_text()[-3000:]}")
            try:
                httpx.get(self.url("/notifications/api/notifications/unread-count/"), timeout=2)
                return self
            except httpx.TransportError:
                time.sleep(0.1)
        self.stop()
        raise SystemExit("the server did not answer within 60 s")

    def gunicorn(self) -> list[str]:
        """WSGI, a fixed pool of threads per process: no thread created per request and
        no hand-off between an event loop and a thread (the stream needs ASGI)."""
        return [
            sys.executable,
            "-m",
            "gunicorn",
            "load_wsgi:application",
            "--bind",
            f"127.0.0.1:{self.port}",
            "--workers",
            str(self.args.workers),
            "--worker-class",
            "gthread",
            "--threads",
            str(self.args.threads),
            "--backlog",
            "2048",
            "--log-level",
            "warning",
            "--graceful-timeout",
            "2",
        ]

    def uvicorn(self) -> list[str]:
        return [
            sys.executable,
            "-m",
            "uvicorn",
            "load_asgi:application",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--workers",
            str(self.args.workers),
            "--lifespan",
            "off",
            "--no-access-log",
            "--log-level",
            "warning",
            "--timeout-graceful-shutdown",
            "2",
            "--backlog",
            "2048",
            "--http",
            self.args.http,
            "--loop",
            self.args.loop,
        ]

    def url(self, path: str = "") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def warm(self, sessions: list[str]) -> None:
        """A few authenticated requests, so that every worker has imported its views and
        opened what it opens lazily before anything is timed."""
        import httpx

        with httpx.Client(timeout=30) as client:
            for i in range(max(8, 4 * self.args.workers)):
                headers = {"Cookie": f"sessionid={sessions[i % len(sessions)]}"}
                for path in ("unread-count/", ""):
                    client.get(
                        self.url(f"/notifications/api/notifications/{path}"), headers=headers
                    )

    def cpu_seconds(self) -> float:
        import psutil

        try:
            root = psutil.Process(self.proc.pid)
            total = 0.0
            for proc in [root, *root.children(recursive=True)]:
                times = proc.cpu_times()
                total += times.user + times.system
            return total
        except psutil.Error:
            return float("nan")

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        os.killpg(self.proc.pid, 15)
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, 9)
            self.proc.wait(10)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-5000:]


def proc_cpu(pid: int) -> float:
    import psutil

    try:
        root = psutil.Process(pid)
        return sum(
            p.cpu_times().user + p.cpu_times().system
            for p in [root, *root.children(recursive=True)]
        )
    except psutil.Error:
        return float("nan")


def machine() -> dict:
    found = {name: importlib.util.find_spec(name) is not None for name in ("uvloop", "httptools")}
    return {
        "uvicorn_extras": found,
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "loadavg_before": [round(x, 2) for x in os.getloadavg()],
    }


# --- stream ----------------------------------------------------------------------------------


def run_stream(args, env, server: Server, clients: list[dict], tmp: Path) -> dict:
    chosen = clients[: args.clients]
    spec = {
        "url": server.url(),
        "clients": chosen,
        "ramp": args.ramp,
        "out": str(tmp / "streams.json"),
    }
    (tmp / "streams-spec.json").write_text(json.dumps(spec))
    log(f"opening {len(chosen)} streams ({args.ramp}/s)")
    t_connect = time.monotonic()
    gen = subprocess.Popen(
        [sys.executable, str(HERE / "stream_clients.py"), str(tmp / "streams-spec.json")],
        cwd=HERE,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    line = gen.stdout.readline().strip()
    connect_seconds = time.monotonic() - t_connect
    ready = int(line.split()[1]) if line.startswith("READY") else 0
    log(
        f"{ready} of {len(chosen)} streams open after {connect_seconds:.1f} s; sending for "
        f"{args.duration} s"
    )
    send_spec = {
        "duration": args.duration,
        "rate": args.rate,
        "team_every": args.team_every,
        "org_every": args.org_every,
        "system_every": args.system_every,
        "clients": chosen,
        "out": str(tmp / "sent.json"),
    }
    (tmp / "send-spec.json").write_text(json.dumps(send_spec))
    cpu0 = {"server": server.cpu_seconds(), "generator": proc_cpu(gen.pid)}
    load0, t0 = os.getloadavg(), time.monotonic()
    sender = subprocess.Popen(
        [sys.executable, str(HERE / "sender.py"), str(tmp / "send-spec.json")],
        cwd=HERE,
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    done = sender.stdout.readline().strip()
    time.sleep(args.drain)  # the last messages reach their streams
    elapsed = time.monotonic() - t0
    cpu = {
        "server": server.cpu_seconds() - cpu0["server"],
        "generator": proc_cpu(gen.pid) - cpu0["generator"],
    }
    load1 = os.getloadavg()
    gen.stdin.write("stop\n")
    gen.stdin.flush()
    gen.wait(60)
    sender.stdin.write("clean\n")
    sender.stdin.flush()
    sender.wait(120)
    if done != "DONE":
        raise SystemExit("sender.py failed (see its output above)")
    streams = json.loads((tmp / "streams.json").read_text())
    sent = json.loads((tmp / "sent.json").read_text())
    return analyse_stream(
        args,
        chosen,
        streams,
        sent,
        {
            "connect_seconds": round(connect_seconds, 2),
            "window_seconds": round(elapsed, 2),
            "cpu_seconds": {
                **{k: round(v, 2) for k, v in cpu.items()},
                "sender": sent["cpu_seconds"],
            },
            "loadavg": {"start": [round(x, 2) for x in load0], "end": [round(x, 2) for x in load1]},
        },
    )


def analyse_stream(args, chosen, streams, sent, extra) -> dict:
    arrivals: dict[tuple[int, int], float] = {}
    duplicates = 0
    for user_id, nid, at in streams["arrivals"]:
        if (user_id, nid) in arrivals:
            duplicates += 1
        else:
            arrivals[(user_id, nid)] = at
    members = {
        "direct": lambda c, key: c["user_id"] == key,
        "team": lambda c, key: c["team_id"] == key,
        "organization": lambda c, key: c["organization_id"] == key,
        "system": lambda c, key: True,
    }
    by_kind: dict[str, list[float]] = {k: [] for k in members}
    missing = {k: 0 for k in members}
    counts = {k: 0 for k in members}
    for record in sent["records"]:
        counts[record["kind"]] += 1
        for client in chosen:
            if not members[record["kind"]](client, record["key"]):
                continue
            at = arrivals.get((client["user_id"], record["id"]))
            if at is None:
                missing[record["kind"]] += 1
            else:
                by_kind[record["kind"]].append((at - record["commit"]) * 1000)
    everything = [x for values in by_kind.values() for x in values]
    delivered = len(everything)
    window = extra["window_seconds"]
    return {
        "scenario": "stream",
        "clients": len(chosen),
        "ready": streams["ready"],
        "connect_ms": percentiles(streams["connect_ms"]),
        "latency_ms": percentiles(everything),
        "latency_ms_by_kind": {k: percentiles(v) for k, v in by_kind.items()},
        "notifications_committed": counts,
        "deliveries": delivered,
        "deliveries_per_second": round(delivered / window, 1) if window else None,
        "missing": missing,
        "duplicates": duplicates,
        "errors": streams["errors"][:50] + sent["errors"][:50],
        "error_count": len(streams["errors"]) + len(sent["errors"]) + sum(missing.values()),
        "send_ms": percentiles([r["send_ms"] for r in sent["records"]]),
        "sender_late_ms": percentiles([max(r["late_ms"], 0) for r in sent["records"]]),
        "generator_max_rss_mb": streams["max_rss_mb"],
        **extra,
    }


# --- poll ------------------------------------------------------------------------------------


def run_poll(args, env, server: Server, clients: list[dict], tmp: Path) -> dict:
    # The bells are other users than the streams' first ones: distinct users either way.
    sessions = [c["session_key"] for c in clients[-args.clients :]]
    (tmp / "sessions.json").write_text(json.dumps(sessions))
    cpu0 = server.cpu_seconds()
    load0, t0 = os.getloadavg(), time.monotonic()
    if args.tool == "locust":
        prefix = tmp / "locust"
        cmd = [
            sys.executable,
            "-m",
            "locust",
            "-f",
            str(HERE / "locustfile.py"),
            "--headless",
            "-u",
            str(args.clients),
            "-r",
            str(args.ramp),
            "-t",
            f"{round(args.duration)}s",
            "--host",
            server.url(),
            "--csv",
            str(prefix),
            "--only-summary",
            "--loglevel",
            "WARNING",
            "--stop-timeout",
            "10",
        ]
        lenv = {
            **os.environ,
            "LOAD_SESSIONS": str(tmp / "sessions.json"),
            "LOAD_INTERVAL": str(args.interval),
        }
        gen = subprocess.Popen(
            cmd, cwd=HERE, env=lenv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
    else:
        spec = {
            "url": server.url(),
            "sessions": sessions,
            "clients": args.clients,
            "duration": args.duration,
            "interval": args.interval,
            "ramp": args.ramp,
            "out": str(tmp / "poll.json"),
        }
        (tmp / "poll-spec.json").write_text(json.dumps(spec))
        gen = subprocess.Popen(
            [sys.executable, str(HERE / "poll_clients.py"), str(tmp / "poll-spec.json")], cwd=HERE
        )
    import psutil

    gen_cpu = 0.0
    handle = psutil.Process(gen.pid)
    while gen.poll() is None:
        try:
            times = handle.cpu_times()
            gen_cpu = times.user + times.system
        except psutil.Error:
            pass
        time.sleep(0.5)
    output = gen.stdout.read() if gen.stdout else ""
    elapsed = time.monotonic() - t0
    server_cpu = server.cpu_seconds() - cpu0
    load1 = os.getloadavg()
    extra = {
        "window_seconds": round(elapsed, 2),
        "cpu_seconds": {"server": round(server_cpu, 2), "generator": round(gen_cpu, 2)},
        "loadavg": {"start": [round(x, 2) for x in load0], "end": [round(x, 2) for x in load1]},
        "tool": args.tool,
        "interval_s": args.interval,
    }
    if args.tool == "locust":
        result = locust_result(tmp / "locust_stats.csv", output)
    else:
        data = json.loads((tmp / "poll.json").read_text())
        extra["cpu_seconds"]["generator"] = data["cpu_seconds"]
        result = {
            "latency_ms": percentiles([x for v in data["samples_ms"].values() for x in v]),
            "latency_ms_by_request": {k: percentiles(v) for k, v in data["samples_ms"].items()},
            "requests": sum(len(v) for v in data["samples_ms"].values()),
            "errors": data["errors"][:50],
            "error_count": len(data["errors"]),
        }
        result["requests_per_second"] = round(result["requests"] / data["seconds"], 1)
    return {"scenario": "poll", "clients": args.clients, **result, **extra}


def locust_result(path: Path, output: str) -> dict:
    import csv

    if not path.exists():
        raise SystemExit(f"locust wrote no statistics:\n{output[-3000:]}")
    rows = {row["Name"]: row for row in csv.DictReader(path.open())}

    def figures(row: dict) -> dict:
        def num(key):
            value = row.get(key, "")
            return float(value) if value not in ("", "N/A") else None

        return {
            "n": int(row["Request Count"]),
            "p50": num("50%"),
            "p95": num("95%"),
            "p99": num("99%"),
            "max": num("Max Response Time"),
            "mean": num("Average Response Time"),
        }

    total = rows["Aggregated"]
    failures_path = path.with_name("locust_failures.csv")
    failures = list(csv.DictReader(failures_path.open())) if failures_path.exists() else []
    return {
        "latency_ms": figures(total),
        "latency_ms_by_request": {n: figures(r) for n, r in rows.items() if n != "Aggregated"},
        "requests": int(total["Request Count"]),
        "requests_per_second": round(float(total["Requests/s"]), 1),
        "errors": [f"{f['Name']}: {f['Error']} ×{f['Occurrences']}" for f in failures][:50],
        "error_count": int(total["Failure Count"]),
        "note": "locust rounds response times above 100 ms to 2 significant digits",
    }


# --- reporting -------------------------------------------------------------------------------


def server(s: dict, result: dict) -> str:
    if s.get("server") == "gunicorn":
        return f"gunicorn --workers {s['workers']} --worker-class gthread --threads {s['threads']}"
    return (
        f"uvicorn --workers {s['workers']} (loop {s['loop']}, http {s['http']}; installed: "
        f"{result['machine']['uvicorn_extras']})"
    )


def markdown(result: dict) -> str:
    s = result["settings"]
    lines = [
        f"# Load: {result['scenario']} ({s['clients']} clients)",
        "",
        f"{result['date']}, {result['machine']['cpus']} cores, {server(s, result)}, "
        f"PostgreSQL `{s['db_name']}` ({s['size']}; "
        f"pool {s['pool'] or 'off'} per process, prepared statements "
        f"{'on' if s['prepare'] else 'off'}, sessions {s['sessions']}), Redis pub/sub.",
        "",
    ]
    metric, target = TARGETS[result["scenario"]]
    lat = result["latency_ms"]
    met = lat[metric] is not None and lat[metric] <= target and result["error_count"] == 0
    lines += [
        "| figure | n | p50 ms | p95 ms | p99 ms | max ms |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    rows = [("all", lat)]
    key = "latency_ms_by_kind" if result["scenario"] == "stream" else "latency_ms_by_request"
    rows += [(name, figures) for name, figures in result[key].items() if figures["n"]]
    if result["scenario"] == "stream":
        rows += [("connect (to first `count` event)", result["connect_ms"])]
    for name, f in rows:
        lines.append(f"| {name} | {f['n']:,} | {f['p50']} | {f['p95']} | {f['p99']} | {f['max']} |")
    cpu = result["cpu_seconds"]
    lines += [
        "",
        f"- target: {metric} ≤ {target:g} ms, zero errors: "
        f"**{'met' if met else 'missed'}** ({metric} {lat[metric]} ms, "
        f"{result['error_count']} errors)",
    ]
    if result["scenario"] == "stream":
        lines += [
            f"- {result['ready']} of {result['clients']} streams open in "
            f"{result['connect_seconds']} s; {result['deliveries']:,} deliveries in "
            f"{result['window_seconds']} s ({result['deliveries_per_second']}/s); "
            f"notifications committed: {result['notifications_committed']}; missing "
            f"{result['missing']}, duplicates {result['duplicates']}",
            f"- `send` calls (sender process): {result['send_ms']}",
        ]
    else:
        lines += [
            f"- {result['requests']:,} requests in {result['window_seconds']} s "
            f"({result['requests_per_second']}/s) with {result['tool']}, one poll "
            f"(count + first page) per client every {result['interval_s']} s ±20 %"
        ]
    lines += [
        f"- CPU seconds in the window: {cpu} (over {result['window_seconds']} s on "
        f"{result['machine']['cpus']} cores)",
        f"- load average (1, 5, 15 min): start {result['loadavg']['start']}, end "
        f"{result['loadavg']['end']}",
    ]
    if result.get("errors"):
        lines += ["- first errors: " + "; ".join(result["errors"][:5])]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("scenario", choices=("stream", "poll", "deliver"))
    parser.add_argument("--clients", type=int)
    parser.add_argument("--duration", type=float, help="seconds (stream: of sending)")
    parser.add_argument("--workers", type=int, default=2, help="server worker processes")
    parser.add_argument(
        "--server",
        choices=("uvicorn", "gunicorn"),
        default="uvicorn",
        help="poll: uvicorn (ASGI) or gunicorn's gthread workers (WSGI)",
    )
    parser.add_argument("--threads", type=int, default=8, help="gunicorn: threads per worker")
    parser.add_argument("--size", choices=("full", "smoke"))
    parser.add_argument("--smoke", action="store_true", help="5 clients, 3 s, the smoke dataset")
    parser.add_argument("--db-name", help="default notify_load_<size>")
    parser.add_argument(
        "--redis-url", default=os.environ.get("NOTIFY_REDIS_URL", "redis://127.0.0.1:6379/0")
    )
    parser.add_argument("--conn-max-age", type=int, default=0)
    parser.add_argument(
        "--pool",
        type=int,
        default=16,
        help="connection pool size per process (0: none, Django's default)",
    )
    parser.add_argument(
        "--prepare",
        action="store_true",
        help="server-side binding with prepared statements (psycopg)",
    )
    parser.add_argument(
        "--sessions",
        choices=("db", "cached_db"),
        default="db",
        help="session engine: Django's default, or cached in Redis",
    )
    parser.add_argument(
        "--http",
        choices=("h11", "httptools", "auto"),
        default="auto",
        help="uvicorn's HTTP parser (auto: httptools when installed)",
    )
    parser.add_argument(
        "--loop",
        choices=("asyncio", "uvloop", "auto"),
        default="auto",
        help="uvicorn's event loop (auto: uvloop when installed)",
    )
    parser.add_argument("--ramp", type=float, default=50, help="new clients per second")
    parser.add_argument("--tool", choices=("locust", "asyncio"), default="locust")
    parser.add_argument("--interval", type=float, default=5.0, help="poll: seconds per poll")
    parser.add_argument("--rate", type=float, default=20.0, help="stream: direct sends per second")
    parser.add_argument("--team-every", type=float, default=2.0)
    parser.add_argument("--org-every", type=float, default=5.0)
    parser.add_argument("--system-every", type=float, default=10.0)
    parser.add_argument("--drain", type=float, default=3.0, help="stream: wait after the last send")
    parser.add_argument("--channel", choices=("email", "webhook"), default="email",
                        help="deliver: what the worker sends")  # fmt: skip
    parser.add_argument("--offer", type=float,
                        help="deliver: deliveries a second (1.25 × target)")  # fmt: skip
    parser.add_argument("--chunk", type=int, default=50, help="deliver: recipients per notify()")
    parser.add_argument("--users", type=int, default=1000, help="deliver: users created")
    parser.add_argument("--worker-pool", default="prefork", help="deliver: celery --pool")
    parser.add_argument("--worker-processes", type=int, default=2, help="deliver: celery -c")
    parser.add_argument("--drain-max", type=float, default=180.0,
                        help="deliver: seconds to wait for the backlog after feeding")  # fmt: skip
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results")
    parser.add_argument("--label", default="", help="appended to the result file names")
    args = parser.parse_args(argv)
    if args.smoke:
        args.size = args.size or "smoke"
        args.clients = args.clients or 5
        args.duration = args.duration or 3
        args.drain = min(args.drain, 1.5)
    if args.scenario == "deliver":
        from deliver import TARGETS
        from deliver import main as deliver

        if args.smoke:
            args.users, args.chunk = min(args.users, 50), min(args.chunk, 10)
            args.offer = args.offer or 30.0
            args.drain_max = min(args.drain_max, 60.0)
        args.duration = args.duration or 60.0
        args.offer = args.offer or 1.25 * TARGETS[args.channel]
        args.db_name = args.db_name or f"notify_load_deliver{'_smoke' if args.smoke else ''}"
        return deliver(args)
    args.size = args.size or "full"
    if args.scenario == "stream" and args.server == "gunicorn":
        parser.error("the stream needs an ASGI server: --server gunicorn is for poll")
    args.clients = args.clients or (500 if args.scenario == "stream" else 200)
    args.duration = args.duration or (30 if args.scenario == "stream" else 60)
    args.db_name = args.db_name or f"notify_load_{args.size}"
    if args.scenario == "poll" and args.tool == "locust" and not importlib.util.find_spec("locust"):
        raise SystemExit("locust is not installed: pip install locust, or pass --tool asyncio")

    env = django_env(args)
    built = build(args, env)
    clients = load_clients(args)
    if len(clients) < args.clients:
        raise SystemExit(f"the {args.size} dataset has {len(clients)} users; pass --size full")
    with tempfile.TemporaryDirectory(prefix="notify-load-") as tmp_name:
        tmp = Path(tmp_name)
        server = Server(args, env, tmp)
        info = machine()
        server.start()
        try:
            server.warm([c["session_key"] for c in clients])
            runner = run_stream if args.scenario == "stream" else run_poll
            result = runner(args, env, server, clients, tmp)
        finally:
            server.stop()
            server_log = server.log()
    result = {
        **result,
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": info,
        "settings": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "dataset": built,
        "server_log_tail": server_log[-2000:],
    }
    args.out.mkdir(parents=True, exist_ok=True)
    name = f"load-{args.scenario}{'-smoke' if args.smoke else ''}{args.label}"
    (args.out / f"{name}.json").write_text(json.dumps(result, indent=1) + "\n")
    (args.out / f"{name}.md").write_text(markdown(result))
    print(markdown(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
