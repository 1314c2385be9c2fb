"""SQLite's `write_now`: a short write runs on the event loop only when the write lock is free
at once; while another process holds it, the write waits on the database thread, so the loop
goes on serving and the write still lands once the lock is released."""

from __future__ import annotations

import sqlite3

import anyio
from anyio.lowlevel import checkpoint

from taskloom.store.sqlite.store import SqliteStore
from tests.store.contract.test_store import project, recall, remember


async def test_write_now_waits_off_the_loop_while_another_process_holds_the_lock(store: SqliteStore) -> None:
    pid = await store.write_now(lambda tx: project(tx, "p"))
    other = sqlite3.connect(str(store.path), isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    landed = anyio.Event()

    async def write() -> None:
        await store.write_now(lambda tx: remember(tx, pid, "k", "v"))
        landed.set()

    try:
        with anyio.fail_after(10):
            async with anyio.create_task_group() as tg:
                began = anyio.current_time()
                tg.start_soon(write)
                await anyio.wait_all_tasks_blocked()
                # Far below the 10 s busy timeout the loop would sleep through had it waited there.
                assert anyio.current_time() - began < 1.0
                for _ in range(10):
                    await checkpoint()
                assert not landed.is_set()
                assert await store.read_now(lambda tx: recall(tx, pid, "k")) is None
                other.execute("COMMIT")
                await landed.wait()
    finally:
        other.close()
    assert await store.read(lambda tx: recall(tx, pid, "k")) == "v"


async def test_write_now_keeps_the_durability_and_foreign_key_settings(store: SqliteStore) -> None:
    await store.write_now(lambda tx: project(tx, "p"))
    conn = store._loop_writer
    assert conn is not None  # the write ran on the loop's own connection
    assert conn.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL, as on the main connection
    assert conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
