"""Query budgets of the read side and of bulk sending.

The figures are printed (run with ``-s``) so they can be quoted in the docs.
"""

from __future__ import annotations

import math
import time

import pytest
from django.contrib.auth import get_user_model
from django.contrib.contenttypes.models import ContentType
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from django_notify import notify, send, send_system, signals
from django_notify.conf import app_settings
from django_notify.tenancy import Role
from django_notify.types import Scope

pytestmark = pytest.mark.django_db


def _insert_batch(model, n_rows: int, batch_size: int | None = None) -> int:
    """How many INSERT statements ``n_rows`` rows of ``model`` take: one ``INSERT …
    SELECT`` per ``batch_size`` rows on PostgreSQL and SQLite (one parameter per column,
    whatever the rows), else the backend's limit on parameters per statement."""
    if connection.vendor in ("postgresql", "sqlite") and batch_size:
        return math.ceil(n_rows / batch_size)
    fields = [f for f in model._meta.concrete_fields if not f.primary_key]
    per_batch = max(connection.ops.bulk_batch_size(fields, [None] * n_rows), 1)
    if batch_size:
        per_batch = min(per_batch, batch_size)
    return math.ceil(n_rows / per_batch)


# --- the feed page -------------------------------------------------------------------


@pytest.fixture
def feed_world(make_org, make_user, make_team, Notification):
    """A user whose feed mixes all four scopes, with actors and targets alternating
    between two models (User and testapp.Team), 30 visible rows."""
    org = make_org()
    user = make_user(Role.DEV_USER, org)
    admin = make_user(Role.ORG_ADMIN, org)
    staff = make_user(Role.DEV_USER, org, staff=True)
    others = [make_user(Role.DEV_USER, org) for _ in range(3)]
    teams = [make_team(org, members=[user, *others]) for _ in range(3)]
    users = [user, admin, *others]
    for i in range(30):
        # Alternate so that any two consecutive rows carry both models as actor and target.
        actor = users[i % len(users)] if i % 2 == 0 else teams[i % len(teams)]
        target = teams[i % len(teams)] if i % 2 == 0 else users[i % len(users)]
        content = {"actor": actor, "target": target}
        match i % 4:
            case 0:
                notify([user], title=f"direct {i}", **content)
            case 1:
                send(admin, title=f"team {i}", target_team=teams[i % len(teams)], **content)
            case 2:
                send(admin, title=f"org {i}", is_global=True, **content)
            case 3:
                send_system(staff, title=f"system {i}", **content)
    assert Notification.objects.visible_to(user).count() == 30
    return user


def _page(Notification, user, size: int, qs=None) -> list:
    qs = Notification.objects.visible_to(user) if qs is None else qs
    page = list(qs[:size])
    for n in page:
        # Touch every relation the bell and the API render.
        assert n.actor is not None
        assert n.target is not None
        _ = n.sender
    return page


def _measure_page(Notification, user, size: int, qs=None) -> int:
    with CaptureQueriesContext(connection) as ctx:
        page = _page(Notification, user, size, qs)
    assert len(page) == size
    return len(ctx.captured_queries)


def test_plain_visible_to_page_is_a_constant_number_of_queries(feed_world, Notification):
    """The issue's exact call: ``visible_to(user)[:20]``, nothing chained, with actor,
    target and sender evaluated — the same count for 2 rows as for 20."""
    user = feed_world
    _page(Notification, user, 20)  # warm the ContentType cache (see the cold test)
    counts = {}
    for size in (2, 20):
        with CaptureQueriesContext(connection) as ctx:
            rendered = [
                (n.actor, n.target, n.sender) for n in Notification.objects.visible_to(user)[:size]
            ]
        assert len(rendered) == size
        assert {type(a) for a, _, _ in rendered} == {type(t) for _, t, _ in rendered}
        assert len({type(a) for a, _, _ in rendered}) == 2, "both models must be on the page"
        counts[size] = len(ctx.captured_queries)
        # The page's users are joined above the branches' own LIMIT, never below it.
        user_table = get_user_model()._meta.db_table
        sql = ctx.captured_queries[0]["sql"]
        assert sql.count(f'JOIN "{user_table}"') == 3  # sender, actor, target
        assert sql.index(f'LEFT JOIN "{user_table}"') > sql.rindex(f"LIMIT {size})")
    # What the same page cost before visible_to() fetched the relations itself.
    bare = Notification.objects.visible_to(user).prefetch_related(None)
    bare_counts = {size: _measure_page(Notification, user, size, bare) for size in (2, 20)}
    print(
        "\n[query-counts] visible_to(user)[:n] + actor/target/sender: "
        f"2 rows={counts[2]} queries, 20 rows={counts[20]} queries "
        f"(without the related fetch: 2 rows={bare_counts[2]}, 20 rows={bare_counts[20]})"
    )
    # 1 feed query, which reads the users among senders, actors and targets too, + 1
    # for the other model among actors and targets.
    assert counts[2] == counts[20] == 1 + 1
    assert bare_counts[20] > bare_counts[2]


