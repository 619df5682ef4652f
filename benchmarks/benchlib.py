"""Shared by both workers (django-notify's and django-notifications-hq's): the database
settings, the seeded dataset, set-based loading, the dataset stamp and the timing harness.

Runs inside each side's own virtualenv (Django 6.1 for django-notify, Django 4.2 for DN),
so it only uses Django APIs that both versions have. Imports Django lazily: the settings
modules import this file before Django is set up.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import os
import random
import statistics
import sys
import time
from collections import deque
from datetime import UTC, datetime, timedelta
from pathlib import Path

HERE = Path(__file__).resolve().parent
DATA_DIR = HERE / ".data"

#: Bump when the generated data changes shape; every dataset is then rebuilt.
DATASET_VERSION = 2
SEED = 20240917
#: Rows are dated over the 90 days before this instant (fixed, so reruns are identical).
BASE_TIME = datetime(2025, 6, 1, tzinfo=UTC)
DAYS = 90

SIZES = {
    "small": {
        "rows": 4_000,
        "users": 100,
        "heavy_rows": 400,
        "heavy_unread": 200,
        "groups": 10,
        "fanout": 1_000,
    },
    "full": {
        "rows": 200_000,
        "users": 2_000,
        "heavy_rows": 5_000,
        "heavy_unread": 2_500,
        "groups": 50,
        "fanout": 10_000,
    },
}
#: django-notify's organizations for the main datasets: every user is a member of one.
ORGS = {"small": 5, "full": 20}
HEAVY = "heavy"
#: Username prefix of the fan-out audience (users with an email address and no rows).
FANOUT_PREFIX = "fan"
VERBS = ("commented on", "assigned you to", "mentioned you in", "closed", "approved", "updated")

#: Timing: warm-up calls, then timed repetitions, per figure.
WARMUP = 3
REPS = 25
MARK_WARMUP = 1
MARK_REPS = 7
MILLION_MARK_REPS = 5
# A fan-out writes thousands of rows per call (DN: one INSERT per row).
FANOUT_WARMUP = 1
FANOUT_REPS = 3
# DN's fan-out outside a transaction commits every row: 10,000 commits, over two minutes
# a call on SQLite (a sync to disk each). The counted call warms up; one timed call.
COMMIT_PER_ROW_WARMUP = 0
COMMIT_PER_ROW_REPS = 1
TIMING = {
    "warmup": WARMUP,
    "default": REPS,
    "mark_all_read_warmup": MARK_WARMUP,
    "mark_all_read": MARK_REPS,
    "million_mark_all_read": MILLION_MARK_REPS,
    "fanout_warmup": FANOUT_WARMUP,
    "fanout": FANOUT_REPS,
    "dn_fanout_notify_warmup": COMMIT_PER_ROW_WARMUP,
    "dn_fanout_notify": COMMIT_PER_ROW_REPS,
}


# --- settings -------------------------------------------------------------------------------


def db_settings(side: str) -> dict:
    """DATABASES["default"] from BENCH_DB (sqlite | postgres), BENCH_DB_NAME, BENCH_SIZE and
    NOTIFY_PG_HOST/_PORT/_USER (the same variables as the test suite)."""
    engine = os.environ.get("BENCH_DB", "sqlite")
    name = os.environ.get("BENCH_DB_NAME") or default_db_name(
        side, engine, os.environ.get("BENCH_SIZE", "small"), os.environ.get("BENCH_DATASET")
    )
    if engine == "postgres":
        return {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": name,
            "USER": os.environ.get("NOTIFY_PG_USER", "postgres"),
            "HOST": os.environ.get("NOTIFY_PG_HOST", "127.0.0.1"),
            "PORT": os.environ.get("NOTIFY_PG_PORT", "5432"),
        }
    return {"ENGINE": "django.db.backends.sqlite3", "NAME": name}


def default_db_name(side: str, engine: str, size: str, dataset: str | None = None) -> str:
    label = {"million": "million", "event": f"event_{size}"}.get(dataset or "", size)
    prefix = os.environ.get("BENCH_PG_PREFIX", "bench")
    if engine == "postgres":
        return f"{prefix}_{side}_{label}"
    return str(DATA_DIR / f"{side}_{label}.sqlite3")


# --- the dataset ----------------------------------------------------------------------------


def usernames(size: str) -> list[str]:
    n = SIZES[size]["users"]
    return [HEAVY] + [f"user{i:05d}" for i in range(1, n)]


def fanout_usernames(size: str) -> list[str]:
    return [f"{FANOUT_PREFIX}{i:05d}" for i in range(SIZES[size]["fanout"])]


def dataset(size: str) -> dict[str, list]:
    """The notifications, as column lists, oldest first (so ids grow with time, as in life).

    ``recipient``, ``actor`` and a user ``target`` are indexes into :func:`usernames`; a
    group ``target`` indexes the groups ``group000``…. Identical for both packages and both
    databases: everything comes from one seeded generator.
    """
    spec = SIZES[size]
    rng = random.Random(SEED)
    users, groups = spec["users"], spec["groups"]
    span_us = DAYS * 86_400 * 1_000_000
    heavy_unread = set(rng.sample(range(spec["heavy_rows"]), spec["heavy_unread"]))
    rows = []
    for i in range(spec["rows"]):
        if i < spec["heavy_rows"]:
            recipient, unread = 0, i in heavy_unread
        else:
            recipient, unread = rng.randrange(1, users), rng.random() < 0.5
        actor = rng.randrange(users)
        target_group = rng.random() < 0.5
        target = rng.randrange(groups) if target_group else rng.randrange(users)
        age_us = rng.randrange(span_us)
        verb = VERBS[rng.randrange(len(VERBS))]
        rows.append((age_us, recipient, unread, actor, target_group, target, verb))
    rows.sort(key=lambda row: -row[0])  # oldest first
    columns: dict[str, list] = {
        "created": [],
        "recipient": [],
        "unread": [],
        "actor": [],
        "target_group": [],
        "target": [],
        "title": [],
    }
    for n, (age_us, recipient, unread, actor, target_group, target, verb) in enumerate(rows):
        columns["created"].append(BASE_TIME - timedelta(microseconds=age_us))
        columns["recipient"].append(recipient)
        columns["unread"].append(unread)
        columns["actor"].append(actor)
        columns["target_group"].append(target_group)
        columns["target"].append(target)
        columns["title"].append(f"{verb} #{n + 1}")
    return columns


def dataset_summary(size: str) -> dict:
    return {"size": size, "seed": SEED, "days": DAYS, **SIZES[size]}


# --- set-based loading ----------------------------------------------------------------------


def _qn(name: str) -> str:
    from django.db import connection

    return connection.ops.quote_name(name)


def _plan_columns(model, varying, fixed):
    """Split the model's concrete columns (all but the primary key) into constants and
    varying columns. A column the caller does not name gets its field default (or NULL),
    so a column added by a later migration does not break the loader."""
    from django.db import connection

    const, var = [], []
    for field in model._meta.concrete_fields:
        if field.primary_key:
            continue
        if field.attname in varying:
            var.append(field)
            continue
        # get_default(): the field's default, else "" for a NOT NULL text column, else None.
        value = fixed[field.attname] if field.attname in fixed else field.get_default()
        if value is None and not field.null:
            raise RuntimeError(f"no value for {model.__name__}.{field.attname}")
        const.append((field, field.get_db_prep_save(value, connection)))
    return const, var


def insert_rows(model, columns: dict[str, list], fixed: dict | None = None, chunk: int = 50_000):
    """INSERT the rows given as column lists (keyed by attname) in a few statements.

    PostgreSQL: ``INSERT … SELECT … FROM unnest(%s::type[], …)`` per chunk. SQLite:
    ``executemany`` in large batches inside one transaction.
    """
    from django.db import connection, transaction

    fixed = fixed or {}
    const, var = _plan_columns(model, columns, fixed)
    total = len(next(iter(columns.values())))
    table = _qn(model._meta.db_table)
    names = ", ".join(_qn(f.column) for f, _ in const) + (", " if const and var else "")
    names += ", ".join(_qn(f.column) for f in var)
    with transaction.atomic(), connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            select = [f"%s::{f.db_type(connection)}" for f, _ in const]
            select += [f"u.c{i}" for i in range(len(var))]
            arrays = ", ".join(f"%s::{f.db_type(connection)}[]" for f in var)
            aliases = ", ".join(f"c{i}" for i in range(len(var)))
            sql = (
                f"INSERT INTO {table} ({names}) SELECT {', '.join(select)} "
                f"FROM unnest({arrays}) AS u({aliases})"
            )
            for start in range(0, total, chunk):
                params = [value for _, value in const]
                params += [columns[f.attname][start : start + chunk] for f in var]
                cursor.execute(sql, params)
        else:
            marks = ", ".join(["%s"] * (len(const) + len(var)))
            sql = f"INSERT INTO {table} ({names}) VALUES ({marks})"
            head = [value for _, value in const]
            prepped = [[f.get_db_prep_save(v, connection) for v in columns[f.attname]] for f in var]
            for start in range(0, total, chunk):
                batch = [
                    head + [col[i] for col in prepped]
                    for i in range(start, min(start + chunk, total))
                ]
                cursor.executemany(sql, batch)


def insert_sql(model, exprs: dict[str, str], fixed=None) -> tuple[str, list]:
    """``INSERT INTO <model> (…) SELECT <exprs>`` and its parameters, for the caller to
    follow with its ``FROM``: the varying columns are SQL expressions over that source;
    the others constants (see above). PostgreSQL gets every column cast to its type;
    SQLite needs no casts."""
    from django.db import connection

    const, var = _plan_columns(model, exprs, fixed or {})
    names = [_qn(f.column) for f, _ in const] + [_qn(f.column) for f in var]
    if connection.vendor == "postgresql":
        select = [f"%s::{f.db_type(connection)}" for f, _ in const]
        select += [f"({exprs[f.attname]})::{f.db_type(connection)}" for f in var]
    else:
        select = ["%s"] * len(const) + [f"({exprs[f.attname]})" for f in var]
    sql = f"INSERT INTO {_qn(model._meta.db_table)} ({', '.join(names)}) SELECT {', '.join(select)}"
    return sql, [value for _, value in const]


def insert_select(model, exprs: dict[str, str], from_sql: str, params=(), fixed=None) -> int:
    """``INSERT INTO <model> (…) SELECT <exprs> FROM <from_sql>`` (:func:`insert_sql`)."""
    from django.db import connection

    sql, constants = insert_sql(model, exprs, fixed)
    with connection.cursor() as cursor:
        cursor.execute(f"{sql} FROM {from_sql}", constants + list(params))
        return cursor.rowcount


def load_users_and_groups(size: str) -> tuple[list[int], list[int]]:
    """auth_user and auth_group rows; returns their ids in :func:`usernames` order."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group

    User = get_user_model()
    names = usernames(size)
    insert_rows(
        User,
        {"username": names},
        fixed={"password": "!", "date_joined": BASE_TIME - timedelta(days=DAYS + 1)},
    )
    groups = [f"group{i:03d}" for i in range(SIZES[size]["groups"])]
    insert_rows(Group, {"name": groups})
    by_name = dict(User.objects.filter(username__in=names).values_list("username", "pk"))
    group_ids = dict(Group.objects.filter(name__in=groups).values_list("name", "pk"))
    return [by_name[n] for n in names], [group_ids[g] for g in groups]


