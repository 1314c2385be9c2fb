"""The Broadcaster: changes from the real change feed, over a real SQLite file, as page signals.

"Another process" is a second connection on the same file (its commits reach this one only
through the file); tests/web/test_live.py has a real `taskloom import` subprocess.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
import pytest

from taskloom import changes as changes_module
from taskloom.changes import ChangeFeed
from taskloom.domain.events import EventKind
from taskloom.models import TaskSpec
from taskloom.services import creation
from taskloom.services.app import Taskloom
from taskloom.services.common import event
from taskloom.web.broadcast import Broadcaster, Subscription

BOUND = 10  # seconds: only a bound on a broken test, never a wait for a result
EVERY = ("overview", "decisions", "agents", "activity", "runs", "artifacts")


@pytest.fixture(autouse=True)
def quick_looks(monkeypatch):
    """The feed looks for patient listeners every 1 s; 50 ms keeps these tests quick and
    changes nothing they check (tests/web/test_live.py keeps the real pace)."""
    monkeypatch.setattr(changes_module, "PATIENT_LOOK", 0.05)


@asynccontextmanager
async def running(app: Taskloom, feed_loop: bool = True, **options: float) -> AsyncIterator[Broadcaster]:
    """A feed and a broadcaster running as `taskloom serve` runs them, stopped at the end.
    Without the feed's loop, the broadcaster's listener looks at the store itself."""
    feed = ChangeFeed(app)
    broadcaster = Broadcaster(feed, **{"debounce": 0.01, **options})
    async with anyio.create_task_group() as tg:
        if feed_loop:
            tg.start_soon(feed.run)
        tg.start_soon(broadcaster.run)
        yield broadcaster
        tg.cancel_scope.cancel()


async def create(app: Taskloom, *titles: str, depends_on: list[str] | None = None) -> None:
    await app.write(creation.create_tasks, [TaskSpec(title=t, depends_on=depends_on or []) for t in titles])


async def write_event(app: Taskloom, kind: EventKind, subject: str) -> None:
    await app.write(lambda tx, scope: event(tx, scope, kind, subject))


async def signal(sub: Subscription) -> tuple[str, int]:
    with anyio.fail_after(BOUND):
        got = await sub.next(BOUND)
    assert got is not None, "no signal"
    return got


async def flush_of(sub: Subscription) -> set[str]:
    """The regions of the next flush: the first signal, and what that flush put beside it."""
    found = {(await signal(sub))[0]}
    while (more := await sub.next(0)) is not None:
        found.add(more[0])
    return found


async def signals_until(sub: Subscription, region: str) -> list[str]:
    """The regions signalled, in order, up to and including `region`."""
    seen: list[str] = []
    while not seen or seen[-1] != region:
        seen.append((await signal(sub))[0])
    return seen


async def test_the_feed_is_listened_to_only_while_someone_is_subscribed(app):
    feed = ChangeFeed(app)
    broadcaster = Broadcaster(feed)
    assert not broadcaster.listening
    async with broadcaster.subscribe(["overview"]):
        assert broadcaster.listening
        assert len(feed._listeners) == 1
        # Patient: while only pages listen, the feed looks at the store once a second.
        assert all(listener.patient for listener in feed._listeners)
        async with broadcaster.subscribe(["agents"]):
            assert len(feed._listeners) == 1  # one listener however many pages
        assert broadcaster.listening  # the first page is still open
    assert not broadcaster.listening
    assert not feed._listeners


async def test_a_change_committed_by_another_connection_arrives_as_its_regions(app, other):
    async with running(app) as broadcaster, broadcaster.subscribe(EVERY) as sub:
        await create(other, "from elsewhere")
        assert await flush_of(sub) == {"overview", "decisions", "activity"}
        await app.write(lambda tx, scope: event(tx, scope, EventKind.TASK_CLAIMED, "T-1"))
        assert await flush_of(sub) == {"overview", "decisions", "agents", "activity"}
        await write_event(other, EventKind.RUN_STARTED, "worker-1")
        assert "runs" in await signals_until(sub, "runs")
        await write_event(other, EventKind.ARTIFACT_UPLOADED, "artifact://sha256/ab")
        seen = await signals_until(sub, "artifacts")
        assert "overview" not in seen


async def test_a_signal_carries_the_newest_event_id(app, other):
    async with running(app) as broadcaster, broadcaster.subscribe(["runs"]) as sub:
        await write_event(other, EventKind.RUN_STARTED, "worker-1")
        region, event_id = await signal(sub)
    newest = await app.read(lambda tx, scope: tx.scalar("events_last_id", {"project": scope.project_id}))
    assert (region, event_id) == ("runs", newest)
    assert broadcaster.newest == newest


@pytest.mark.parametrize("feed_loop", [True, False], ids=["feed-loop", "no-feed-loop"])
async def test_fifty_changes_in_a_burst_are_one_flush(app, other, feed_loop):
    # The burst is 50 commits; the debounce is long enough that a loaded machine still fits them.
    # Without the feed's loop nobody looks at the store during the debounce unless the
    # broadcaster does: the burst's tail would come as a second flush.
    async with (
        running(app, feed_loop, debounce=2.0) as broadcaster,
        broadcaster.subscribe(["overview", "runs"]) as sub,
    ):
        for n in range(50):
            await create(other, f"burst {n}")
        await write_event(other, EventKind.RUN_STARTED, "marker")  # after the burst, only "runs"
        assert await signals_until(sub, "runs") == ["overview", "runs"]


async def test_more_tasks_than_the_limit_in_one_flush_is_all(app, other):
    async with running(app, max_task_events=3) as broadcaster, broadcaster.subscribe(["runs"]) as sub:
        await create(other, "a", "b", "c", "d")
        assert (await signal(sub))[0] == "all"  # even a page that shows no task list


async def test_a_listener_that_lost_changes_gives_all(app, other, monkeypatch):
    monkeypatch.setattr(changes_module, "MAX_PENDING", 5)
    async with running(app) as broadcaster, broadcaster.subscribe(["runs"]) as sub:

        def many(tx, scope):
            for n in range(10):
                event(tx, scope, EventKind.AGENT_LOG, f"agent:{n}")

        await other.write(many)
        assert (await signal(sub))[0] == "all"


async def test_a_task_page_hears_its_own_changes_and_its_dependencies_but_not_others(app, other):
    await create(app, "dependency")  # T-1
    await create(app, "dependent", depends_on=["T-1"])  # T-2
    await create(app, "unrelated")  # T-3
    async with (
        running(app) as broadcaster,
        broadcaster.subscribe(["task"], task="T-2") as dependent,
        broadcaster.subscribe(["task"], task="T-3") as unrelated,
        broadcaster.subscribe(["activity"]) as activity,
    ):
        await other.write(lambda tx, scope: event(tx, scope, EventKind.NOTE_NOTE, "T-1"))
        assert (await signal(dependent))[0] == "task"
        assert (await signal(activity))[0] == "activity"
        assert await unrelated.next(0) is None
        await other.write(lambda tx, scope: event(tx, scope, EventKind.MESSAGE_SENT, "task:T-3"))
        assert (await signal(unrelated))[0] == "task"  # its thread


async def test_a_reader_that_never_reads_does_not_hold_up_others_and_ends_with_one_all(app, other):
    async with (
        running(app, queue=2) as broadcaster,
        broadcaster.subscribe(EVERY) as slow,
        broadcaster.subscribe(["runs"]) as quick,
    ):
        for n in range(5):
            await write_event(other, EventKind.RUN_STARTED, f"w{n}")
            await create(other, f"t{n}")
            assert (await signal(quick))[0] == "runs"
        newest = broadcaster.newest
        assert await slow.next(0) == ("all", newest)
        assert await slow.next(0) is None


async def test_a_page_that_joins_after_the_last_left_is_heard_at_once(app, other):
    # The keepalive is far beyond the bound: only dropping the old listener's wait is in time.
    async with running(app, keepalive=10 * BOUND) as broadcaster:
        async with broadcaster.subscribe(["runs"]):
            await anyio.wait_all_tasks_blocked()  # the loop waits on this page's listener now
        assert not broadcaster.listening
        async with broadcaster.subscribe(["runs"]) as sub:
            await write_event(other, EventKind.RUN_STARTED, "w")
            assert (await signal(sub))[0] == "runs"


async def test_closing_ends_a_waiting_reader(app):
    broadcaster = Broadcaster(ChangeFeed(app))
    async with broadcaster.subscribe(["overview"]) as sub, anyio.create_task_group() as tg:
        got: list = []

        async def read() -> None:
            got.append(await sub.next(10 * BOUND))

        tg.start_soon(read)
        await anyio.wait_all_tasks_blocked()
        broadcaster.closing.set()
        with anyio.fail_after(BOUND):
            while not got:
                await anyio.wait_all_tasks_blocked()
    assert got == [None]
    assert sub.closed
