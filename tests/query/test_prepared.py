"""The feed's statements as prepared statements on a PostgreSQL connection that repeats
them (django_notify.prepared): prepared from the second run, the same answers as the
client-bound statement, logged and counted as before, and never prepared when the
setting, the database's OPTIONS or a one-off run say not to."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.test import override_settings
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from django_notify import prepared
from django_notify.models import NotificationReceipt
from django_notify.tenancy import Role

pytestmark = pytest.mark.django_db


def _prepared() -> list[str]:
    """The statements prepared on this connection, as PostgreSQL holds them."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements")
        return [row[0] for row in cursor.fetchall()]


def _notification_statements() -> list[str]:
    return [sql for sql in _prepared() if "django_notify_notification" in sql]


@pytest.fixture
def fresh_connection():
    """A connection with nothing prepared and nothing counted yet (the statement counts
    live per driver connection, so a new one starts from zero)."""
    connection.ensure_connection()
    with connection.cursor() as cursor:
        cursor.execute("DEALLOCATE ALL")
    connection.connection._prepared.clear()
    prepared._seen.pop(connection.connection, None)
    yield


@pytest.fixture
def feed(make_org, make_team, make_user, Notification):
    """A user with direct rows (one read, one dismissed), a team row, an organization
    row read through a receipt and a system row."""
    org = make_org()
    user = make_user(Role.DEV_USER, org)
    team = make_team(org, members=[user])
    other = make_user(Role.DEV_USER, org)
    now = timezone.now()
    rows = [
        Notification.objects.create(title=f"d{i}", scope="user", recipient=user) for i in range(4)
    ]
    Notification.objects.filter(pk=rows[0].pk).update(read_at=now)
    Notification.objects.filter(pk=rows[1].pk).update(dismissed_at=now)
    Notification.objects.create(title="not theirs", scope="user", recipient=other)
    Notification.objects.create(title="team", scope="team", team_key=str(team.pk))
    read_broadcast = Notification.objects.create(
        title="org", scope="organization", organization_key=str(org.pk)
    )
    NotificationReceipt.objects.create(notification=read_broadcast, user=user, read_at=now)
    Notification.objects.create(title="system", scope="system")
    Notification.objects.create(
        title="expired", scope="system", expires_at=now - timedelta(minutes=1)
    )
    return user


def _page(Notification, user):
    return [
        (row.pk, row.title, row.user_read_at is not None)
        for row in Notification.objects.visible_to(user).prefetch_related(None)[:20]
    ]


def _unread_page(Notification, user):
    rows = Notification.objects.visible_to(user).unread().with_unread_count()[:10]
    return [(row.pk, row.feed_unread_count) for row in rows]


@pytest.mark.postgres
def test_the_unread_count_is_prepared_from_its_second_run(
    require_postgres, fresh_connection, feed, Notification
):
    first = Notification.objects.unread_count(feed)
    assert _notification_statements() == [], "a statement run once is not prepared"
    second = Notification.objects.unread_count(feed)
    statements = _notification_statements()
    assert len(statements) == 1 and "COUNT(*)" in statements[0] and "$1" in statements[0]
    third = Notification.objects.unread_count(feed)
    assert first == second == third == 4  # 2 direct unread, team, system
    assert len(_notification_statements()) == 1, "the third run reuses the statement"


@pytest.mark.postgres
def test_a_prepared_feed_page_reads_the_same_rows(
    require_postgres, fresh_connection, feed, Notification
):
    unprepared = _page(Notification, feed)
    unprepared_unread = _unread_page(Notification, feed)
    assert _notification_statements() == []
    for _ in range(3):
        assert _page(Notification, feed) == unprepared
        assert _unread_page(Notification, feed) == unprepared_unread
    assert len(_notification_statements()) == 2  # the page, the unread page with its count
    titles = {title for _, title, _ in unprepared}
    assert titles == {"d0", "d2", "d3", "team", "org", "system"}
    assert [count for _, count in unprepared_unread] == [4] * 4


