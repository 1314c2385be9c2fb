"""Helpers for the security suite: tokens files, servers that use them, clients that present tokens."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

from mcp import Client
from mcp.client.session import ClientSession
from mcp.client.sse import sse_client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client

from taskloom.server.auth import digest
from tests.server.test_transports import CallTool, serving

# Fixed test tokens: the file holds only their hashes, as `taskloom token new` writes it.
TOKENS = {name: f"{name}-token-0123456789abcdef" for name in ("alice", "bob", "carol")}
SHARED = "shared-token-for-any-agent"
JSON_IN = {"content-type": "application/json", "accept": "application/json, text/event-stream"}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def entry(token: str, agent: str | None = None, expires: str | None = None, access: str | None = None) -> str:
    line = {"sha256": digest(token).hex(), "agent": agent, "expires": expires}
    return json.dumps(line if access is None else {**line, "access": access})


def write_tokens(path: Path, *lines: str) -> Path:
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    path.chmod(0o600)
    return path


def agent_tokens_file(tmp_path: Path) -> Path:
    return write_tokens(tmp_path / "tokens", *(entry(token, name) for name, token in TOKENS.items()))


@contextmanager
def serving_tokens(
    tmp_path: Path, transport: str, db: Path, tokens: Path, env: dict[str, str] | None = None, **kw: Any
) -> Iterator[tuple[str, Any, Path]]:
    with serving(tmp_path, transport, db, env={"TASKLOOM_TOKENS_FILE": str(tokens), **(env or {})}, **kw) as s:
        yield s


@asynccontextmanager
async def connect(url: str, transport: str, token: str, *, handshake: bool = False) -> AsyncIterator[Any]:
    """An SDK client (Client over HTTP, ClientSession over SSE) presenting `token` on every request.

    `handshake` makes the HTTP client speak the initialize-era protocol (SSE always does)."""
    if transport == "http":
        mode = {"mode": "legacy"} if handshake else {}
        async with (
            create_mcp_http_client(headers=bearer(token)) as http,
            Client(streamable_http_client(url, http_client=http), **mode) as client,
        ):
            yield client
    else:
        async with sse_client(url, headers=bearer(token)) as (read, write), ClientSession(read, write) as s:
            await s.initialize()
            yield s


@asynccontextmanager
async def session(url: str, transport: str, token: str) -> AsyncIterator[CallTool]:
    """`connect`, yielding just its call_tool."""
    async with connect(url, transport, token) as client:
        yield client.call_tool


def rows(db: Path, sql: str, *params: Any) -> list[tuple]:
    conn = sqlite3.connect(db)
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()
