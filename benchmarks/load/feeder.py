"""Commits notifications at a steady rate while the worker sends their deliveries:
``python feeder.py SPEC`` (``DJANGO_SETTINGS_MODULE=load_settings``, ``LOAD_DELIVER=1``).

SPEC is a JSON file: ``{"type": "load.email" | "load.webhook", "users": n, "rate":
deliveries per second, "chunk": recipients per notify(), "duration": s, "out": path}``.
The feeder migrates the (empty) database and creates ``users`` users with addresses,
prints ``READY``, and on the next line of stdin calls ``notify(<chunk users>, type)``
every ``chunk / rate`` seconds for ``duration`` seconds, each call its own transaction:
what a site's web processes do. It then writes ``out`` (one record per call: its
planned and actual start, its commit time and duration) and prints ``DONE``.
"""

from __future__ import annotations

import json
import os
import resource
import sys
import time

import django


def main() -> None:
    spec = json.loads(open(sys.argv[1]).read())
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "load_settings")
    django.setup()
    import load_celery  # noqa: F401 - the app the package's tasks publish through
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.db import transaction

    import django_notify

    call_command("migrate", verbosity=0)
    User = get_user_model()
    users = User.objects.bulk_create(
        [User(username=f"load{i:05d}", email=f"load{i:05d}@example.com")
         for i in range(spec["users"])]
    )  # fmt: skip
    ids = [u.pk for u in users]
    print("READY", flush=True)
    sys.stdin.readline()

    chunk, rate = spec["chunk"], spec["rate"]
    calls = max(1, round(spec["duration"] * rate / chunk))
    records, errors = [], []
    started = time.monotonic()
    for n in range(calls):
        at = n * chunk / rate
        wait = started + at - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        first = (n * chunk) % len(ids)
        audience = (ids + ids)[first : first + chunk]
        committed: list[float] = []
        call = time.perf_counter()
        try:
            with transaction.atomic():
                transaction.on_commit(lambda stamps=committed: stamps.append(time.time()))
                django_notify.notify(
                    audience,
                    spec["type"],
                    title=f"Report {n} is ready",
                    body=f"Report {n} of the delivery benchmark is ready for you.",
                )
        except Exception as exc:  # noqa: BLE001 - recorded; the run goes on
            errors.append(f"call {n}: {type(exc).__name__}: {exc}"[:300])
            continue
        records.append({
            "n": n, "planned": round(at, 3), "recipients": len(audience),
            "late_ms": round((time.monotonic() - started - at) * 1000, 1),
            "commit": committed[0], "call_ms": round((time.perf_counter() - call) * 1000, 2),
        })  # fmt: skip
    usage = resource.getrusage(resource.RUSAGE_SELF)
    with open(spec["out"], "w") as handle:
        json.dump({"records": records, "errors": errors,
                   "cpu_seconds": round(usage.ru_utime + usage.ru_stime, 3)}, handle)  # fmt: skip
    print("DONE", flush=True)


if __name__ == "__main__":
    main()
