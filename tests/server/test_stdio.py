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

        def validate_python(self, data, **kwargs):
            seen.append(data)
            return adapter.validate_python(data, **kwargs)

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


LINES = [
    '{"jsonrpc": "2.0", "id": 7, "method": "tools/call", "params": {"name": "task_get", "arguments": {"task": "T-1"}}}',
    '{"jsonrpc": "2.0", "id": "a", "method": "ping"}',
    '{"jsonrpc": "2.0", "id": 1.0, "method": "ping"}',
    '{"jsonrpc": "2.0", "id": 1.5, "method": "ping"}',
    '{"jsonrpc": "2.0", "id": true, "method": "ping"}',
    '{"jsonrpc": "2.0", "id": null, "method": "ping"}',
    '{"jsonrpc": "2.0", "id": 99999999999999999999999, "method": "ping"}',
    '{"jsonrpc": "2.0", "method": "notifications/initialized"}',
    '{"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": 3, "reason": "x"}}',
    '{"jsonrpc": "2.0", "id": 4, "result": {"ok": true, "n": [1, 2.5, null, "s"]}}',
    '{"jsonrpc": "2.0", "id": 5, "error": {"code": -32600, "message": "bad", "data": {"x": 1}}}',
    '{"jsonrpc": "1.0", "id": 6, "method": "ping"}',
    '{"jsonrpc": "2.0", "id": 8, "method": 5}',
    '{"jsonrpc": "2.0", "id": 9, "method": "tools/call", "params": {"arguments": {"n": NaN, "big": 1e400}}}',
    '{"jsonrpc": "2.0", "id": 10, "method": "tools/call", "params": {"a": "\\ud800", "b": "caf\\u00e9"}}',
    '{"jsonrpc": "2.0", "id": 11, "method": "tools/call", "params": "not an object"}',
    '{"jsonrpc": "2.0", "id": 12, "method": "tools/call", "params": {"k": 1, "k": 2}}',
    '[{"jsonrpc": "2.0", "id": 13, "method": "ping"}]',
    '{"jsonrpc": "2.0", "id": 14, "method": "ping", "extra": {"deep": [[[[1]]]]}}',
    '"just a string"',
    '{"jsonrpc": "2.0", "id": 15, "method": "ping"',
]


@pytest.mark.parametrize("line", LINES)
def test_a_line_parsed_to_python_first_gives_the_message_validate_json_gives(line):
    adapter = mcp_types.jsonrpc_message_adapter

    def outcome(parse):
        try:
            return ("ok", parse().model_dump(mode="json", by_alias=True))
        except ValueError:
            return ("error", None)

    theirs = outcome(lambda: adapter.validate_json(line, by_name=False))
    ours = outcome(lambda: adapter.validate_python(stdio.pydantic_core.from_json(line), by_name=False))
    assert ours == theirs


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
