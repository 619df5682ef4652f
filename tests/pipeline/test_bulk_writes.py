"""Set-based writes: ``bulk_insert.insert`` stores exactly what ``bulk_create`` stores,
in one ``INSERT … SELECT`` per batch, and ``in_ids`` matches what ``__in`` matches with
one parameter whatever the number of ids (PostgreSQL and SQLite)."""

from __future__ import annotations

import math
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from django_notify import bulk_insert, notify
from django_notify.id_lists import in_ids
from django_notify.models import Delivery, DeliveryStatus, Digest, Frequency

pytestmark = pytest.mark.django_db

#: Columns compared between the two ways of writing (the rest are per-row defaults).
COMPARED = (
    "notification_id", "user_id", "channel", "notification_type", "status", "attempts",
    "next_attempt_at", "claimed_at", "sent_at", "last_error", "reason", "response",
    "address", "frequency", "digest_id", "created_at",
)  # fmt: skip


#: One instant for both writes compared: two calls of now() can fall on either side of a
#: second, and the rows would differ.
NOW = timezone.now().replace(microsecond=123456)


def _deliveries(notification, users, tag: str) -> list[Delivery]:
    now = NOW
    return [
        Delivery(
            notification_id=notification.pk,
            user_id=user.pk,
            channel=f"{tag}-{i % 2}",  # varying
            notification_type=None if i % 3 else "t.x",  # varying, with NULLs
            status=DeliveryStatus.PENDING,  # constant
            next_attempt_at=now + timedelta(minutes=i),  # varying datetimes
            claimed_at=None,  # constant NULL
            reason="quiet hours" if i == 1 else "",
            response={"n": i, "nested": {"ok": True, "text": "é\"'\\"}} if i else {},
            address=f"user{i}@example.com",
            frequency="immediate",
            created_at=now,
        )
        for i, user in enumerate(users)
    ]


def _stored(rows) -> list[tuple]:
    return [
        tuple(v for v in r)
        for r in Delivery.objects.filter(pk__in=[d.pk for d in rows])
        .order_by("user_id", "channel")
        .values_list(*COMPARED)
    ]


def test_insert_stores_what_bulk_create_stores(make_user, Notification):
    users = [make_user() for _ in range(5)]
    [note] = notify(users[:1], title="n")
    fast = bulk_insert.insert(Delivery, _deliveries(note, users, "a"))
    slow = Delivery.objects.bulk_create(_deliveries(note, users, "b"))
    assert all(d.pk is not None and not d._state.adding for d in fast)
    stored_fast, stored_slow = _stored(fast), _stored(slow)
    assert [s[:2] + s[3:] for s in stored_fast] == [s[:2] + s[3:] for s in stored_slow]
    assert [s[2][0] for s in stored_fast] == ["a"] * 5  # the channel prefix
    # Primary keys are handed out in row order: each instance got its own row.
    for d in fast:
        row = Delivery.objects.get(pk=d.pk)
        assert (row.user_id, row.address, row.idempotency_key) == (
            d.user_id,
            d.address,
            d.idempotency_key,
        )


def test_rows_that_are_all_alike_and_batches(make_user, Notification):
    users = [make_user() for _ in range(7)]
    [note] = notify(users[:1], title="n")
    rows = [
        Delivery(notification_id=note.pk, user_id=users[0].pk, channel=f"c{i}", address="x")
        for i in range(7)
    ]
    with CaptureQueriesContext(connection) as ctx:
        bulk_insert.insert(Delivery, rows, batch_size=3)
    inserts = [q for q in ctx.captured_queries if q["sql"].startswith("INSERT")]
    assert len(inserts) == math.ceil(7 / 3)
    assert sorted(Delivery.objects.filter(notification=note).values_list("channel", flat=True)) == [
        f"c{i}" for i in range(7)
    ]


