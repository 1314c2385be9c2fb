"""The writer queue (store/sqlite/writers.py) that `write_now` joins before SQLite's write lock.

Its failure cases: a holder killed mid-transaction, a holder that never lets go, a waiter
cancelled while queued, a file system without flock, an in-memory database; readers never wait
on it; and processes claiming through it still hand out each task exactly once.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import anyio
import pytest

from taskloom.store.sqlite import store as sqlite_store
from taskloom.store.sqlite import writers
from taskloom.store.sqlite.store import SqliteStore
from tests.store.contract.test_store import project, recall, remember

ROOT = Path(__file__).resolve().parents[2]

HOLDER = textwrap.dedent(
    """
    import fcntl, os, sqlite3, sys, time
    db, hold_for, in_tx = sys.argv[1], float(sys.argv[2]), sys.argv[3] == "tx"
    fd = os.open(db + "-writers", os.O_RDWR | os.O_CREAT, 0o644)
    fcntl.flock(fd, fcntl.LOCK_EX)
    if in_tx:
        conn = sqlite3.connect(db, isolation_level=None)
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("CREATE TABLE doomed (x)")
    print("held", flush=True)
    time.sleep(hold_for)
    """
)


def hold(db: Path, seconds: float = 600.0, in_tx: bool = False) -> subprocess.Popen:
    """Another process holding the queue (and, `in_tx`, SQLite's write lock mid-transaction)."""
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(db), str(seconds), "tx" if in_tx else "-"],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
    return proc


def kill(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGKILL)
    proc.wait(10)
    if proc.stdout is not None:
        proc.stdout.close()


def queue_is_free(db: Path, within: float = 3.0) -> bool:
    """Whether another open of the queue file can take it (so nobody leaked it), looking for `within` s."""
    fd = os.open(f"{db}{writers.SUFFIX}", os.O_RDWR)
    try:
        deadline = time.monotonic() + within
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return True
            except BlockingIOError:
                if time.monotonic() > deadline:
                    return False
                time.sleep(0.02)
    finally:
        os.close(fd)


async def test_the_queue_is_a_file_beside_the_database_and_in_memory_there_is_none(tmp_path: Path) -> None:
    s = await SqliteStore.open(tmp_path / "t.db")
    try:
        await s.write_now(lambda tx: project(tx, "p"))
        assert s._writers is not None and s._writers.enabled
        assert (tmp_path / "t.db-writers").exists()
        assert queue_is_free(s.path, within=0)  # let go after COMMIT
    finally:
        await s.close()
    memory = await SqliteStore.open(":memory:")
    try:
        pid = await memory.write_now(lambda tx: project(tx, "p"))
        await memory.write_now(lambda tx: remember(tx, pid, "k", "v"))
        assert await memory.read(lambda tx: recall(tx, pid, "k")) == "v"
        assert memory._writers is None
    finally:
        await memory.close()
    assert not Path(":memory:-writers").exists()


async def test_a_queued_write_lands_on_the_loop_as_soon_as_the_holder_lets_go(store: SqliteStore) -> None:
    pid = await store.write_now(lambda tx: project(tx, "p"))
    holder = hold(store.path, seconds=0.1)
    try:
        began = time.monotonic()
        with anyio.fail_after(10):
            await store.write_now(lambda tx: remember(tx, pid, "k", "v"))
        waited = time.monotonic() - began
    finally:
        kill(holder)
    assert waited < sqlite_store.LOOP_PATIENCE  # woken by the release, not sent to the database thread
    assert await store.read(lambda tx: recall(tx, pid, "k")) == "v"
    assert queue_is_free(store.path)


async def test_a_holder_killed_mid_transaction_blocks_nobody_and_its_changes_are_gone(
    store: SqliteStore,
) -> None:
    pid = await store.write_now(lambda tx: project(tx, "p"))
    holder = hold(store.path, in_tx=True)
    landed = anyio.Event()

    async def write() -> None:
        await store.write_now(lambda tx: remember(tx, pid, "k", "v"))
        landed.set()

    try:
        with anyio.fail_after(20):
            async with anyio.create_task_group() as tg:
                tg.start_soon(write)
                await anyio.sleep(0.4)  # past LOOP_PATIENCE: waiting on the database thread by now
                assert not landed.is_set()
                # Readers never wait on the queue nor on the held write lock (`read` would: it shares
                # the database thread with the write waiting there, as before the queue).
                with anyio.fail_after(1):
                    assert await store.read_now(lambda tx: recall(tx, pid, "k")) is None
                    other = sqlite3.connect(str(store.path))
                    assert other.execute("SELECT count(*) FROM projects").fetchone()[0] == 1
                    other.close()
                killed = time.monotonic()
                holder.send_signal(signal.SIGKILL)
                await landed.wait()
                assert time.monotonic() - killed < 5
    finally:
        kill(holder)
    assert await store.read(lambda tx: recall(tx, pid, "k")) == "v"
    conn = sqlite3.connect(str(store.path))
    try:
        assert conn.execute("SELECT count(*) FROM sqlite_master WHERE name = 'doomed'").fetchone()[0] == 0
    finally:
        conn.close()
    assert queue_is_free(store.path)


