"""Real `taskloom serve` processes over each transport: stdio, SSE and streamable HTTP.

Nothing in-process here: every test starts the console script as a subprocess on a real
SQLite file and talks to it with the SDK's own clients (or raw HTTP where a client would be
too polite). Processes are always terminated in a `finally`.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

import httpx2
import pytest
from mcp import Client, StdioServerParameters
from mcp.client.session import ClientSession
from mcp.client.sse import sse_client
from mcp_types.version import LATEST_HANDSHAKE_VERSION

from taskloom.server.errors import error_of
from taskloom.server.tools import PROFILES

TASKLOOM = str(Path(sys.executable).with_name("taskloom"))
PROJECT = "wire"
STARTUP_DEADLINE = 20.0  # seconds for a server process to start accepting connections
PATHS = {"http": "/mcp", "sse": "/sse"}


# ---------------------------------------------------------- process helpers (shared with test_http_security)


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def wait_until_listening(proc: subprocess.Popen, port: int, log: Path, host: str = "127.0.0.1") -> None:
    """Poll a TCP connect until the server accepts, the process dies, or a short deadline passes."""
    deadline = time.monotonic() + STARTUP_DEADLINE
    while True:
        if proc.poll() is not None:
            pytest.fail(f"server exited with {proc.returncode} before listening:\n{log.read_text()}")
        try:
            socket.create_connection((host, port), timeout=0.2).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                pytest.fail(
                    f"server not listening on {host}:{port} after {STARTUP_DEADLINE}s:\n{log.read_text()}"
                )
            time.sleep(0.05)


def terminate(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


@contextmanager
def serving(
    tmp_path: Path,
    transport: str,
    db: Path,
    *,
    agent: str = "wire-agent",
    host: str = "127.0.0.1",
    token: str | None = None,
    env: dict[str, str] | None = None,
    connect_host: str | None = None,
) -> Iterator[tuple[str, subprocess.Popen, Path]]:
    """`taskloom serve` over HTTP or SSE; yields (url, process, stderr log).

    A wildcard bind is reached through 127.0.0.1 unless `connect_host` says otherwise.
    """
    connect_host = connect_host or ("127.0.0.1" if host == "0.0.0.0" else host)
    port = free_port(host)
    log = tmp_path / f"serve-{transport}-{port}.log"
    args = [TASKLOOM, "serve", "--transport", transport, "--host", host, "--port", str(port)]
    args += ["--db", str(db), "--project", PROJECT]
    if token:
        args += ["--token", token]
    full_env = {
        k: v for k, v in os.environ.items() if k not in ("TASKLOOM_TOKEN", "TASKLOOM_DB", "TASKLOOM_PROJECT")
    }
    full_env["TASKLOOM_AGENT"] = agent
    full_env.update(env or {})
    with open(log, "w") as err:
        proc = subprocess.Popen(
            args, stdin=subprocess.DEVNULL, stdout=err, stderr=err, env=full_env, cwd=tmp_path
        )
    try:
        wait_until_listening(proc, port, log, connect_host)
        yield f"http://{connect_host}:{port}{PATHS[transport]}", proc, log
    finally:
        terminate(proc)


def stdio_params(tmp_path: Path, db: Path, agent: str, *extra: str) -> StdioServerParameters:
    return StdioServerParameters(
        command=TASKLOOM,
        args=["serve", "--transport", "stdio", "--db", str(db), "--project", PROJECT, *extra],
        env={"TASKLOOM_AGENT": agent},
        cwd=str(tmp_path),
    )


# ------------------------------------------------------------------ the scenario every transport must carry

CallTool = Callable[[str, dict[str, Any]], Awaitable[Any]]


async def ok(call_tool: CallTool, name: str, **args: Any) -> dict[str, Any]:
    result = await call_tool(name, args)
    assert not result.is_error, f"{name} failed: {result.content}"
    return result.structured_content


async def create(call_tool: CallTool, title: str) -> str:
    return (await ok(call_tool, "task_create", tasks=[{"title": title}]))["tasks"][0]["code"]


async def create_claim_finish(call_tool: CallTool, agent: str, title: str) -> str:
    made = await ok(call_tool, "task_create", tasks=[{"title": title}])
    [task] = made["tasks"]
    assert task["status"] == "ready"
    claim = await ok(call_tool, "task_claim", task=task["code"])
    assert claim["claimed"] is True
    assert claim["detail"]["task"]["claimed_by"] == agent  # TASKLOOM_AGENT reached the server
    assert claim["detail"]["task"]["status"] == "in_progress"
    done = await ok(call_tool, "task_done", task=task["code"], summary=f"finished over the wire: {title}")
    assert done["task"]["status"] == "done"
    got = await ok(call_tool, "task_get", task=task["code"])
    assert got["task"]["status"] == "done"
    assert got["task"]["summary"] == f"finished over the wire: {title}"
    return task["code"]


async def tool_names(list_tools: Callable[[], Awaitable[Any]]) -> set[str]:
    return {tool.name for tool in (await list_tools()).tools}


# ------------------------------------------------------------------ one test per transport


async def test_a_stdio_server_process_lists_its_tools_and_carries_a_task_from_create_to_done(tmp_path):
    async with Client(stdio_params(tmp_path, tmp_path / "t.db", "stdio-agent")) as client:
        assert await tool_names(client.list_tools) == PROFILES["all"]
        await create_claim_finish(client.call_tool, "stdio-agent", "via stdio")


async def test_a_stdio_server_with_the_worker_profile_serves_only_worker_tools(tmp_path):
    params = stdio_params(tmp_path, tmp_path / "t.db", "w", "--profile", "worker")
    async with Client(params) as client:
        assert await tool_names(client.list_tools) == PROFILES["worker"]
        denied = await client.call_tool("task_create", {"tasks": [{"title": "not for workers"}]})
        assert denied.is_error


# "auto" speaks the stateless 2026 protocol (one POST per call);
# "legacy" the initialize handshake with a session.
@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_a_streamable_http_server_process_lists_its_tools_and_carries_a_task_from_create_to_done(
    tmp_path, mode
):
    with serving(tmp_path, "http", tmp_path / "t.db", agent="http-agent") as (url, proc, _):
        async with Client(url, mode=mode) as client:
            assert await tool_names(client.list_tools) == PROFILES["all"]
            await create_claim_finish(client.call_tool, "http-agent", "via http")
        assert proc.poll() is None


async def test_an_sse_server_process_lists_its_tools_and_carries_a_task_from_create_to_done(tmp_path):
    with serving(tmp_path, "sse", tmp_path / "t.db", agent="sse-agent") as (url, proc, _):
        async with sse_client(url) as (read, write), ClientSession(read, write) as session:
            await session.initialize()
            assert await tool_names(session.list_tools) == PROFILES["all"]
            await create_claim_finish(session.call_tool, "sse-agent", "via sse")
        assert proc.poll() is None


# ------------------------------------------------------------------ several processes, one database


async def test_a_stdio_server_and_an_http_server_on_one_database_see_each_others_writes(tmp_path):
    db = tmp_path / "shared.db"
    with serving(tmp_path, "http", db, agent="http-agent") as (url, _, _):
        async with Client(stdio_params(tmp_path, db, "stdio-agent")) as stdio, Client(url) as http:
            # stdio writes, HTTP reads.
            a = await create(stdio.call_tool, "from stdio")
            seen = await ok(http.call_tool, "task_get", task=a)
            assert seen["task"]["title"] == "from stdio" and seen["task"]["created_by"] == "stdio-agent"

            # HTTP writes, stdio claims it, HTTP sees who holds it.
            b = await create(http.call_tool, "from http")
            claim = await ok(stdio.call_tool, "task_claim", task=b)
            assert claim["detail"]["task"]["created_by"] == "http-agent"
            held = await ok(http.call_tool, "task_get", task=b)
            assert held["task"]["status"] == "in_progress" and held["task"]["claimed_by"] == "stdio-agent"

            # The other process cannot take it, and sees it finish.
            refused = await http.call_tool("task_claim", {"task": b})
            assert refused.is_error and error_of(refused)["code"] == "invalid_transition"
            await ok(stdio.call_tool, "task_done", task=b, summary="stdio finished it")
            after = await ok(http.call_tool, "task_get", task=b)
            assert after["task"]["status"] == "done" and after["task"]["summary"] == "stdio finished it"

            one = await ok(stdio.call_tool, "project_status")
            other = await ok(http.call_tool, "project_status")
            assert one["counts"] == other["counts"] and one["total"] == other["total"] == 2


# ------------------------------------------------------------ SSE: connections come and go, the store stays


async def _next_event(lines) -> tuple[str, str]:
    """The next server-sent event as (event, data)."""
    event, data = "message", []
    async for line in lines:
        if line == "":
            if data:
                return event, "\n".join(data)
            continue
        field, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if field == "event":
            event = value
        elif field == "data":
            data.append(value)
    raise AssertionError("the SSE stream ended")


@asynccontextmanager
async def sse_endpoint(http: httpx2.AsyncClient, headers: dict[str, str] | None = None) -> AsyncIterator[tuple[str, Any]]:
    """An open SSE stream on `http` (based at the server's root): yields (message endpoint, lines)."""
    async with http.stream("GET", "/sse", headers={"accept": "text/event-stream", **(headers or {})}) as stream:
        assert stream.status_code == 200
        lines = stream.aiter_lines()  # keep it referenced: collecting it closes the stream
        event, endpoint = await _next_event(lines)
        assert event == "endpoint", (event, endpoint)
        yield endpoint, lines


async def _rpc_result(lines, request_id: int) -> dict[str, Any]:
    while True:
        event, data = await _next_event(lines)
        if event == "message":
            message = json.loads(data)
            if message.get("id") == request_id:
                assert "result" in message, message
                return message["result"]


async def _connect_and_drop_mid_stream(base: str, title: str) -> str:
    """A raw SSE session: initialize, create a task, send another call, then hang up before its answer."""
    async with httpx2.AsyncClient(base_url=base, timeout=10) as http:
        async with sse_endpoint(http) as (endpoint, lines):

            async def post(message: dict[str, Any]) -> None:
                sent = await http.post(endpoint, json={"jsonrpc": "2.0", **message})
                assert sent.status_code == 202, sent.text

            await post(
                {
                    "id": 1,
                    "method": "initialize",
                    "params": {
                        "protocolVersion": LATEST_HANDSHAKE_VERSION,
                        "capabilities": {},
                        "clientInfo": {"name": "raw-sse", "version": "0"},
                    },
                }
            )
            await _rpc_result(lines, 1)
            await post({"method": "notifications/initialized"})
            await post(
                {
                    "id": 2,
                    "method": "tools/call",
                    "params": {"name": "task_create", "arguments": {"tasks": [{"title": title}]}},
                }
            )
            created = await _rpc_result(lines, 2)
            assert not created.get("isError"), created
            await post({"id": 3, "method": "tools/call", "params": {"name": "task_list", "arguments": {}}})
            # Leaving the block closes the stream with the answer to request 3 still pending.
    return created["structuredContent"]["tasks"][0]["code"]


async def test_the_sse_server_serves_new_connections_after_earlier_ones_drop_mid_stream(tmp_path):
    with serving(tmp_path, "sse", tmp_path / "t.db", agent="sse-agent") as (url, proc, log):
        base = url.removesuffix("/sse")
        dropped = [await _connect_and_drop_mid_stream(base, f"dropped {n}") for n in range(3)]
        assert len(set(dropped)) == 3
        assert proc.poll() is None, log.read_text()

        async with sse_client(url) as (read, write), ClientSession(read, write) as session:
            await session.initialize()
            # The writes of the dropped connections are there: one store for the whole process.
            for code in dropped:
                got = await ok(session.call_tool, "task_get", task=code)
                assert got["task"]["title"].startswith("dropped")
            await create_claim_finish(session.call_tool, "sse-agent", "after the drops")

        # And once more after a clean disconnect.
        async with sse_client(url) as (read, write), ClientSession(read, write) as session:
            await session.initialize()
            status = await ok(session.call_tool, "project_status")
            assert status["total"] == 4 and status["counts"].get("done") == 1
        assert proc.poll() is None, log.read_text()
    assert "Traceback" not in log.read_text(), log.read_text()


# ------------------------------------------------------------------ failing to start


def test_a_server_whose_port_is_taken_exits_nonzero_with_a_one_line_message_not_a_traceback(tmp_path):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        args = ["serve", "--transport", "http", "--port", str(port), "--db", str(tmp_path / "t.db")]
        proc = subprocess.Popen(
            [TASKLOOM, *args, "--project", PROJECT],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=tmp_path,
        )
        try:
            _, err = proc.communicate(timeout=60)
        finally:
            terminate(proc)
    assert proc.returncode not in (0, None)
    assert "address already in use" in err.lower()
    assert "Traceback" not in err, f"stderr:\n{err}"
