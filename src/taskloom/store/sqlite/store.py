"""SQLite store: one connection per process on aiosqlite's worker thread.

Each `read`/`write` ships a whole function to the database thread in one hop (a hop costs
30-100 us here; execute/fetch/commit as separate awaits would cost three). Writes open with
BEGIN IMMEDIATE: SQLite's busy timeout does not cover a deferred transaction's read-to-write
upgrade, so a deferred read-then-write under contention fails with "database is locked".
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar

import aiosqlite

from taskloom.errors import Busy, Conflict, Internal, InvalidInput
from taskloom.store import guard
from taskloom.store import queries as named
from taskloom.store.base import Params, Row
from taskloom.store.sqlite import batch, health, migrate, writers

T = TypeVar("T")
log = logging.getLogger(__name__)
QUERIES = named.load_dir(Path(__file__).with_name("queries"))
GUARDED = guard.plan(QUERIES)
INSERTS = batch.plan(QUERIES)
BULK = named.load(Path(__file__).with_name("bulk.sql"))
INDEXED = {"task_insert": batch.Indexed("tasks", "search_task_insert", BULK["search_index_tasks_after"])}
# Seconds between looks at data_version while someone waits for a change: POLL_FIRST right after
# a change (another is likely soon), growing by half each quiet look to POLL_QUIET, so an idle
# server with waiting agents looks about 15 times a second, not 50.
POLL_FIRST = 0.02
POLL_QUIET = 0.065
# write_now's looks at a held write lock: seconds before the first, doubling to the most between
# two; after LOOP_PATIENCE seconds of looking it waits on the database thread instead.
LOOP_RETRY_FIRST = 0.0005
LOOP_RETRY_MAX = 0.004
LOOP_PATIENCE = 0.25


class SqliteTx:
    rank_counts_words = True  # bm25 (see Tx)

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def one(self, query: str, params: Params | None = None) -> Row | None:
        return self._conn.execute(QUERIES[query], params or {}).fetchone()

    def all(self, query: str, params: Params | None = None) -> list[Row]:
        return self._conn.execute(QUERIES[query], params or {}).fetchall()

    def each(self, query: str, params: Params | None = None) -> Iterator[Row]:
        return iter(self._conn.execute(QUERIES[query], params or {}))

    def scalar(self, query: str, params: Params | None = None) -> Any:
        row = self._conn.execute(QUERIES[query], params or {}).fetchone()
        return None if row is None else row[0]

    def run(self, query: str, params: Params | None = None) -> int:
        return self._conn.execute(QUERIES[query], params or {}).rowcount

    def many(self, query: str, rows: Iterable[Params]) -> None:
        insert = INSERTS.get(query)
        if insert is None:
            self._conn.executemany(QUERIES[query], rows)
            return
        rows = rows if isinstance(rows, list) else list(rows)
        indexed = INDEXED.get(query)
        if indexed is None:
            batch.insert_many(self._conn, insert, rows)
        else:
            batch.insert_indexed(self._conn, insert, rows, indexed)


def _configure(conn: sqlite3.Connection, busy_timeout_ms: int) -> None:
    conn.row_factory = sqlite3.Row
    conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
    _enable_wal(conn, busy_timeout_ms / 1000)
    # NORMAL in WAL mode: durable across process crashes; only an OS crash can lose the last commits.
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.execute("PRAGMA foreign_keys = ON")


def _side_connection(path: Path, *pragmas: str) -> sqlite3.Connection:
    """A connection used on the event loop beside the database thread's own (reads, short writes)."""
    conn = sqlite3.connect(str(path), isolation_level=None)
    conn.row_factory = sqlite3.Row
    for pragma in pragmas:
        conn.execute(f"PRAGMA {pragma}")
    return conn


