"""The PostgreSQL listener behind wait_for_change (store/postgres/listen.py), on a real server.

Each test has its own database with a bare `events(id bigserial)` table; the probe is its newest
id, as the store's is. Where a test proves the notification path, the poll is set to 30 s so that
only a notification can explain a wait that ends sooner.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import socket
import threading
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager

import anyio
import pytest

from tests.pg.cluster import Cluster, start, stop

psycopg = pytest.importorskip("psycopg")
from taskloom.store.postgres.listen import Listener  # after importorskip: they need psycopg
from taskloom.store.postgres.store import PgStore

LOGGER = "taskloom.store.postgres.listen"
SLOW_POLL = 30.0  # seconds: longer than any wait below, so the probe cannot end one


def _with_events(dsn: str) -> str:
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("CREATE TABLE events (id bigserial PRIMARY KEY)")
    return dsn


def _database(c: Cluster) -> str:
    return _with_events(c.create_database(f"listen_{uuid.uuid4().hex[:12]}"))


@pytest.fixture
def dsn(pg_dsn: str) -> str:
    return _with_events(pg_dsn)


@pytest.fixture(scope="module")
def restartable(pg_cluster: Cluster) -> Iterator[Cluster]:
    """A cluster of this module's own, which tests stop and start (the session's stays up)."""
    c = start()
    try:
        yield c
    finally:
        stop(c)


def newest_event(dsn: str) -> Callable[[], Awaitable[int]]:
    async def probe() -> int:
        async with await psycopg.AsyncConnection.connect(dsn, connect_timeout=2) as conn:
            cur = await conn.execute("SELECT coalesce(max(id), 0) FROM events")
            return (await cur.fetchone())[0]

    return probe


async def commit_event(dsn: str, *, notify: bool = True, rollback: bool = False) -> None:
    """One write as PgStore makes it: an event row and, in the same transaction, the notification."""
    async with await psycopg.AsyncConnection.connect(dsn) as conn:
        await conn.execute("INSERT INTO events DEFAULT VALUES")
        if notify:
            await conn.execute("SELECT pg_notify('taskloom', '')")
        await (conn.rollback() if rollback else conn.commit())


@asynccontextmanager
async def listening(dsn: str, **options: float) -> AsyncIterator[Listener]:
    listener = Listener(dsn, probe=newest_event(dsn), **options)
    await listener.start()
    try:
        yield listener
    finally:
        await listener.close()


async def timed_wait(wait: Callable[[float], Awaitable[bool]], timeout: float) -> tuple[bool, float]:
    t0 = time.monotonic()
    changed = await wait(timeout)
    return changed, time.monotonic() - t0


def listener_pid(dsn: str) -> int:
    with psycopg.connect(dsn, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
            " AND application_name LIKE 'taskloom listen %'"
        ).fetchall()
    assert len(rows) == 1, rows
    return rows[0][0]


def outage_warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == LOGGER and r.levelno == logging.WARNING]


async def test_a_notification_from_another_connection_ends_a_wait_long_before_the_poll_would(dsn: str) -> None:
    async with listening(dsn, poll_listening=SLOW_POLL) as listener:
        assert listener.listening
        assert await listener.wait(0) is False
        await commit_event(dsn)
        changed, took = await timed_wait(listener.wait, 10)
        assert changed
        assert took < 1.0


async def test_this_process_committing_ends_a_wait_at_once_and_one_between_waits_is_reported_by_the_next(
    dsn: str,
) -> None:
    async with listening(dsn, poll_listening=SLOW_POLL) as listener:
        asyncio.get_running_loop().call_later(0.05, listener.committed)
        changed, took = await timed_wait(listener.wait, SLOW_POLL)
        assert changed
        assert took < 1.0
        assert await listener.wait(0) is False  # reported once: consumed
        listener.committed()
        assert await listener.wait(0) is True


async def test_a_notification_in_a_rolled_back_transaction_wakes_nobody(dsn: str) -> None:
    async with listening(dsn, poll_listening=SLOW_POLL) as listener:
        await commit_event(dsn, rollback=True)
        assert await listener.wait(0.5) is False
        await commit_event(dsn)  # the same write committed is heard: the listener was listening
        assert await listener.wait(10) is True


async def test_the_poll_alone_sees_a_commit_that_sent_no_notification(dsn: str) -> None:
    async with listening(dsn, poll_listening=0.1) as listener:
        assert await listener.wait(0.3) is False  # an unmoved probe is no change
        await commit_event(dsn, notify=False)
        changed, took = await timed_wait(listener.wait, 10)
        assert changed
        assert took < 1.0


async def test_a_terminated_listener_reconnects_reports_one_change_and_hears_notifications_again(
    dsn: str, caplog: pytest.LogCaptureFixture
) -> None:
    async with listening(dsn, poll_listening=SLOW_POLL) as listener:
        before = listener_pid(dsn)
        with psycopg.connect(dsn, autocommit=True) as conn:
            assert conn.execute("SELECT pg_terminate_backend(%s)", (before,)).fetchone()[0]
        changed, took = await timed_wait(listener.wait, 10)
        assert changed  # nothing committed: the reconnect itself is the change
        assert took < 2.0
        assert listener.listening
        assert listener_pid(dsn) != before
        assert len(outage_warnings(caplog)) == 1
        assert await listener.wait(0) is False  # one change per reconnect, not more
        await commit_event(dsn)
        assert await listener.wait(10) is True


async def test_across_a_server_restart_waits_do_not_raise_and_changes_are_seen_again(
    restartable: Cluster, caplog: pytest.LogCaptureFixture
) -> None:
    dsn = _database(restartable)
    async with listening(dsn, poll_listening=SLOW_POLL) as listener:
        await anyio.to_thread.run_sync(restartable.stop_server)
        try:
            assert await listener.wait(0.8) is False  # retries at 0.1, 0.2, 0.4 s all fail meanwhile
            assert not listener.listening
        finally:
            await anyio.to_thread.run_sync(restartable.start_server)
        assert await listener.wait(10) is True  # the reconnect
        assert listener.listening
        await commit_event(dsn)
        assert await listener.wait(10) is True
        assert await listener.wait(0) is False
    assert len(outage_warnings(caplog)) == 1  # one warning for the outage, not one per attempt


async def test_with_the_server_down_a_listener_starts_deaf_and_closes_at_once_leaving_no_thread(
    restartable: Cluster, caplog: pytest.LogCaptureFixture
) -> None:
    dsn = _database(restartable)
    await anyio.to_thread.run_sync(restartable.stop_server)
    try:
        threads = set(threading.enumerate())
        listener = Listener(dsn, probe=newest_event(dsn), poll_listening=SLOW_POLL)
        await listener.start()
        assert not listener.listening
        assert await listener.wait(0.3) is False
        t0 = time.monotonic()
        await listener.close()
        assert time.monotonic() - t0 < 1.0
        assert set(threading.enumerate()) <= threads
        assert len(outage_warnings(caplog)) == 1
    finally:
        await anyio.to_thread.run_sync(restartable.start_server)


@pytest.fixture
def silent_server() -> Iterator[str]:
    """A port that accepts TCP connections and never answers: a connect hangs until its timeout."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(16)
        yield f"postgresql://taskloom@127.0.0.1:{s.getsockname()[1]}/postgres"