@pytest.mark.postgres
def test_a_prepared_statement_is_logged_and_counted_as_before(
    require_postgres, fresh_connection, feed, Notification
):
    with CaptureQueriesContext(connection) as unprepared:
        Notification.objects.unread_count(feed)
    with CaptureQueriesContext(connection) as again:
        Notification.objects.unread_count(feed)
    assert _notification_statements(), "the second run was prepared"
    assert len(unprepared) == len(again) == 1
    # Logged with its values, as the client-bound statement is, not with $1.
    assert again[0]["sql"] == unprepared[0]["sql"].replace(
        _moment(unprepared[0]["sql"]), _moment(again[0]["sql"])
    )
    assert "$1" not in again[0]["sql"] and f"= {feed.pk}" in again[0]["sql"]


def _moment(sql: str) -> str:
    # The only value that differs between two runs: the expiry check's "now".
    start = sql.index("> '") + 3
    return sql[start : sql.index("'", start)]


@pytest.mark.postgres
def test_only_the_feeds_statements_are_prepared(
    require_postgres, fresh_connection, feed, Notification
):
    for _ in range(3):
        list(Notification.objects.filter(recipient=feed))
        Notification.objects.unread_count(feed)
    statements = _prepared()
    assert len(statements) == 1 and "COUNT(*)" in statements[0]


@pytest.mark.postgres
@pytest.mark.parametrize("switched_off_by", ["the setting", "the database's OPTIONS"])
def test_nothing_is_prepared_when_switched_off(
    require_postgres,
    fresh_connection,
    feed,
    Notification,
    notify_settings,
    monkeypatch,
    switched_off_by,
):
    if switched_off_by == "the setting":
        notify_settings(PREPARED_STATEMENTS=False)
    else:  # the host's own "never prepare"
        options = {**connection.settings_dict.get("OPTIONS", {}), "prepare_threshold": None}
        monkeypatch.setitem(connection.settings_dict, "OPTIONS", options)
    for _ in range(3):
        Notification.objects.unread_count(feed)
        _page(Notification, feed)
    assert _prepared() == []


@pytest.mark.postgres
def test_a_nested_block_counts_each_run_once(
    require_postgres, fresh_connection, feed, Notification
):
    with prepared.preparing(connection):
        Notification.objects.unread_count(feed)
        assert _notification_statements() == []
        Notification.objects.unread_count(feed)
    assert len(_notification_statements()) == 1


@pytest.mark.postgres
def test_a_rolled_back_transaction_leaves_the_statement_usable(
    require_postgres, fresh_connection, feed, Notification
):
    """psycopg forgets its prepared statements when a transaction rolls back; the next
    run prepares the statement again and answers as before."""
    Notification.objects.unread_count(feed)
    with pytest.raises(RuntimeError), transaction.atomic():
        assert Notification.objects.unread_count(feed) == 4  # prepared here
        Notification.objects.create(title="rolled back", scope="user", recipient=feed)
        assert Notification.objects.unread_count(feed) == 5
        raise RuntimeError
    assert Notification.objects.unread_count(feed) == 4
    assert Notification.objects.unread_count(feed) == 4


@pytest.mark.postgres
def test_the_driver_cursor_is_restored_after_the_block(require_postgres, fresh_connection):
    factory = connection.connection.cursor_factory
    with prepared.preparing(connection):
        assert connection.connection.cursor_factory is not factory
    assert connection.connection.cursor_factory is factory
    with pytest.raises(ZeroDivisionError), prepared.preparing(connection):
        1 / 0  # noqa: B018
    assert connection.connection.cursor_factory is factory


@pytest.mark.postgres
def test_a_prepared_page_reads_times_in_the_databases_current_time_zone(
    require_postgres, fresh_connection, feed, Notification
):
    """When the time zone changes after the connection opened, Django gives each cursor
    its own loader for times; the prepared statement's cursor reads them the same way."""
    with override_settings(USE_TZ=False, TIME_ZONE="Asia/Tokyo"):
        runs = [
            [row.created_at for row in Notification.objects.visible_to(feed)[:5]] for _ in range(3)
        ]
        assert _notification_statements(), "the later runs were prepared"
    assert runs[0] == runs[1] == runs[2]
    assert all(moment.tzinfo is None for moment in runs[2])
