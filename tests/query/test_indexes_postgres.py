"""The feed's query plans on PostgreSQL, on realistic data.

~20,000 notification rows over 40 organizations, 2,000 users and 320 teams; each user
sees about 0.5 % of the table (their direct rows, their one or two teams' rows, their
organization's global rows and the few system rows). After ``ANALYZE`` the planner
must choose indexes on the notification table on its own (``enable_seqscan`` is left
on). The plans are written to ``test-artifacts/explain/`` for the docs.
"""

from __future__ import annotations

import json
import random
import re
from datetime import timedelta
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from django_notify.models import NotificationReceipt
from django_notify.tenancy import Role
from django_notify.types import Origin, Scope

pytestmark = pytest.mark.postgres

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "explain"

N_ORGS = 40
USERS_PER_ORG = 50
TEAMS_PER_ORG = 8
DIRECT_PER_USER = 7  # on average
TEAM_ROWS_PER_TEAM = 10
ORG_ROWS_PER_ORG = 60
SYSTEM_ROWS = 30


@pytest.fixture
def realistic_data(require_postgres, db, Notification):
    from tests.testapp.models import Membership, Organization, Team

    rng = random.Random(20240601)
    User = get_user_model()
    now = timezone.now()

    def when():
        return now - timedelta(seconds=rng.randint(0, 90 * 24 * 3600))

    orgs = Organization.objects.bulk_create(
        [Organization(name=f"perf-org-{i}") for i in range(N_ORGS)]
    )
    users = User.objects.bulk_create(
        [User(username=f"perf-user-{i}") for i in range(N_ORGS * USERS_PER_ORG)]
    )
    by_org = {
        org.pk: users[i * USERS_PER_ORG : (i + 1) * USERS_PER_ORG] for i, org in enumerate(orgs)
    }
    Membership.objects.bulk_create(
        [
            Membership(user=u, organization_id=org_pk, role=rng.choice(list(Role)))
            for org_pk, members in by_org.items()
            for u in members
        ]
    )
    teams = Team.objects.bulk_create(
        [Team(organization=org, name=f"team-{t}") for org in orgs for t in range(TEAMS_PER_ORG)]
    )
    memberships = []
    for team in teams:
        for u in rng.sample(by_org[team.organization_id], rng.randint(5, 8)):
            memberships.append(Team.members.through(team_id=team.pk, user_id=u.pk))
    Team.members.through.objects.bulk_create(memberships, ignore_conflicts=True)

    rows = []
    for _ in range(len(users) * DIRECT_PER_USER):
        u = rng.choice(users)
        rows.append(
            Notification(
                title="direct",
                scope=Scope.USER,
                recipient_id=u.pk,
                organization_key=str(orgs[(u.pk - users[0].pk) // USERS_PER_ORG].pk),
                created_at=when(),
                read_at=now if rng.random() < 0.5 else None,
            )
        )
    for team in teams:
        for _ in range(TEAM_ROWS_PER_TEAM):
            rows.append(
                Notification(
                    title="team",
                    scope=Scope.TEAM,
                    team_key=str(team.pk),
                    organization_key=str(team.organization_id),
                    created_at=when(),
                )
            )
    for org in orgs:
        for _ in range(ORG_ROWS_PER_ORG):
            rows.append(
                Notification(
                    title="org",
                    scope=Scope.ORGANIZATION,
                    organization_key=str(org.pk),
                    is_global=True,
                    created_at=when(),
                    expires_at=now - timedelta(days=1) if rng.random() < 0.1 else None,
                )
            )
    for _ in range(SYSTEM_ROWS):
        rows.append(
            Notification(
                title="system",
                scope=Scope.SYSTEM,
                origin=Origin.SYSTEM,
                is_global=True,
                created_at=when(),
            )
        )
    rng.shuffle(rows)
    created = Notification.objects.bulk_create(rows, batch_size=2000)
    # Receipts: users read or dismissed some of the broadcasts they see.
    receipts = []
    seen = set()
    broadcast = [n for n in created if n.scope != Scope.USER]
    for _ in range(8000):
        n = rng.choice(broadcast)
        u = rng.choice(users)
        if (n.pk, u.pk) in seen:
            continue
        seen.add((n.pk, u.pk))
        receipts.append(
            NotificationReceipt(
                notification_id=n.pk,
                user_id=u.pk,
                read_at=now,
                dismissed_at=now if rng.random() < 0.3 else None,
            )
        )
    NotificationReceipt.objects.bulk_create(receipts)

    with connection.cursor() as cursor:
        for model in (Notification, NotificationReceipt, Membership, Team, Team.members.through):
            cursor.execute(f'ANALYZE "{model._meta.db_table}"')
    # A typical user: a member of at least one team.
    member_ids = set(Team.members.through.objects.values_list("user_id", flat=True))
    user = next(u for u in users if u.pk in member_ids)
    total = Notification.objects.count()
    visible = Notification.objects.visible_to(user).count()
    print(
        f"\n[explain] data: {total} notifications, {len(receipts)} receipts, {len(users)} users, "
        f"{len(teams)} teams, {len(orgs)} orgs; the sample user sees {visible} "
        f"({100 * visible / total:.2f} %)"
    )
    assert total >= 19_000
    assert visible < total * 0.02
    return user


def _write(name: str, title: str, sql: str, plan: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / f"{name}.txt").write_text(f"-- {title}\n-- SQL:\n{sql}\n\n-- Plan:\n{plan}\n")


def _sql(queryset) -> str:
    with CaptureQueriesContext(connection) as ctx:
        list(queryset)
    return ctx.captured_queries[-1]["sql"]


def _check(plan: str, table: str) -> list[str]:
    """Problems with the plan: sequential scans of the notification table."""
    return [
        line.strip() for line in plan.splitlines() if re.search(rf"Seq Scan on {table}\b", line)
    ]


def _summary(plan: str, table: str) -> str:
    """The lines about the notification table (the full plans are in the artifacts)."""
    keep = (
        f"on {table} ",
        "Bitmap Index Scan on django_noti",
        "Index Cond: ((scope",
        "Rows Removed",
    )
    lines = [
        line
        for line in plan.splitlines()
        if any(k in line for k in keep) or line.startswith(("Limit", "Aggregate", "Execution"))
    ]
    return "\n".join(lines)


def _explain_sql(sql: str, analyze: bool = False) -> str:
    with connection.cursor() as cursor:
        cursor.execute(("EXPLAIN (ANALYZE, BUFFERS) " if analyze else "EXPLAIN ") + sql)
        return "\n".join(row[0] for row in cursor.fetchall())


def test_feed_plans_use_indexes(realistic_data, Notification):
    user = realistic_data
    table = Notification._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute("SHOW enable_seqscan")
        assert cursor.fetchone()[0] == "on"

    feed = Notification.objects.visible_to(user)[:20]
    unread = Notification.objects.unread(user)[:20]
    cases = {
        "feed": ("visible_to(user)[:20]", feed),
        "unread": ("unread(user)[:20]", unread),
        "unread_count": (
            "unread(user) (the rows unread_count() counts)",
            Notification.objects.unread(user),
        ),
    }
    problems = {}
    for name, (title, qs) in cases.items():
        plan = qs.explain()
        analyzed = qs.explain(analyze=True, buffers=True)
        _write(name, title, _sql(qs), plan + "\n\n-- EXPLAIN (ANALYZE, BUFFERS):\n" + analyzed)
        print(f"\n[explain] {title}:\n{_summary(analyzed, table)}")
        found = _check(plan, table)
        if found:
            problems[name] = found

    # The exact statement unread_count() sends (SELECT COUNT(*) ...).
    with CaptureQueriesContext(connection) as ctx:
        count = Notification.objects.unread_count(user)
    [query] = ctx.captured_queries
    count_sql = query["sql"]
    plan = _explain_sql(count_sql)
    analyzed = _explain_sql(count_sql, analyze=True)
    _write("unread_count_sql", f"unread_count(user) = {count}", count_sql, plan + "\n\n" + analyzed)
    print(f"\n[explain] unread_count(user) = {count}:\n{_summary(analyzed, table)}")
    found = _check(plan, table)
    if found:
        problems["unread_count_sql"] = found

    assert not problems, f"sequential scans of {table}: {problems}"


def _scan_nodes(node: dict, table: str):
    """Every plan node that reads the notification table, and every index scan node."""
    if node.get("Relation Name") == table or "Index Name" in node:
        yield node
    for child in node.get("Plans", []):
        yield from _scan_nodes(child, table)


def test_feed_reads_only_the_users_share(realistic_data, Notification):
    """Stricter than "no Seq Scan": the broadcast branch of visible_to() must be
    narrowed by the user's audience keys inside the audience index's condition (the key
    expression reads ``team_key`` and ``organization_key``), so the rows PostgreSQL
    reads grow with what the user sees, not with the table.

    An index scan on ``scope <> 'user'`` alone reads every broadcast of every
    organization and filters them afterwards; that is what this test rules out.
    """
    user = realistic_data
    table = Notification._meta.db_table
    indexes = {
        name for (name,) in _fetch("SELECT indexname FROM pg_indexes WHERE tablename = %s", [table])
    }
    audience_index = next(name for name in indexes if name.endswith("_audience"))
    visible = Notification.objects.visible_to(user).count()
    unread = Notification.objects.unread(user).count()
    cases = {
        "feed": (Notification.objects.visible_to(user)[:20], visible),
        "unread_count": (Notification.objects.unread(user), unread),
    }
    report = {}
    for name, (qs, expected_rows) in cases.items():
        [root] = json.loads(qs.explain(format="json", analyze=True))
        nodes = list(_scan_nodes(root["Plan"], table))
        heap = [n for n in nodes if n.get("Relation Name") == table]
        read = sum(n["Actual Rows"] + n.get("Rows Removed by Filter", 0) for n in heap)
        audience = " ".join(
            n.get("Index Cond", "") for n in nodes if n.get("Index Name") == audience_index
        )
        report[name] = {
            "rows read": read,
            "rows wanted": expected_rows,
            "team_key in an Index Cond": "team_key" in audience,
            "organization_key in an Index Cond": "organization_key" in audience,
        }
    print(f"\n[explain] rows read from {table} per query: {report}")
    for name, figures in report.items():
        assert figures["team_key in an Index Cond"], (name, figures)
        assert figures["organization_key in an Index Cond"], (name, figures)
        assert figures["rows read"] <= 3 * figures["rows wanted"] + 50, (name, figures)


def _fetch(sql: str, params) -> list:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def _generic_plan(sql: str, params) -> dict:
    """``EXPLAIN ANALYZE`` of ``sql`` as a prepared statement's generic plan: the plan
    PostgreSQL keeps for every user once it stops planning each call (see
    django_notify.prepared), with the values known only when it runs."""
    from psycopg import ClientCursor

    numbers = iter(range(1, len(params) + 1))
    server_sql = re.sub(r"%s", lambda _: f"${next(numbers)}", sql).replace("%%", "%")
    raw = connection.connection
    values = ", ".join(ClientCursor(raw).mogrify("%s", [value]) for value in params)
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL plan_cache_mode = force_generic_plan")
        cursor.execute(f"PREPARE feed_generic AS {server_sql}")
        try:
            cursor.execute(f"EXPLAIN (ANALYZE, FORMAT JSON) EXECUTE feed_generic({values})")
            [root] = cursor.fetchone()[0]
        finally:
            cursor.execute("DEALLOCATE feed_generic")
            cursor.execute("RESET plan_cache_mode")
    return root["Plan"]


def _nodes(node: dict):
    yield node
    for child in node.get("Plans", []):
        yield from _nodes(child)


def test_generic_plans_of_the_feed_read_about_a_page(realistic_data, Notification):
    """A prepared feed statement's generic plan must stay a per-page plan for a user
    whose receipts (read and dismissed) far outnumber the average user's: planned for
    "any user", the receipts of the branch that reads broadcasts key by key were once one
    join that read all of this user's receipts and compared each page candidate with
    every one."""
    user = realistic_data
    table = Notification._meta.db_table
    broadcasts = list(
        Notification.objects.exclude(scope=Scope.USER)
        .exclude(receipts__user=user)
        .values_list("pk", flat=True)[:600]
    )
    now = timezone.now()
    NotificationReceipt.objects.bulk_create(
        [
            NotificationReceipt(notification_id=pk, user=user, read_at=now, dismissed_at=now)
            for pk in broadcasts
        ]
    )
    with connection.cursor() as cursor:
        cursor.execute(f'ANALYZE "{NotificationReceipt._meta.db_table}"')
    cases = {
        "page": Notification.objects.visible_to(user).prefetch_related(None)[:20],
        "unread page": Notification.objects.unread(user).prefetch_related(None)[:20],
        "unread list with its count": Notification.objects.visible_to(user)
        .unread()
        .with_unread_count()
        .prefetch_related(None)[:11],
    }
    report = {}
    for name, queryset in cases.items():
        sql, params = queryset.query.sql_with_params()
        nodes = list(_nodes(_generic_plan(sql, params)))
        report[name] = {
            "sequential scans": [n["Relation Name"] for n in nodes if n["Node Type"] == "Seq Scan"],
            "rows removed by join filters": sum(
                n.get("Rows Removed by Join Filter", 0) for n in nodes
            ),
        }
    print(f"\n[explain] generic plans, a user with {len(broadcasts)} more receipts: {report}")
    for name, figures in report.items():
        assert table not in figures["sequential scans"], (name, figures)
        assert figures["rows removed by join filters"] <= 100, (name, figures)


def test_a_deep_page_keeps_its_generic_plan(realistic_data, Notification):
    """A page deep in the cursor, run through the package's prepared statements, is
    planned once per connection like the first page: after PostgreSQL's five trial
    plans made for the values, it keeps the generic plan. The cursor is applied by
    each branch under its LIMIT and not again above it, where a generic plan had to
    guess how many of a branch's rows it keeps and so came out dearer than a plan
    made for the values, every time."""
    from django_notify import prepared

    user = realistic_data
    rows = list(Notification.objects.visible_to(user).values_list("created_at", "pk"))
    moment, pk = rows[len(rows) // 2]
    connection.ensure_connection()
    with connection.cursor() as cursor:
        cursor.execute("DEALLOCATE ALL")
    connection.connection._prepared.clear()
    prepared._seen.pop(connection.connection, None)
    deep = Notification.objects.visible_to(user).after(moment, pk)
    # Under the generic plan, nothing above a branch's LIMIT filters on the cursor.
    sql, params = deep.prefetch_related(None)[:20].query.sql_with_params()
    refiltered = [
        node["Filter"]
        for node in _nodes(_generic_plan(sql, params))
        if node["Node Type"] == "Subquery Scan" and "created_at" in node.get("Filter", "")
    ]
    assert refiltered == [], refiltered
    for _ in range(12):
        page = list(deep[:20])
    assert [row.pk for row in page] == [pk for _, pk in rows[len(rows) // 2 + 1 :]][:20]
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT generic_plans, custom_plans FROM pg_prepared_statements "
            "WHERE statement LIKE '%%UNION ALL%%'"
        )
        plans = cursor.fetchall()
    print(f"\n[explain] deep page, (generic, custom) plans over 11 prepared runs: {plans}")
    assert len(plans) == 1 and plans[0][0] >= 5, plans
