"""What announcing a new row needs of it, shared by the write path that makes the
announcements, the in-app channel that sends them and the real-time receivers that route
them: the row's id and where it is addressed.

A fan-out (``notify()``, an event's audience) announces its rows as
:class:`DirectPublished`, a view over the columns it already holds, so ten thousand new
rows wait for the commit as three lists, and a receiver that routes them reads the
columns instead of one tuple per row.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, NamedTuple, overload

from .types import Scope


class Published(NamedTuple):
    """What announcing a row needs of it: its id and where it is addressed."""

    pk: Any
    scope: str
    recipient_id: Any
    team_key: str
    organization_key: str


class DirectPublished(Sequence[Published]):
    """Direct rows (one recipient each) held as columns: ``pks``, ``recipient_ids`` and
    ``organization_keys``, in row order. A :class:`Published` is made only for the row
    read; a slice is another view."""

    __slots__ = ("pks", "recipient_ids", "organization_keys")

    def __init__(
        self, pks: Sequence[Any], recipient_ids: Sequence[Any], organization_keys: Sequence[str]
    ) -> None:
        if not len(pks) == len(recipient_ids) == len(organization_keys):
            raise ValueError("the columns of announced rows differ in length")
        self.pks = pks
        self.recipient_ids = recipient_ids
        self.organization_keys = organization_keys

    def __len__(self) -> int:
        return len(self.pks)

    @overload
    def __getitem__(self, index: int) -> Published: ...
    @overload
    def __getitem__(self, index: slice) -> DirectPublished: ...
    def __getitem__(self, index):
        if isinstance(index, slice):
            return DirectPublished(
                self.pks[index], self.recipient_ids[index], self.organization_keys[index]
            )
        return Published(
            self.pks[index], Scope.USER, self.recipient_ids[index], "",
            self.organization_keys[index],
        )  # fmt: skip

    def __iter__(self) -> Iterator[Published]:
        user = Scope.USER
        for pk, uid, org in zip(self.pks, self.recipient_ids, self.organization_keys, strict=True):
            yield Published(pk, user, uid, "", org)

    def __repr__(self) -> str:
        return f"<DirectPublished: {len(self)} rows>"


def published_ids(notifications: Sequence[Any]) -> list[Any]:
    """The ids of announced rows (model instances, :class:`Published` tuples or a
    :class:`DirectPublished` view), in order."""
    if isinstance(notifications, DirectPublished):
        return list(notifications.pks)
    return [row.pk for row in notifications]
