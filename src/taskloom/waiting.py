"""Calls that wait for work or mail instead of making agents poll.

`task_claim(wait_seconds=N)` and `message_inbox(wait_seconds=N)` hold the call open until there
is something for the caller, in any process on the database, or until the deadline. They hear
of changes from the change feed and look again only when a change could matter to them.

Nobody is handed a lease they cannot receive: every claim attempt runs shielded from
cancellation, and a claim made while the caller went away (a `notifications/cancelled`, a
dropped connection, stdio's end of input) is released at once, without using an attempt.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager

import anyio
from anyio.lowlevel import checkpoint_if_cancelled

from taskloom.changes import ChangeFeed
from taskloom.domain.events import CLAIM_WAKE, INBOX_WAKE
from taskloom.models import ClaimResult
from taskloom.services import messages, outlook, waiting, work
from taskloom.services.app import Taskloom

Progress = Callable[[float, float | None, str | None], Awaitable[None]]

# Seconds: look even without a change, so a wake-up lost anywhere costs at most this. Each look
# is a wake-up and a read per waiter, so it is kept rare: the feed is what wakes a wait.
LOOK_AGAIN = 15.0
PROGRESS_EVERY = 10.0  # seconds between progress notifications while a call waits
ROW_SLACK = 30.0  # seconds a waiter's row outlives its deadline, for clocks and slow exits


class Hangups:
    """The waits in progress in one process, so that a client going away ends them at once.

    Used for stdio, where the process serves one client: at the end of its input no answer can
    be delivered, so waits end without claiming. (HTTP requests are cancelled by the SDK when
    their connection or session goes.)
    """

    def __init__(self) -> None:
        self._scopes: set[anyio.CancelScope] = set()
        self.gone = False

    @contextmanager
    def guard(self) -> Iterator[anyio.CancelScope]:
        with anyio.CancelScope() as scope:
            if self.gone:
                scope.cancel()
            self._scopes.add(scope)
            try:
                yield scope
            finally:
                self._scopes.discard(scope)

    def hang_up(self) -> None:
        self.gone = True
        for scope in list(self._scopes):
            scope.cancel()


async def claim(
    app: Taskloom,
    feed: ChangeFeed,
    wanted: waiting.Wanted,
    seconds: float,
    *,
    agent: str | None = None,
    progress: Progress | None = None,
) -> ClaimResult:
    """Claim the next task this caller may take, waiting up to `seconds` for one to become ready.

    Returns the empty answer at once when it says stop, at the start or after a change: with the
    project finished, nothing able to move, or only other roles' work left, no task will come,
    and a headless worker should stop now rather than at the deadline.
    """
    deadline = anyio.current_time() + seconds
    until = app.clock.now() + seconds + ROW_SLACK
    waiter: int | None = None
    # Listening starts before the first look, so nothing committed between the two is missed.
    async with feed.listen(CLAIM_WAKE) as changes:
        try:
            turn = await _attempt(app, wanted, None, until, agent)
            if turn.claimed is not None:
                return turn.claimed
            waiter = turn.waiter
            if turn.retry_at is None and (stop := await app.read(waiting.stop_answer, wanted, agent=agent)):
                return stop
            beat = _Beat(progress, seconds)
            while (left := deadline - anyio.current_time()) > 0:
                retry_in = math.inf if turn.retry_at is None else max(0.0, turn.retry_at - app.clock.now())
                heard = await changes.next(min(left, LOOK_AGAIN, retry_in, beat.due_in()))
                await beat.maybe()
                seen = await app.peek(waiting.peek, wanted, waiter, agent=agent)
                if seen is None:
                    # Nothing this caller could take. If a change just finished the project or
                    # left nothing that can move, no task will come: say so now.
                    if heard and (stop := await app.read(waiting.stop_answer, wanted, agent=agent)):
                        return stop
                    turn = waiting.Turn(waiter=waiter)
                    continue
                if seen.retry_at is not None:  # an older waiter's turn: look again when it ends
                    turn = seen
                    continue
                turn = await _attempt(app, wanted, waiter, until, agent)
                if turn.claimed is not None:
                    waiter = None  # the claim took this wait out of line
                    return turn.claimed
        finally:
            if waiter is not None:
                with anyio.CancelScope(shield=True):
                    await app.write(waiting.leave, waiter, agent=agent)
    return await app.read(
        outlook.nothing_ready, role=wanted.role, stream=wanted.stream, labels=list(wanted.labels), agent=agent
    )


async def _attempt(
    app: Taskloom, wanted: waiting.Wanted, waiter: int | None, until: float, agent: str | None
) -> waiting.Turn:
    with anyio.CancelScope(shield=True):  # a claim is committed whole or not at all, and then known
        turn = await app.write(waiting.claim_in_turn, wanted, waiter, until, agent=agent)
    if turn.claimed is not None and turn.claimed.claimed:
        try:
            await checkpoint_if_cancelled()
        except anyio.get_cancelled_exc_class():
            # The caller went away while the claim committed: give the task straight back.
            code = turn.claimed.detail.task.code if turn.claimed.detail else None
            if code is not None:
                with anyio.CancelScope(shield=True):
                    await app.write(work.release, code, "the waiting caller went away before its answer", agent=agent)
            raise
    return turn


async def mail(
    app: Taskloom,
    feed: ChangeFeed,
    task: str | None,
    seconds: float,
    *,
    agent: str | None = None,
    progress: Progress | None = None,
) -> None:
    """Return once the caller has an unread message (about `task`, if given), or after `seconds`."""
    deadline = anyio.current_time() + seconds
    async with feed.listen(INBOX_WAKE) as changes:
        beat = _Beat(progress, seconds)
        while True:
            unread = await app.read(messages.inbox, True, task, 1, False, agent=agent)
            left = deadline - anyio.current_time()
            if unread.unread or left <= 0:
                return
            await changes.next(min(left, LOOK_AGAIN, beat.due_in()))
            await beat.maybe()


class _Beat:
    """Progress notifications every PROGRESS_EVERY seconds of a wait (sent only when the client
    asked for progress: the SDK drops them without a progress token)."""

    def __init__(self, progress: Progress | None, total: float) -> None:
        self._progress = progress
        self._total = total
        self._start = anyio.current_time()
        self._next = self._start + PROGRESS_EVERY

    def due_in(self) -> float:
        return math.inf if self._progress is None else max(0.0, self._next - anyio.current_time())

    async def maybe(self) -> None:
        now = anyio.current_time()
        if self._progress is None or now < self._next:
            return
        self._next = now + PROGRESS_EVERY
        waited = now - self._start
        await self._progress(min(waited, self._total), self._total, f"waiting ({waited:.0f} s of {self._total:.0f} s)")
