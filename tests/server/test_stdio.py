"""The stdio transport parses each request line once and hands the SDK the message itself.

In process, over an asyncio stream of lines and a sink for the answers (what `stdio_streams`
connects to the process's pipes); tests/server/test_transports.py and tests/faults run real
server processes over stdio.
"""

from __future__ import annotations

import asyncio
import json

import anyio
import mcp_types
import pytest
from mcp.shared.message import SessionMessage
from mcp_types import JSONRPCNotification, JSONRPCRequest, JSONRPCResponse

from taskloom.server import stdio

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"  # the transport is built on asyncio's pipes


class Sink:
    """The write end of the pipe: what the server sent, line by line."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def write(self, data: bytes) -> None:
        self.lines.extend(data.decode().splitlines())

    async def drain(self) -> None:
        return None


@pytest.fixture
def parses(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every parse of a JSON-RPC message, by ours or the SDK's code."""
    seen: list[str] = []
    adapter = mcp_types.jsonrpc_message_adapter

    class Counting:
        def validate_json(self, data, **kwargs):
            seen.append(data)
            return adapter.validate_json(data, **kwargs)

        def __getattr__(self, name):
            return getattr(adapter, name)

    monkeypatch.setattr(mcp_types, "jsonrpc_message_adapter", Counting())
    return seen


async def test_each_line_is_parsed_once_and_reaches_the_server_as_its_message(parses):
    reader = asyncio.StreamReader()
    request = {"jsonrpc": "2.0", "id": 7, "method": "tools/call", "params": {"name": "task_get"}}
    notice = {"jsonrpc": "2.0", "method": "notifications/initialized"}
    reader.feed_data((json.dumps(request) + "\n" + json.dumps(notice) + "\n").encode())
    reader.feed_eof()
    sink = Sink()
    pending = stdio.InFlight()
    async with stdio._serve(stdio._Lines(reader, sink, pending), stdio._Writer(sink, pending)) as (incoming, outgoing):
        first, second = await incoming.receive(), await incoming.receive()
        assert isinstance(first, SessionMessage) and isinstance(first.message, JSONRPCRequest)
        assert first.message.id == 7 and first.message.params == request["params"]
        assert isinstance(second.message, JSONRPCNotification)
        # Answering the request lets the input end (requests in flight are drained first).
        await outgoing.send(SessionMessage(JSONRPCResponse(jsonrpc="2.0", id=7, result={"ok": True})))
        with pytest.raises(anyio.EndOfStream):
            await incoming.receive()
        await outgoing.aclose()
        await incoming.aclose()
    assert len(parses) == 2
    assert [json.loads(line) for line in sink.lines] == [{"jsonrpc": "2.0", "id": 7, "result": {"ok": True}}]


async def test_a_line_that_is_not_json_rpc_is_answered_and_never_reaches_the_server(parses):
    reader = asyncio.StreamReader()
    reader.feed_data(b'{"jsonrpc": "2.0", "id": 3, "method": 5}\nnot json\n')
    reader.feed_eof()
    sink = Sink()
    pending = stdio.InFlight()
    async with stdio._serve(stdio._Lines(reader, sink, pending), stdio._Writer(sink, pending)) as (incoming, outgoing):
        with pytest.raises(anyio.EndOfStream):  # nothing was handed on
            await incoming.receive()
        await outgoing.aclose()
        await incoming.aclose()
    codes = [(json.loads(line)["id"], json.loads(line)["error"]["code"]) for line in sink.lines]
    assert codes == [(3, -32600), (None, -32700)]


async def test_a_line_over_the_limit_is_answered_and_the_lines_after_it_still_served():
    reader = asyncio.StreamReader(limit=1024)  # the process's reader has MAX_LINE; the rule is the reader's
    after = {"jsonrpc": "2.0", "id": 9, "method": "tools/list"}
    huge = b'{"jsonrpc": "2.0", "id": 8, "method": "tools/call", "params": {"x": "' + b"y" * 5000 + b'"}}\n'
    reader.feed_data(huge[:3000])
    reader.feed_data(huge[3000:] + (json.dumps(after) + "\n").encode())
    reader.feed_eof()
    sink = Sink()
    lines = stdio._Lines(reader, sink, stdio.InFlight())
    message = await lines.__anext__()
    assert isinstance(message, JSONRPCRequest) and message.id == 9
    [answer] = [json.loads(line) for line in sink.lines]
    assert answer["id"] is None and answer["error"]["code"] == -32600
    assert "MiB" in answer["error"]["message"]