def load_fanout_users(size: str) -> list[int]:
    """The fan-out audience: users with an email address and no notifications; returns
    their ids in :func:`fanout_usernames` order."""
    from django.contrib.auth import get_user_model

    User = get_user_model()
    names = fanout_usernames(size)
    insert_rows(
        User,
        {"username": names, "email": [f"{n}@bench.example" for n in names]},
        fixed={"password": "!", "date_joined": BASE_TIME - timedelta(days=DAYS + 1)},
    )
    fans = User.objects.filter(username__startswith=FANOUT_PREFIX)
    by_name = dict(fans.values_list("username", "pk"))
    return [by_name[n] for n in names]


def fanout_users():
    """The fan-out audience as a queryset (what both packages are handed)."""
    from django.contrib.auth import get_user_model

    return get_user_model().objects.filter(username__startswith=FANOUT_PREFIX)


def analyze(tables: list[str]) -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            for table in tables:
                cursor.execute(f"VACUUM ANALYZE {_qn(table)}")
        else:
            cursor.execute("ANALYZE")


# --- creating, dropping and stamping databases ----------------------------------------------


def _maintenance(sql: str) -> None:
    import psycopg

    db = db_settings("")
    with psycopg.connect(
        dbname="postgres", host=db["HOST"], port=db["PORT"], user=db["USER"], autocommit=True
    ) as conn:
        conn.execute(sql)


