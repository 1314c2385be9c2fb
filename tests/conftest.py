"""Shared fixtures: a real SQLite file per test, an injected clock, an in-process MCP client."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from mcp import Client

from taskloom.clock import ManualClock
from taskloom.config import Settings
from taskloom.server import build_server
from taskloom.server.errors import error_of
from taskloom.services.app import Taskloom
from taskloom.store.sqlite.store import SqliteTx


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
def settings(db_path: Path) -> Settings:
    return Settings(db_path=db_path, project="test", lease_seconds=60.0, default_agent="tester")


@pytest.fixture
async def app(settings: Settings, clock: ManualClock) -> AsyncIterator[Taskloom]:
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
