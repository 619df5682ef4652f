"""A planned delivery as the write path hands it on, and when an enabled one is due:
shared by the deliveries planned one by one and those written in SQL."""

from __future__ import annotations

from abc import abstractmethod
from bisect import bisect_right
from collections.abc import Iterator, Sequence
from datetime import datetime
from itertools import accumulate, chain
from typing import Any, NamedTuple, overload

from .. import schedule
from ..conf import app_settings
from ..models import DeliveryStatus, Frequency


class Planned(NamedTuple):
    """A written Delivery row, as the hand-off needs it (no model instance: a fan-out
    writes one per recipient × channel)."""

    pk: Any
    notification_id: Any
    user_id: Any
    channel: str
    status: str
    reason: str


class _PlannedSequence(Sequence[Planned]):
    """Indexing (negative indices and slices too) over :meth:`_at`."""

    @overload
    def __getitem__(self, index: int) -> Planned: ...
    @overload
    def __getitem__(self, index: slice) -> list[Planned]: ...
    def __getitem__(self, index):
        if isinstance(index, slice):
            return [self._at(i) for i in range(*index.indices(len(self)))]
        n = len(self)
        if not -n <= index < n:
            raise IndexError("planned delivery index out of range")
        return self._at(index % n)

    @abstractmethod
    def _at(self, index: int) -> Planned:
        """The planned delivery at ``index`` (0 <= index < len(self))."""

    def pks_with_status(self, status: str) -> list[Any]:
        """The pks of the deliveries in ``status``, in order."""
        return [d.pk for d in self if d.status == status]


class PlannedColumns(_PlannedSequence):
    """Deliveries of one channel written by one statement, held as columns: a fan-out's
    shared deliveries come back by the ten thousand, and a tuple each would wait for the
    commit. Indexing or iterating makes the :class:`Planned` of a row."""

    def __init__(
        self,
        pks: list[Any],
        notification_ids: list[Any],
        user_ids: list[Any],
        channel: str,
        statuses: list[str],
        reasons: list[str],
    ) -> None:
        self.columns = (pks, notification_ids, user_ids, statuses, reasons)
        self.channel = channel

    def __len__(self) -> int:
        return len(self.columns[0])

    def _at(self, index: int) -> Planned:
        pks, nids, uids, statuses, reasons = self.columns
        return Planned(pks[index], nids[index], uids[index], self.channel, statuses[index],
                       reasons[index])  # fmt: skip

    def pks_with_status(self, status: str) -> list[Any]:
        pks, _, _, statuses, _ = self.columns
        if statuses.count(status) == len(statuses):  # one outcome for all, usually
            return list(pks)
        return [pk for pk, s in zip(pks, statuses, strict=True) if s == status]

    def __iter__(self) -> Iterator[Planned]:
        pks, nids, uids, statuses, reasons = self.columns
        channel = self.channel
        for pk, nid, uid, status, reason in zip(pks, nids, uids, statuses, reasons, strict=True):
            yield Planned(pk, nid, uid, channel, status, reason)


class PlannedList(_PlannedSequence):
    """Several sequences of planned deliveries read as one (what the hand-off gets)."""

    def __init__(self, parts: Sequence[Sequence[Planned]]) -> None:
        self.parts = [part for part in parts if len(part)]
        self.ends = list(accumulate(len(part) for part in self.parts))

    def __len__(self) -> int:
        return self.ends[-1] if self.ends else 0

    def _at(self, index: int) -> Planned:
        part = bisect_right(self.ends, index)
        return self.parts[part][index - (self.ends[part - 1] if part else 0)]

    def __iter__(self) -> Iterator[Planned]:
        return chain.from_iterable(self.parts)

    def pks_with_status(self, status: str) -> list[Any]:
        pks: list[Any] = []
        for part in self.parts:
            if isinstance(part, _PlannedSequence):
                pks += part.pks_with_status(status)
            else:
                pks += [d.pk for d in part if d.status == status]
        return pks


def when(
    now: datetime, frequency: str, locale: tuple[str, str, tuple | None], *, bypass: bool
) -> tuple[str, datetime, str]:
    """(status, next attempt, reason) for an enabled delivery."""
    _, tz, quiet = locale
    if bypass:
        return DeliveryStatus.PENDING, now, ""
    due = schedule.deferred_until(
        now,
        frequency=frequency,
        tz=tz,
        quiet=quiet,
        daily_at=app_settings.DIGEST_DAILY_AT,
        weekly_on=app_settings.DIGEST_WEEKDAY,
    )
    if frequency != Frequency.IMMEDIATE:
        return DeliveryStatus.SCHEDULED, due, f"{frequency} digest"
    if due > now:
        return DeliveryStatus.SCHEDULED, due, "quiet hours"
    return DeliveryStatus.PENDING, now, ""


def frequency_on(channel_digests: bool, frequency: str) -> str:
    """The frequency a channel can honour: one without digests sends immediately."""
    if frequency != Frequency.IMMEDIATE and not channel_digests:
        return Frequency.IMMEDIATE
    return frequency
