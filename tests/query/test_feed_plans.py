"""The read side's plans and query counts on a site with only direct notifications.

After ``ANALYZE`` every row has ``scope = 'user'``: a planner that reads the broadcast
branches through a scope index would see one value for the whole table and scan it.
The broadcast indexes are partial (they hold no row here), so every branch stays a
lookup. On SQLite the plans come from ``EXPLAIN QUERY PLAN``; on PostgreSQL from
``EXPLAIN (ANALYZE)``, with the rows read from the notification table compared with
the rows returned.
"""

from __future__ import annotations

import json
import re
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from django_notify.tenancy import Role

pytestmark = pytest.mark.django_db

HEAVY_ROWS = 2_000
OTHER_USERS = 200
ROWS_PER_OTHER = 200


@pytest.fixture
def direct_only(make_org, make_user, Notification):
    """One user with 2,000 direct rows (half unread) among 42,000 rows of 201 users."""
    org = make_org()
    heavy = make_user(Role.DEV_USER, org)
    others = get_user_model().objects.bulk_create(
        [get_user_model()(username=f"plan-user-{i}") for i in range(OTHER_USERS)]
    )
    now = timezone.now()
    rows = []
    for i in range(HEAVY_ROWS):
        rows.append(
            Notification(
                title=f"h{i}",
                scope="user",
                recipient=heavy,
                created_at=now - timedelta(minutes=i),
                read_at=now if i % 2 else None,
            )
        )
    for j, user in enumerate(others):
        for i in range(ROWS_PER_OTHER):
            rows.append(
                Notification(
                    title=f"o{i}",
                    scope="user",
                    recipient=user,
                    created_at=now - timedelta(minutes=i, seconds=j),
                    read_at=now if i % 2 else None,
                )
            )
    Notification.objects.bulk_create(rows, batch_size=2_000)
    with connection.cursor() as cursor:
        cursor.execute(f'ANALYZE "{Notification._meta.db_table}"')
    return heavy


def _captured(fn):
    with CaptureQueriesContext(connection) as ctx:
        result = fn()
    return result, [q["sql"] for q in ctx.captured_queries]


def _queries(Notification, user):
    manager = Notification.objects
    feed = list(manager.visible_to(user)[:1_001])  # the cursor 50 pages deep
    cursor_row = feed[-1]
    return {
        "unread_count": lambda: manager.unread_count(user),
        "feed page": lambda: list(manager.visible_to(user).prefetch_related(None)[:20]),
        "unread page": lambda: list(manager.unread(user).prefetch_related(None)[:20]),
        "deep page": lambda: list(
            manager.visible_to(user)
            .after(cursor_row.created_at, cursor_row.pk)
            .prefetch_related(None)[:20]
        ),
    }


def test_each_read_is_one_statement(direct_only, Notification):
    for name, run in _queries(Notification, direct_only).items():
        _result, statements = _captured(run)
        assert len(statements) == 1, (name, statements)


@pytest.mark.skipif("connection.vendor != 'sqlite'")
def test_sqlite_plans_look_rows_up_by_index(direct_only, Notification):
    table = Notification._meta.db_table
    scans = {}
    for name, run in _queries(Notification, direct_only).items():
        _result, [sql] = _captured(run)
        with connection.cursor() as cursor:
            # The captured SQL has its parameters inlined; EXPLAIN what was sent.
            cursor.execute("EXPLAIN QUERY PLAN " + sql)
            plan = [row[3] for row in cursor.fetchall()]
        print(f"\n[explain sqlite] {name}: {plan}")
        # "SCAN n" (or the table) without an index is a full table scan.
        full = [step for step in plan if re.fullmatch(rf"SCAN ({table}|n)", step)]
        if full:
            scans[name] = plan
    assert not scans, scans


def _notification_nodes(node: dict, table: str):
    if node.get("Relation Name") == table:
        yield node
    for child in node.get("Plans", []):
        yield from _notification_nodes(child, table)


