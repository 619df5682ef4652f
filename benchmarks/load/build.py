"""The load benchmark's database: users with a feed each, organizations, teams, team,
organization and system broadcasts, and a logged-in session per user. Set-based:
``INSERT … SELECT`` over ``unnest`` and ``generate_series`` (PostgreSQL).

``python build.py SIZE`` (with ``DJANGO_SETTINGS_MODULE=load_settings`` and
``LOAD_DB_NAME``) migrates and builds when the stored stamp differs (``benchlib.prepare``:
the migrations, this file or the size changed), and prints the counts as JSON.
"""

from __future__ import annotations

import json
import os
import sys
from datetime import timedelta
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

import benchlib  # noqa: E402

SIZES = {
    # Every stream client and every polling client is a distinct user.
    "full": {"users": 2_000, "direct_per_user": 100, "orgs": 20, "teams_per_org": 5,
             "system": 50, "per_org": 20, "per_team": 10},
    "smoke": {"users": 40, "direct_per_user": 10, "orgs": 2, "teams_per_org": 2,
              "system": 5, "per_org": 5, "per_team": 3},
}  # fmt: skip
DAYS = 90
STAFF = "loadstaff"
#: The client table the orchestrator reads (no Django needed there): one row per user.
CLIENTS = "load_client"


def _ids(model, field: str, values: list) -> list[int]:
    found = dict(model.objects.filter(**{f"{field}__in": values}).values_list(field, "pk"))
    return [found[v] for v in values]


def insert_select(model, exprs: dict[str, str], from_sql: str, params: dict) -> None:
    """``benchlib.insert_select`` with named parameters (the expressions share them)."""
    from django.db import connection

    const, var = benchlib._plan_columns(model, exprs, {})
    names = [benchlib._qn(f.column) for f, _ in const] + [benchlib._qn(f.column) for f in var]
    select = [f"%(c{i})s::{f.db_type(connection)}" for i, (f, _) in enumerate(const)]
    select += [f"({exprs[f.attname]})::{f.db_type(connection)}" for f in var]
    values = {f"c{i}": value for i, (_, value) in enumerate(const)}
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {benchlib._qn(model._meta.db_table)} ({', '.join(names)}) "
            f"SELECT {', '.join(select)} FROM {from_sql}",
            {**values, **params},
        )