def test_insert_select_joins_expressions_and_defaults(make_user, Notification):
    """Rows from the carried columns joined to the users; expressions over both;
    every other field its default; the asked columns returned."""
    users = [make_user(email=f"s{i}@x.io") for i in range(3)] + [make_user(email="")]
    [note] = notify(users[:1], title="n")
    qn = connection.ops.quote_name
    user_table, pk = qn(get_user_model()._meta.db_table), qn(get_user_model()._meta.pk.column)
    written = bulk_insert.insert_select(
        Delivery,
        varying={
            "user_id": [u.pk for u in users],
            "idempotency_key": [f"k{i}" for i in range(4)],
        },
        expressions={"address": ('COALESCE("u"."email", \'\') || %s', ["!"])},
        constants={"notification_id": note.pk, "channel": "sel", **_now()},
        join=(f'JOIN {user_table} "u" ON "u".{pk} = "r"."user_id"', []),
        returning=("pk", "user_id", "address"),
    )
    assert sorted((uid, address) for _, uid, address in written) == sorted(
        (u.pk, f"{u.email}!") for u in users
    )
    stored = Delivery.objects.filter(channel="sel")
    assert sorted(stored.values_list("pk", flat=True)) == sorted(row[0] for row in written)
    assert [(d.status, d.attempts, d.response) for d in stored] == [
        (DeliveryStatus.PENDING, 0, {})
    ] * 4


def _now():
    now = timezone.now()
    return {"created_at": now, "updated_at": now, "next_attempt_at": now}


def test_insert_select_needs_a_value_for_a_field_with_a_callable_default(make_user):
    # A digest's key is drawn when the row is made: one default value for every row of
    # an INSERT … SELECT would break its uniqueness.
    with pytest.raises(TypeError, match="idempotency_key"):
        bulk_insert.insert_select(
            Digest, varying={"user_id": [make_user().pk]},
            constants={"channel": "sel", "frequency": Frequency.DAILY, **_now()},
        )  # fmt: skip


def test_notify_rows_keep_their_recipients_and_content(make_org, make_user, Notification):
    org = make_org()
    users = [make_user(org=org) for _ in range(30)]
    rows = notify(users, title="Release", body="<b>v2</b>", meta_data={"v": 2})
    assert [r.recipient_id for r in rows] == [u.pk for u in users]
    stored = {
        n.pk: n for n in Notification.objects.filter(pk__in=[r.pk for r in rows]).order_by("pk")
    }
    for row in rows:
        saved = stored[row.pk]
        assert saved.recipient_id == row.recipient_id
        assert (saved.title, saved.description, saved.meta_data) == (
            "Release",
            "<b>v2</b>",
            {"v": 2},
        )
        assert saved.organization_key == str(org.pk)
        assert row.changed_targeting() == []


@pytest.mark.parametrize("count", [0, 1, 3, 40_000])
def test_in_ids_matches_in(make_user, count):
    users = [make_user() for _ in range(4)]
    User = get_user_model()
    pks = [u.pk for u in users]
    ids = [*pks[:2], None, pks[0], *range(10**6, 10**6 + count)]  # duplicates, NULL, unknowns
    wanted = sorted(
        User.objects.filter(pk__in=[i for i in ids if i is not None][:1000]).values_list(
            "pk", flat=True
        )
    )
    # 40,000 ids are over SQLite's limit of 32,766 parameters: one JSON parameter here.
    got = sorted(User.objects.filter(in_ids("pk", ids)).values_list("pk", flat=True))
    assert got == wanted == sorted(pks[:2])


def test_in_ids_of_nothing_matches_nothing(make_user):
    make_user()
    assert not get_user_model().objects.filter(in_ids("pk", [])).exists()
    assert not get_user_model().objects.filter(in_ids("pk", [None])).exists()


def test_in_ids_of_strings_with_quotes_commas_and_backslashes(make_user):
    # On PostgreSQL strings travel inside one array literal: its quoting must hold.
    names = ['a"b', "c,d", "e\\f", "{g}", "h i", "NULL", "", "é"]
    users = {name: make_user(username=f"u{i}", first_name=name) for i, name in enumerate(names)}
    User = get_user_model()
    for name, user in users.items():
        got = list(User.objects.filter(in_ids("first_name", [name])).values_list("pk", flat=True))
        assert got == [user.pk], name
    got = set(User.objects.filter(in_ids("first_name", names)).values_list("pk", flat=True))
    assert got == {u.pk for u in users.values()}


