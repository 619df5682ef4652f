"""django-notify's datasets: the main one (the same logical rows as DN's, all direct) and,
on PostgreSQL only, the million-row one with team, organization and system broadcasts
and the large-event one (100,000 subscribers of one type)."""

from __future__ import annotations

from datetime import timedelta

import benchlib

#: The million-row dataset (PostgreSQL, django-notify only).
MILLION = {
    "total": 1_000_000,
    "users": 10_000,  # including the target user and the mark-all-read user
    "orgs": 200,
    "teams_per_org": 5,
    "groups": 50,
    "target_direct": 5_000,  # half of them unread
    "marker_direct": 10_000,  # all unread
    "system": 100,
    "target_org_rows": 300,
    "target_team_rows": 300,  # per team; the target user is in 2 teams
    "other_org_rows": 250,  # per other organization
    "other_team_rows": 100,  # per other team
    "target_read_receipts": 500,
    "other_receipt_share": 0.04,  # of (org broadcast, member) pairs: read receipts
}
TARGET = "target"
MARKER = "marker"
#: The large-event dataset (PostgreSQL, django-notify only): this many users per size
#: with an email address, members of EVENT_ORGS organizations, all subscribed to EVENT_TYPE.
EVENT_AUDIENCE = {"small": 2_000, "full": 100_000}
EVENT_ORGS = 20
#: The emitted type of the write figures (notify_side/notifications.py).
EVENT_TYPE = "bench.event"


def _models():
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group
    from django.contrib.contenttypes.models import ContentType
    from organizations.models import Membership, Organization, Team

    from django_notify import get_notification_model
    from django_notify.models import NotificationReceipt, Subscription

    User = get_user_model()
    return {
        "User": User,
        "Group": Group,
        "Organization": Organization,
        "Membership": Membership,
        "Team": Team,
        "Notification": get_notification_model(),
        "Receipt": NotificationReceipt,
        "Subscription": Subscription,
        "ct_user": ContentType.objects.get_for_model(User).pk,
        "ct_group": ContentType.objects.get_for_model(Group).pk,
    }


def _ids(model, field: str, values: list) -> list[int]:
    found = dict(model.objects.filter(**{f"{field}__in": values}).values_list(field, "pk"))
    return [found[v] for v in values]


def build_main(size: str) -> dict:
    m = _models()
    user_ids, group_ids = benchlib.load_users_and_groups(size)
    orgs = [f"org{i:03d}" for i in range(benchlib.ORGS[size])]
    benchlib.insert_rows(m["Organization"], {"name": orgs})
    org_ids = _ids(m["Organization"], "name", orgs)
    user_org = [org_ids[i % len(org_ids)] for i in range(len(user_ids))]
    benchlib.insert_rows(m["Membership"], {"user_id": user_ids, "organization_id": user_org})
    # The write figures' audience: members too, and subscribed to the emitted type.
    fan_ids = benchlib.load_fanout_users(size)
    benchlib.insert_rows(
        m["Membership"],
        {
            "user_id": fan_ids,
            "organization_id": [org_ids[i % len(org_ids)] for i in range(len(fan_ids))],
        },
    )
    benchlib.insert_rows(
        m["Subscription"],
        {"user_id": fan_ids},
        fixed={"notification_type": EVENT_TYPE, "created_at": benchlib.BASE_TIME},
    )

    data = benchlib.dataset(size)
    hour = timedelta(hours=1)
    rows = {
        "created_at": data["created"],
        "title": data["title"],
        "recipient_id": [user_ids[r] for r in data["recipient"]],
        "organization_key": [str(user_org[r]) for r in data["recipient"]],
        "read_at": [
            None if u else c + hour for u, c in zip(data["unread"], data["created"], strict=True)
        ],
        "actor_object_id": [str(user_ids[a]) for a in data["actor"]],
        "target_content_type_id": [
            m["ct_group"] if g else m["ct_user"] for g in data["target_group"]
        ],
        "target_object_id": [
            str(group_ids[t] if g else user_ids[t])
            for g, t in zip(data["target_group"], data["target"], strict=True)
        ],
    }
    fixed = {
        "scope": "user",
        "origin": "organization",
        "is_global": False,
        "team_key": "",
        "actor_content_type_id": m["ct_user"],
    }
    benchlib.insert_rows(m["Notification"], rows, fixed=fixed)
    tables = [
        m[k]._meta.db_table
        for k in ("Notification", "Receipt", "User", "Membership", "Subscription")
    ]
    benchlib.analyze(tables)
    return {
        "notifications": m["Notification"].objects.count(),
        "users": m["User"].objects.count(),
        "fanout_users": len(fan_ids),
        "subscriptions": m["Subscription"].objects.filter(notification_type=EVENT_TYPE).count(),
        "organizations": len(org_ids),
    }


