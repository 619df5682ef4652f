"""Commits notifications through the package's API while the streams listen:
``python sender.py SPEC`` (``DJANGO_SETTINGS_MODULE=load_settings``).

SPEC is a JSON file: ``{"duration": s, "rate": direct notifications per second,
"team_every": s, "org_every": s, "system_every": s, "clients": [{"user_id", "team_id",
"organization_id"}, …], "out": path, "seed": n}``. Direct notifications go to random
listening users (``notify()``); team broadcasts (``send_system(target_team=…)``) to a
random listener's team; organization broadcasts (``send(org admin, is_global=True)``) to
a random listener's organization; system broadcasts (``send_system()``) to everyone.

Every send runs in its own ``transaction.atomic()`` whose first ``on_commit`` callback
stamps ``time.time()``: the moment of the commit, before the package's own callback
publishes to Redis. The sender prints ``DONE`` after the last send and writes ``out``
(one record per notification: id, kind, key, commit time, the call's duration); on the
next line of stdin it deletes what it created, so the dataset stays as built.
"""

from __future__ import annotations

import json
import os
import random
import resource
import sys
import time

import django


def plan(spec: dict, rng: random.Random) -> list[tuple[float, str, dict]]:
    clients = spec["clients"]
    duration = spec["duration"]
    events: list[tuple[float, str, dict]] = []
    if spec.get("rate"):
        n = int(duration * spec["rate"])
        events += [(i / spec["rate"], "direct", rng.choice(clients)) for i in range(n)]
    for kind, every, offset in (("team", spec.get("team_every"), 0.25),
                                ("organization", spec.get("org_every"), 0.5),
                                ("system", spec.get("system_every"), 0.75)):  # fmt: skip
        if every:
            t = every * offset
            while t < duration:
                events.append((t, kind, rng.choice(clients)))
                t += every
    events.sort(key=lambda e: e[0])
    return events


def main() -> None:
    spec = json.loads(open(sys.argv[1]).read())
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "load_settings")
    django.setup()
    from build import STAFF
    from django.contrib.auth import get_user_model
    from django.db import transaction
    from django.db.models import Max
    from organizations.models import Membership

    import django_notify
    from django_notify.tenancy import Role

    Notification = django_notify.get_notification_model()
    User = get_user_model()
    staff = User.objects.get(username=STAFF)
    admins = {
        m.organization_id: m.user
        for m in Membership.objects.filter(role=Role.ORG_ADMIN).select_related("user")
    }
    mark = Notification.objects.aggregate(m=Max("pk"))["m"] or 0
    # One untimed send first (to a user no stream listens as): the imports and caches of
    # the write path are warm before the first timed commit.
    django_notify.notify([staff.pk], title="warm-up")
    rng = random.Random(spec.get("seed", 11))
    records = []
    errors = []
    started = time.monotonic()
    for seq, (at, kind, client) in enumerate(plan(spec, rng)):
        wait = started + at - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        committed: list[float] = []
        title = f"Load {kind} #{seq}"
        call = time.perf_counter()
        try:
            with transaction.atomic():
                transaction.on_commit(lambda stamps=committed: stamps.append(time.time()))
                if kind == "direct":
                    rows = django_notify.notify([client["user_id"]], title=title)
                    key = client["user_id"]
                elif kind == "team":
                    rows = django_notify.send_system(staff, title=title,
                                                     target_team=client["team_id"])  # fmt: skip
                    key = client["team_id"]
                elif kind == "organization":
                    admin = admins[client["organization_id"]]
                    rows = django_notify.send(admin, title=title, is_global=True)
                    key = client["organization_id"]
                else:
                    rows = django_notify.send_system(staff, title=title)
                    key = None
        except Exception as exc:  # noqa: BLE001 - recorded; the run goes on
            errors.append(f"{kind} #{seq}: {type(exc).__name__}: {exc}"[:300])
            continue
        records.append({
            "id": rows[0].pk, "kind": kind, "key": key, "commit": committed[0],
            "planned": round(at, 3), "late_ms": round((time.monotonic() - started - at) * 1000, 1),
            "send_ms": round((time.perf_counter() - call) * 1000, 2),
        })  # fmt: skip
    usage = resource.getrusage(resource.RUSAGE_SELF)
    with open(spec["out"], "w") as handle:
        json.dump({"records": records, "errors": errors,
                   "cpu_seconds": round(usage.ru_utime + usage.ru_stime, 3)}, handle)  # fmt: skip
    print("DONE", flush=True)
    sys.stdin.readline()
    Notification.objects.filter(pk__gt=mark).delete()


if __name__ == "__main__":
    main()
