"""PostgreSQL store: psycopg 3 connections from a pool, each used by one database thread.

Each `read`/`write` ships a whole function to a database thread in one hop, as the SQLite
store does, so the services are the same sync `fn(tx)` on both backends. Unlike SQLite, up to
`threads` transactions run at once; writes still serialise on one advisory lock taken first,
which is what keeps SQLite's rules right here: readiness decided by the last completer, event
ids that commit in id order (the change feed reads "after my cursor"), one resolver pass at a
time across replicas. Claims additionally pick rows `FOR UPDATE SKIP LOCKED`.
docs/postgres-design.md has the figures behind these choices.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from itertools import chain, islice
from typing import Any, TypeVar

import psycopg
from psycopg_pool import ConnectionPool, PoolTimeout

from taskloom.errors import Storage, TaskloomError
from taskloom.store import guard, queries
from taskloom.store.base import Params
from taskloom.store.postgres import batch, errors, migrate, named
from taskloom.store.postgres.listen import Listener

T = TypeVar("T")
log = logging.getLogger(__name__)

# pg_advisory_xact_lock keys: any fixed 64-bit numbers, the same in every replica. Writes take
# WRITE_LOCK; migrate.py takes its own so a migration and a write never wait on each other's key.
WRITE_LOCK = int.from_bytes(b"tl:write", "big")
CHANNEL = "taskloom"
THREADS = 8  # database threads, and pooled connections, per process
CONNECT_PATIENCE = 30.0  # seconds `open` keeps trying a server that is not up yet
# Seconds one call waits for a connection while the server is away (a restart takes a few):
# then `storage`, well inside a client's tool-call timeout. At most the process's patience.
CALL_PATIENCE = 10.0
# Seconds a reported change waits for the rest of its burst. Each agent call commits once, on
# some replica, and every replica hears each commit; reporting each one sent every replica's
# change feed into a read transaction per commit. SQLite's poll gathers commits for 20-65 ms
# for free; this gathers for as long, and the feed's one read then covers them all.
GATHER = 0.02
MANY_CHUNK = 1000  # rows per executemany in `PgTx.many`
RETRIES = 3  # reruns of a transaction PostgreSQL aborted for contention or a dropped connection


def _load() -> tuple[dict[str, str], dict[str, guard.Fields]]:
    raw = queries.load_dir(named.FOLDER)
    return {name: named.pyformat(sql) for name, sql in raw.items()}, guard.plan(raw)


QUERIES, GUARDED = _load()
INSERTS = batch.plan(QUERIES)
BULK = {name: named.pyformat(sql) for name, sql in queries.load(named.FOLDER.with_name("bulk.sql")).items()}
# Never run as prepared statements: their best plan depends on how common the searched words
# are, and the generic plan a prepared statement settles on after a few runs walks every match
# of a common word (1 s at 400k documents, where the custom plan takes 4-20 ms).
UNPREPARED = frozenset({"search_at_least", "search_floor", "search_hits", "search_newest"})


class Row(dict[str, Any]):
    """A result row as services read it on SQLite: by column name, by position, or `dict(row)`."""

    __slots__ = ()

    def __getitem__(self, key: str | int) -> Any:
        if isinstance(key, int):
            return list(self.values())[key]
        return dict.__getitem__(self, key)


def row_factory(cursor: psycopg.Cursor[Any]) -> Callable[[Any], Row]:
    names = [c.name for c in cursor.description or ()]
    return lambda values: Row(zip(names, values, strict=True))


class PgTx:
    rank_counts_words = False  # ts_rank_cd reads only the matches (see Tx)

    def __init__(self, conn: psycopg.Connection[Row]) -> None:
        self._conn = conn
        self.changed = False  # a notification is sent at commit only when something changed

    def one(self, query: str, params: Params | None = None) -> Row | None:
        return self._execute(query, params).fetchone()

    def all(self, query: str, params: Params | None = None) -> list[Row]:
        return self._execute(query, params).fetchall()

    def each(self, query: str, params: Params | None = None) -> Iterator[Row]:
        return iter(self._conn.execute(QUERIES[query], params or {}))

    def scalar(self, query: str, params: Params | None = None) -> Any:
        row = self._execute(query, params).fetchone()
        return None if row is None else next(iter(row.values()))

    def _execute(self, query: str, params: Params | None) -> psycopg.Cursor[Row]:
        # prepare=None: psycopg's default (prepared after a few runs of the same statement).
        return self._conn.execute(QUERIES[query], params or {}, prepare=False if query in UNPREPARED else None)

    def run(self, query: str, params: Params | None = None) -> int:
        cursor = self._conn.execute(QUERIES[query], params or {})
        if cursor.rowcount > 0:
            self.changed = True
        return cursor.rowcount

    def many(self, query: str, rows: Iterable[Params]) -> None:
        insert = INSERTS.get(query)
        if insert is not None:  # one COPY, streamed row by row
            pending = iter(rows)
            first = next(pending, None)
            if first is not None:
                batch.insert_many(self._conn, insert, chain([first], pending))
                self.changed = True
            return
        # In chunks, not one list: a full re-rank can write a row per task (100k dicts: tens of MiB).
        pending = iter(rows)
        while chunk := list(islice(pending, MANY_CHUNK)):
            with self._conn.cursor() as cursor:
                cursor.executemany(QUERIES[query], chunk)
            self.changed = True


def _bulk(conn: psycopg.Connection[Any], fn: Callable[[Any], T], tx: guard.Guarded, projects: list[int]) -> T:
    """`fn` with the search triggers' INSERT half off and the foreign keys dropped, then the keys
    added back (each checked over all its rows at once) and the projects' documents written in
    one statement per kind (bulk.sql): per-row lookups, tsvectors and GIN inserts were most of an
    import. Dropping a key locks its two tables until commit; a load only fills a database that
    holds no project, so the readers it holds up have nothing to read yet."""
    keys = conn.execute(BULK["bulk_foreign_keys"], {}).fetchall()  # {}: its %% are pyformat escapes
    conn.execute(BULK["bulk_begin"] + "".join(f"; {k['drop_fk']}" for k in keys))
    result = fn(tx)
    conn.execute(BULK["bulk_end"] + "".join(f"; {k['add_fk']}" for k in keys))
    for name in ("bulk_search_tasks", "bulk_search_notes", "bulk_search_messages", "bulk_search_artifacts"):
        conn.execute(BULK[name], {"projects": projects})
    return result


def _configure(conn: psycopg.Connection[Any]) -> None:
    # Who holds a lock shows in pg_stat_activity; a stuck replica cannot hold the write lock for
    # long; lock_timeout is SQLite's busy timeout. JIT off: the planner's row estimates for a
    # recursive query (waits_closure) pass its cost thresholds on an empty table, and compiling
    # then costs 0.4-0.8 s on a query that runs in under 10 ms; our statements are all short.
    conn.execute(
        "SELECT set_config('application_name', %s, false), set_config('lock_timeout', '10s', false),"
        " set_config('statement_timeout', '30s', false),"
        " set_config('idle_in_transaction_session_timeout', '10s', false), set_config('jit', 'off', false)",
        (f"taskloom {socket.gethostname()} {os.getpid()}"[:63],),
    )


class PgStore:
    backend = "postgresql"
    # Only tests/pg/test_write_lock.py turns this off, to show what the lock prevents.
    _lock_writes = True

    def __init__(self, pool: ConnectionPool[Any], url: str, threads: int) -> None:
        self._pool = pool
        self.url = url
        self._threads = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="taskloom-pg")
        self.schema_version = migrate.latest_version()
        self._listener: Listener | None = None

    @classmethod
    async def open(cls, url: str, *, threads: int = THREADS, patience: float = CONNECT_PATIENCE) -> PgStore:
        """Connect (waiting up to `patience` seconds for a server that is starting) and migrate."""
        # The pool warns on every failed try; what a person needs is the one error `open` raises
        # when patience runs out, and the store's own reconnect messages.
        logging.getLogger("psycopg.pool").setLevel(logging.ERROR)
        pool: ConnectionPool[Any] = ConnectionPool(
            url,
            min_size=1,
            max_size=threads,
            open=False,
            configure=_configure,
            kwargs={"autocommit": True, "row_factory": row_factory, "connect_timeout": 5},
            timeout=min(patience, CALL_PATIENCE),
            name="taskloom",
        )
        store = cls(pool, url, threads)
        try:
            await store._hop(store._open_and_migrate, patience)
            store._listener = Listener(url, channel=CHANNEL, probe=store._probe)
            await store._listener.start()
        except BaseException:
            await store.close()
            raise
        return store

    def _open_and_migrate(self, patience: float) -> None:
        try:
            self._pool.open(wait=True, timeout=patience)
        except PoolTimeout as exc:
            cause = self._last_connect_error() or exc
            raise errors.unreachable(self.url, cause) from None
        with self._pool.connection() as conn:
            migrate.apply(conn)

    def _last_connect_error(self) -> BaseException | None:
        try:
            psycopg.connect(self.url, connect_timeout=2).close()
        except psycopg.Error as exc:
            return exc
        return None

    async def _hop(self, fn: Callable[..., T], *args: Any) -> T:
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._threads, fn, *args)
        except TaskloomError:
            raise
        except (psycopg.Error, UnicodeEncodeError, OverflowError) as exc:
            raise errors.translate(exc, self.url) from exc

    def _transaction(self, fn: Callable[[Any], T], write: bool, projects: Sequence[int] | None = None) -> T:
        for attempt in range(RETRIES + 1):
            committing = False
            try:
                with self._pool.connection() as conn:
                    if write:
                        lock = f"; SELECT pg_advisory_xact_lock({WRITE_LOCK})" if self._lock_writes else ""
                        conn.execute("BEGIN" + lock)
                        tx = PgTx(conn)
                        try:
                            guarded = guard.Guarded(tx, GUARDED)
                            result = fn(guarded) if projects is None else _bulk(conn, fn, guarded, projects)
                        except BaseException:
                            conn.execute("ROLLBACK")
                            raise
                        committing = True
                        conn.execute(f"SELECT pg_notify('{CHANNEL}', ''); COMMIT" if tx.changed else "COMMIT")
                        return result
                    conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
                    try:
                        return fn(PgTx(conn))
                    finally:
                        conn.execute("COMMIT")
            except errors.RETRY as exc:
                if attempt == RETRIES:
                    raise
                log.info("PostgreSQL aborted a transaction for contention (%s); rerunning it", exc.sqlstate)
            except PoolTimeout:
                raise  # it has waited CALL_PATIENCE for a connection already: no rerun waits again
            except psycopg.Error as exc:
                if not errors.is_connection_fault(exc) or attempt == RETRIES:
                    raise
                if committing:
                    # The COMMIT may or may not have landed: rerunning could do the work twice, and
                    # saying nothing could lose it. Say exactly that; every service write is
                    # conditional on the state it expects, so the caller's retry is safe.
                    raise Storage(
                        "The connection to PostgreSQL broke while a change was being committed, so "
                        "whether it was saved is unknown.",
                        hint="Read the state back (e.g. task_get) and retry the call if the change is missing.",
                    ) from exc
                log.info("PostgreSQL connection lost before commit (%s); retrying on a new one", exc)
                # A restart kills every pooled connection at once: drop the dead ones now, or each
                # rerun draws another and the call fails with the server up again.
                self._pool.check()
        raise AssertionError("unreachable")

    async def write(self, fn: Callable[[Any], T]) -> T:
        result = await self._hop(self._transaction, fn, True)
        if self._listener is not None:
            self._listener.committed()
        return result

    async def write_now(self, fn: Callable[[Any], T]) -> T:
        # The advisory lock is taken over the network: there is no free-at-once check to make inline.
        return await self.write(fn)

    async def load(self, fn: Callable[[Any], T], projects: Sequence[int]) -> T:
        result = await self._hop(self._transaction, fn, True, list(projects))
        if self._listener is not None:
            self._listener.committed()
        await self._hop(self._analyze)
        return result

    def _analyze(self) -> None:
        """Statistics for what a load wrote (bulk.sql says why). The load has committed by now, so
        a failure here is only logged: autovacuum gathers them later, and the data is all there."""
        try:
            with self._pool.connection() as conn, conn.transaction():
                row = conn.execute(BULK["bulk_analyze"], {}).fetchone()  # {}: as bulk_foreign_keys
                if row and row["analyze"]:
                    conn.execute("SET LOCAL default_statistics_target = 10")
                    conn.execute(row["analyze"])
        except (psycopg.Error, PoolTimeout) as exc:
            log.warning("statistics after a load were not gathered (autovacuum will): %s", exc)

    async def read(self, fn: Callable[[Any], T]) -> T:
        return await self._hop(self._transaction, fn, False)

    async def read_now(self, fn: Callable[[Any], T]) -> T:
        # There is no cheap inline read over a network connection: the hop is the cheap part.
        return await self.read(fn)

    async def _probe(self) -> int:
        """The newest event id: the poll behind LISTEN compares it between looks."""
        return await self._hop(self._newest_event)

    def _newest_event(self) -> int:
        with self._pool.connection() as conn:
            row = conn.execute("SELECT coalesce(max(id), 0) AS id FROM events").fetchone()
        return int(row["id"]) if row else 0

    async def wait_for_change(self, timeout: float) -> bool:
        assert self._listener is not None, "wait_for_change before open"
        if not await self._listener.wait(timeout):
            return False
        if timeout > 0:
            await asyncio.sleep(GATHER)
            self._listener.drain()  # every commit heard meanwhile is visible to the caller's read
        return True

    async def close(self) -> None:
        if self._listener is not None:
            await self._listener.close()
            self._listener = None
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._threads, self._pool.close)
        self._threads.shutdown(wait=False)