def build_million() -> dict:
    """1,000,000 rows, built with INSERT … SELECT over generate_series (PostgreSQL)."""
    from django.db import connection

    spec = MILLION
    m = _models()
    User = m["User"]
    names = [TARGET, MARKER] + [f"m{i:05d}" for i in range(spec["users"] - 2)]
    benchlib.insert_rows(
        User,
        {"username": names},
        fixed={"password": "!", "date_joined": benchlib.BASE_TIME - timedelta(days=100)},
    )
    user_ids = _ids(User, "username", names)
    groups = [f"group{i:03d}" for i in range(spec["groups"])]
    benchlib.insert_rows(m["Group"], {"name": groups})
    group_ids = _ids(m["Group"], "name", groups)
    orgs = [f"org{i:03d}" for i in range(spec["orgs"])]
    benchlib.insert_rows(m["Organization"], {"name": orgs})
    org_ids = _ids(m["Organization"], "name", orgs)
    per = spec["teams_per_org"]
    team_org = [org_ids[i // per] for i in range(spec["orgs"] * per)]
    team_names = [f"team{i % per}" for i in range(len(team_org))]
    benchlib.insert_rows(m["Team"], {"organization_id": team_org, "name": team_names})
    team_ids = list(m["Team"].objects.order_by("pk").values_list("pk", flat=True))
    for ids in (user_ids, group_ids, org_ids, team_ids):
        # The SQL below computes ids arithmetically from the first one.
        assert ids == list(range(ids[0], ids[0] + len(ids))), "ids are not contiguous"

    target, marker, others = user_ids[0], user_ids[1], user_ids[2:]
    n_other = len(others)
    # Memberships: the two measured users in organization 0 and its teams 0 and 1; other
    # user k in organization k % orgs, one team there, a third of them in a second one.
    member_org = [org_ids[0], org_ids[0]] + [org_ids[k % spec["orgs"]] for k in range(n_other)]
    benchlib.insert_rows(m["Membership"], {"user_id": user_ids, "organization_id": member_org})
    team_users, team_team = [target, target, marker, marker], team_ids[:2] * 2
    for k, uid in enumerate(others):
        first = (k // spec["orgs"]) % per
        for t in (first, (first + 1) % per) if k % 3 == 0 else (first,):
            team_users.append(uid)
            team_team.append(team_ids[(k % spec["orgs"]) * per + t])
    benchlib.insert_rows(m["Team"].members.through, {"user_id": team_users, "team_id": team_team})

    p = {
        "all_lo": user_ids[0],
        "n_all": len(user_ids),
        "other_lo": others[0],
        "n_other": n_other,
        "org_lo": org_ids[0],
        "n_orgs": spec["orgs"],
        "team_lo": team_ids[0],
        "per": per,
        "grp_lo": group_ids[0],
        "n_grp": len(group_ids),
        "ct_user": m["ct_user"],
        "ct_group": m["ct_group"],
        "base": benchlib.BASE_TIME.isoformat(),
        "days": benchlib.DAYS,
    }
    o0 = f"'{org_ids[0]}'"
    segments = [
        # (rows, recipient, scope, team_key, organization_key, is_global, origin, is_read)
        (spec["target_direct"], str(target), "user", "''", o0, "false", "organization",
         "s.g %% 2 = 0"),
        (spec["marker_direct"], str(marker), "user", "''", o0, "false", "organization",
         "false"),
        (spec["system"], "NULL", "system", "''", "''", "true", "system", "false"),
        (spec["target_org_rows"], "NULL", "organization", "''", o0, "true", "organization",
         "false"),
        (spec["target_team_rows"], "NULL", "team", f"'{team_ids[0]}'", o0, "false",
         "organization", "false"),
        (spec["target_team_rows"], "NULL", "team", f"'{team_ids[1]}'", o0, "false",
         "organization", "false"),
        (spec["other_org_rows"] * (spec["orgs"] - 1), "NULL", "organization", "''",
         "(%(org_lo)s + 1 + s.g %% (%(n_orgs)s - 1))::text", "true", "organization", "false"),
        (spec["other_team_rows"] * (len(team_ids) - 2), "NULL", "team",
         f"(%(team_lo)s + 2 + s.g %% {len(team_ids) - 2})::text",
         f"(%(org_lo)s + (2 + s.g %% {len(team_ids) - 2}) / %(per)s)::text",
         "false", "organization", "false"),
    ]  # fmt: skip
    rest = spec["total"] - sum(seg[0] for seg in segments)
    segments.append(
        (rest, "%(other_lo)s + floor(s.rx * %(n_other)s)::int", "user", "''",
         "(%(org_lo)s + floor(s.rx * %(n_other)s)::int %% %(n_orgs)s)::text", "false",
         "organization", "s.rr < 0.5")
    )  # fmt: skip

    with connection.cursor() as cursor:
        cursor.execute("SELECT setseed(0.2024)")
        cursor.execute(
            "CREATE TEMP TABLE stage (recipient_id bigint, scope text, team_key text, "
            "organization_key text, is_global boolean, origin text, is_read boolean, "
            "actor_id bigint, target_ct integer, target_id bigint, created_at timestamptz, "
            "title text)"
        )
        for n, (rows, recipient, scope, team, org, is_global, origin, is_read) in enumerate(
            segments
        ):
            cursor.execute(
                "INSERT INTO stage SELECT "
                f"{recipient}, '{scope}', {team}, {org}, {is_global}, '{origin}', {is_read}, "
                "%(all_lo)s + floor(s.ra * %(n_all)s)::int, "
                "CASE WHEN s.rk < 0.5 THEN %(ct_group)s ELSE %(ct_user)s END, "
                "CASE WHEN s.rk < 0.5 THEN %(grp_lo)s + floor(s.rt * %(n_grp)s)::int "
                "ELSE %(all_lo)s + floor(s.rt * %(n_all)s)::int END, "
                "%(base)s::timestamptz - s.rc * %(days)s * interval '1 day', "
                f"'{scope} {n}.' || s.g "
                "FROM (SELECT g, random() AS ra, random() AS rk, random() AS rt, "
                "random() AS rc, random() AS rr, random() AS rx "
                f"FROM generate_series(1, {rows}) g) s",
                p,
            )
    Notification = m["Notification"]
    benchlib.insert_select(
        Notification,
        {
            "title": "s.title",
            "created_at": "s.created_at",
            "recipient_id": "s.recipient_id",
            "scope": "s.scope",
            "team_key": "s.team_key",
            "organization_key": "s.organization_key",
            "is_global": "s.is_global",
            "origin": "s.origin",
            "read_at": "CASE WHEN s.is_read THEN s.created_at + interval '1 hour' END",
            "actor_object_id": "s.actor_id::text",
            "target_content_type_id": "s.target_ct",
            "target_object_id": "s.target_id::text",
        },
        "(SELECT * FROM stage ORDER BY created_at) s",
        fixed={"actor_content_type_id": m["ct_user"]},
    )
    table = connection.ops.quote_name(Notification._meta.db_table)
    membership = connection.ops.quote_name(m["Membership"]._meta.db_table)
    visible = (
        f"n.scope = 'system' OR (n.scope = 'organization' AND n.organization_key = {o0}) "
        f"OR (n.scope = 'team' AND n.team_key IN ('{team_ids[0]}', '{team_ids[1]}'))"
    )
    receipt = {
        "notification_id": "n.id",
        "read_at": "n.created_at + interval '2 hours'",
    }
    benchlib.insert_select(
        m["Receipt"],
        {**receipt, "user_id": str(target)},
        f"(SELECT n.* FROM {table} n WHERE {visible} ORDER BY md5(n.id::text) "
        f"LIMIT {spec['target_read_receipts']}) n",
    )
    benchlib.insert_select(
        m["Receipt"],
        {**receipt, "user_id": "ms.user_id"},
        f"{table} n JOIN {membership} ms ON n.organization_key = ms.organization_id::text "
        f"WHERE n.scope = 'organization' AND ms.user_id NOT IN ({target}, {marker}) "
        f"AND random() < {spec['other_receipt_share']}",
    )
    tables = [
        m[k]._meta.db_table for k in ("Notification", "Receipt", "User", "Membership", "Team")
    ]
    benchlib.analyze([*tables, m["Team"].members.through._meta.db_table])
    Receipt = m["Receipt"]
    return {
        "notifications": Notification.objects.count(),
        "receipts": Receipt.objects.count(),
        "users": User.objects.count(),
        "organizations": len(org_ids),
        "teams": len(team_ids),
        "target_direct": Notification.objects.filter(recipient_id=target).count(),
        "marker_direct": Notification.objects.filter(recipient_id=marker).count(),
        "target_read_receipts": Receipt.objects.filter(user_id=target).count(),
    }


def build_event(size: str) -> dict:
    """The large-event audience: ``EVENT_AUDIENCE[size]`` subscribers with an email
    address, in EVENT_ORGS organizations, and the actor (``benchlib.HEAVY``, subscribed
    to nothing)."""
    m = _models()
    User = m["User"]
    names = [f"e{i:06d}" for i in range(EVENT_AUDIENCE[size])]
    joined = benchlib.BASE_TIME - timedelta(days=100)
    benchlib.insert_rows(
        User, {"username": [benchlib.HEAVY]}, fixed={"password": "!", "date_joined": joined}
    )
    benchlib.insert_rows(
        User,
        {"username": names, "email": [f"{n}@bench.example" for n in names]},
        fixed={"password": "!", "date_joined": joined},
    )
    ids = list(
        User.objects.filter(username__startswith="e").order_by("pk").values_list("pk", flat=True)
    )
    orgs = [f"org{i:03d}" for i in range(EVENT_ORGS)]
    benchlib.insert_rows(m["Organization"], {"name": orgs})
    org_ids = _ids(m["Organization"], "name", orgs)
    benchlib.insert_rows(
        m["Membership"],
        {"user_id": ids, "organization_id": [org_ids[k % EVENT_ORGS] for k in range(len(ids))]},
    )
    benchlib.insert_rows(
        m["Subscription"],
        {"user_id": ids},
        fixed={"notification_type": EVENT_TYPE, "created_at": benchlib.BASE_TIME},
    )
    benchlib.analyze(
        [m[k]._meta.db_table for k in ("User", "Subscription", "Membership", "Notification")]
    )
    return {
        "users": User.objects.count(),
        "subscriptions": m["Subscription"].objects.filter(notification_type=EVENT_TYPE).count(),
        "organizations": len(org_ids),
    }
