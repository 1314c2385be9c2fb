"""From the change feed to the dashboard's open pages: which parts of a page to fetch again.

A page holds one SSE stream and names the regions it shows. One Broadcaster per process listens
to the change feed (`taskloom.changes`) with ONE patient listener, attached only while a page is
connected, so a server nobody watches looks at the store no more often than before. A burst of
changes is gathered for `debounce` seconds and becomes one signal per region, and each page
has a small queue: a page that reads too slowly gets one `all` instead of a growing backlog,
and never holds up the others. Signals say "look again", never what changed.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager

import anyio

from taskloom.changes import ChangeFeed, Listener
from taskloom.domain.events import Change, EventKind, Reach, touched
from taskloom.errors import TaskloomError
from taskloom.services import activity

log = logging.getLogger(__name__)

DEBOUNCE = 0.25  # seconds a burst of changes is gathered before one signal per region
KEEPALIVE = 15.0  # seconds between comment lines on an idle stream (proxies, dead-peer detection)
QUEUE = 8  # signals a slow page may have pending; past that it gets one "all"
MAX_TASK_EVENTS = 50  # distinct tasks named in one flush before it becomes "all"
PAUSE_AFTER_ERROR = 1.0  # seconds the loop rests after a failed pass

ALL = "all"
TASK = "task"  # a task page's region; its signal is keyed "task:<code>" inside the broadcaster
REGIONS = frozenset({"overview", "decisions", "agents", "activity", "runs", "artifacts", TASK})

_STATUS_MOVES = frozenset(k for k in EventKind if k.value.startswith("task.") and k.reach is Reach.TASK) - {
    EventKind.TASK_CONTEXT,
    EventKind.TASK_UPDATED,
    EventKind.TASK_CREATED,
}
# Counts, streams, ready work by role, the graph's colours (a task's context shows on its page only).
_OVERVIEW = frozenset(k for k in EventKind if k.value.startswith(("task.", "stream.", "sprint."))) - {
    EventKind.TASK_CONTEXT
} | {EventKind.LEASE_EXPIRED}
# Blockers, reviews, failures, escalations and stuck streams: any move may start or end one.
_DECISIONS = (
    _STATUS_MOVES
    | {EventKind.NOTE_BLOCKER, EventKind.ESCALATION_SENT, EventKind.LEASE_EXPIRED}
    | {k for k in EventKind if k.value.startswith("stream.")}
)
# Presence and each agent's current task.
_AGENTS = frozenset(k for k in EventKind if k.value.startswith(("agent.", "lease.", "run."))) | (
    _STATUS_MOVES - {EventKind.TASK_READY, EventKind.TASK_WAITING, EventKind.TASK_BACKLOG}
)
# Heartbeats are not activity a person reads.
_ACTIVITY = frozenset(EventKind) - {EventKind.LEASE_RENEWED}


def regions_of(changes: list[Change]) -> set[str]:
    """The page regions (task pages aside) a batch of changes alters, from the event kinds alone."""
    kinds = {c.kind for c in changes}
    found: set[str] = set()
    for region, wake in (
        ("overview", _OVERVIEW),
        ("decisions", _DECISIONS),
        ("agents", _AGENTS),
        ("activity", _ACTIVITY),
    ):
        if kinds & wake:
            found.add(region)
    if any(k.value.startswith("run.") for k in kinds):
        found.add("runs")
    if any(k.value.startswith("artifact.") for k in kinds):
        found.add("artifacts")
    return found


def thread_tasks(changes: list[Change]) -> set[str]:
    """Tasks whose thread got a message: their pages show the thread."""
    out = set()
    for c in changes:
        if c.kind.reach is Reach.ADDRESS and c.subject.startswith("task:"):
            out.add(c.subject.removeprefix("task:"))
    return out


class Subscription:
    """One open page's pending signals: region -> newest event id, oldest first, at most `size`."""

    def __init__(self, regions: frozenset[str], task: str | None, size: int, closing: anyio.Event) -> None:
        self.regions = regions
        self.task = task
        self._size = size
        self._closing = closing
        self._pending: dict[str, int] = {}
        self._arrived = anyio.Event()

    def wants(self, region: str) -> bool:
        if region.startswith("task:"):
            return TASK in self.regions and region == f"task:{self.task}"
        return region in self.regions

    def put(self, region: str, event_id: int) -> None:
        """Never blocks: a full queue is drained and holds one `all` in its place."""
        full = region not in self._pending and len(self._pending) >= self._size
        if region == ALL or ALL in self._pending or full:
            region = ALL  # everything is to be fetched again: nothing else pending means more
            self._pending.clear()
        self._pending.pop(region, None)  # a region pending again moves behind the others
        self._pending[region] = event_id
        self._arrived.set()

    async def next(self, timeout: float) -> tuple[str, int] | None:
        """The oldest pending signal as (region, event id); None after `timeout` quiet seconds or
        once the broadcaster is closing (see `closed`)."""
        if not self._pending and not self._closing.is_set():
            async with anyio.create_task_group() as tg:

                async def close() -> None:
                    await self._closing.wait()
                    tg.cancel_scope.cancel()

                tg.start_soon(close)
                with anyio.move_on_after(timeout):
                    await self._arrived.wait()
                tg.cancel_scope.cancel()
        if self.closed or not self._pending:
            return None
        region = next(iter(self._pending))
        event_id = self._pending.pop(region)
        if not self._pending:
            self._arrived = anyio.Event()
        return region.partition(":")[0], event_id

    @property
    def closed(self) -> bool:
        return self._closing.is_set()


