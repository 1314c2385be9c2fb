"""HTTP hardening of real `taskloom serve` processes: exposure refusal, bearer tokens, DNS rebinding.

Raw requests use httpx2 (the HTTP client the MCP SDK is built on) so that status codes and
bodies can be checked exactly; the happy paths go through the SDK's own clients.
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import subprocess
from pathlib import Path
from typing import Any

import httpx2
import pytest
from mcp import Client, MCPError
from mcp.client.session import ClientSession
from mcp.client.sse import sse_client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client
from mcp_types.version import LATEST_HANDSHAKE_VERSION, LATEST_MODERN_VERSION

from tests.server.test_transports import (
    PROJECT,
    TASKLOOM,
    create_claim_finish,
    serving,
    sse_endpoint,
)

TOKEN = "s3cret-token-for-tests"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
JSON_IN = {"content-type": "application/json", "accept": "application/json, text/event-stream"}


# ------------------------------------------------------------------ raw MCP requests


def modern_call(tool: str, arguments: dict[str, Any]) -> tuple[dict[str, str], dict[str, Any]]:
    """A stateless 2026 tools/call: one POST that runs the tool, no handshake needed."""
    headers = {
        **JSON_IN,
        "mcp-protocol-version": LATEST_MODERN_VERSION,
        "mcp-method": "tools/call",
        "mcp-name": tool,
    }
    meta = {
        "io.modelcontextprotocol/protocolVersion": LATEST_MODERN_VERSION,
        "io.modelcontextprotocol/clientInfo": {"name": "raw", "version": "0"},
        "io.modelcontextprotocol/clientCapabilities": {},
    }
    body = {
        "jsonrpc": "2.0",
        "id": 7,
        "method": "tools/call",
        "params": {"name": tool, "arguments": arguments, "_meta": meta},
    }
    return headers, body


def initialize() -> dict[str, Any]:
    return {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {
            "protocolVersion": LATEST_HANDSHAKE_VERSION,
            "capabilities": {},
            "clientInfo": {"name": "raw", "version": "0"},
        },
    }


CREATE = modern_call("task_create", {"tasks": [{"title": "should it exist?"}]})


def task_count(db: Path) -> int:
    conn = sqlite3.connect(db)
    try:
        return conn.execute("SELECT count(*) FROM tasks").fetchone()[0]
    finally:
        conn.close()


def assert_unauthorized(response: httpx2.Response) -> None:
    assert response.status_code == 401, (response.status_code, response.text)
    assert response.headers["www-authenticate"].lower().startswith("bearer")
    assert response.json()["error"] == "unauthorized"
    assert "jsonrpc" not in response.text and "mcp-session-id" not in response.headers


def own_address() -> str | None:
    """This machine's non-loopback IPv4 address, if it has one (no packet is sent)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.connect(("192.0.2.1", 9))
            address = s.getsockname()[0]
        except OSError:
            return None
    return None if address.startswith("127.") or address == "0.0.0.0" else address


# ------------------------------------------------------------------ exposure


@pytest.mark.parametrize(
    ("transport", "host"), [("http", "0.0.0.0"), ("sse", "0.0.0.0"), ("http", "::"), ("http", "192.0.2.77")]
)
def test_a_non_loopback_host_without_a_token_is_refused_with_exit_code_2_and_a_clear_message(
    tmp_path, transport, host
):
    db = tmp_path / "never.db"
    env = {k: v for k, v in os.environ.items() if k != "TASKLOOM_TOKEN"}
    args = ["serve", "--transport", transport, "--host", host, "--port", "1", "--db", str(db)]
    done = subprocess.run(
        [TASKLOOM, *args, "--project", PROJECT],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        cwd=tmp_path,
        stdin=subprocess.DEVNULL,
    )
    assert done.returncode == 2, done.stderr
    assert f"Refusing to listen on {host} without a token" in done.stderr
    assert "--token" in done.stderr and "TASKLOOM_TOKEN" in done.stderr
    assert "Traceback" not in done.stderr and done.stdout == ""
    assert not db.exists(), "the refusal must come before anything is opened"


# ------------------------------------------------------------------ bearer token, streamable HTTP


BAD_AUTH = [
    {},
    {"Authorization": "Bearer wrong"},
    {"Authorization": f"Bearer {TOKEN}x"},
    {"Authorization": f"Bearer {TOKEN[:-1]}"},
    {"Authorization": f"Basic {TOKEN}"},
    {"Authorization": TOKEN},
    {"Authorization": "Bearer"},
]