def build(size: str) -> dict:
    from django.contrib.auth import get_user_model
    from django.contrib.auth.hashers import make_password
    from django.contrib.contenttypes.models import ContentType
    from django.contrib.sessions.backends.db import SessionStore
    from django.db import connection
    from django.db.models import Count
    from django.utils import timezone
    from django.utils.crypto import get_random_string
    from organizations.models import Membership, Organization, Team

    from django_notify import get_notification_model
    from django_notify.tenancy import Role

    spec = SIZES[size]
    User = get_user_model()
    Notification = get_notification_model()
    now = timezone.now()
    joined = now - timedelta(days=DAYS + 1)

    names = [f"load{i:05d}" for i in range(spec["users"])]
    # A real (cheap) password hash: the session's auth hash is derived from it.
    password = make_password("load", hasher="md5")
    benchlib.insert_rows(User, {"username": names}, fixed={"password": password,
                                                           "date_joined": joined})  # fmt: skip
    user_ids = _ids(User, "username", names)
    orgs = [f"org{i:03d}" for i in range(spec["orgs"])]
    benchlib.insert_rows(Organization, {"name": orgs})
    org_ids = _ids(Organization, "name", orgs)
    per = spec["teams_per_org"]
    benchlib.insert_rows(
        Team,
        {"organization_id": [o for o in org_ids for _ in range(per)],
         "name": [f"team{t}" for _ in org_ids for t in range(per)]},
    )  # fmt: skip
    team_ids = list(Team.objects.order_by("pk").values_list("pk", flat=True))
    # User i: organization i % orgs, one team of it; org admins send organization broadcasts.
    admins = [f"admin{i:03d}" for i in range(len(org_ids))]
    benchlib.insert_rows(User, {"username": admins}, fixed={"password": password,
                                                            "date_joined": joined})  # fmt: skip
    admin_ids = _ids(User, "username", admins)
    benchlib.insert_rows(
        User, {"username": [STAFF]},
        fixed={"password": password, "date_joined": joined, "is_staff": True,
               "is_superuser": True},
    )  # fmt: skip
    user_org = [org_ids[i % len(org_ids)] for i in range(len(user_ids))]
    user_team = [team_ids[(i % len(org_ids)) * per + (i // len(org_ids)) % per]
                 for i in range(len(user_ids))]  # fmt: skip
    benchlib.insert_rows(
        Membership,
        {"user_id": user_ids + admin_ids, "organization_id": user_org + org_ids,
         "role": [Role.DEV_USER] * len(user_ids) + [Role.ORG_ADMIN] * len(org_ids)},
    )  # fmt: skip
    benchlib.insert_rows(Team.members.through, {"user_id": user_ids, "team_id": user_team})

    ct_user = ContentType.objects.get_for_model(User).pk
    ct_team = ContentType.objects.get_for_model(Team).pk
    common = {
        "created_at": f"%(now)s::timestamptz - random() * {DAYS} * interval '1 day'",
        "actor_object_id": "(%(users)s::bigint[])[1 + floor(random() * %(n)s)::int]",
        "actor_content_type_id": "%(ct_user)s",
    }
    p = {"now": now.isoformat(), "users": user_ids, "n": len(user_ids), "ct_user": ct_user,
         "ct_team": ct_team, "orgs": [str(o) for o in user_org],
         "teams": [str(t) for t in user_team]}  # fmt: skip
    with connection.cursor() as cursor:
        cursor.execute("SELECT setseed(0.1117)")
    # Direct rows: direct_per_user for every user, half of them read, about a verb on a
    # team (half) or a user (half).
    insert_select(
        Notification,
        {
            **common,
            "title": "'Update #' || g",
            "recipient_id": "u.uid",
            "organization_key": "u.org",
            "scope": "'user'",
            "origin": "'organization'",
            "read_at": f"CASE WHEN random() < 0.5 THEN %(now)s::timestamptz "
            f"- random() * {DAYS} * interval '1 day' END",
            "target_content_type_id": "CASE WHEN g %% 2 = 0 THEN %(ct_team)s ELSE %(ct_user)s END",
            "target_object_id": "CASE WHEN g %% 2 = 0 THEN u.team ELSE u.uid::text END",
        },
        "unnest(%(users)s::bigint[], %(orgs)s::text[], %(teams)s::text[]) AS u(uid, org, team) "
        f"CROSS JOIN generate_series(1, {spec['direct_per_user']}) g",
        p,
    )
    broadcasts = [
        # (scope, team_key, organization_key, is_global, origin, rows per key, keys)
        ("system", "''", "''", True, "system", spec["system"], [""]),
        ("organization", "''", "k.v", True, "organization", spec["per_org"],
         [str(o) for o in org_ids]),
        ("team", "k.v", "(SELECT organization_id::text FROM organizations_team "
         "WHERE id = k.v::bigint)", False, "organization", spec["per_team"],
         [str(t) for t in team_ids]),
    ]  # fmt: skip
    for scope, team, org, is_global, origin, rows, keys in broadcasts:
        insert_select(
            Notification,
            {
                **common,
                "title": f"'{scope} announcement #' || g",
                "scope": f"'{scope}'",
                "team_key": team,
                "organization_key": org,
                "is_global": "true" if is_global else "false",
                "origin": f"'{origin}'",
            },
            f"unnest(%(keys)s::text[]) AS k(v) CROSS JOIN generate_series(1, {rows}) g",
            {**p, "keys": keys},
        )

    # One logged-in session per user, as a browser holds after signing in.
    store = SessionStore()
    hashes = dict(User.objects.filter(pk__in=user_ids).values_list("pk", "password"))
    keys, data = [], []
    for uid in user_ids:
        user = User(pk=uid, password=hashes[uid])
        keys.append(get_random_string(32))
        data.append(
            store.encode(
                {
                    "_auth_user_id": str(uid),
                    "_auth_user_backend": "django.contrib.auth.backends.ModelBackend",
                    "_auth_user_hash": user.get_session_auth_hash(),
                }
            )
        )
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO django_session (session_key, session_data, expire_date) "
            "SELECT k, d, %s FROM unnest(%s::text[], %s::text[]) AS s(k, d)",
            [now + timedelta(days=365), keys, data],
        )
        cursor.execute(
            f"CREATE TABLE {CLIENTS} (idx integer PRIMARY KEY, user_id bigint, "
            "session_key text, organization_id bigint, team_id bigint)"
        )
        cursor.execute(
            f"INSERT INTO {CLIENTS} SELECT n - 1, u, k, o, t FROM unnest(%s::bigint[], "
            "%s::text[], %s::bigint[], %s::bigint[]) WITH ORDINALITY AS c(u, k, o, t, n)",
            [user_ids, keys, user_org, user_team],
        )
    benchlib.analyze(
        [Notification._meta.db_table, User._meta.db_table, "django_session",
         Membership._meta.db_table, Team.members.through._meta.db_table]
    )  # fmt: skip
    by_scope = dict(Notification.objects.values_list("scope").annotate(n=Count("pk")))
    return {
        "users": len(user_ids),
        "organizations": len(org_ids),
        "teams": len(team_ids),
        "notifications": sum(by_scope.values()),
        "by_scope": by_scope,
        "sessions": len(keys),
    }


def main() -> None:
    import django

    size = sys.argv[1] if len(sys.argv) > 1 else "full"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "load_settings")
    os.environ["BENCH_DB"] = "postgres"  # benchlib's maintenance connection
    django.setup()
    out, sys.stdout = sys.stdout, sys.stderr
    result = benchlib.prepare("load", size, lambda: build(size), [Path(__file__)])
    out.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