class Broadcaster:
    def __init__(
        self,
        feed: ChangeFeed,
        *,
        debounce: float = DEBOUNCE,
        keepalive: float = KEEPALIVE,
        queue: int = QUEUE,
        max_task_events: int = MAX_TASK_EVENTS,
    ) -> None:
        self.feed = feed
        self.debounce = debounce
        self.keepalive = keepalive  # read by the SSE endpoint
        self.queue = queue
        self.max_task_events = max_task_events
        # Set at shutdown (the HTTP server's exit hook): every stream ends, so the server need
        # not wait on responses that would never finish by themselves.
        self.closing = anyio.Event()
        self.newest = 0  # the newest event id signalled, or seen when the listener attached
        self._subscribers: set[Subscription] = set()
        self._listener: Listener | None = None
        self._attaching = anyio.Lock()
        self._wake = anyio.Event()
        self._waiting: anyio.CancelScope | None = None

    @property
    def listening(self) -> bool:
        """Whether the feed listener is attached (exactly while a page is subscribed)."""
        return self._listener is not None

    @asynccontextmanager
    async def subscribe(self, regions: Iterable[str], task: str | None = None) -> AsyncIterator[Subscription]:
        """A page's subscription, listening from the moment this returns until the block ends."""
        sub = Subscription(frozenset(regions), task, self.queue, self.closing)
        async with self._attaching:
            if self._listener is None:
                self._listener = await self.feed.attach(patient=True)
                self.newest = max(self.newest, self._listener.since)
                self._wake.set()
            self._subscribers.add(sub)
        try:
            yield sub
        finally:
            self._subscribers.discard(sub)
            if not self._subscribers and self._listener is not None:
                self.feed.detach(self._listener)
                self._listener = None
                if self._waiting is not None:
                    self._waiting.cancel()  # the loop's wait was on the listener just dropped

    async def run(self) -> None:
        """Until cancelled: turn the feed's changes into signals. Errors are logged; it goes on."""
        while True:
            listener = self._listener
            if listener is None:
                await self._wake.wait()
                self._wake = anyio.Event()
                continue
            try:
                await self._pass(listener)
            except TaskloomError as exc:
                log.warning("dashboard signals: %s", exc)
                await anyio.sleep(PAUSE_AFTER_ERROR)  # a locked or damaged file: do not spin on it
            except Exception:  # top-level handler: live pages must outlive a bad pass
                log.exception("dashboard signals crashed")
                await anyio.sleep(PAUSE_AFTER_ERROR)

    async def _pass(self, listener: Listener) -> None:
        changes: list[Change] = []
        with anyio.CancelScope() as self._waiting:
            changes = await listener.next(self.keepalive)
            if changes:
                await anyio.sleep(self.debounce)  # let the burst finish
                # The feed looks seldom for a patient listener: look now, so a burst that
                # straddled its last look still becomes one flush.
                await self.feed.poll(0)
                changes += listener.take()
        self._waiting = None
        if listener is self._listener:  # not dropped meanwhile (its changes are nobody's now)
            await self.flush(changes, listener.lost_some())

    async def flush(self, changes: list[Change], lost: bool = False) -> set[str]:
        """Signal every subscriber whose regions a batch touched; returns the regions."""
        if not changes and not lost:
            return set()
        if changes:
            self.newest = max(self.newest, max(c.id for c in changes))
        regions = await self._regions(changes, lost)
        for sub in list(self._subscribers):
            for region in sorted(regions):
                if region == ALL or sub.wants(region):
                    sub.put(region, self.newest)
        return regions

    async def _regions(self, changes: list[Change], lost: bool) -> set[str]:
        found = touched(changes)
        tasks = found.tasks | thread_tasks(changes)
        if lost or len(tasks) > self.max_task_events:
            return {ALL}
        regions = regions_of(changes)
        watched = {s.task for s in self._subscribers if s.task is not None and TASK in s.regions}
        if tasks and watched:
            # A dependent's page shows each dependency's state, a parent's its subtasks.
            tasks |= await self.feed.app.read(activity.pages_showing, sorted(tasks))
            regions |= {f"task:{code}" for code in tasks & watched}
        return regions