def _pg_exists(name: str) -> bool:
    import psycopg

    db = db_settings("")
    with psycopg.connect(
        dbname="postgres", host=db["HOST"], port=db["PORT"], user=db["USER"], autocommit=True
    ) as conn:
        return conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()


def ensure_database(fresh: bool) -> None:
    """Create the database if it is missing; with ``fresh``, drop it first."""
    from django.db import connection

    connection.close()
    name = connection.settings_dict["NAME"]
    if connection.vendor == "postgresql":
        ident = '"' + name.replace('"', '""') + '"'
        if fresh:
            _maintenance(f"DROP DATABASE IF EXISTS {ident} WITH (FORCE)")
        if fresh or not _pg_exists(name):
            _maintenance(f"CREATE DATABASE {ident}")
    else:
        path = Path(name)
        path.parent.mkdir(parents=True, exist_ok=True)
        if fresh:
            for suffix in ("", "-wal", "-shm", "-journal"):
                Path(str(path) + suffix).unlink(missing_ok=True)


def migration_fingerprint() -> dict:
    """The migrations on disk, by name and by content hash: an index added to a migration
    in place changes the hash even though the applied names stay the same."""
    from django.db.migrations.loader import MigrationLoader

    loader = MigrationLoader(None, ignore_no_migrations=True)
    digest = hashlib.sha256()
    names = []
    for key in sorted(loader.disk_migrations):
        names.append(".".join(key))
        module = sys.modules[loader.disk_migrations[key].__module__]
        digest.update(".".join(key).encode())
        digest.update(Path(module.__file__).read_bytes())
    return {"migrations": names, "sha256": digest.hexdigest()}


