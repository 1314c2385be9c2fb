"""Shared fixtures: a real SQLite file per test, an injected clock, an in-process MCP client."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from mcp import Client

from taskloom.clock import ManualClock
from taskloom.config import Settings
from taskloom.server import build_server
from taskloom.server.errors import error_of
from taskloom.services.app import Taskloom


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