async def test_with_a_token_http_requests_without_it_or_with_a_wrong_one_get_401_and_no_data(tmp_path):
    db = tmp_path / "t.db"
    with serving(tmp_path, "http", db, host="0.0.0.0", token=TOKEN) as (url, _, _):
        async with httpx2.AsyncClient(timeout=10) as http:
            for auth in BAD_AUTH:
                headers, body = CREATE
                assert_unauthorized(await http.post(url, headers={**headers, **auth}, json=body))
                assert_unauthorized(await http.post(url, headers={**JSON_IN, **auth}, json=initialize()))
                assert_unauthorized(await http.get(url, headers={"accept": "text/event-stream", **auth}))
                assert_unauthorized(await http.get(url.replace("/mcp", "/anything-else"), headers=auth))
        assert task_count(db) == 0

        # The SDK client with a wrong token gets nowhere either.
        async with create_mcp_http_client(headers={"Authorization": "Bearer wrong"}) as http:
            with pytest.raises(ExceptionGroup) as refused:
                async with Client(streamable_http_client(url, http_client=http)) as client:
                    await client.call_tool("task_create", {"tasks": [{"title": "should not exist"}]})
            assert refused.group_contains(MCPError, depth=None)
        assert task_count(db) == 0


@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_with_a_token_the_right_bearer_token_works_over_streamable_http(tmp_path, mode):
    db = tmp_path / "t.db"
    with serving(tmp_path, "http", db, host="0.0.0.0", token=TOKEN, agent="tok-agent") as (url, _, _):
        async with create_mcp_http_client(headers=AUTH) as http:
            async with Client(streamable_http_client(url, http_client=http), mode=mode) as client:
                await create_claim_finish(client.call_tool, "tok-agent", "authorised")
        assert task_count(db) == 1

        async with httpx2.AsyncClient(timeout=10) as http:
            headers, body = CREATE
            response = await http.post(url, headers={**headers, **AUTH}, json=body)
        assert response.status_code == 200, response.text
        assert response.json()["result"]["structuredContent"]["created"] == 1
        assert task_count(db) == 2


# ------------------------------------------------------------------ bearer token, SSE


async def test_with_a_token_sse_needs_it_on_the_stream_and_on_every_message_post(tmp_path):
    db = tmp_path / "t.db"
    # The token comes from TASKLOOM_TOKEN this time.
    server = serving(tmp_path, "sse", db, host="0.0.0.0", env={"TASKLOOM_TOKEN": TOKEN}, agent="sse-tok")
    with server as (url, _, _):
        base = url.removesuffix("/sse")
        async with httpx2.AsyncClient(base_url=base, timeout=10) as http:
            for auth in BAD_AUTH:
                assert_unauthorized(await http.get("/sse", headers={"accept": "text/event-stream", **auth}))

            async with sse_endpoint(http, AUTH) as (endpoint, _lines):
                # Holding a session id is not enough: each POST needs the token too.
                for auth in BAD_AUTH:
                    assert_unauthorized(
                        await http.post(endpoint, headers={**JSON_IN, **auth}, json=initialize())
                    )
                accepted = await http.post(endpoint, headers={**JSON_IN, **AUTH}, json=initialize())
                assert accepted.status_code == 202, accepted.text

        async with sse_client(url, headers=AUTH) as (read, write), ClientSession(read, write) as session:
            await session.initialize()
            await create_claim_finish(session.call_tool, "sse-tok", "authorised over sse")
        assert task_count(db) == 1


# ------------------------------------------------------------------ reachable where it was bound


async def test_a_server_bound_to_its_own_address_with_a_token_serves_clients_on_that_address(tmp_path):
    address = own_address()
    if address is None:
        pytest.skip("this machine has no non-loopback IPv4 address")
    with serving(tmp_path, "http", tmp_path / "t.db", host=address, token=TOKEN, agent="lan") as (url, _, _):
        assert address in url
        async with create_mcp_http_client(headers=AUTH) as http:
            async with Client(streamable_http_client(url, http_client=http)) as client:
                await create_claim_finish(client.call_tool, "lan", "over the lan")


async def test_a_server_bound_to_all_interfaces_with_a_token_serves_clients_on_the_machines_address(tmp_path):
    # `--host 0.0.0.0 --token T` is the way to expose taskloom to other machines; they reach it by
    # the machine's address, which must not be refused as a DNS-rebinding Host.
    address = own_address()
    if address is None:
        pytest.skip("this machine has no non-loopback IPv4 address")
    server = serving(tmp_path, "http", tmp_path / "t.db", host="0.0.0.0", token=TOKEN, connect_host=address)
    with server as (url, _, _):
        async with httpx2.AsyncClient(timeout=10) as http:
            headers, body = modern_call("project_status", {})
            response = await http.post(url, headers={**headers, **AUTH}, json=body)
        assert response.status_code == 200, (response.status_code, response.text)
        assert response.json()["result"]["structuredContent"]["project"] == PROJECT