def applied_migrations() -> list[str]:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT app, name FROM django_migrations ORDER BY app, name")
        return [f"{app}.{name}" for app, name in cursor.fetchall()]


def read_stamp() -> dict | None:
    from django.db import connection
    from django.db.utils import DatabaseError

    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT stamp FROM bench_stamp WHERE id = 1")
            row = cursor.fetchone()
    except DatabaseError:
        connection.close()  # PostgreSQL: the failed statement aborted the transaction
        return None
    return json.loads(row[0]) if row else None


def write_stamp(stamp: dict) -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE TABLE IF NOT EXISTS bench_stamp (id integer PRIMARY KEY, stamp text)"
        )
        cursor.execute("DELETE FROM bench_stamp")
        cursor.execute("INSERT INTO bench_stamp (id, stamp) VALUES (1, %s)", [json.dumps(stamp)])


def prepare(side: str, label: str, build, builder_files: list[Path]) -> dict:
    """Migrate and (re)build the dataset when its stamp differs: new or edited migrations,
    a changed builder, or a missing/empty database. Returns what happened."""
    from django.core.management import call_command

    digest = hashlib.sha256(inspect.getsource(dataset).encode())
    digest.update(json.dumps([SEED, DAYS, str(BASE_TIME), SIZES, ORGS, VERBS]).encode())
    for path in builder_files:
        digest.update(path.read_bytes())
    expected = {
        "dataset_version": DATASET_VERSION,
        "dataset": label,
        "builder_sha256": digest.hexdigest(),
        **migration_fingerprint(),
    }
    started = time.perf_counter()
    ensure_database(fresh=False)
    stamp = read_stamp()
    rebuilt = True
    if stamp is not None and {key: stamp.get(key) for key in expected} == expected:
        # Always migrate; a migration applied here (the fingerprint should have caught
        # it) still forces a rebuild.
        call_command("migrate", verbosity=0, interactive=False)
        rebuilt = stamp.get("applied") != applied_migrations()
    if rebuilt:
        ensure_database(fresh=True)
        call_command("migrate", verbosity=0, interactive=False)
        expected["applied"] = applied_migrations()
        expected["counts"] = build()
        write_stamp(expected)
        stamp = expected
    return {
        "side": side,
        "dataset": label,
        "rebuilt": rebuilt,
        "seconds": round(time.perf_counter() - started, 2),
        "counts": stamp.get("counts"),
    }