def _enable_wal(conn: sqlite3.Connection, patience: float) -> None:
    """Switch a new file to WAL. The switch can report "locked" while another process is opening
    the same new file, and the busy handler does not cover it, so retry briefly (startup only)."""
    deadline = time.monotonic() + patience
    while True:
        try:
            # Answers the mode now in force: "wal", or "memory" for an in-memory database.
            conn.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
        time.sleep(0.01)


def _snapshot(conn: sqlite3.Connection, fn: Callable[[SqliteTx], T]) -> T:
    """Run `fn` in one read transaction, so all its statements see the same state."""
    conn.execute("BEGIN")
    try:
        return fn(SqliteTx(conn))
    finally:
        conn.execute("COMMIT")


def _try_begin(conn: sqlite3.Connection, path: Path) -> bool:
    """BEGIN IMMEDIATE if the write lock is free at once; False if another writer holds it."""
    try:
        conn.execute("BEGIN IMMEDIATE")
    except sqlite3.OperationalError as exc:
        if "locked" in str(exc) or "busy" in str(exc):
            return False
        raise _translate(exc, path) from exc
    return True


def _translate(exc: Exception, path: Path) -> Exception:
    # Values SQLite cannot hold: the transaction was rolled back, so say what to fix.
    if isinstance(exc, UnicodeEncodeError):
        return InvalidInput(
            "A text argument is not valid Unicode (it has an unpaired surrogate).",
            hint="Send well-formed UTF-8 text; binary data belongs in artifacts_upload's content_base64.",
        )
    if isinstance(exc, OverflowError):
        return InvalidInput(
            "A number is out of range (integers must fit in 64 bits).", hint="Send a smaller number."
        )
    text = str(exc)
    if isinstance(exc, sqlite3.Error) and health.is_storage_fault(exc):
        log.info("database file fault: %s", exc)  # the error itself reaches the caller
        return health.storage_error(exc, path)
    if isinstance(exc, sqlite3.OperationalError) and ("locked" in text or "busy" in text):
        return Busy(f"The database stayed locked by other writers: {text}.")
    if isinstance(exc, sqlite3.IntegrityError):
        return Conflict(f"The change conflicts with existing data: {text}.")
    log.error("unexpected SQLite error", exc_info=exc)
    return Internal("The database reported an unexpected error; nothing was changed.")


