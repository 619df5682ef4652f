"""The streams of one process, woken by the same message, check it together.

A broadcast reaches every open stream of a process at once, and each stream must check
the notification against its own user's feed before sending it. Checked stream by
stream, that is one statement and one hand-off to a thread per open stream: with 250
streams in a process, the last of them waited for 249 others (843 ms measured). Here a
stream hands its check to the process's :class:`Gathering` instead; the checks that
arrive within :data:`GATHER_SECONDS` are answered together, in one thread, by
:func:`~django_notify.feed_checks.visible_per_user`: two statements for all of them
(16 ms for the same 250 users).

A check that arrives alone (a direct notification wakes one stream) is answered with
the one-user statement.
"""

from __future__ import annotations

import asyncio
import weakref
from dataclasses import dataclass, field
from typing import Any

from asgiref.sync import ThreadSensitiveContext, sync_to_async

from ..feed_checks import visible_per_user
from ..loading import get_notification_model
from .feed_state import batch_state, release_connections

#: How long the first check of a gathering waits for others. A broadcast's wake-ups all
#: arrive within a few turns of the event loop; a lone check waits this long at most.
GATHER_SECONDS = 0.001


@dataclass(eq=False)
class Check:
    """One stream's question: which of ``ids`` can ``user`` see, and (if they see one,
    or ``need_count``) their unread count."""

    user: Any
    ids: list[Any]
    need_count: bool
    future: asyncio.Future = field(repr=False)


def answer(checks: list[Check]) -> list[tuple[list[tuple[Any, Any]], int | None]]:
    """The answers to ``checks``, in their order: the visible rows among each check's
    ids (``(pk, created_at)``, oldest first) and the count, ``None`` when it is not
    needed. Runs in a worker thread."""
    try:
        model = get_notification_model()
        ids = list(dict.fromkeys(pk for check in checks for pk in check.ids))
        counts_for = {check.user.pk for check in checks if check.need_count}
        found = visible_per_user(
            model,
            [check.user for check in checks],
            ids,
            counts_for=counts_for,
            using=model._default_manager.db,
        )
        answers = []
        for check in checks:
            mine = set(check.ids)
            state = found[check.user.pk]
            rows = [row for row in state.rows if row[0] in mine]
            answers.append((rows, state.count if rows or check.need_count else None))
        return answers
    finally:
        release_connections()


class Gathering:
    """The checks of one event loop's streams, answered in batches."""

    def __init__(self) -> None:
        self.waiting: list[Check] = []
        self.timer: asyncio.TimerHandle | None = None
        self.tasks: set[asyncio.Task] = set()

    async def check(
        self, user, ids: list[Any], need_count: bool
    ) -> tuple[list[tuple[Any, Any]], int | None]:
        loop = asyncio.get_running_loop()
        check = Check(user, ids, need_count, loop.create_future())
        self.waiting.append(check)
        if self.timer is None:
            self.timer = loop.call_later(GATHER_SECONDS, self._start, loop)
        return await check.future

    def _start(self, loop: asyncio.AbstractEventLoop) -> None:
        checks, self.waiting, self.timer = self.waiting, [], None
        task = loop.create_task(self._answer(checks))
        self.tasks.add(task)  # a reference until it is done: the loop keeps only weak ones
        task.add_done_callback(self.tasks.discard)

    async def _answer(self, checks: list[Check]) -> None:
        checks = [check for check in checks if not check.future.done()]  # gone: cancelled
        if not checks:
            return
        try:
            # Its own thread, as a request's sync code gets: the answer belongs to no one
            # stream, whose request may end meanwhile.
            async with ThreadSensitiveContext():
                if len(checks) == 1:
                    one = checks[0]
                    alone = await sync_to_async(batch_state)(
                        one.user, one.ids, None, one.need_count
                    )
                    answers = [alone]
                else:
                    answers = await sync_to_async(answer)(checks)
        except Exception as exc:  # each stream ends with it, as it would have alone
            for check in checks:
                if not check.future.done():
                    check.future.set_exception(exc)
            return
        for check, result in zip(checks, answers, strict=True):
            if not check.future.done():
                check.future.set_result(result)


_gatherings: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def gathering() -> Gathering:
    """The running event loop's gathering (one per process under an ASGI server)."""
    loop = asyncio.get_running_loop()
    found = _gatherings.get(loop)
    if found is None:
        found = _gatherings[loop] = Gathering()
    return found
