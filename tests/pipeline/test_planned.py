"""What the hand-off reads of the written deliveries: a sequence of :class:`Planned`,
whether they were planned one by one (tuples) or written together by the database
(columns)."""

import pytest

from django_notify.models import DeliveryStatus
from django_notify.pipeline.deliveries import due_now
from django_notify.pipeline.planned import Planned, PlannedColumns, PlannedList

PENDING, SKIPPED = DeliveryStatus.PENDING, DeliveryStatus.SKIPPED


def _columns(start: int, n: int, channel: str = "email") -> PlannedColumns:
    ids = list(range(start, start + n))
    statuses = [PENDING if i % 2 else SKIPPED for i in ids]
    reasons = ["" if i % 2 else "no address" for i in ids]
    return PlannedColumns(ids, [i * 10 for i in ids], [i * 100 for i in ids], channel,
                          statuses, reasons)  # fmt: skip


def _tuples(columns: PlannedColumns) -> list[Planned]:
    pks, nids, uids, statuses, reasons = columns.columns
    return [
        Planned(pk, nid, uid, columns.channel, status, reason)
        for pk, nid, uid, status, reason in zip(pks, nids, uids, statuses, reasons, strict=True)
    ]


def test_columns_read_as_the_tuples_they_hold():
    columns = _columns(1, 5)
    expected = _tuples(columns)
    assert len(columns) == 5
    assert list(columns) == expected
    assert [columns[i] for i in range(-5, 5)] == expected + expected
    assert columns[1:4] == expected[1:4] and columns[::-2] == expected[::-2]
    assert columns[2] == Planned(3, 30, 300, "email", PENDING, "")
    with pytest.raises(IndexError):
        columns[5]


def test_a_list_of_parts_reads_as_one_sequence():
    one_by_one = [Planned(99, 990, 9900, "sms", PENDING, "")]
    parts = [_columns(1, 3), [], _columns(10, 2, "webhook"), one_by_one]
    planned = PlannedList(parts)
    expected = [*_tuples(parts[0]), *_tuples(parts[2]), *one_by_one]
    assert len(planned) == 6
    assert list(planned) == expected
    assert [planned[i] for i in range(-6, 6)] == expected + expected
    assert planned[2:5] == expected[2:5]
    with pytest.raises(IndexError):
        planned[6]
    with pytest.raises(IndexError):
        planned[-7]
    assert due_now(planned) == [d.pk for d in expected if d.status == PENDING]


def test_an_empty_list_is_empty():
    planned = PlannedList([[], _columns(1, 0)])
    assert len(planned) == 0 and list(planned) == [] and due_now(planned) == []
    with pytest.raises(IndexError):
        planned[0]


def test_due_deliveries_are_read_from_the_columns():
    """The hand-off's pending pks come from the status column of each part, in order:
    all of a part when it has one outcome, the pending ones of a mixed part, and the
    tuples of a part planned one by one."""
    all_pending = PlannedColumns([7, 8, 9], [70, 80, 90], [700, 800, 900], "email",
                                 [PENDING] * 3, [""] * 3)  # fmt: skip
    none_pending = PlannedColumns([4, 5], [40, 50], [400, 500], "sms", [SKIPPED] * 2,
                                  ["opted out"] * 2)  # fmt: skip
    mixed = _columns(1, 4)
    one_by_one = [Planned(99, 990, 9900, "sms", PENDING, ""), Planned(98, 980, 9800, "sms",
                  SKIPPED, "no address")]  # fmt: skip
    planned = PlannedList([all_pending, none_pending, mixed, one_by_one])
    assert all_pending.pks_with_status(PENDING) == [7, 8, 9]
    assert none_pending.pks_with_status(PENDING) == []
    assert mixed.pks_with_status(PENDING) == [1, 3] and mixed.pks_with_status(SKIPPED) == [2, 4]
    assert due_now(planned) == [7, 8, 9, 1, 3, 99]
    assert due_now(planned) == [d.pk for d in planned if d.status == PENDING]
    assert due_now(list(planned)) == due_now(planned)