# ------------------------------------------------------------------ DNS rebinding


def port_of(url: str) -> int:
    return httpx2.URL(url).port


def foreign_hosts(port: int) -> list[str]:
    return [
        "evil.example",
        f"evil.example:{port}",
        f"127.0.0.1.evil.example:{port}",
        f"localhost.evil.example:{port}",
    ]


def foreign_origins(port: int) -> list[str]:
    return [
        "http://evil.example",
        f"http://evil.example:{port}",
        "http://127.0.0.1.evil.example",
        "null",
        f"https://localhost.evil.example:{port}",
        # Another port on this machine is another site: a page there is not this server.
        "http://localhost:3000",
        f"http://127.0.0.1:{port + 1}",
    ]


async def test_http_requests_naming_a_foreign_host_get_421_and_a_foreign_origin_403_and_change_nothing(
    tmp_path,
):
    db = tmp_path / "t.db"
    with serving(tmp_path, "http", db) as (url, _, _):
        port = port_of(url)
        headers, body = CREATE
        async with httpx2.AsyncClient(timeout=10) as http:
            for host in foreign_hosts(port):
                response = await http.post(url, headers={**headers, "host": host}, json=body)
                assert response.status_code == 421, (host, response.status_code, response.text)
                assert "Invalid Host header" in response.text
                legacy = await http.post(url, headers={**JSON_IN, "host": host}, json=initialize())
                assert legacy.status_code == 421, (host, legacy.text)
                assert "mcp-session-id" not in legacy.headers
            for origin in foreign_origins(port):
                response = await http.post(url, headers={**headers, "origin": origin}, json=body)
                assert response.status_code == 403, (origin, response.status_code, response.text)
                assert "Invalid Origin header" in response.text
                legacy = await http.post(url, headers={**JSON_IN, "origin": origin}, json=initialize())
                assert legacy.status_code == 403, (origin, legacy.text)
            assert task_count(db) == 0

            # The same request from a page on our own origin goes through: the refusals were about the origins.
            allowed = await http.post(url, headers={**headers, "origin": f"http://localhost:{port}"}, json=body)
            assert allowed.status_code == 200, allowed.text
            assert json.loads(allowed.text)["result"]["structuredContent"]["created"] == 1
        assert task_count(db) == 1


async def test_sse_requests_naming_a_foreign_host_get_421_and_a_foreign_origin_403(tmp_path):
    with serving(tmp_path, "sse", tmp_path / "t.db") as (url, _, _):
        port = port_of(url)
        base = url.removesuffix("/sse")
        stream_headers = {"accept": "text/event-stream"}
        # A fresh connection per refused stream: the SDK raises after sending the refusal, and uvicorn
        # then drops the keep-alive connection.
        for host in foreign_hosts(port):
            async with httpx2.AsyncClient(base_url=base, timeout=10) as http:
                response = await http.get("/sse", headers={**stream_headers, "host": host})
            assert response.status_code == 421, (host, response.status_code)
            assert "Invalid Host header" in response.text
        for origin in foreign_origins(port):
            async with httpx2.AsyncClient(base_url=base, timeout=10) as http:
                response = await http.get("/sse", headers={**stream_headers, "origin": origin})
            assert response.status_code == 403, (origin, response.status_code)
            assert "Invalid Origin header" in response.text
        async with httpx2.AsyncClient(base_url=base, timeout=10) as http:
            # A legitimate session's message endpoint is guarded the same way.
            async with sse_endpoint(http, stream_headers) as (endpoint, _lines):
                for host in foreign_hosts(port):
                    response = await http.post(endpoint, headers={**JSON_IN, "host": host}, json=initialize())
                    assert response.status_code == 421, (host, response.status_code)
                for origin in foreign_origins(port):
                    response = await http.post(
                        endpoint, headers={**JSON_IN, "origin": origin}, json=initialize()
                    )
                    assert response.status_code == 403, (origin, response.status_code)
                ok = await http.post(
                    endpoint, headers={**JSON_IN, "origin": f"http://127.0.0.1:{port}"}, json=initialize()
                )
                assert ok.status_code == 202, ok.text
