"""The change feed: one cursor over the events table per process, woken by the store.

Push, waiting calls and the resolver all need to hear "something changed", whichever process
changed it. Each of them listens here instead of watching the database itself: the feed waits
on the store (`wait_for_change`), reads the events after its cursor once, and hands them to
every listener. It only runs while someone listens.

A listener hears every change committed after `listen()` (or `attach()`) returns, and none from
before it attached. Listeners treat changes as reasons to look again, never as the state itself.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio

from taskloom.domain.events import Change, EventKind, kind_of
from taskloom.errors import TaskloomError
from taskloom.services import activity
from taskloom.services.app import Taskloom

log = logging.getLogger(__name__)

WAIT_SLICE = 1.0  # seconds one wait on the store lasts before the loop looks at its listeners again
# Seconds between looks while only patient listeners listen (the resolver, which passes every
# second anyway): a server nobody waits on does not poll the store many times a second.
PATIENT_LOOK = 1.0
MAX_PENDING = 10_000  # changes a listener may have unread before it is told it lost some


class Listener:
    """One reader's share of the feed: the changes of the kinds it asked for, since it last read."""

    def __init__(
        self, feed: ChangeFeed, kinds: frozenset[EventKind] | None, patient: bool = False, since: int = 0
    ) -> None:
        self.kinds = kinds
        self.since = since  # the newest event when it attached: older ones are not its to hear
        self.patient = patient  # content to hear of changes within PATIENT_LOOK seconds
        self._feed = feed
        # More than MAX_PENDING changes went unread, so some were dropped: the reader should
        # treat everything as changed. Cleared only by `lost_some`, so no read can hide it.
        self.lost = False
        self._pending: list[Change] = []
        self._arrived = anyio.Event()

    def deliver(self, changes: list[Change]) -> None:
        mine = [c for c in changes if c.id > self.since and (self.kinds is None or c.kind in self.kinds)]
        if not mine:
            return
        self._pending += mine
        if len(self._pending) > MAX_PENDING:
            del self._pending[:-MAX_PENDING]
            self.lost = True
        self._arrived.set()

    async def next(self, timeout: float | None = None) -> list[Change]:
        """The changes since the last read, waiting up to `timeout` seconds for the first ([] then)."""
        if not self._pending:
            if self._feed.running:
                with anyio.move_on_after(timeout):
                    await self._arrived.wait()
            else:
                await self._drive(timeout)
        return self.take()

    async def _drive(self, timeout: float | None) -> None:
        """No loop runs the feed in this process (a test, a CLI command): look for changes here.

        Other listeners may be looking at the same time, and the first to see a commit reads it
        for all: so this look also ends when one of them hands this listener its changes.
        """
        deadline = anyio.current_time() + (WAIT_SLICE if timeout is None else timeout)
        while not self._pending:
            remaining = deadline - anyio.current_time()
            if remaining <= 0:
                if timeout is not None:
                    return
                deadline += WAIT_SLICE
                continue
            async with anyio.create_task_group() as tg:
                tg.start_soon(self._look, min(remaining, WAIT_SLICE), tg.cancel_scope)
                await self._arrived.wait()
                tg.cancel_scope.cancel()

    async def _look(self, timeout: float, done: anyio.CancelScope) -> None:
        await self._feed.poll(timeout)
        done.cancel()

    def take(self) -> list[Change]:
        """What has arrived, without waiting."""
        out, self._pending = self._pending, []
        self._arrived = anyio.Event()
        return out

    def lost_some(self) -> bool:
        """Whether changes were dropped since the last ask (the reader fell MAX_PENDING behind)."""
        lost, self.lost = self.lost, False
        return lost