def test_in_ids_prepares_values_of_another_type(make_user):
    user = make_user()
    # Ids given as text are read by the field, as ``__in`` would read them.
    assert list(
        get_user_model().objects.filter(in_ids("pk", [str(user.pk)])).values_list("pk", flat=True)
    ) == [user.pk]
    assert get_user_model().objects.filter(in_ids("username", [user.username, 7])).count() == 1


def test_in_ids_of_values_no_column_holds_match_nothing(make_user):
    # An id past the column's range (or past bigint) is an id no row has, not an error.
    user = make_user()
    User = get_user_model()
    huge = [2**31 + 5, 2**63 - 2, 2**63 + 7, -(2**70)]
    assert list(User.objects.filter(in_ids("pk", huge)).values_list("pk", flat=True)) == []
    assert list(
        User.objects.filter(in_ids("pk", [*huge, user.pk])).values_list("pk", flat=True)
    ) == [user.pk]
    # A string longer than the column is not cut to a prefix that could match.
    make_user(username="a" * 150)
    assert not User.objects.filter(in_ids("username", ["a" * 151])).exists()


# --- staged rows (past one batch, inside a transaction) ----------------------------------------

AWKWARD = ["tab\there", "line\nbreak", "back\\slash", "\\N", "quote'\"", "", "é"]


def _statements(ctx) -> list[str]:
    return [q["sql"].split()[0] for q in ctx.captured_queries]


#: What staging costs: PostgreSQL asks whether the role may create temporary tables,
#: then COPYs; SQLite fills the table with one executemany and drops it after.
STAGED = {
    "postgresql": ["SELECT", "CREATE", "COPY", "INSERT"],
    "sqlite": ["CREATE", "INSERT", "INSERT", "DROP"],
}


def _columns_written(note, users, batch_size):
    """``insert_columns`` of one Delivery per user (awkward text, NULLs, JSON, times);
    returns the new pks, the rows read back and the statements."""
    now = timezone.now().replace(microsecond=654321)
    rows = (
        (
            note.pk, user.pk, f"c{batch_size}", AWKWARD[i % len(AWKWARD)],
            None if i % 2 else now + timedelta(seconds=i), {"i": i, "t": AWKWARD[i % 7]},
        )
        for i, user in enumerate(users)
    )  # fmt: skip
    columns = ("notification_id", "user_id", "channel", "reason", "sent_at", "response")
    with CaptureQueriesContext(connection) as ctx:
        pks = bulk_insert.insert_columns(
            Delivery, columns, rows, constants={"next_attempt_at": now, "created_at": now,
                                                "updated_at": now}, batch_size=batch_size,
        )  # fmt: skip
    stored = {d.pk: d for d in Delivery.objects.filter(pk__in=pks)}
    read = [
        (stored[pk].user_id, stored[pk].reason, stored[pk].sent_at, stored[pk].response)
        for pk in pks
    ]
    return pks, read, _statements(ctx)


def test_staged_columns_store_what_one_batch_stores(make_user, Notification):
    users = [make_user() for _ in range(9)]
    [note] = notify(users[:1], title="n")
    one_pks, one_batch, one_sql = _columns_written(note, users, batch_size=100)
    pks, staged, sql = _columns_written(note, users, batch_size=2)
    assert staged == one_batch  # every value, in row order: the pks follow the rows
    assert len(pks) == 9 and pks == sorted(pks) and one_sql == ["INSERT"]
    assert sql == STAGED[connection.vendor]