async def test_close_is_prompt_while_a_connect_hangs_on_a_silent_server(silent_server: str) -> None:
    async def probe() -> int:
        return 0

    threads = set(threading.enumerate())
    listener = Listener(silent_server, probe=probe, connect_timeout=2)
    with anyio.fail_after(10):
        await listener.start()  # gives up on the first connect after connect_timeout; then deaf
    assert not listener.listening
    assert await listener.wait(0.4) is False  # the reconnect attempt (after 0.1 s) is now hanging
    t0 = time.monotonic()
    await listener.close()
    assert time.monotonic() - t0 < 1.0
    gc.collect()  # a half-made connection left to the collector would warn here (warnings are errors)
    assert set(threading.enumerate()) <= threads
    await listener.close()  # idempotent


async def test_a_probe_that_hangs_holds_up_no_wait(dsn: str) -> None:
    """A probe can be slow (a busy pool, a database going away): waits keep their timeout, and a
    notification still ends one at once."""
    release = asyncio.Event()
    answer = newest_event(dsn)
    calls = 0

    async def stuck_after_the_first() -> int:
        nonlocal calls
        calls += 1
        if calls > 1:
            await release.wait()
        return await answer()

    listener = Listener(dsn, probe=stuck_after_the_first, poll_listening=0.05)
    await listener.start()
    try:
        with anyio.fail_after(5):
            changed, took = await timed_wait(listener.wait, 0.3)
            assert (changed, calls) == (False, 2)  # the second probe is under way, and stuck
            assert took < 0.6
            await commit_event(dsn)
            changed, took = await timed_wait(listener.wait, 10)
            assert changed
            assert took < 1.0
    finally:
        release.set()
        await listener.close()


async def test_an_idle_wait_costs_no_cpu_and_no_probes_beyond_the_poll(dsn: str) -> None:
    answer = newest_event(dsn)
    calls = 0

    async def counted() -> int:
        nonlocal calls
        calls += 1
        return await answer()

    listener = Listener(dsn, probe=counted, poll_listening=0.25)
    await listener.start()
    try:
        before, cpu = calls, time.process_time()
        assert await listener.wait(1.0) is False
        assert time.process_time() - cpu < 0.3  # a busy loop would burn about the whole second
        assert 2 <= calls - before <= 5  # about one probe per 0.25 s
    finally:
        await listener.close()


async def test_a_pg_store_hears_another_replica_s_commit_by_its_notification(pg_url: str) -> None:
    store = await PgStore.open(pg_url)
    try:
        assert await store.wait_for_change(0) is False
        async with await psycopg.AsyncConnection.connect(pg_url, autocommit=True) as replica:
            await replica.execute("SELECT pg_notify('taskloom', '')")  # what another replica's write sends
        changed, took = await timed_wait(store.wait_for_change, 10)
        assert changed
        assert took < 1.0  # the store polls once a second: only the notification is this quick
    finally:
        await store.close()


async def test_a_pg_store_hears_its_own_commit_at_once(pg_url: str) -> None:
    store = await PgStore.open(pg_url)
    try:
        assert await store.wait_for_change(0) is False
        await store.write(lambda tx: None)
        assert await store.wait_for_change(0) is True
    finally:
        await store.close()


async def test_a_burst_of_commits_from_another_replica_is_reported_a_few_times_not_once_each(pg_url: str) -> None:
    """Every replica hears every commit; each report sends the change feed into a read, so a
    burst must gather into a few reports (SQLite's poll gathers them for free)."""
    store = await PgStore.open(pg_url)
    try:
        assert await store.wait_for_change(0) is False
        burst = 40
        async with await psycopg.AsyncConnection.connect(pg_url, autocommit=True) as replica:

            async def commit_burst() -> None:
                for _ in range(burst):
                    await replica.execute("SELECT pg_notify('taskloom', '')")  # one replica write each
                    await asyncio.sleep(0.001)

            sender = asyncio.create_task(commit_burst())
            reports = 0
            while not sender.done() or await store.wait_for_change(0.2):
                if sender.done():
                    reports += 1
                    continue
                reports += await store.wait_for_change(0.2)
            await sender
        assert 1 <= reports <= burst // 4, reports
    finally:
        await store.close()