@pytest.mark.postgres
def test_postgres_reads_close_to_what_it_returns(require_postgres, direct_only, Notification):
    table = Notification._meta.db_table
    report = {}
    for name, run in _queries(Notification, direct_only).items():
        result, [sql] = _captured(run)
        with connection.cursor() as cursor:
            cursor.execute("EXPLAIN (ANALYZE, FORMAT JSON) " + sql)
            value = cursor.fetchone()[0]
        [root] = json.loads(value) if isinstance(value, str) else value
        nodes = list(_notification_nodes(root["Plan"], table))
        assert all(n["Node Type"] != "Seq Scan" for n in nodes), (name, nodes)
        read = sum(n["Actual Rows"] + n.get("Rows Removed by Filter", 0) for n in nodes)
        returned = result if isinstance(result, int) else len(result)
        report[name] = (read, returned)
    print(f"\n[explain postgres] (rows read, rows returned): {report}")
    for name, (read, returned) in report.items():
        # A page reads its 20 rows (and one more per branch to know where it stops).
        assert read <= returned + 5, (name, read, returned)


def test_slices_reversals_and_empty_filters_keep_their_meaning(direct_only, Notification):
    """A page computed per branch must be the page of the whole feed, whatever the slice
    or the order asks for."""
    feed = Notification.objects.visible_to(direct_only)
    every = list(feed.prefetch_related(None).values_list("pk", flat=True))
    assert list(feed.values_list("pk", flat=True)[:20]) == every[:20]
    assert list(feed.values_list("pk", flat=True)[30:45]) == every[30:45]
    assert list(feed.reverse().values_list("pk", flat=True)[:5]) == every[::-1][:5]
    assert feed.last().pk == every[-1] and feed.first().pk == every[0]
    assert list(feed.filter(pk__in=[])[:5]) == []
    assert (
        list(feed.order_by("created_at", "id").values_list("pk", flat=True)[:3])
        == (every[::-1][:3])
    )
    assert feed.unread()[:10].count() == 10


def test_the_feed_queryset_composes_like_any_queryset(make_org, make_user, make_team, Notification):
    """Joins, subqueries, aggregates, unions and writes through a feed queryset mean what
    they mean on the table, restricted to the user's feed."""
    from django.db.models import Count

    from django_notify import notify, send

    org = make_org()
    ada, admin, bob = make_user(Role.DEV_USER, org), make_user(Role.ORG_ADMIN, org), make_user()
    team = make_team(org, members=[ada])
    mine = notify([ada], title="direct")[0]
    from_admin = send(admin, title="to the team", target_team=team)[0]
    hidden = notify([bob], title="not ada's")[0]
    feed = Notification.objects.visible_to(ada)
    assert set(feed.values_list("pk", flat=True)) == {mine.pk, from_admin.pk}
    # A filter through a join cannot go into the branches; it still applies.
    by_admin = feed.filter(sender__username=admin.username)
    assert [n.pk for n in by_admin[:5]] == [from_admin.pk]
    assert list(feed.select_related("sender")[:5])[0].pk == from_admin.pk
    # As a subquery of a query on the plain table.
    outer = Notification.objects.filter(pk__in=feed.values("pk"))
    assert set(outer.values_list("pk", flat=True)) == {mine.pk, from_admin.pk}
    assert feed.aggregate(n=Count("pk")) == {"n": 2}
    assert feed.filter(pk=hidden.pk).exists() is False
    either = feed.order_by().union(Notification.objects.filter(pk=hidden.pk).order_by())
    assert set(either.values_list("pk", flat=True)) == {
        mine.pk, from_admin.pk, hidden.pk
    }  # fmt: skip
    with pytest.raises(TypeError, match="cannot be combined"):
        feed | Notification.objects.all()
    # Writes through the feed touch only the feed's rows.
    assert feed.filter(title__startswith="to").update(action_required=True) == 1
    assert not Notification.objects.get(pk=hidden.pk).action_required
    deleted, _ = feed.filter(pk=mine.pk).delete()
    assert deleted >= 1 and Notification.objects.filter(pk=hidden.pk).exists()
