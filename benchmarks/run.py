#!/usr/bin/env python3
"""django-notify versus django-notifications-hq 1.8.3 ("DN"), side by side.

    python3 benchmarks/run.py [--size small|full] [--db sqlite,postgres] [--rounds 2]
                              [--write-docs] [--out DIR] [--no-million] [--no-event]
                              [--python PATH]

Standard library only. It

1. creates (or refreshes, when their pins change) two virtualenvs with Python 3.12:
   benchmarks/.venv-notify (this repository, editable, on Django 6.1) and
   benchmarks/.venv-dn (django-notifications-hq 1.8.3 from PyPI, on Django 4.2);
2. prepares the datasets: each worker migrates its database and rebuilds the data when the
   migrations, the builder or the dataset definition changed (PostgreSQL databases
   bench_<side>_<size>, SQLite files under benchmarks/.data/; with --size full on
   PostgreSQL also django-notify's 1,000,000-row bench_notify_million, and on PostgreSQL
   the large-event audience bench_notify_event_<size>: 2,000 or 100,000 subscribers);
3. measures interleaved: per round, per database, django-notify's worker then DN's (then
   the million-row figures), each a subprocess printing JSON; medians over every
   repetition of every round;
4. writes <out>/<size>.json (raw figures, versions, machine) and <out>/<size>.md, plus
   EXPLAIN (ANALYZE, BUFFERS) plans of the main queries under <out>/plans/ (PostgreSQL);
5. with --write-docs, replaces the block between <!-- benchmark:start --> and
   <!-- benchmark:end --> in docs/performance.md with the tables.

Exit status: 0 when every worker ran (a figure whose operation raised is recorded with its
error and does not change the status), 1 when a worker failed, 2 for bad usage.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import fcntl
import glob
import json
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import textwrap
import time
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT))

import benchlib  # noqa: E402  (standard library only until a worker sets Django up)

REPO = ROOT.parent
DATA = ROOT / ".data"
DOCS = REPO / "docs" / "performance.md"
START, END = "<!-- benchmark:start -->", "<!-- benchmark:end -->"

PINS = {
    "notify": ["-e", f"{REPO}[postgres]", "Django>=6.1,<6.2"],
    # DN 1.8.3 imports distutils (gone in Python 3.12): setuptools provides it.
    "dn": [
        "django-notifications-hq==1.8.3",
        "Django>=4.2,<4.3",
        "setuptools",
        "psycopg[binary]>=3.1",
    ],
}
LABELS = {"notify": "django-notify", "dn": "DN"}
DB_LABELS = {"postgres": "PostgreSQL", "sqlite": "SQLite"}
FIGURES = {
    "unread_count": "unread count",
    "feed_rows": "feed page of 20, rows only",
    "feed_related": "feed page of 20 with actor and target",
    "unread_count_view": "GET unread-count view (session auth)",
    "unread_list_view": "GET unread-list view, 10 items",
    "mark_all_read": "mark all read ({heavy_unread:,} rows)",
}
#: The write figures: a row each, with DN, django-notify and (fan-out only) the floor.
WRITE_FIGURES = {
    "fanout_notify": "fan-out to {fanout:,} users",
    "fanout_notify_atomic": "the same inside `transaction.atomic()`",
    "fanout_emit": "`emit()` to {fanout:,} subscribers, processed",
}
#: The floor of a write figure: django-notify's table filled by the database alone.
FLOORS = {"fanout_notify": "fanout_floor"}
#: Figures only one side measures (DN has no events; the floor is SQL on django-notify's table).
ONE_SIDE = {"fanout_emit": "notify", "fanout_floor": "notify"}
MILLION_FIGURES = {
    "million_unread_count": "unread count (target user)",
    "million_feed_first_page": "feed, first page of 20 with actor and target",
    "million_feed_deep_page": "feed, page after row 2,000 (keyset cursor)",
    "million_unread_page": "unread feed, first page of 20",
    "million_unread_list_view": "GET unread-list view, 10 items",
    "million_mark_all_read": "mark all read (10,000 direct + 1,000 broadcasts)",
}
EVENT_FIGURES = {
    "event_audience": "`emit()` to {subscriptions:,} subscribers (in-app and email), processed",
    "event_floor": "floor: the same rows and email deliveries written by one statement from "
    "the subscriptions, nothing decided",
}


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


@contextlib.contextmanager
def locked(name: str):
    """Serialize concurrent runs (a CI run next to a local one) on one lock file."""
    DATA.mkdir(parents=True, exist_ok=True)
    with open(DATA / f"{name}.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


# --- interpreters and virtualenvs ------------------------------------------------------------


def _version(python: str) -> str | None:
    try:
        out = subprocess.run(
            [python, "-c", "import sys; print('%d.%d.%d' % sys.version_info[:3])"],
            capture_output=True,
            text=True,
            timeout=30,
        )
    except OSError:
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def find_python(explicit: str | None) -> str:
    """A Python 3.12: --python, $BENCH_PYTHON, this interpreter, python3.12 on PATH, pyenv."""
    pyenv = os.environ.get("PYENV_ROOT", os.path.expanduser("~/.pyenv"))
    candidates = [explicit, os.environ.get("BENCH_PYTHON"), sys.executable, "python3.12"]
    candidates += sorted(glob.glob(f"{pyenv}/versions/3.12.*/bin/python3.12"), reverse=True)
    for candidate in filter(None, candidates):
        path = shutil.which(candidate) or candidate
        version = _version(path)
        if version and version.startswith("3.12."):
            return path
        if candidate == explicit:
            raise SystemExit(f"--python {explicit} is not a Python 3.12 ({version or 'no answer'})")
    raise SystemExit("no Python 3.12 found: pass --python /path/to/python3.12")


def _pins_stamp(side: str, python: str) -> dict:
    stamp = {"python": _version(python), "pins": PINS[side]}
    if side == "notify":
        # An editable install follows src/ by itself; new dependencies need a reinstall.
        project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
        stamp["requires"] = {
            "dependencies": project.get("dependencies", []),
            "postgres": project.get("optional-dependencies", {}).get("postgres", []),
        }
    return stamp


def ensure_venv(side: str, python: str) -> Path:
    venv = ROOT / f".venv-{side}"
    venv_python = venv / "bin" / "python"
    stamp_file = venv / "bench-stamp.json"
    wanted = _pins_stamp(side, python)
    with locked("venvs"):
        try:
            current = json.loads(stamp_file.read_text())
        except (OSError, ValueError):
            current = None
        if current == wanted and _version(str(venv_python)):
            return venv_python
        log(f"creating {venv.name} with Python {wanted['python']}: {' '.join(PINS[side])}")
        shutil.rmtree(venv, ignore_errors=True)
        pip = [str(venv_python), "-m", "pip", "install", "--disable-pip-version-check"]
        for cmd in ([python, "-m", "venv", str(venv)], [*pip, *PINS[side]]):
            proc = subprocess.run(cmd, capture_output=True, text=True)
            if proc.returncode != 0:
                output = (proc.stdout + proc.stderr).strip().splitlines()
                raise SystemExit(f"{' '.join(cmd)} failed:\n" + "\n".join(output[-30:]))
        stamp_file.write_text(json.dumps(wanted, indent=2) + "\n")
    return venv_python


# --- workers ---------------------------------------------------------------------------------


class WorkerFailed(Exception):
    pass


def worker(python: Path, side: str, command: str, db: str, size: str, dataset: str = "main",
           args: tuple = (), timeout: int = 3600) -> dict:  # fmt: skip
    env = dict(os.environ, BENCH_DB=db, BENCH_SIZE=size, BENCH_DATASET=dataset)
    # Never inherit a Django setup from the caller (pytest-django exports tests.settings).
    for name in ("DJANGO_SETTINGS_MODULE", "PYTHONPATH", "BENCH_DB_NAME"):
        env.pop(name, None)
    cmd = [str(python), "-m", f"{side}_side.measure", command, *args]
    try:
        proc = subprocess.run(
            cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout
        )
    except subprocess.TimeoutExpired as exc:
        raise WorkerFailed(f"{side} {command} on {db}: timed out after {timeout}s") from exc
    lines = proc.stdout.strip().splitlines()
    if proc.returncode != 0 or not lines:
        tail = "\n".join(proc.stderr.strip().splitlines()[-25:])
        raise WorkerFailed(f"{side} {command} on {db} exited {proc.returncode}:\n{tail}")
    try:
        return json.loads(lines[-1])
    except ValueError as exc:
        raise WorkerFailed(
            f"{side} {command} on {db}: no JSON on stdout: {lines[-1][:300]}"
        ) from exc


def pg_answers() -> bool:
    host = os.environ.get("NOTIFY_PG_HOST", "127.0.0.1")
    port = int(os.environ.get("NOTIFY_PG_PORT", "5432"))
    try:
        socket.create_connection((host, port), timeout=3).close()
    except OSError:
        return False
    return True


# --- aggregation -----------------------------------------------------------------------------


def _round_order(jobs: list[tuple[str, str, str]], round_no: int) -> list[tuple[str, str, str]]:
    """The jobs of one round: odd rounds measure django-notify before DN on each
    database, even rounds DN first, so a machine that speeds up or slows down during the
    run weighs on both packages alike."""
    if round_no % 2:
        return list(jobs)
    flipped = list(jobs)
    for i in range(len(flipped) - 1):
        (db, side, dataset), (db2, side2, dataset2) = flipped[i], flipped[i + 1]
        if (db, dataset, side, side2) == (db2, dataset2, "notify", "dn"):
            flipped[i], flipped[i + 1] = flipped[i + 1], flipped[i]
    return flipped


def _collect(store: dict, figures: dict, db: str, side: str) -> None:
    for name, record in figures.items():
        cell = store.setdefault(name, {}).setdefault(db, {}).setdefault(
            side, {"samples_ms": [], "round_medians_ms": [], "queries_per_round": [],
                   "results": [], "created": [], "errors": [], "peak_rss_mb": [],
                   "start_rss_mb": []}
        )  # fmt: skip
        if record.get("error"):
            cell["errors"].append(record["error"])
            continue
        cell["samples_ms"].extend(record["samples_ms"])
        cell["round_medians_ms"].append(record["median_ms"])
        cell["queries_per_round"].append(record["queries"])
        cell["results"].append(record.get("result"))
        if record.get("created") is not None:
            cell["created"].append(record["created"])
        for key in ("peak_rss_mb", "start_rss_mb"):
            if record.get(key) is not None:
                cell[key].append(record[key])


def _fail_all(store: dict, names, db: str, side: str, error: str) -> None:
    names = [name for name in names if ONE_SIDE.get(name, side) == side]
    _collect(store, {name: {"error": error} for name in names}, db, side)


def _finish(store: dict) -> dict:
    out = {}
    for name, by_db in store.items():
        out[name] = {}
        for db, by_side in by_db.items():
            out[name][db] = {}
            for side, cell in by_side.items():
                samples = cell["samples_ms"]
                queries = cell["queries_per_round"]
                out[name][db][side] = {
                    "median_ms": round(statistics.median(samples), 4) if samples else None,
                    # The count of one call; rounds agree unless the code changed mid-run.
                    "queries": max(set(queries), key=queries.count) if queries else None,
                    "queries_per_round": queries,
                    "repetitions": len(samples),
                    "round_medians_ms": cell["round_medians_ms"],
                    "result": cell["results"][0] if cell["results"] else None,
                    # Rows one call of a write figure created, by table (every call the
                    # same; each repetition's rows are deleted before the next).
                    "created": cell["created"][0] if cell["created"] else None,
                    "error": cell["errors"][0] if cell["errors"] else None,
                    # A worker's peak resident memory (figures that measure it): the
                    # highest over the rounds, and where the process started.
                    "peak_rss_mb": max(cell["peak_rss_mb"], default=None),
                    "start_rss_mb": max(cell["start_rss_mb"], default=None),
                    "errors": cell["errors"],
                    "samples_ms": samples,
                }
    return out


# --- Markdown --------------------------------------------------------------------------------


def _ms(value: float) -> str:
    if value >= 1000:
        return f"{value / 1000:.2f} s" if value < 10_000 else f"{value / 1000:.1f} s"
    if value < 10:
        return f"{value:.2f}"
    return f"{value:.1f}" if value < 100 else f"{value:.0f}"


def _cell(cell: dict | None) -> str:
    if not cell:
        return "–"
    if cell["median_ms"] is None:
        return "error¹"
    median = _ms(cell["median_ms"])
    text = f"{median}{'' if median.endswith(' s') else ' ms'} ({cell['queries']:,} q)"
    return text + ("¹" if cell["errors"] else "")


def _para(text: str) -> str:
    return textwrap.fill(text, width=88, break_long_words=False, break_on_hyphens=False)


def markdown(report: dict, heading: bool) -> str:
    dbs = report["databases"]
    sides = ["dn", "notify"]
    packages = report["packages"]
    spec = report["dataset"]
    reps = report["repetitions"]
    rounds = report["rounds"]
    lines = []
    if heading:
        lines += [f"# Benchmark: django-notify vs django-notifications-hq ({report['size']})", ""]
    versions = []
    for side in sides:
        info = packages.get(side) or {}
        if info:
            versions.append(
                f"{info['package']} {info['package_version']} "
                f"(Django {info['django']}, Python {info['python']})"
            )
    machine = report["machine"]
    engines = []
    if machine.get("postgresql"):
        engines.append(f"PostgreSQL {machine['postgresql']}")
    if machine.get("sqlite"):
        engines.append(f"SQLite {machine['sqlite']}")
    times = f"{rounds} rounds" if rounds > 1 else "1 round"
    lines.append(
        _para(
            f"Size `{report['size']}`: {spec['rows']:,} notifications over {spec['users']:,} "
            f"users; the measured user has {spec['heavy_rows']:,} of them, "
            f"{spec['heavy_unread']:,} unread. {times} × {reps['default']} repetitions "
            f"(mark all read: {rounds} × {reps['mark_all_read']}) after {reps['warmup']} "
            "warm-up calls, median in milliseconds, "
            f"(n q) = SQL queries of one call. {report['date'][:10]}, {machine['cores']} "
            f"cores, {', '.join(engines)}; {'; '.join(versions)}."
        )
    )
    lines.append("")
    header = ["figure"]
    for db in dbs:
        header += [f"{DB_LABELS[db]}: {LABELS[side]}" for side in sides]
    lines.append("| " + " | ".join(header) + " |")
    lines.append("|---" + "|---:" * (len(header) - 1) + "|")
    for name, label in FIGURES.items():
        row = [f"`{name}`: {label.format(**spec)}"]
        for db in dbs:
            for side in sides:
                row.append(_cell(report["figures"].get(name, {}).get(db, {}).get(side)))
        lines.append("| " + " | ".join(row) + " |")
    lines += _write_table(report)
    million = report.get("million_figures") or {}
    if million:
        counts = report.get("million_dataset") or {}
        lines += [
            "",
            _para(
                f"django-notify alone on PostgreSQL, {counts.get('notifications', 1_000_000):,} "
                f"rows ({counts.get('users', 0):,} users, {counts.get('organizations', 0)} "
                f"organizations, {counts.get('teams', 0):,} teams, {counts.get('receipts', 0):,} "
                "receipts; team, organization and system broadcasts). The target user sees about "
                "6,000 rows: 5,000 direct (2,500 unread) and 1,000 broadcasts of their 2 teams, "
                "their organization and the system (500 read through receipts). Mark all read "
                f"uses a second user; {rounds} × {reps['million_mark_all_read']} repetitions. "
                "Plans: `benchmarks/results/plans/`."
            ),
            "",
            "| figure | PostgreSQL: django-notify |",
            "|---|---:|",
        ]
        for name, label in MILLION_FIGURES.items():
            cell = million.get(name, {}).get("postgres", {}).get("notify")
            lines.append(f"| `{name}`: {label} | {_cell(cell)} |")
    lines += _event_table(report)
    errors = []
    for table in (report["figures"], million, report.get("event_figures") or {}):
        for name, by_db in table.items():
            for db, by_side in by_db.items():
                for side, cell in by_side.items():
                    if cell["errors"]:
                        errors.append(
                            f"{name}, {DB_LABELS[db]}, {LABELS[side]}: {cell['errors'][0]}"
                        )
    if errors:
        lines += ["", "¹ The operation raised (in at least one round):", ""]
        lines += [f"- {e[:300]}" for e in errors]
    return "\n".join(lines) + "\n"


def _created(report: dict, name: str, side: str) -> str:
    """What one call of a write figure created, from the first database that says."""
    for db in report["databases"]:
        created = (report["figures"].get(name, {}).get(db, {}).get(side) or {}).get("created")
        if created:
            order = ["events", "notifications", "deliveries"]
            parts = [
                f"{created[table]:,} {table if created[table] != 1 else table[:-1]}"
                for table in sorted(created, key=lambda t: order.index(t) if t in order else 9)
                if created[table]
            ]
            if not parts:
                return "nothing"
            return ", ".join(parts[:-1]) + (" and " if len(parts) > 1 else "") + parts[-1]
    return "?"


def _event_table(report: dict) -> list[str]:
    figures = report.get("event_figures") or {}
    if not figures:
        return []
    counts = report.get("event_dataset") or {}
    lines = [
        "",
        _para(
            f"One event for a large audience, django-notify alone on PostgreSQL: "
            f"{counts.get('subscriptions', 0):,} users with an email address in "
            f"{counts.get('organizations', 0)} organizations, all subscribed to the emitted "
            "type (on in-app and email by default). One call per round, each in a new "
            "worker process, so the peak resident memory is that call's; the worker's memory "
            "when the call started is given beside it. Statements: every SQL statement of "
            "the call, the event's own included. Dispatch is a no-op, as above. The floor "
            "follows the event in the same worker: one committed statement that writes the "
            "same rows from the subscriptions with nothing decided, what the database alone "
            "takes."
        ),
        "",
        "| figure | PostgreSQL: django-notify | statements | worker peak RSS (at start) |",
        "|---|---:|---:|---:|",
    ]
    for name, label in EVENT_FIGURES.items():
        cell = figures.get(name, {}).get("postgres", {}).get("notify")
        if not cell or cell["median_ms"] is None:
            lines.append(f"| `{name}`: {label.format(**counts)} | {_cell(cell)} | – | – |")
            continue
        time_text = _ms(cell["median_ms"])
        time_text += "" if time_text.endswith(" s") else " ms"
        # The floor runs after the event in the same worker: the peak is not its own.
        memory = (
            "–"
            if cell["peak_rss_mb"] is None
            else f"{cell['peak_rss_mb']:.0f} MB ({cell['start_rss_mb']:.0f} MB)"
        )
        lines.append(
            f"| `{name}`: {label.format(**counts)} | {time_text} | {cell['queries']:,} | {memory} |"
        )
    return lines


def _write_table(report: dict) -> list[str]:
    figures = report["figures"]
    if not any(name in figures for name in WRITE_FIGURES):
        return []
    dbs = report["databases"]
    spec = report["dataset"]
    reps = report["repetitions"]
    rounds = report["rounds"]
    lines = [
        "",
        _para(
            f"Writes, on the same databases. Fan-out: DN's `notify.send(actor, "
            f"recipient=<queryset of {spec['fanout']:,} users>, verb=…)` creates "
            f"{_created(report, 'fanout_notify', 'dn')}, one INSERT per row; django-notify's "
            "`notify(<the same queryset>, <a type on in-app and email by default>, "
            f"title=…, actor=…)` creates {_created(report, 'fanout_notify', 'notify')} "
            "(the email deliveries planned, pending). `emit()` is one event for a type with "
            f"{spec['fanout']:,} subscribers, processed on commit before `emit()` returns: "
            f"{_created(report, 'fanout_emit', 'notify')}. Dispatch is a no-op here "
            "(`DISPATCHER` of the benchmark settings): the write is timed, not the sending. "
            "Floor: one `INSERT … SELECT` of the same rows from the users table into "
            "django-notify's table. Each call's rows are deleted before the next, and on "
            "PostgreSQL the tables vacuumed (untimed). "
            f"{rounds} × {reps['fanout']} repetitions after {reps['fanout_warmup']} warm-up "
            "call; DN's fan-out outside a transaction, which commits each row, "
            f"{rounds} × {reps['dn_fanout_notify']} after the counted call."
        ),
        "",
    ]
    header = ["write"]
    for db in dbs:
        header += [f"{DB_LABELS[db]}: {LABELS[side]}" for side in ("dn", "notify")]
        header.append(f"{DB_LABELS[db]}: floor")
    lines.append("| " + " | ".join(header) + " |")
    lines.append("|---" + "|---:" * (len(header) - 1) + "|")
    for name, label in WRITE_FIGURES.items():
        row = [f"`{name}`: {label.format(**spec)}"]
        for db in dbs:
            for side in ("dn", "notify"):
                row.append(_cell(figures.get(name, {}).get(db, {}).get(side)))
            floor = FLOORS.get(name)
            row.append(_cell(figures.get(floor, {}).get(db, {}).get("notify")) if floor else "–")
        lines.append("| " + " | ".join(row) + " |")
    return lines


def write_docs(table: str) -> None:
    text = DOCS.read_text()
    block = f"{START}\n{table}{END}"
    if START in text and END in text:
        head, rest = text.split(START, 1)
        _, tail = rest.split(END, 1)
        text = head + block + tail
    else:
        intro = (
            "## Benchmarks against django-notifications-hq\n\n"
            + _para(
                "`python3 benchmarks/run.py --size full --rounds 2 --write-docs` measures "
                "django-notify and django-notifications-hq 1.8.3 side by side on the same data "
                "and rewrites the block below (datasets and figures: `benchmarks/README.md`; raw "
                "figures and query plans: `benchmarks/results/`)."
            )
            + "\n\n"
        )
        # After the title and the first paragraph.
        title_end = text.index("\n\n", text.index("# ")) + 2
        para_end = text.find("\n\n", title_end)
        cut = len(text) if para_end == -1 else para_end + 2
        text = text[:cut] + intro + block + "\n\n" + text[cut:]
    DOCS.write_text(text)


# --- the run ---------------------------------------------------------------------------------


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", choices=("small", "full"), default="full")
    parser.add_argument("--db", default="auto", help="sqlite,postgres (default: both when "
                        "PostgreSQL answers, else sqlite)")  # fmt: skip
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--write-docs", action="store_true")
    parser.add_argument("--out", type=Path, default=ROOT / "results")
    parser.add_argument("--no-million", action="store_true", help="skip the 1M-row dataset")
    parser.add_argument("--no-event", action="store_true", help="skip the large event (PostgreSQL)")
    parser.add_argument("--python", help="a Python 3.12 for the virtualenvs")
    opts = parser.parse_args(argv)
    if opts.rounds < 1:
        parser.error("--rounds must be at least 1")
    started = time.perf_counter()
    if opts.db == "auto":
        dbs = ["postgres", "sqlite"] if pg_answers() else ["sqlite"]
        if "postgres" not in dbs:
            log("PostgreSQL does not answer: SQLite only")
    else:
        dbs = [d.strip() for d in opts.db.split(",") if d.strip()]
        unknown = set(dbs) - set(DB_LABELS)
        if unknown or not dbs:
            parser.error(f"--db takes sqlite and/or postgres, not {opts.db!r}")
        # PostgreSQL first in the tables, whatever the order given.
        dbs = [d for d in DB_LABELS if d in dbs]
        if "postgres" in dbs and not pg_answers():
            host = os.environ.get("NOTIFY_PG_HOST", "127.0.0.1")
            port = os.environ.get("NOTIFY_PG_PORT", "5432")
            log(f"PostgreSQL does not answer at {host}:{port} (NOTIFY_PG_HOST/_PORT)")
            return 2
    million = opts.size == "full" and "postgres" in dbs and not opts.no_million

    python = find_python(opts.python)
    timings: dict = {"prepare_s": {}}
    t0 = time.perf_counter()
    venvs = {side: ensure_venv(side, python) for side in ("notify", "dn")}
    timings["venvs_s"] = round(time.perf_counter() - t0, 1)

    failures: list[str] = []
    store: dict = {}
    million_store: dict = {}
    event_store: dict = {}
    packages: dict = {}
    engines: dict = {}
    prepared: dict = {}
    plans: dict = {}
    with locked(f"run-{opts.size}"):
        jobs = [(db, side, "main") for db in dbs for side in ("notify", "dn")]
        if million:
            jobs.append(("postgres", "notify", "million"))
        if "postgres" in dbs and not opts.no_event:
            jobs.append(("postgres", "notify", "event"))
        ok = set()
        for db, side, dataset in jobs:
            t0 = time.perf_counter()
            named = {"main": opts.size, "event": f"event_{opts.size}"}.get(dataset, dataset)
            label = f"{side}/{db}/{named}"
            log(f"prepare {label}")
            try:
                prepared[label] = worker(venvs[side], side, "prepare", db, opts.size, dataset)
                ok.add((db, side, dataset))
                what = "rebuilt" if prepared[label]["rebuilt"] else "up to date"
                log(f"  {what} in {time.perf_counter() - t0:.1f}s: {prepared[label]['counts']}")
            except WorkerFailed as exc:
                failures.append(str(exc))
                log(f"  FAILED: {exc}")
            timings["prepare_s"][label] = round(time.perf_counter() - t0, 1)

        t0 = time.perf_counter()
        for round_no in range(1, opts.rounds + 1):
            for db, side, dataset in _round_order(jobs, round_no):
                names = {
                    "million": MILLION_FIGURES,
                    "event": EVENT_FIGURES,
                }.get(dataset, [*FIGURES, *WRITE_FIGURES, *FLOORS.values()])
                target = {"million": million_store, "event": event_store}.get(dataset, store)
                if (db, side, dataset) not in ok:
                    _fail_all(target, names, db, side, "the dataset could not be prepared")
                    continue
                log(f"round {round_no}/{opts.rounds}: measure {side} on {db} ({dataset})")
                try:
                    result = worker(venvs[side], side, "measure", db, opts.size, dataset)
                except WorkerFailed as exc:
                    failures.append(str(exc))
                    log(f"  FAILED: {exc}")
                    _fail_all(target, names, db, side, str(exc).splitlines()[0])
                    continue
                _collect(target, result["figures"], db, side)
                versions = dict(result["versions"])
                for key in ("postgresql", "postgresql_build", "sqlite"):
                    if versions.get(key) and (key != "sqlite" or db == "sqlite"):
                        engines[key] = versions[key]
                    versions.pop(key, None)
                versions.pop("database", None)
                packages.setdefault(side, {}).update(versions)
                for name, record in result["figures"].items():
                    if record.get("error"):
                        log(f"  {name}: ERROR {record['error'][:200]}")
        timings["measure_s"] = round(time.perf_counter() - t0, 1)

        if "postgres" in dbs:
            for db, side, dataset in jobs:
                if db != "postgres" or dataset == "event" or (db, side, dataset) not in ok:
                    continue
                try:
                    plans[f"{side}/{dataset}"] = worker(
                        venvs[side], side, "explain", db, opts.size, dataset,
                        args=(str(opts.out / "plans"),),
                    )  # fmt: skip
                except WorkerFailed as exc:
                    failures.append(str(exc))
                    log(f"  explain FAILED: {exc}")

    timings["total_s"] = round(time.perf_counter() - started, 1)
    million_counts = prepared.get("notify/postgres/million", {}).get("counts")
    event_counts = prepared.get(f"notify/postgres/event_{opts.size}", {}).get("counts")
    report = {
        "size": opts.size,
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "command": " ".join(["python3", "benchmarks/run.py", *(argv or sys.argv[1:])]),
        "rounds": opts.rounds,
        "databases": dbs,
        "repetitions": benchlib.TIMING,
        "dataset": {
            **benchlib.dataset_summary(opts.size),
            "counts": {k: v.get("counts") for k, v in prepared.items()},
        },
        "million_dataset": million_counts,
        "machine": {
            "cores": os.cpu_count(),
            "platform": platform.platform(),
            "postgresql": engines.get("postgresql"),
            "postgresql_build": engines.get("postgresql_build"),
            "sqlite": engines.get("sqlite"),
        },
        "packages": packages,
        "figures": _finish(store),
        "million_figures": _finish(million_store),
        "event_dataset": event_counts,
        "event_figures": _finish(event_store),
        "plans": plans,
        "timings": timings,
        "failures": failures,
    }
    opts.out.mkdir(parents=True, exist_ok=True)
    json_path = opts.out / f"{opts.size}.json"
    md_path = opts.out / f"{opts.size}.md"
    json_path.write_text(json.dumps(report, indent=1) + "\n")
    md_path.write_text(markdown(report, heading=True))
    log(f"wrote {json_path} and {md_path} ({timings['total_s']}s in all)")
    if opts.write_docs:
        write_docs(markdown(report, heading=False))
        log(f"updated {DOCS.relative_to(REPO)}")
    print(markdown(report, heading=False))
    if failures:
        log(f"{len(failures)} worker failure(s); see above")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