class ChangeFeed:
    def __init__(self, app: Taskloom) -> None:
        self.app = app
        self._listeners: set[Listener] = set()
        self._cursor: int | None = None  # the newest event handed on; None while nobody listens
        self._joined = anyio.Event()
        self._running = False
        self._unread = False  # a commit was reported but reading its events failed
        self._reading = anyio.Lock()  # one reader of the events table at a time, so no batch is split

    @property
    def running(self) -> bool:
        return self._running

    async def attach(self, kinds: frozenset[EventKind] | None = None, *, patient: bool = False) -> Listener:
        """A new listener, hearing every change committed from now on. `detach` it when done.

        A patient listener hears changes within PATIENT_LOOK seconds; while only patient ones
        listen, the feed looks at the store that seldom.
        """
        newest = await self.start()
        # The feed's cursor may lag (a patient look is a second apart); a new listener hears only
        # what commits after it attached.
        if newest is None:
            newest = await self.app.read(activity.last_event_id)
        listener = Listener(self, kinds, patient, newest)
        self._listeners.add(listener)
        self._joined.set()
        return listener

    def detach(self, listener: Listener) -> None:
        self._listeners.discard(listener)

    @asynccontextmanager
    async def listen(self, kinds: frozenset[EventKind] | None = None) -> AsyncIterator[Listener]:
        listener = await self.attach(kinds)
        try:
            yield listener
        finally:
            self.detach(listener)

    async def start(self) -> int | None:
        """Fix the cursor at the newest event unless it is fixed already; returns the newest
        event's id when it had to read it. The store's change counter is taken first, so a commit
        racing this read is reported by the next look."""
        if self._cursor is not None:
            return None
        await self.app.store.wait_for_change(0)
        newest = await self.app.read(activity.last_event_id)
        if self._cursor is None:
            self._cursor = newest
        return newest

    async def run(self) -> None:
        """Until cancelled: hand new changes to the listeners. One loop per process: a second
        `run` returns at once (over SSE the lifespan, which may start one, runs per connection)."""
        if self._running:
            return
        self._running = True
        try:
            while True:
                if not self._listeners:
                    self._cursor = None  # nobody heard what happened meanwhile: start afresh
                    await self._joined.wait()
                    self._joined = anyio.Event()
                    continue
                try:
                    if any(not listener.patient for listener in self._listeners):
                        await self.poll(WAIT_SLICE)
                    else:
                        with anyio.move_on_after(PATIENT_LOOK):  # until an eager listener joins
                            await self._joined.wait()
                        self._joined = anyio.Event()
                        await self.poll(0)
                except TaskloomError as exc:
                    log.warning("change feed: %s", exc)
                    await anyio.sleep(WAIT_SLICE)  # a locked or damaged file: do not spin on it
                except Exception:  # top-level handler: the feed must outlive a bad pass
                    log.exception("change feed pass crashed")
                    await anyio.sleep(WAIT_SLICE)
        finally:
            self._running = False

    async def poll(self, timeout: float = 0.0, *, force: bool = False) -> list[Change]:
        """One look: wait up to `timeout` seconds for a commit, then hand on the events after the
        cursor (`force`: read them even if the store reported no commit, to settle a test)."""
        if self._cursor is None:
            await self.start()
            return []
        if not await self.app.store.wait_for_change(timeout) and not force and not self._unread:
            return []
        # The store reported this commit once: until its events are read, every look reads.
        self._unread = True
        # Shielded: a look cancelled mid-read would move the cursor past changes nobody was handed.
        with anyio.CancelScope(shield=True):
            async with self._reading:
                changes = await self._read()
            self._unread = False
            if changes:
                for listener in list(self._listeners):
                    listener.deliver(changes)
        return changes

    async def _read(self) -> list[Change]:
        changes: list[Change] = []
        while self._cursor is not None:  # a burst larger than a batch is read whole, not at the next commit
            rows = await self.app.read(activity.events_after, self._cursor)
            if not rows:
                break
            self._cursor = rows[-1]["id"]
            changes += [
                Change(r["id"], kind, r["subject"] or "", r["agent"])
                for r in rows
                if (kind := kind_of(r["kind"])) is not None
            ]
            if len(rows) < activity.PUSH_BATCH:
                break
        return changes
