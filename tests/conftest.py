"""Shared fixtures: a real database per test, an injected clock, an in-process MCP client.

The database is a SQLite file, and for the suites in `BOTH_BACKENDS` also a PostgreSQL database
(one per test, copied from a migrated template in a throwaway cluster): each test that takes
`settings` (and so `app`, `other`, `client`) runs once per backend, `[sqlite]` and `[postgresql]`.
A test that is about SQLite itself (its file, its pragmas) is marked `sqlite_only`.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client

from taskloom.clock import ManualClock
from taskloom.config import Settings
from taskloom.server import build_server
from taskloom.server.errors import error_of
from taskloom.services.app import Taskloom
from taskloom.store import backends
from taskloom.store.sqlite.store import SqliteTx
from tests.pg.cluster import Cluster, PostgresMissing, os_user, pg_bin_dir, start, stop

ROOT = Path(__file__).parent
# The suites whose tests run on both backends: the services and every tool-level suite that uses
# the in-process `app`, together a subset that covers every tool. Not the ones about the disk
# (the SQLite file, blobs as files: tests/pg pins PostgreSQL's own) or about processes and
# transports, which are the same code whatever the backend. TASKLOOM_TEST_DB=postgresql (or
# sqlite) runs every test that takes `settings` on that backend alone.
BOTH_BACKENDS = (
    "store/contract/",
    "services/",
    "server/test_tools_",
    "server/test_waiting",
    "server/test_push.py",
    "server/test_redaction_at_rest.py",
    "server/test_prompts.py",
)
ON_DISK = ("services/test_artifact_uploads.py", "services/test_artifacts.py")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "sqlite_only: about the SQLite file itself; not run on PostgreSQL")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "settings" not in metafunc.fixturenames or metafunc.definition.get_closest_marker("sqlite_only"):
        return
    only = os.environ.get("TASKLOOM_TEST_DB")
    if only:
        backends = [only]
    else:
        where = Path(metafunc.definition.path).relative_to(ROOT).as_posix()
        both = where.startswith(BOTH_BACKENDS) and not where.startswith(ON_DISK)
        backends = ["sqlite", "postgresql"] if both else ["sqlite"]
    if backends != ["sqlite"]:
        metafunc.parametrize("backend", backends, scope="function")

@pytest.fixture
def anyio_backend() -> str:
    # aiosqlite resolves futures on asyncio's loop; trio is not supported.
    return "asyncio"


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "taskloom.db"


@pytest.fixture
def backend() -> str:
    """Overridden by pytest_generate_tests where a test runs on both backends."""
    return "sqlite"


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[Cluster]:
    """One throwaway PostgreSQL cluster per test session (tests/pg/cluster.py). Without PostgreSQL
    on the machine its tests skip; with TASKLOOM_REQUIRE_PG=1 (CI) they fail instead."""
    try:
        pg_bin_dir()
        os_user()
    except PostgresMissing as exc:
        if os.environ.get("TASKLOOM_REQUIRE_PG") == "1":
            pytest.fail(str(exc))
        pytest.skip(str(exc))
    c = start()
    try:
        yield c
    finally:
        stop(c)


@pytest.fixture(scope="session")
def pg_admin(pg_cluster: Cluster) -> Iterator[Any]:
    """A connection to the cluster's maintenance database, for making and dropping databases
    (psql through `su` costs a quarter of a second a statement)."""
    psycopg = pytest.importorskip("psycopg")
    with psycopg.connect(pg_cluster.dsn(), autocommit=True) as conn:
        yield conn


@pytest.fixture(scope="session")
def pg_template(pg_cluster: Cluster, pg_admin: Any) -> str:
    """A database migrated to the current schema once per session; tests copy it."""
    import psycopg

    from taskloom.store.postgres import migrate

    pg_admin.execute('CREATE DATABASE "taskloom_template"')
    with psycopg.connect(pg_cluster.dsn("taskloom_template"), autocommit=True) as conn:
        migrate.apply(conn)
    return "taskloom_template"


@pytest.fixture(scope="session")
def pg_shared(pg_cluster: Cluster, pg_admin: Any, pg_template: str) -> Iterator[Any]:
    """One migrated database that the tests taking `pg_url` share, emptied before each (22 ms,
    where a database of its own costs 170 ms to make); and a connection to it for the emptying."""
    import psycopg

    pg_admin.execute(f'CREATE DATABASE "taskloom_tests" TEMPLATE "{pg_template}" STRATEGY FILE_COPY')
    with psycopg.connect(pg_cluster.dsn("taskloom_tests"), autocommit=True) as conn:
        yield conn


@pytest.fixture
def pg_url(pg_cluster: Cluster, pg_shared: Any) -> str:
    """A migrated PostgreSQL database with nothing in it, for this test alone."""
    # A connection some earlier test left open must not hold a lock the emptying waits on.
    pg_shared.execute(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
    )
    tables = [r[0] for r in pg_shared.execute(
        "SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'taskloom_schema'"
    )]
    pg_shared.execute(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE")
    return pg_cluster.dsn("taskloom_tests")


@pytest.fixture
def pg_own_url(pg_cluster: Cluster, pg_admin: Any, pg_template: str) -> Iterator[str]:
    """A migrated PostgreSQL database of this test's own, for a test that changes the schema
    (a trigger, a dropped table), which the shared one must never keep; dropped after it."""
    name = "t_" + os.urandom(6).hex()
    pg_admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{pg_template}" STRATEGY FILE_COPY')
    yield pg_cluster.dsn(name)
    pg_admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


@pytest.fixture
def settings(db_path: Path, backend: str, request: pytest.FixtureRequest) -> Settings:
    url = request.getfixturevalue("pg_url") if backend == "postgresql" else None
    return Settings(db_path=db_path, db_url=url, project="test", lease_seconds=60.0, default_agent="tester")


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file the real store created and migrated, once per session. `app` starts each
    test from a copy of it: migrating a new file costs ~25 ms, and ~2,000 tests take `app`."""
    path = tmp_path_factory.mktemp("sqlite-template") / "taskloom.db"

    async def create() -> None:
        store = await backends.open_store(Settings(db_path=path))
        await store.close()

    anyio.run(create)
    # Closing the last connection checkpoints the WAL into the file and removes it.
    assert not Path(f"{path}-wal").exists()
    return path


