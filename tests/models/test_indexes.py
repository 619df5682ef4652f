"""The tables a fan-out writes carry only the indexes their queries need: a fan-out
writes one notification per recipient and one delivery per recipient × channel, and
every index a row enters is one more write per row."""

from __future__ import annotations

import pytest
from django.db import IntegrityError, connection, transaction

from django_notify import notify
from django_notify.models import Delivery, Digest, Frequency
from django_notify.models.delivery import new_key

pytestmark = pytest.mark.django_db


def _indexes(model) -> dict[str, dict]:
    with connection.cursor() as cursor:
        found = connection.introspection.get_constraints(cursor, model._meta.db_table)
    return {
        name: info
        for name, info in found.items()
        if info["index"] or info["unique"] or info["primary_key"]
    }


def test_the_delivery_indexes_are_the_ones_its_queries_use():
    columns = sorted(tuple(info["columns"]) for info in _indexes(Delivery).values())
    assert columns == sorted(
        [
            ("id",),  # the primary key
            ("notification_id", "user_id", "channel"),  # one row per recipient × channel
            ("idempotency_key",),  # unique
            ("next_attempt_at",),  # the sweeper's due rows (partial)
            ("claimed_at",),  # rows stuck in sending (partial)
            ("user_id", "notification_type", "created_at"),  # rate limits, a user's history
            ("created_at",),  # retention clean-up
            ("digest_id",),  # a digest's rows (partial)
        ]
    )


def test_the_digest_indexes_are_the_ones_its_queries_use():
    columns = sorted(tuple(info["columns"]) for info in _indexes(Digest).values())
    assert columns == [("id",), ("idempotency_key",), ("next_attempt_at",), ("user_id",)]


@pytest.mark.postgres
def test_no_delivery_index_serves_a_prefix_search_or_rows_without_a_digest(require_postgres):
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = %s",
            [Delivery._meta.db_table],
        )
        definitions = dict(cursor.fetchall())
    assert not [d for d in definitions.values() if "pattern_ops" in d]
    [digest] = [d for d in definitions.values() if "(digest_id)" in d]
    assert "WHERE (digest_id IS NOT NULL)" in digest


@pytest.mark.postgres
def test_rows_without_target_or_sender_enter_neither_index(require_postgres, Notification):
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexdef FROM pg_indexes WHERE tablename = %s",
            [Notification._meta.db_table],
        )
        definitions = [d for (d,) in cursor.fetchall()]
    [target] = [d for d in definitions if "(target_content_type_id, target_object_id)" in d]
    assert "WHERE (target_content_type_id IS NOT NULL)" in target
    [sender] = [d for d in definitions if "(sender_id)" in d]
    assert "WHERE (sender_id IS NOT NULL)" in sender


@pytest.mark.postgres
def test_the_partial_indexes_answer_their_questions(require_postgres, make_user, Notification):
    """A sender's rows (the rate limit, the cascade) and the rows about an object can
    use the partial indexes: ``= value`` implies ``IS NOT NULL``. Sequential scans are
    off so that the empty test table does not hide which index the planner may use."""
    sender = make_user()
    questions = {
        "_sender": Notification.objects.filter(sender=sender),
        "_target": Notification.objects.filter(target_content_type_id=1, target_object_id="1"),
    }
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        for index, queryset in questions.items():
            plan = queryset.explain()
            assert index in plan, plan


@pytest.mark.parametrize("model", [Delivery, Digest])
def test_an_idempotency_key_is_still_unique(make_user, model):
    user = make_user()
    if model is Delivery:  # its key is drawn by the first claim: here, by hand
        [row] = notify([user], title="hello")
        first = Delivery.objects.create(
            notification=row, user=user, channel="outbox", idempotency_key=new_key()
        )
        values = {"notification": row, "user": user, "channel": "email"}
    else:
        first = Digest.objects.create(user=user, channel="locmem", frequency=Frequency.DAILY)
        values = {"user": user, "channel": "locmem", "frequency": Frequency.DAILY}
    with pytest.raises(IntegrityError), transaction.atomic():
        model.objects.create(idempotency_key=first.idempotency_key, **values)


def test_deliveries_without_a_key_yet_do_not_collide(make_user):
    """Planned deliveries have no key until claimed; the unique index holds only the
    rows that have one, so any number of keyless rows coexist."""
    user = make_user()
    [row] = notify([user], title="hello")
    for channel in ("outbox", "email", "sms"):
        Delivery.objects.create(notification=row, user=user, channel=channel)
    assert list(Delivery.objects.values_list("idempotency_key", flat=True)) == [None] * 3
