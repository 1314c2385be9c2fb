"""Requests whose id is no JSON-RPC id get JSON-RPC's Invalid Request error, with id null, on every
transport: raw bytes over a real server's stdio, raw POSTs to streamable HTTP (both protocol
eras) and to the SSE transport's POST /messages/. Nothing they ask for is done.
"""

from __future__ import annotations

import json
from pathlib import Path

import httpx2
import pytest

from tests.faults.common import exec_server, rows, serve_argv
from tests.faults.test_broken_clients import open_session, until_ping
from tests.server.test_http_security import initialize
from tests.server.test_transports import PROJECT, _rpc_result, serving, sse_endpoint

INVALID = -32600
# Each is a JSON value that MCP does not take as a request id (a string or an integer).
BAD_IDS = {
    "null": None,
    "an empty object": {},
    "an object": {"a": 1},
    "an array": [1],
    "a fraction": 1.5,
    "an integral float": 1.0,
    "true": True,
    "false": False,
}
JSON_AND_SSE = {"accept": "application/json, text/event-stream", "content-type": "application/json"}


MODERN = "2026-07-28"
# A 2026-era request carries its protocol version and capabilities in every call.
MODERN_META = {
    "io.modelcontextprotocol/protocolVersion": MODERN,
    "io.modelcontextprotocol/clientCapabilities": {},
}


def create_request(request_id: object, title: str, era: str = "handshake") -> bytes:
    """A task_create call: were it run, a task would exist."""
    call: dict = {"name": "task_create", "arguments": {"tasks": [{"title": title}]}}
    if era == MODERN:
        call["_meta"] = MODERN_META
    return json.dumps({"jsonrpc": "2.0", "id": request_id, "method": "tools/call", "params": call}).encode()


def assert_invalid_request(reply: dict, label: str) -> None:
    assert reply["jsonrpc"] == "2.0" and reply["id"] is None and "id" in reply, (label, reply)
    assert reply["error"]["code"] == INVALID, (label, reply)
    assert "string or an integer" in reply["error"]["message"], (label, reply)


def test_stdio_answers_a_request_whose_id_is_no_id_with_invalid_request_and_does_nothing(tmp_path: Path):
    db = tmp_path / "ids.db"
    server = exec_server(tmp_path, serve_argv(db, PROJECT), "ids", "ids")
    try:
        server.wire.initialize()
        for label, request_id in BAD_IDS.items():
            server.wire.send_bytes(create_request(request_id, label) + b"\n")
            replies = until_ping(server)  # the answer comes before the ping's: nothing hangs
            assert len(replies) == 1, (label, replies)
            assert_invalid_request(replies[0], label)
        # A response with id null is still no request: it gets no answer.
        server.wire.send_bytes(b'{"jsonrpc": "2.0", "id": null, "error": {"code": -32603, "message": "x"}}\n')
        assert all("error" in r for r in until_ping(server))
        good = server.wire.call("task_create", tasks=[{"title": "with a good id"}])
        assert good["tasks"][0]["code"] == "T-1"
    finally:
        server.cleanup()
    assert [r["title"] for r in rows(db, "SELECT title FROM tasks")] == ["with a good id"]


@pytest.mark.parametrize("era", ["handshake", MODERN])
async def test_streamable_http_answers_a_request_whose_id_is_no_id_with_400_invalid_request(
    tmp_path: Path, era
):
    db = tmp_path / "ids.db"
    with serving(tmp_path, "http", db) as (url, proc, _):
        base = url.removesuffix("/mcp")
        async with httpx2.AsyncClient(base_url=base, timeout=10) as http:
            if era == "handshake":
                headers = await open_session(http)
            else:
                headers = {
                    **JSON_AND_SSE,
                    "mcp-protocol-version": MODERN,
                    "mcp-method": "tools/call",
                    "mcp-name": "task_create",
                }
            for label, request_id in BAD_IDS.items():
                answer = await http.post(
                    "/mcp", content=create_request(request_id, label, era), headers=headers
                )
                assert answer.status_code == 400, (label, answer.status_code, answer.text)
                assert_invalid_request(answer.json(), label)
            # Without a session, too: the id is wrong before anything else is.
            answer = await http.post("/mcp", content=create_request(None, "no session"), headers=JSON_AND_SSE)
            assert answer.status_code == 400
            assert_invalid_request(answer.json(), "no session")
            # A good request still goes through.
            good = await http.post("/mcp", content=create_request(7, "with a good id", era), headers=headers)
            assert good.status_code == 200, good.text
        assert proc.poll() is None
    assert [r["title"] for r in rows(db, "SELECT title FROM tasks")] == ["with a good id"]


async def test_the_sse_transport_answers_a_posted_request_whose_id_is_no_id_with_400_invalid_request(
    tmp_path,
):
    db = tmp_path / "ids.db"
    with serving(tmp_path, "sse", db) as (url, proc, _):
        async with (
            httpx2.AsyncClient(base_url=url.removesuffix("/sse"), timeout=10) as http,
            sse_endpoint(http) as (endpoint, lines),
        ):
            assert (await http.post(endpoint, json=initialize())).status_code == 202
            await _rpc_result(lines, 1)
            sent = await http.post(endpoint, json={"jsonrpc": "2.0", "method": "notifications/initialized"})
            assert sent.status_code == 202
            for label, request_id in BAD_IDS.items():
                answer = await http.post(
                    endpoint,
                    content=create_request(request_id, label),
                    headers={"content-type": "application/json"},
                )
                assert answer.status_code == 400, (label, answer.status_code, answer.text)
                assert_invalid_request(answer.json(), label)
            good = await http.post(
                endpoint,
                content=create_request(2, "with a good id"),
                headers={"content-type": "application/json"},
            )
            assert good.status_code == 202
            assert not (await _rpc_result(lines, 2)).get("isError")
        assert proc.poll() is None
    assert [r["title"] for r in rows(db, "SELECT title FROM tasks")] == ["with a good id"]