@pytest.fixture
async def app(settings: Settings, clock: ManualClock, sqlite_template: Path) -> AsyncIterator[Taskloom]:
    if settings.db_url is None and not settings.db_path.exists():
        shutil.copyfile(sqlite_template, settings.db_path)
    app = await Taskloom.open(settings, clock)
    try:
        yield app
    finally:
        await app.close()


@pytest.fixture
async def other(settings: Settings, clock: ManualClock) -> AsyncIterator[Taskloom]:
    """A second connection on the same file, as another server process would have."""
    app = await Taskloom.open(settings, clock)
    try:
        yield app
    finally:
        await app.close()


@pytest.fixture
async def client(app: Taskloom) -> AsyncIterator[Client]:
    async with Client(build_server(app), mode="legacy") as c:
        yield c


async def call(client: Client, tool: str, **args: Any) -> dict[str, Any]:
    """Call a tool that must succeed; return its structured result."""
    result = await client.call_tool(tool, args)
    assert not result.is_error, f"{tool} failed: {result.content[0].text}"
    return result.structured_content


async def call_error(client: Client, tool: str, **args: Any) -> dict[str, Any]:
    """Call a tool that must fail; return its error object (code, message, hint)."""
    result = await client.call_tool(tool, args)
    assert result.is_error, f"{tool} unexpectedly succeeded: {result.structured_content}"
    # Errors carry no structuredContent (it would have to match the tool's output schema).
    assert result.structured_content is None
    error = error_of(result)
    assert result.content[0].text.startswith(error["code"] + ":")
    assert "Traceback" not in result.content[0].text
    return error


def disk_bytes(db_path: Path) -> bytes:
    """The database file plus its WAL (and shared-memory index), byte for byte."""
    data = db_path.read_bytes()
    for suffix in ("-wal", "-shm", "-journal"):
        extra = Path(str(db_path) + suffix)
        if extra.exists():
            data += extra.read_bytes()
    return data


def table_rows(settings: Settings, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Rows of a plain SELECT straight from the test's database, on either backend, for tests that
    check what was stored. Write `?` placeholders; booleans come back as 0/1 on both."""
    if settings.db_url is None:
        with sqlite3.connect(settings.db_path) as conn:
            return [tuple(r) for r in conn.execute(sql, params).fetchall()]
    import psycopg

    with psycopg.connect(settings.db_url, autocommit=True) as conn:
        rows = conn.execute(sql.replace("?", "%s"), params).fetchall()
    return [tuple(int(v) if isinstance(v, bool) else v for v in r) for r in rows]


def stored_bytes(settings: Settings) -> bytes:
    """Everything the test's database holds, for scans that no secret is stored: the SQLite file
    and its WAL byte for byte, or on PostgreSQL every row of every table as text."""
    if settings.db_url is None:
        return disk_bytes(settings.db_path)
    import psycopg

    with psycopg.connect(settings.db_url, autocommit=True) as conn:
        tables = [r[0] for r in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")]
        rows = [r[0] for t in tables for r in conn.execute(f'SELECT t::text FROM "{t}" t')]
    return "\n".join(rows).encode()


def write_verbatim(settings: Settings, sql: str, params: tuple[Any, ...]) -> None:
    """One raw write past every guard of taskloom's (`?` placeholders), as a control for scans."""
    if settings.db_url is None:
        with sqlite3.connect(settings.db_path) as conn:
            conn.execute(sql, params)
        return
    import psycopg

    with psycopg.connect(settings.db_url, autocommit=True) as conn:
        conn.execute(sql.replace("?", "%s"), params)


def vm_steps(db_path: Path, fn: Callable[[SqliteTx], Any]) -> int:
    """SQLite VM steps (in units of 100) that `fn(tx)` costs on a fresh connection: a cost that,
    unlike a timing, does not move with the machine's load."""
    conn = sqlite3.connect(db_path, isolation_level=None)
    conn.row_factory = sqlite3.Row
    count = 0

    def tick() -> int:
        nonlocal count
        count += 1
        return 0

    conn.set_progress_handler(tick, 100)
    conn.execute("BEGIN")
    try:
        fn(SqliteTx(conn))
    finally:
        conn.execute("ROLLBACK")
        conn.close()
    return count