def test_with_related_is_the_same_page(feed_world, Notification):
    """``.with_related()`` (kept for callers that chain it) adds nothing on top."""
    user = feed_world
    _page(Notification, user, 20)
    chained = Notification.objects.visible_to(user).with_related().with_related()
    counts = {size: _measure_page(Notification, user, size, chained) for size in (2, 20)}
    assert counts[2] == counts[20] == 1 + 1


def test_feed_page_cold_contenttype_cache(feed_world, Notification):
    user = feed_world
    counts = {}
    for size in (2, 20):
        ContentType.objects.clear_cache()
        counts[size] = _measure_page(Notification, user, size)
    print(
        "\n[query-counts] feed page, cold ContentType cache: "
        f"2 rows={counts[2]} queries, 20 rows={counts[20]} queries"
    )
    # A cold cache costs one query per content type (2 models), once per process.
    assert counts[2] == counts[20] == 2 + 2


def test_unread_count_is_one_query(feed_world, Notification, django_assert_num_queries):
    user = feed_world
    with django_assert_num_queries(1) as ctx:
        count = Notification.objects.unread_count(user)
    assert count == 30
    # The sender join and the prefetches of visible_to() stay out of the count.
    [query] = ctx.captured_queries
    assert f'JOIN "{get_user_model()._meta.db_table}"' not in query["sql"]
    assert "sender" not in query["sql"]


def test_unread_count_user_without_teams_or_org(make_user, Notification, django_assert_num_queries):
    loner = make_user(org=False)
    notify([loner], title="hi")
    with django_assert_num_queries(1):
        assert Notification.objects.unread_count(loner) == 1


# --- bulk read state -----------------------------------------------------------------


def _bulk_rows(Notification, user, org, team, n: int) -> None:
    """``n`` rows visible to ``user``: half direct, the rest team/org/system broadcasts.

    Inserted with bulk_create: the data is the fixture, not what is under test.
    """
    now_rows = []
    for i in range(n):
        kind = ("user", "team", "user", "organization", "system")[i % 5]
        row = Notification(title=f"bulk {i}", scope=kind, origin="organization")
        if kind == "user":
            row.recipient = user
            row.organization_key = str(org.pk)
        elif kind == "team":
            row.team_key = str(team.pk)
            row.organization_key = str(org.pk)
        elif kind == "organization":
            row.organization_key = str(org.pk)
            row.is_global = True
        else:
            row.origin = "system"
            row.is_global = True
        now_rows.append(row)
    Notification.objects.bulk_create(now_rows)


@pytest.fixture
def bulk_factory(make_org, make_user, make_team, Notification):
    def make(n: int, pre_read: int = 0):
        org = make_org()
        user = make_user(Role.DEV_USER, org)
        team = make_team(org, members=[user])
        _bulk_rows(Notification, user, org, team, n)
        # Some rows already read (receipts exist), and one broadcast marked unread again
        # (a receipt with read_at empty): the upsert's update path as well as its insert.
        rows = list(Notification.objects.visible_to(user)[:pre_read])
        for row in rows:
            row.mark_read(user)
        broadcast = next((r for r in rows if r.scope != Scope.USER), None)
        if broadcast is not None:
            broadcast.mark_unread(user)
        return user

    return make


@pytest.mark.parametrize("action", ["mark_all_read", "dismiss_all"])
def test_bulk_actions_are_a_constant_number_of_statements(bulk_factory, Notification, action):
    """1,000 or 10,000 rows: the same statements, and one bulk signal with every id
    (the real-time side: ``test_realtime.py``)."""
    bulk_signal = (
        signals.notifications_read if action == "mark_all_read" else signals.notifications_dismissed
    )
    per_row = (
        signals.notification_read if action == "mark_all_read" else signals.notification_dismissed
    )
    calls, row_calls = [], []

    def on_bulk(sender, notification_ids, user, everything, **kw):
        calls.append((len(notification_ids), everything))

    def on_row(sender, **kw):
        row_calls.append(kw["notification"].pk)

    bulk_signal.connect(on_bulk, weak=False)
    per_row.connect(on_row, weak=False)
    figures = {}
    try:
        for n in (1_000, 10_000):
            # Each size in its own rolled-back savepoint: the system rows of one size
            # must not show up in the next one's feed.
            with transaction.atomic():
                user = bulk_factory(n, pre_read=10)
                visible = Notification.objects.visible_to(user)
                expected = (
                    visible.unread().count() if action == "mark_all_read" else visible.count()
                )
                assert expected == (n - 9 if action == "mark_all_read" else n)
                calls.clear()
                row_calls.clear()
                with CaptureQueriesContext(connection) as ctx:
                    changed = getattr(Notification.objects, action)(user)
                assert changed == expected
                assert calls == [(expected, True)] and row_calls == []
                assert Notification.objects.unread_count(user) == 0
                if action == "dismiss_all":
                    assert not Notification.objects.visible_to(user).exists()
                statements = [q["sql"] for q in ctx.captured_queries]
                figures[n] = len(statements)
                transaction.set_rollback(True)
    finally:
        bulk_signal.disconnect(on_bulk)
        per_row.disconnect(on_row)
    print(
        f"\n[query-counts] {action} ({connection.vendor}): "
        + ", ".join(f"{n} rows={q} queries" for n, q in figures.items())
    )
    # A savepoint and its release, the direct UPDATE, the receipts' INSERT … SELECT.
    assert figures[1_000] == figures[10_000] <= 5, figures