# --- measuring ------------------------------------------------------------------------------


def figure(fn, *, reps=REPS, warmup=WARMUP, before=None, after=None) -> dict:
    """Time ``fn``: ``warmup`` untimed calls, one call under CaptureQueriesContext for the
    query count, then ``reps`` timed calls. ``before``/``after`` run around every call,
    outside the timed region (restoring state for the write figures). An exception is
    recorded as the figure's ``error``."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def call(timed: bool):
        if before is not None:
            before()
        try:
            start = time.perf_counter()
            fn()
            elapsed = (time.perf_counter() - start) * 1000
        finally:
            if after is not None:
                after()
        return elapsed if timed else None

    try:
        for _ in range(warmup):
            call(False)
        if before is not None:
            before()
        # The connection's query log keeps the last 9,000 statements; a DN fan-out runs
        # 10,000. An unbounded log for this one call, the connection's own after it.
        kept = connection.queries_log
        connection.queries_log = deque()
        try:
            with CaptureQueriesContext(connection) as captured:
                result = fn()
            # Now: captured_queries reads the connection's log lazily, and a later request
            # through the test client empties that log (request_started → reset_queries).
            queries = len(captured.captured_queries)
        finally:
            connection.queries_log = kept
            if after is not None:
                after()
        samples = [call(True) for _ in range(reps)]
    except Exception as exc:  # noqa: BLE001 - recorded, the other figures still run
        return {"error": f"{type(exc).__name__}: {exc}"[:2000]}
    return {
        "median_ms": round(statistics.median(samples), 4),
        "samples_ms": [round(s, 4) for s in samples],
        "queries": queries,
        "repetitions": reps,
        # What the counted call returned (a count, rows on the page, rows changed): both
        # packages must agree on it, or they are not measuring the same thing.
        "result": result if isinstance(result, int) else None,
    }


class NewRows:
    """Deletes the rows a write figure's call created (``after=``, outside the timed
    region), so every repetition starts from the same state, and records how many there
    were per table: what the JSON shows as the figure's ``created``.

    Rows are told apart by primary key: anything above the largest key at construction
    is new. Tables are emptied in the order given (children before parents). On
    PostgreSQL the tables are then vacuumed: a deleted row stays in the table and its
    indexes until a vacuum, and the next call's inserts would otherwise pay for the dead
    entries of every call before it (each of 7 calls of 10,000 rows left its rows in
    the same index ranges; the notification ``INSERT`` took 156 ms among 1.2 million
    dead rows, 52 ms after a vacuum). No site deletes the rows it has just written;
    autovacuum keeps a real table's dead rows far fewer."""

    def __init__(self, **models):
        from django.db.models import Max

        self.models = models
        self.marks = {
            name: model.objects.aggregate(m=Max("pk"))["m"] or 0 for name, model in models.items()
        }
        self.counts: list[dict[str, int]] = []

    def __call__(self) -> None:
        from django.db import connection

        counts = {}
        with connection.cursor() as cursor:
            for name, model in self.models.items():
                table, pk = _qn(model._meta.db_table), _qn(model._meta.pk.column)
                cursor.execute(f"DELETE FROM {table} WHERE {pk} > %s", [self.marks[name]])
                counts[name] = cursor.rowcount
            if connection.vendor == "postgresql" and not connection.in_atomic_block:
                for model in self.models.values():
                    cursor.execute(f"VACUUM {_qn(model._meta.db_table)}")
        self.counts.append(counts)

    def record(self, result: dict) -> dict:
        """The figure with ``created`` added: the rows of one call, the same every call
        (an ``error`` otherwise: the repetitions did not do the same work)."""
        if "error" in result:
            return result
        distinct = {json.dumps(c, sort_keys=True) for c in self.counts}
        if len(distinct) != 1:
            return {"error": f"the calls created different rows: {sorted(distinct)}"}
        return {**result, "created": self.counts[-1]}


