"""The keyset cursor's condition (``django_notify.keyset.OlderThan``): one row-value
comparison on PostgreSQL and SQLite, the expanded ``AND``/``OR`` elsewhere, the same
rows either way, ties on the timestamp included."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from django_notify import keyset
from django_notify.api.pagination import page
from django_notify.keyset import OlderThan
from django_notify.tenancy import Role

pytestmark = pytest.mark.django_db


@pytest.fixture
def tied(make_org, make_user, make_team, Notification):
    """30 direct rows and 6 team rows, in groups of three sharing one timestamp."""
    org = make_org()
    user = make_user(Role.DEV_USER, org)
    team = make_team(org, [user])
    now = timezone.now()
    rows = [
        Notification(
            title=f"d{i}", scope="user", recipient=user, created_at=now - timedelta(hours=i // 3)
        )
        for i in range(30)
    ]
    rows += [
        Notification(
            title=f"t{i}",
            scope="team",
            team_key=str(team.pk),
            created_at=now - timedelta(hours=i // 3, minutes=30),
        )
        for i in range(6)
    ]
    Notification.objects.bulk_create(rows)
    return user


def _walk(Notification, user, size: int) -> list:
    """Every row of the feed, read ``size`` at a time through ``after()``."""
    seen, feed = [], Notification.objects.visible_to(user)
    batch = list(feed.prefetch_related(None)[:size])
    while batch:
        seen += [row.pk for row in batch]
        last = batch[-1]
        batch = list(feed.after(last.created_at, last.pk).prefetch_related(None)[:size])
    return seen


def _expected(Notification, user) -> list:
    return list(Notification.objects.visible_to(user).values_list("pk", flat=True))


@pytest.mark.parametrize("row_values", [True, False], ids=["row-values", "expanded"])
def test_pages_through_ties_never_repeat_or_skip(tied, Notification, monkeypatch, row_values):
    if not row_values:
        monkeypatch.setattr(keyset, "_ROW_VALUES", ())
    expected = _expected(Notification, tied)
    assert len(expected) == 36
    for size in (1, 2, 4, 7):
        assert _walk(Notification, tied, size) == expected, size


@pytest.mark.parametrize("row_values", [True, False], ids=["row-values", "expanded"])
def test_api_pages_follow_the_cursor_through_ties(tied, Notification, monkeypatch, row_values):
    if not row_values:
        monkeypatch.setattr(keyset, "_ROW_VALUES", ())
    seen, cursor = [], None
    while True:
        feed = Notification.objects.visible_to(tied)
        rows, cursor = page(feed, 5, cursor=cursor, field="created_at")
        seen += [row.pk for row in rows]
        if cursor is None:
            break
    assert seen == _expected(Notification, tied)


def test_a_feed_page_sends_one_row_comparison_into_each_branch(tied, Notification):
    last = Notification.objects.visible_to(tied)[9]
    with CaptureQueriesContext(connection) as ctx:
        list(Notification.objects.visible_to(tied).after(last.created_at, last.pk)[:5])
    sql = ctx.captured_queries[0]["sql"]
    table = connection.ops.quote_name("n")
    comparison = f"({table}.{connection.ops.quote_name('created_at')}, "
    # The direct branch and the broadcast branch each start their index range at it.
    assert sql.count(comparison) >= 2, sql
    assert f"{table}.{connection.ops.quote_name('created_at')} <=" not in sql, sql
    assert ") = 1" not in sql and ") = true" not in sql, sql


@pytest.mark.parametrize("users_joined", [False, True], ids=["rows", "with-users"])
def test_the_outer_query_leaves_the_page_filter_to_the_branches(tied, Notification, users_joined):
    """A page's filter on the row's own columns (the cursor, a title) is applied by
    each branch under its LIMIT and not again by the outer query, which only merges the
    branches: applied above the branches' LIMITs too, a parameter in it was estimated
    blind by a prepared statement's generic plan (test_indexes_postgres.py). The rows
    are the same."""
    everything = list(
        Notification.objects.visible_to(tied).order_by("-created_at", "-pk").values_list(
            "pk", "title", "created_at")
    )  # fmt: skip
    _, _, moment = everything[7]
    cursor_pk = everything[7][0]
    expected = [pk for pk, title, _ in everything[8:] if not title.startswith("d1")][:6]
    page = Notification.objects.visible_to(tied).exclude(title__startswith="d1")
    page = page.after(moment, cursor_pk)
    if not users_joined:
        page = page.prefetch_related(None)
    with CaptureQueriesContext(connection) as ctx:
        assert [row.pk for row in page[:6]] == expected
    (sql,) = [q["sql"] for q in ctx.captured_queries if "UNION ALL" in q["sql"]]
    table = connection.ops.quote_name(Notification._meta.db_table)
    outer = sql[sql.rindex(f") {table}") :]  # what follows the branches
    assert " WHERE " not in outer and 'created_at", ' not in outer, outer
    assert outer.count(" LIMIT 6") == 1, outer
    comparison = f"({connection.ops.quote_name('n')}.{connection.ops.quote_name('created_at')}, "
    assert sql.count(comparison) == 2, sql  # the direct and the broadcast branch


@pytest.mark.parametrize("users_joined", [False, True], ids=["rows", "with-users"])
def test_a_page_that_can_match_nothing_runs_no_query(tied, Notification, users_joined):
    """The outer query keeps a filter that can match nothing (``pk__in=[]``), so Django
    answers the page without asking the database, as for any queryset."""
    page = Notification.objects.visible_to(tied).filter(pk__in=[])
    if not users_joined:
        page = page.prefetch_related(None)
    Notification.objects.visible_to(tied).first()  # the tenancy adapter's look-ups, cached
    with CaptureQueriesContext(connection) as ctx:
        assert list(page[:5]) == []
    assert ctx.captured_queries == []


def test_the_expanded_form_names_each_column_where_it_is_compared(Notification, monkeypatch):
    """The fallback keeps each column's own params beside every use of it."""
    moment = timezone.now()
    query = Notification.objects.filter(OlderThan("created_at", moment, 7)).query
    compiler = query.get_compiler(connection=connection)
    condition = OlderThan("created_at", moment, 7).resolve_expression(query)
    assert condition == OlderThan("created_at", moment, 7).resolve_expression(query)
    assert condition != OlderThan("created_at", moment, 8).resolve_expression(query)
    monkeypatch.setattr(keyset, "_ROW_VALUES", ())
    sql, params = condition.as_sql(compiler, connection)
    assert sql.count("%s") == len(params) == 4
    assert params[-1] == 7
    assert repr(condition).startswith("OlderThan(")


@pytest.mark.skipif("connection.vendor != 'sqlite'")
def test_sqlite_starts_each_branch_at_the_cursor(tied, Notification):
    """SQLite reads a row-value comparison as the range of the index scan (a ``(…) = 1``
    around it would leave the range out and read the user's rows from the newest)."""
    last = Notification.objects.visible_to(tied)[9]
    page_ = Notification.objects.visible_to(tied).after(last.created_at, last.pk)[:5]
    with CaptureQueriesContext(connection) as ctx:
        list(page_.prefetch_related(None))
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN QUERY PLAN " + ctx.captured_queries[0]["sql"])
        plan = [row[3] for row in cursor.fetchall()]
    searches = [step for step in plan if step.startswith("SEARCH n USING INDEX")]
    assert len(searches) == 2 and all("created_at<?" in step for step in searches), plan
