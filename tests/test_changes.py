"""The change feed: one cursor over the events table per process, woken by the store.

Real SQLite files throughout; "another process" is a second connection on the same file (its
commits reach this one only through the file), and once a real `taskloom import` subprocess.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import anyio

from taskloom import changes as changes_module
from taskloom.changes import MAX_PENDING, ChangeFeed
from taskloom.clock import ManualClock
from taskloom.domain.events import EventKind
from taskloom.models import TaskSpec
from taskloom.services import creation
from taskloom.services.app import Taskloom
from taskloom.services.common import event

TASKLOOM = str(Path(sys.executable).with_name("taskloom"))
BOUND = 10  # seconds: only a bound on a broken test, never a wait for a result


async def create(app: Taskloom, *titles: str) -> None:
    await app.write(creation.create_tasks, [TaskSpec(title=t) for t in titles])


async def test_the_store_reports_a_commit_made_through_another_connection_and_times_out_without_one(app, other):
    store = app.store
    await store.wait_for_change(0)  # take the counter as it stands
    assert await store.wait_for_change(0.05) is False
    await create(other, "from elsewhere")
    with anyio.fail_after(BOUND):
        assert await store.wait_for_change(BOUND) is True
    assert await store.wait_for_change(0) is False  # reported once


async def test_a_listener_hears_changes_committed_by_another_connection_while_the_feed_runs(app, other):
    feed = ChangeFeed(app)
    async with anyio.create_task_group() as tg:
        tg.start_soon(feed.run)
        async with feed.listen() as changes:
            await create(other, "a", "b")
            heard: list = []
            with anyio.fail_after(BOUND):
                while len([c for c in heard if c.kind is EventKind.TASK_CREATED]) < 2:
                    heard += await changes.next()
        tg.cancel_scope.cancel()
    assert [c.subject for c in heard if c.kind is EventKind.TASK_CREATED] == ["T-1", "T-2"]
    assert all(c.agent == "tester" for c in heard)
    assert [c.id for c in heard] == sorted(c.id for c in heard)


async def test_a_listener_hears_only_the_kinds_it_asked_for(app):
    feed = ChangeFeed(app)
    async with feed.listen(frozenset({EventKind.TASK_READY})) as ready, feed.listen() as everything:
        await create(app, "a")
        with anyio.fail_after(BOUND):
            got = await ready.next()  # no loop runs the feed: the listener drives it
        assert {c.kind for c in got} == {EventKind.TASK_READY}
        assert {c.kind for c in everything.take()} >= {EventKind.TASK_CREATED, EventKind.TASK_READY}


async def test_nothing_committed_before_listening_is_heard_and_a_quiet_wait_ends_empty(app):
    await create(app, "before")
    feed = ChangeFeed(app)
    async with feed.listen() as changes:
        assert await changes.next(0.05) == []
        await create(app, "after")
        with anyio.fail_after(BOUND):
            got = await changes.next()
    assert {c.subject for c in got} == {"T-2"}


async def test_a_commit_in_this_process_wakes_a_listener_without_waiting_for_the_next_look(app):
    # A ManualClock'd app: only the store's own wake-up can end this wait before its poll interval.
    feed = ChangeFeed(app)
    async with anyio.create_task_group() as tg:
        tg.start_soon(feed.run)
        async with feed.listen() as changes:
            await anyio.wait_all_tasks_blocked()
            started = anyio.current_time()
            await create(app, "here")
            with anyio.fail_after(BOUND):
                got = await changes.next()
            waited = anyio.current_time() - started
        tg.cancel_scope.cancel()
    assert got
    assert waited < 1.0  # the feed's wait slice: a local commit does not wait one out


async def test_listeners_looking_at_once_without_a_feed_loop_each_hear_a_change_the_first_one_read(
    app, other, monkeypatch
):
    # Without a running feed each waiting listener looks at the store itself. The first to see
    # a commit reads it for all; the others must not sit out their look (made long here).
    monkeypatch.setattr(changes_module, "WAIT_SLICE", 4 * BOUND)
    feed = ChangeFeed(app)
    heard: dict[str, list] = {}
    async with feed.listen() as first, feed.listen() as second:

        async def wait(name: str, listener) -> None:
            heard[name] = await listener.next(4 * BOUND)

        with anyio.fail_after(BOUND):
            async with anyio.create_task_group() as tg:
                tg.start_soon(wait, "first", first)
                tg.start_soon(wait, "second", second)
                await anyio.wait_all_tasks_blocked()
                await create(other, "seen by both")
    assert {c.subject for c in heard["first"]} == {c.subject for c in heard["second"]} == {"T-1"}


async def test_a_real_process_importing_a_plan_is_heard(tmp_path, clock: ManualClock):
    db = tmp_path / "team.db"
    from taskloom.config import Settings

    app = await Taskloom.open(Settings(db_path=db, project="team"), clock)
    try:
        feed = ChangeFeed(app)
        plan = tmp_path / "plan.yaml"
        plan.write_text("tasks:\n  - {code: A, title: first}\n  - {code: B, title: second, depends_on: [A]}\n")
        async with feed.listen(frozenset({EventKind.TASK_CREATED})) as changes:
            run = await anyio.run_process(
                [TASKLOOM, "import", str(plan), "--db", str(db), "--project", "team"],
                check=False, env={**os.environ},
            )
            assert run.returncode == 0, run.stderr
            heard: list = []
            with anyio.fail_after(BOUND):
                while len(heard) < 2:
                    heard += await changes.next()
        assert sorted(c.subject for c in heard) == ["A", "B"]
    finally:
        await app.close()
async def test_a_reader_waiting_in_next_learns_that_an_overflowing_batch_lost_changes(app):
    feed = ChangeFeed(app)
    async with feed.listen() as changes:
        burst = MAX_PENDING + 1

        def many(tx, scope):
            for n in range(burst):
                event(tx, scope, EventKind.AGENT_LOG, f"agent:{n}")

        await app.write(many)
        with anyio.fail_after(BOUND):
            got = await changes.next(BOUND)
        told = changes.lost_some()
    assert len(got) == burst or told, f"{burst - len(got)} changes dropped without a word"