class SqliteStore:
    backend = "sqlite"

    def __init__(self, conn: aiosqlite.Connection, path: Path) -> None:
        self._conn = conn
        self.path = path
        self._data_version: int | None = None
        # A commit made here since wait_for_change last looked, and the future a waiting look
        # sleeps on, which such a commit resolves: it ends the wait without a poll.
        self._committed = False
        self._local_wake: asyncio.Future[None] | None = None
        self._inline: sqlite3.Connection | None = None
        self._loop_writer: sqlite3.Connection | None = None
        self._writers: writers.WriterQueue | None = None  # see write_now; with the loop writer
        self.schema_version = migrate.latest_version()

    @classmethod
    async def open(cls, path: Path | str, *, busy_timeout_ms: int = 10_000, verify: bool = True) -> SqliteStore:
        """Open (creating if new) and migrate. `verify` first runs PRAGMA quick_check, so that a
        damaged file is refused at the door instead of failing some later call."""
        path = Path(path)
        if str(path) != ":memory:":
            health.usable_path(path)
        try:
            conn = await aiosqlite.connect(str(path), isolation_level=None)
        except sqlite3.Error as exc:
            raise _translate(exc, path) from None
        store = cls(conn, path)
        try:
            await store._guarded(_configure, busy_timeout_ms)
            if verify:
                await store._guarded(health.quick_check, path)
            await store.write_raw(lambda c: (health.schema_guard(c, path), migrate.apply(c)))
        except BaseException:
            await conn.close()
            raise
        return store

    async def _guarded(self, fn: Callable[..., T], *args: Any) -> T:
        try:
            return await self._call(fn, *args)
        except sqlite3.Error as exc:
            raise _translate(exc, self.path) from None

    async def _call(self, fn: Callable[..., T], *args: Any) -> T:
        # aiosqlite's documented API hops threads once per execute/fetch/commit; its `_execute`
        # runs one function on the connection thread. The version pin in pyproject.toml and
        # tests/store keep this honest.
        return await self._conn._execute(fn, self._conn._conn, *args)

    async def write_raw(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        def run(conn: sqlite3.Connection) -> T:
            conn.execute("BEGIN IMMEDIATE")
            try:
                result = fn(conn)
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
            return result

        try:
            result = await self._call(run)
        except (sqlite3.Error, UnicodeEncodeError, OverflowError) as exc:
            raise _translate(exc, self.path) from exc
        self._after_commit()
        return result

    def _after_commit(self) -> None:
        self._committed = True
        if self._local_wake is not None and not self._local_wake.done():
            self._local_wake.set_result(None)

    async def write(self, fn: Callable[[SqliteTx], T]) -> T:
        return await self.write_raw(lambda conn: fn(guard.Guarded(SqliteTx(conn), GUARDED)))

    async def write_now(self, fn: Callable[[SqliteTx], T]) -> T:
        """`write` for a short transaction (a claim), on the calling (event loop) thread: no
        thread hop, no wake-up of the loop from another thread.

        Writers first queue across processes on the writer queue (writers.py), held through
        COMMIT, so that they meet SQLite's write lock one at a time and the checkpoint inside
        COMMIT ends before the next begins. BEGIN IMMEDIATE is then tried without waiting
        (busy_timeout 0 on this connection), so the loop never sleeps in SQLite's busy handler:
        a writer outside the queue that holds the lock is looked at again after a short sleep,
        LOOP_RETRY_MAX apart at most (SQLite's handler backs off to 100 ms between looks). A wait
        past LOOP_PATIENCE goes to the database thread's `write`, as every write was before.
        The same guard, BEGIN IMMEDIATE and synchronous setting apply: only the thread differs.
        """
        try:
            conn = self._writer_connection()
        except sqlite3.Error as exc:
            raise _translate(exc, self.path) from exc
        if conn is None:
            return await self.write(fn)
        wq = self._writers
        if wq is None or not wq.enabled:
            done = await self._write_on_loop(conn, fn, LOOP_PATIENCE)
        else:
            done = await self._write_queued(wq, conn, fn)
        # Out of patience (and out of the queue): wait on the database thread.
        return done[0] if done else await self.write(fn)

    async def _write_queued(
        self, wq: writers.WriterQueue, conn: sqlite3.Connection, fn: Callable[[SqliteTx], T]
    ) -> tuple[T] | None:
        loop = asyncio.get_running_loop()
        started = loop.time()
        try:
            async with asyncio.timeout(LOOP_PATIENCE):
                await wq.local.acquire()
        except TimeoutError:
            return None
        try:
            queued = await wq.take(LOOP_PATIENCE - (loop.time() - started))
            try:
                return await self._write_on_loop(conn, fn, LOOP_PATIENCE - (loop.time() - started))
            finally:
                if queued:
                    wq.release()
        finally:
            wq.local.release()

    async def _write_on_loop(
        self, conn: sqlite3.Connection, fn: Callable[[SqliteTx], T], patience: float
    ) -> tuple[T] | None:
        """BEGIN IMMEDIATE (looked at again while held, up to `patience` seconds: None then), `fn`,
        COMMIT, all on this thread; the result in a 1-tuple."""
        delay, waited = LOOP_RETRY_FIRST, 0.0
        while not _try_begin(conn, self.path):
            if waited >= patience:
                return None
            await asyncio.sleep(delay)
            waited += delay
            delay = min(delay * 2, LOOP_RETRY_MAX)
        try:
            result = fn(guard.Guarded(SqliteTx(conn), GUARDED))
        except BaseException as exc:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            if isinstance(exc, (sqlite3.Error, UnicodeEncodeError, OverflowError)):
                raise _translate(exc, self.path) from exc
            raise
        try:
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise _translate(exc, self.path) from exc
        self._after_commit()
        return (result,)

    async def load(self, fn: Callable[[SqliteTx], T], projects: Sequence[int]) -> T:
        # Nothing deferred: FTS5 flushes its pending terms once per statement, and a load's rows
        # come as multi-row statements (batch.py), so its per-row triggers already cost little.
        return await self.write(fn)

    async def read(self, fn: Callable[[SqliteTx], T]) -> T:
        try:
            return await self._call(_snapshot, fn)
        except (sqlite3.Error, UnicodeEncodeError, OverflowError) as exc:
            raise _translate(exc, self.path) from exc

    async def read_now(self, fn: Callable[[SqliteTx], T]) -> T:
        """A short read on the calling (event loop) thread, through a second, read-only connection.

        For point lookups the thread hop costs more than the query. A WAL reader does not wait
        for writers, so this never stalls the loop on a lock; in the rare busy case (WAL recovery)
        it falls back to `read`. Keep `fn` to a few indexed statements.
        """
        try:
            conn = self._inline_connection()
        except sqlite3.Error as exc:
            raise _translate(exc, self.path) from exc
        if conn is None:
            return await self.read(fn)
        try:
            return _snapshot(conn, fn)
        except sqlite3.OperationalError as exc:
            if "locked" in str(exc) or "busy" in str(exc):
                return await self.read(fn)
            raise _translate(exc, self.path) from exc
        except (sqlite3.Error, UnicodeEncodeError, OverflowError) as exc:
            raise _translate(exc, self.path) from exc

    def _inline_connection(self) -> sqlite3.Connection | None:
        if self._inline is None and str(self.path) != ":memory:":
            self._inline = _side_connection(self.path, "busy_timeout = 20", "query_only = ON")
        return self._inline

    def _writer_connection(self) -> sqlite3.Connection | None:
        if self._loop_writer is None and str(self.path) != ":memory:":
            # As _configure: the file is in WAL already; durability and foreign keys are per connection.
            self._loop_writer = _side_connection(
                self.path, "busy_timeout = 0", "synchronous = NORMAL", "foreign_keys = ON"
            )
            self._writers = writers.WriterQueue.open(self.path)
        return self._loop_writer

    async def wait_for_change(self, timeout: float) -> bool:
        """Another process's commit is seen by asking `PRAGMA data_version`: a counter on the
        read-only connection, microseconds on the event loop, no table read. This process's own
        commits end the wait at once. Each look is a bare loop timer: the
        look itself, not the PRAGMA, is what an idle server spends its CPU on."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        interval = POLL_FIRST
        while True:
            local, self._committed = self._committed, False
            if self._version_moved() or local:
                return True
            remaining = deadline - loop.time()
            if remaining <= 0:
                return False
            woken = self._local_wake = loop.create_future()
            timer = loop.call_later(min(interval, remaining), _wake, woken)
            try:
                await woken
            finally:
                timer.cancel()
                self._local_wake = None
            interval = min(interval * 1.5, POLL_QUIET)

    def _version_moved(self) -> bool:
        """True if anything committed since the last look, in this process or another.

        `data_version` only moves for commits made through *other* connections; the read-only
        connection never writes, so it sees this process's writes too.
        """
        try:
            conn = self._inline_connection()
            if conn is None:  # in-memory: one connection, so only this process's commits
                return False
            version = conn.execute("PRAGMA data_version").fetchone()[0]
        except sqlite3.Error as exc:
            raise _translate(exc, self.path) from exc
        moved = self._data_version is not None and version != self._data_version
        self._data_version = version
        return moved

    async def close(self) -> None:
        for conn in (self._inline, self._loop_writer):
            if conn is not None:
                conn.close()
        self._inline = self._loop_writer = None
        if self._writers is not None:
            self._writers.close()
            self._writers = None
        await self._conn.close()


def _wake(woken: asyncio.Future[None]) -> None:
    if not woken.done():
        woken.set_result(None)
