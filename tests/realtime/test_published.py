"""The announcement of new rows: a fan-out's rows as a view over its columns, read as
the same :class:`Published` tuples a row-by-row announcement holds."""

import pytest

from django_notify.published import DirectPublished, Published, published_ids
from django_notify.types import Scope


def test_a_view_over_columns_reads_as_published_tuples():
    view = DirectPublished([11, 12, 13], [1, 2, 3], ["7", "7", ""])
    expected = [
        Published(11, Scope.USER, 1, "", "7"),
        Published(12, Scope.USER, 2, "", "7"),
        Published(13, Scope.USER, 3, "", ""),
    ]
    assert len(view) == 3 and list(view) == expected
    assert [view[i] for i in range(-3, 3)] == expected + expected
    part = view[1:]
    assert isinstance(part, DirectPublished) and list(part) == expected[1:]
    assert part.pks == [12, 13] and part.recipient_ids == [2, 3]
    assert list(view[::-2]) == expected[::-2]
    with pytest.raises(IndexError):
        view[3]
    assert published_ids(view) == [11, 12, 13] and published_ids(expected) == [11, 12, 13]
    assert published_ids(view) is not view.pks  # the caller's list is its own


def test_columns_of_different_lengths_are_refused():
    with pytest.raises(ValueError, match="differ in length"):
        DirectPublished([1, 2], [1], ["", ""])