async def test_a_holder_that_never_lets_go_of_the_queue_costs_a_writer_only_its_patience(
    store: SqliteStore,
) -> None:
    pid = await store.write_now(lambda tx: project(tx, "p"))
    holder = hold(store.path)  # holds the queue, not SQLite's lock (stuck, or another program's)
    try:
        for n in range(3):
            began = time.monotonic()
            with anyio.fail_after(10):
                await store.write_now(lambda tx, n=n: remember(tx, pid, f"k{n}", "v"))
            assert time.monotonic() - began < sqlite_store.LOOP_PATIENCE + 1.0
    finally:
        kill(holder)
    assert [await store.read(lambda tx, n=n: recall(tx, pid, f"k{n}")) for n in range(3)] == ["v"] * 3
    # The waits given up are still queued on the worker: each takes the lock once free and lets go at once.
    assert queue_is_free(store.path)
    with anyio.fail_after(5):
        await store.write_now(lambda tx: remember(tx, pid, "after", "v"))
    assert queue_is_free(store.path)


async def test_a_write_cancelled_while_queued_leaves_the_queue_free(store: SqliteStore) -> None:
    pid = await store.write_now(lambda tx: project(tx, "p"))
    holder = hold(store.path)
    try:
        with anyio.move_on_after(0.1):
            await store.write_now(lambda tx: remember(tx, pid, "k", "v"))
        assert not queue_is_free(store.path, within=0)  # still the holder's
    finally:
        kill(holder)
    assert queue_is_free(store.path)
    assert await store.read(lambda tx: recall(tx, pid, "k")) is None
    with anyio.fail_after(5):
        await store.write_now(lambda tx: remember(tx, pid, "k", "w"))
    assert await store.read(lambda tx: recall(tx, pid, "k")) == "w"


async def test_without_flock_the_queue_turns_itself_off_and_writes_go_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_flock(fd: int, op: int) -> None:
        raise OSError(errno.ENOLCK, "No locks available")

    s = await SqliteStore.open(tmp_path / "t.db")
    try:
        pid = await s.write_now(lambda tx: project(tx, "p"))  # a queue while flock works
        assert s._writers is not None and s._writers.enabled
        monkeypatch.setattr(writers.fcntl, "flock", no_flock)  # e.g. the file system was swapped under it
        await s.write_now(lambda tx: remember(tx, pid, "k", "v"))
        assert not s._writers.enabled
        await s.write_now(lambda tx: remember(tx, pid, "j", "w"))
        assert await s.read(lambda tx: recall(tx, pid, "k")) == "v"
        assert await s.read(lambda tx: recall(tx, pid, "j")) == "w"
    finally:
        await s.close()
    assert writers.WriterQueue.open(tmp_path / "u.db") is None  # no flock from the start: no queue
    s = await SqliteStore.open(tmp_path / "u.db")
    try:
        pid = await s.write_now(lambda tx: project(tx, "p"))
        await s.write_now(lambda tx: remember(tx, pid, "k", "v"))
        assert s._writers is None
        assert await s.read(lambda tx: recall(tx, pid, "k")) == "v"
    finally:
        await s.close()


async def test_a_folder_where_the_queue_file_cannot_be_made_still_takes_writes(tmp_path: Path) -> None:
    s = await SqliteStore.open(tmp_path / "t.db")
    try:
        Path(f"{s.path}{writers.SUFFIX}").mkdir()  # in the way: cannot be opened as the queue file
        pid = await s.write_now(lambda tx: project(tx, "p"))
        assert s._writers is None
        await s.write_now(lambda tx: remember(tx, pid, "k", "v"))
        assert await s.read(lambda tx: recall(tx, pid, "k")) == "v"
    finally:
        await s.close()


CLAIMER = textwrap.dedent(
    """
    import json, sys
    import anyio
    from taskloom.services import work
    from tests.benchmarks.common import open_app

    async def main(db, agent):
        codes = []
        async with open_app(__import__("pathlib").Path(db), agent, new=False) as app:
            print("ready", flush=True)
            sys.stdin.readline()
            while True:
                out = await app.write_now(work.claim)
                if not out.claimed:
                    break
                codes.append(out.detail.task.code)
        print(json.dumps(codes), flush=True)

    anyio.run(main, sys.argv[1], sys.argv[2])
    """
)


def test_processes_claiming_through_the_queue_claim_each_task_exactly_once(tmp_path: Path) -> None:
    from tests.benchmarks.common import build_bulk

    db = tmp_path / "claims.db"
    tasks = 600
    anyio.run(lambda: build_bulk(db, tasks, 0, all_ready=True))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT)])}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", CLAIMER, str(db), f"agent-{n}"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=env,
            cwd=str(ROOT),
        )
        for n in range(4)
    ]
    try:
        for p in procs:
            assert p.stdout is not None and p.stdout.readline().strip() == "ready"
        for p in procs:
            assert p.stdin is not None
            p.stdin.write("go\n")
            p.stdin.flush()
        got = [json.loads(p.communicate(timeout=120)[0].strip().splitlines()[-1]) for p in procs]
    finally:
        for p in procs:
            kill(p)
    codes = [c for g in got for c in g]
    assert len(codes) == tasks and len(set(codes)) == tasks
    assert all(got), "every process claimed some"
    conn = sqlite3.connect(str(db))
    try:
        held = dict(
            conn.execute("SELECT code, claimed_by FROM tasks WHERE status = 'in_progress'").fetchall()
        )
    finally:
        conn.close()
    assert held == {c: f"agent-{n}" for n, g in enumerate(got) for c in g}
    assert queue_is_free(db, within=0)


def test_the_queue_file_is_open_to_whoever_may_open_the_database_and_nobody_else(tmp_path: Path) -> None:
    db = tmp_path / "t.db"
    sqlite3.connect(db).close()
    os.chmod(db, 0o600)
    wq = writers.WriterQueue.open(db)
    assert wq is not None
    try:
        assert (Path(f"{db}{writers.SUFFIX}").stat().st_mode & 0o777) == 0o600
    finally:
        wq.close()