def get_json(client, url: str):
    """A GET through the test client; anything but a 200 JSON answer is an error."""
    response = client.get(url)
    if response.status_code != 200:
        raise RuntimeError(f"GET {url} answered {response.status_code}: {response.content[:300]!r}")
    return response.json()


def explain_all(ops: dict, out_dir: Path, prefix: str = "") -> dict:
    """For each named operation: run it once to warm the caches, once more capturing its
    first SQL statement (the main query; prefetches follow it), then write ``EXPLAIN
    (ANALYZE, BUFFERS)`` of exactly that statement and its parameters to
    ``<out_dir>/<prefix><name>.txt``."""
    from django.db import connection

    out_dir.mkdir(parents=True, exist_ok=True)
    written = {}
    for name, fn in ops.items():
        captured = []

        def capture(execute, sql, params, many, context, captured=captured):
            if not captured:
                captured.append((sql, params))
            return execute(sql, params, many, context)

        try:
            fn()  # warm: a cold cache (content types) would be the first statement
            with connection.execute_wrapper(capture):
                fn()
            sql, params = captured[0]
            with connection.cursor() as cursor:
                cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql, params)
                plan = "\n".join(row[0] for row in cursor.fetchall())
        except Exception as exc:  # noqa: BLE001
            written[name] = {"error": f"{type(exc).__name__}: {exc}"}
            continue
        path = out_dir / f"{prefix}{name}.txt"
        path.write_text(
            f"-- {name}: EXPLAIN (ANALYZE, BUFFERS), {connection.vendor}\n"
            f"-- SQL:\n{sql}\n-- params: {list(params or ())!r}\n\n{plan}\n"
        )
        timing = [line.strip() for line in plan.splitlines() if "Execution Time" in line]
        written[name] = {"file": path.name, "execution": timing[0] if timing else None}
    return written


def versions(package: str) -> dict:
    import platform
    import sqlite3
    from importlib import metadata

    import django
    from django.db import connection

    info = {
        "python": platform.python_version(),
        "django": django.get_version(),
        "package": package,
        "package_version": metadata.version(package),
        "sqlite": sqlite3.sqlite_version,
        "database": connection.vendor,
    }
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SHOW server_version")
            info["postgresql"] = cursor.fetchone()[0].split()[0]
            cursor.execute("SELECT version()")
            info["postgresql_build"] = cursor.fetchone()[0]
    return info


def main(commands: dict) -> None:
    """``python -m <side>.measure <command>``: prints one JSON document on stdout; anything
    else the run prints goes to stderr so it cannot corrupt the JSON."""
    out = sys.stdout
    sys.stdout = sys.stderr
    command = sys.argv[1] if len(sys.argv) > 1 else ""
    if command not in commands:
        raise SystemExit(f"usage: measure.py {{{','.join(commands)}}}")
    result = commands[command](*sys.argv[2:])
    out.write(json.dumps(result) + "\n")
    out.flush()


def read_actor_and_target(rows) -> int:
    """Iterate a feed page reading every row's actor and target (the same work on both
    sides); returns the number of rows."""
    count = 0
    for row in rows:
        row.actor  # noqa: B018
        row.target  # noqa: B018
        count += 1
    return count
