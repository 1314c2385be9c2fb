"""The write lock is what keeps two replicas right: each race is run with it and without it.

Two `Taskloom`s on one database are two replicas (two PgStores, two pools). Each test holds two
writers at the worst moment inside `store.write(fn)` (after the service's work, before COMMIT)
and then asserts both outcomes: with `pg_advisory_xact_lock` taken first (the default) the
second writer waits at BEGIN and the result is what SQLite gives; with the lock switched off
(`PgStore._lock_writes`) the same choreography gives the wrong answer. Every step waits on an
event (a barrier, a lock waiter seen in pg_locks), none on a timing.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from taskloom.changes import ChangeFeed
from taskloom.config import Settings
from taskloom.domain.events import EventKind
from taskloom.models.work import TaskSpec
from taskloom.services import activity, creation, work
from taskloom.services.app import Taskloom
from tests.conftest import table_rows

psycopg = pytest.importorskip("psycopg")

PROJECT = "locks"
DEADLINE = 10.0  # seconds: a safety net for a broken choreography, never reached when it works


@pytest.fixture
async def replicas(pg_url: str) -> AsyncIterator[Callable[..., Any]]:
    """Opens replicas (Taskloom facades, each with its own PgStore and pool) on one database."""
    opened: list[Taskloom] = []

    async def open_replica(agent: str) -> Taskloom:
        settings = Settings(db_url=pg_url, project=PROJECT, default_agent=agent, lease_seconds=60.0)
        app = await Taskloom.open(settings)
        opened.append(app)
        return app

    try:
        yield open_replica
    finally:
        for app in opened:
            await app.close()


def lock_waiter_seen(url: str, deadline: float = DEADLINE) -> bool:
    """Whether a session of this database is seen waiting for an advisory lock before the deadline."""
    end = time.monotonic() + deadline
    with psycopg.connect(url, autocommit=True) as conn:
        while time.monotonic() < end:
            waiting = conn.execute(
                "SELECT count(*) FROM pg_locks l JOIN pg_database d ON d.oid = l.database "
                "WHERE l.locktype = 'advisory' AND NOT l.granted AND d.datname = current_database()"
            ).fetchone()[0]
            if waiting:
                return True
            time.sleep(0.005)  # a poll with a deadline: pg_locks has no notification to wait on
    return False


async def _two_last_dependencies_finish_together(replicas: Callable[..., Any], locked: bool) -> tuple[str, int]:
    one, two = await replicas("agent-1"), await replicas("agent-2")
    for app in (one, two):
        app.store._lock_writes = locked
    specs = [TaskSpec(title="A", code="A"), TaskSpec(title="B", code="B"),
             TaskSpec(title="X", code="X", depends_on=["A", "B"])]
    await one.write(creation.create_batch, specs)
    assert (await one.write(work.claim, code="A")).claimed
    assert (await two.write(work.claim, code="B")).claimed
    barrier = threading.Barrier(2, timeout=DEADLINE)

    def finish(app: Taskloom, code: str) -> Callable[[Any], Any]:
        scope = app.scope()

        def fn(tx: Any) -> Any:
            result = work.done(tx, scope, code, f"{code} finished")
            try:
                barrier.wait()  # both have counted X's open dependencies; neither has committed
            except threading.BrokenBarrierError:
                pass  # the lock held the other writer at BEGIN, and the test broke the barrier
            return result

        return fn

    racing = asyncio.gather(one.store.write(finish(one, "A")), two.store.write(finish(two, "B")))
    if locked:
        assert await asyncio.to_thread(lock_waiter_seen, one.settings.db_url), "no writer waited for the lock"
        barrier.abort()
    await racing
    assert not barrier.broken or locked, "without the lock both writers must have met at the barrier"
    [(status,)] = table_rows(one.settings, "SELECT status FROM tasks WHERE code = 'X'")
    [(ready,)] = table_rows(
        one.settings, "SELECT count(*) FROM events WHERE kind = ? AND subject = 'X'", (EventKind.TASK_READY.value,)
    )
    return status, ready


async def test_with_the_write_lock_two_replicas_finishing_the_last_dependencies_together_make_x_ready_once(
    replicas: Callable[..., Any],
) -> None:
    assert await _two_last_dependencies_finish_together(replicas, locked=True) == ("ready", 1)


async def test_without_the_write_lock_the_same_race_leaves_x_waiting_for_ever(replicas: Callable[..., Any]) -> None:
    assert await _two_last_dependencies_finish_together(replicas, locked=False) == ("waiting", 0)


async def _change_feed_of_a_third_replica(replicas: Callable[..., Any], locked: bool) -> tuple[list[int], list[int]]:
    """Writer 1 takes an event id and holds its transaction open; writer 2 takes the next id and
    commits (or, with the lock, waits at BEGIN); a third replica's feed reads in between and again
    after both. Returns (the ids committed, the ids the feed handed on)."""
    one, two, watcher = await replicas("agent-1"), await replicas("agent-2"), await replicas("watcher")
    for app in (one, two):
        app.store._lock_writes = locked
    feed = ChangeFeed(watcher)
    listener = await feed.attach()
    first_in, let_first_commit = threading.Event(), threading.Event()

    def first(tx: Any) -> Any:
        logged = activity.log(tx, one.scope(), "first")
        first_in.set()
        assert let_first_commit.wait(DEADLINE)
        return logged

    writing_first = asyncio.ensure_future(one.store.write(first))
    assert await asyncio.to_thread(first_in.wait, DEADLINE)
    second_scope = two.scope()
    writing_second = asyncio.ensure_future(two.store.write(lambda tx: activity.log(tx, second_scope, "second")))
    if locked:
        assert await asyncio.to_thread(lock_waiter_seen, one.settings.db_url), "no writer waited for the lock"
    else:
        await writing_second
    await feed.poll(0, force=True)  # the feed looks while the first writer is still open
    let_first_commit.set()
    committed = [(await writing_first).id, (await writing_second).id]
    await feed.poll(0, force=True)
    seen = [c.id for c in listener.take() if c.kind == EventKind.AGENT_LOG]
    return committed, seen


async def test_with_the_write_lock_a_third_replicas_change_feed_sees_every_event_once_in_id_order(
    replicas: Callable[..., Any],
) -> None:
    committed, seen = await _change_feed_of_a_third_replica(replicas, locked=True)
    assert seen == sorted(committed)


async def test_without_the_write_lock_an_event_committed_after_a_newer_one_is_never_seen_by_the_feed(
    replicas: Callable[..., Any],
) -> None:
    committed, seen = await _change_feed_of_a_third_replica(replicas, locked=False)
    assert committed[0] < committed[1]
    assert seen == [committed[1]]