def test_bulk_by_ids_is_a_constant_number_of_statements(bulk_factory, Notification):
    user = bulk_factory(600)
    ids = list(Notification.objects.visible_to(user).values_list("pk", flat=True))
    counts = []
    for chunk in (ids[:50], ids[50:]):
        with CaptureQueriesContext(connection) as ctx:
            assert Notification.objects.mark_read_many(user, chunk) == len(chunk)
        counts.append(len(ctx.captured_queries))
    with CaptureQueriesContext(connection) as ctx:
        assert Notification.objects.dismiss_many(user, ids) == len(ids)
    counts.append(len(ctx.captured_queries))
    assert counts[0] == counts[1] == counts[2] <= 5, counts
    assert Notification.objects.visible_to(user).count() == 0


# --- bulk sending --------------------------------------------------------------------


def _bulk_users(n: int, org=None) -> list:
    from tests.testapp.models import Membership

    User = get_user_model()
    start = User.objects.count()
    users = User.objects.bulk_create(
        [User(username=f"bulk{start + i}-{time.monotonic_ns()}") for i in range(n)]
    )
    if org is not None:
        Membership.objects.bulk_create(
            [Membership(user=u, organization=org, role=Role.DEV_USER) for u in users]
        )
    return users


@pytest.mark.parametrize("n_users", [1000, 10_000])
def test_notify_is_a_bounded_number_of_queries(make_org, Notification, n_users):
    """notify() to n users: the user and organization look-ups, the savepoint, and the
    INSERT batches (BULK_BATCH_SIZE rows each) — never a query per recipient. Timing is
    printed."""
    org = make_org()
    users = _bulk_users(n_users, org)
    with CaptureQueriesContext(connection) as ctx:
        start = time.perf_counter()
        created = notify(users, title="Release notes", body="<p>v2 is out</p>")
        elapsed = time.perf_counter() - start
    queries = len(ctx.captured_queries)
    inserts = sum(1 for q in ctx.captured_queries if q["sql"].lstrip().upper().startswith("INSERT"))
    expected_inserts = _insert_batch(Notification, n_users, app_settings.BULK_BATCH_SIZE)
    print(
        f"\n[query-counts] notify() to {n_users:,} users on {connection.vendor}: {queries} "
        f"queries ({inserts} INSERT batches, expected {expected_inserts}); "
        f"[timing] {elapsed:.2f} s, {n_users / elapsed:,.0f} rows/s"
    )
    assert len(created) == n_users
    assert {n.organization_key for n in created} == {str(org.pk)}
    assert Notification.objects.filter(scope=Scope.USER).count() == n_users
    assert inserts == expected_inserts
    # Users look-up + organizations look-up + savepoint/release + the INSERT batches.
    assert queries == 4 + expected_inserts
    if connection.vendor == "postgresql":
        # No parameter limit: BULK_BATCH_SIZE (1000) rows per INSERT.
        assert inserts == math.ceil(n_users / app_settings.BULK_BATCH_SIZE)


def test_actor_and_target_share_one_query_per_model(make_user, Notification):
    """Actor and target are fetched together; a vanished or malformed object reads as
    ``None`` without a query of its own."""
    user, other, gone = make_user(), make_user(), make_user()
    notify([user], title="both users", actor=other, target=user)
    notify([user], title="vanished actor", actor=gone, target=other)
    (malformed,) = notify([user], title="malformed", actor=other)
    Notification.objects.filter(pk=malformed.pk).update(actor_object_id="not-a-pk")
    gone.delete()
    with CaptureQueriesContext(connection) as ctx:
        rows = {n.title: (n.actor, n.target) for n in Notification.objects.visible_to(user)}
    assert len(ctx.captured_queries) == 2  # the page, then the users (actors and targets)
    assert rows["both users"] == (other, user)
    assert rows["vanished actor"] == (None, other)
    assert rows["malformed"] == (None, None)