def test_staged_select_joins_and_hands_back_slices(make_user, Notification):
    users = [make_user(email=f"s{i}@x.io") for i in range(7)] + [make_user(email="")]
    [note] = notify(users[:1], title="n")
    qn = connection.ops.quote_name
    user_table, pk = qn(get_user_model()._meta.db_table), qn(get_user_model()._meta.pk.column)
    slices = []
    with CaptureQueriesContext(connection) as ctx:
        found = bulk_insert.insert_select(
            Delivery,
            varying={
                "user_id": [u.pk for u in users],
                "idempotency_key": [f"k{i}" for i in range(8)],
                "reason": AWKWARD + ["x"],
            },
            expressions={"address": ('COALESCE("u"."email", \'\') || %s', ["!"])},
            constants={"notification_id": note.pk, "channel": "staged", **_now()},
            join=(f'JOIN {user_table} "u" ON "u".{pk} = "r"."user_id"', []),
            returning=("pk", "user_id", "address", "reason"),
            batch_size=3,
            on_rows=slices.append,
        )
    assert found == [] and all(1 <= len(s) <= 3 for s in slices)
    written = [row for s in slices for row in s]
    assert sorted((uid, address, reason) for _, uid, address, reason in written) == sorted(
        (u.pk, f"{u.email}!", reason) for u, reason in zip(users, AWKWARD + ["x"], strict=True)
    )
    stored = Delivery.objects.filter(channel="staged")
    assert sorted(stored.values_list("pk", "reason")) == sorted((r[0], r[3]) for r in written)
    assert _statements(ctx) == STAGED[connection.vendor]
    # SQLite's staging table is gone once read; PostgreSQL's goes at the commit.
    if connection.vendor == "sqlite":
        with connection.cursor() as cursor:
            cursor.execute("SELECT name FROM sqlite_temp_master WHERE name LIKE 'django_notify%%'")
            assert cursor.fetchall() == []


@pytest.mark.django_db(transaction=True)
def test_rows_are_not_staged_outside_a_transaction(make_user, Notification):
    # The staging table lives until the commit: with none to wait for, batches it is.
    pks, sql = _in_batches_of_two(make_user, "auto")
    assert len(pks) == 5 and sql == ["INSERT"] * 3


def _in_batches_of_two(make_user, channel: str) -> tuple[list, list[str]]:
    """Five deliveries by ``insert_columns`` with a batch of 2: their pks, the statements."""
    users = [make_user() for _ in range(5)]
    [note] = notify(users[:1], title="n")
    now = timezone.now()
    with CaptureQueriesContext(connection) as ctx:
        pks = bulk_insert.insert_columns(
            Delivery, ("notification_id", "user_id", "channel"),
            [(note.pk, u.pk, channel) for u in users],
            constants={"next_attempt_at": now, "created_at": now, "updated_at": now},
            batch_size=2,
        )  # fmt: skip
    return pks, _statements(ctx)


@pytest.mark.skipif(connection.vendor != "postgresql", reason="temporary-table rights")
def test_a_role_that_may_not_create_temporary_tables_writes_in_batches(make_user, Notification):
    """A locked-down role without the TEMPORARY right gets batches, not an error (all
    of this is rolled back with the test's transaction: roles and grants too)."""
    qn = connection.ops.quote_name
    role = "django_notify_no_temp"
    with connection.cursor() as cursor:
        cursor.execute(f"CREATE ROLE {role} NOLOGIN")
        cursor.execute(f"GRANT ALL ON ALL TABLES IN SCHEMA public TO {role}")
        cursor.execute(f"GRANT ALL ON ALL SEQUENCES IN SCHEMA public TO {role}")
        cursor.execute(f"REVOKE TEMPORARY ON DATABASE {qn(connection.settings_dict['NAME'])} "
                       "FROM PUBLIC")  # fmt: skip
        cursor.execute(f"SET LOCAL ROLE {role}")
    try:
        pks, sql = _in_batches_of_two(make_user, "no-temp")
    finally:
        with connection.cursor() as cursor:
            cursor.execute("RESET ROLE")
    assert len(pks) == 5 and sql == ["SELECT", "INSERT", "INSERT", "INSERT"]
    assert Delivery.objects.filter(channel="no-temp").count() == 5
