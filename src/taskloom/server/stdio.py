"""stdio without worker threads.

The SDK's stdio transport wraps stdin and stdout with `anyio.wrap_file`, which sends every line
read, every write and every flush through a worker thread: three thread hops per message, most
of a small call's cost. Here stdin and stdout are asyncio pipes on the event loop instead,
which cut server CPU per claim by about a third (tests/benchmarks/bench_claims.py).

Like the SDK, it keeps stray output off the wire: while serving, fd 1 points at stderr and
fd 0 at the null device, and the wire uses private duplicates.

Each line is parsed once: `_Lines` checks it and hands the message itself to the server, where
the SDK's transport would parse the line it is given a second time (58 ms of a 10k-task plan
import). The streams are the SDK's own (`create_context_streams`, private in SDK 2.3;
tests/server/test_stdio.py covers them), and responses are written as the SDK writes them.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import stat
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import anyio
import anyio.lowlevel
import mcp_types as types
import pydantic_core
from mcp.server.stdio import stdio_server
from mcp.shared._context_streams import create_context_streams
from mcp.shared.message import SessionMessage
from mcp.types import INVALID_REQUEST, PARSE_ERROR

from taskloom.server.request_ids import has_bad_id, invalid_request

MAX_LINE = 64 * 1024 * 1024  # bytes; a whole plan_import arrives as one line
DRAIN_SECONDS = 60.0  # at end of input, how long requests still running may take to be answered


class _Lines:
    """The messages of the input's lines, minus the lines the SDK would drop without a word.

    The SDK logs a line it cannot parse and moves on, so a client whose request was malformed
    waits for an answer forever. Such lines are answered here instead: -32700 for text that is
    not JSON, -32600 (with the request's id when it has one) for JSON that is not a valid
    JSON-RPC message, or for a request whose id is no id (the SDK takes it for a notification:
    see request_ids). Checking costs one more parse of a bad line or a notification: microseconds.
    """

    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        pending: InFlight,
        on_eof: Callable[[], None] = lambda: None,
    ) -> None:
        self._reader = reader
        self._writer = writer
        self._pending = pending
        self._on_eof = on_eof

    def __aiter__(self) -> _Lines:
        return self

    async def __anext__(self) -> types.JSONRPCMessage:
        while True:
            try:
                raw = await self._reader.readuntil(b"\n")
            except asyncio.IncompleteReadError as exc:
                raw = exc.partial  # the input ended: its last line, if it had no newline, or nothing
            except asyncio.LimitOverrunError as exc:
                # readline would raise here and end the server; the rest of the line is dropped instead.
                await _drop_line(self._reader, exc.consumed)
                self._writer.write(_error(None, INVALID_REQUEST, TOO_LONG).encode())
                await self._writer.drain()
                continue
            if not raw:
                # Calls waiting for work end now, claiming nothing: their answer has nowhere to go.
                self._on_eof()
                # The SDK answers requests still running at end of input with "Connection
                # closed", although they go on and commit (a claim would then be held by an agent
                # told it failed). So end the input only once they have been answered.
                await self._pending.drained(DRAIN_SECONDS)
                raise StopAsyncIteration
            line = raw.decode("utf-8", "replace")
            if not line.strip():
                continue
            try:
                # JSON to Python first, then the models: validate_json on the line itself built the
                # params' Python values once per member of the message union it tried, 1.1 s of a
                # 100k-task plan line (21 MB) where this takes 0.65 (tests/server/test_stdio.py
                # holds the two equal on every kind of line).
                parsed = pydantic_core.from_json(line)
                message = types.jsonrpc_message_adapter.validate_python(parsed, by_name=False)
            except ValueError:  # pydantic's ValidationError is one
                answer = rejection(line)
            else:
                if not (isinstance(message, types.JSONRPCNotification) and has_bad_id(parsed)):
                    self._pending.received(message)
                    return message
                answer = json.dumps(invalid_request(), separators=(",", ":")) + "\n"
            if answer is not None:
                self._writer.write(answer.encode())
                await self._writer.drain()


TOO_LONG = f"Invalid request: the line is over the {MAX_LINE // 2**20} MiB a message may take."


async def _drop_line(reader: asyncio.StreamReader, buffered: int) -> None:
    """Read past the end of a line too long for the reader, `buffered` bytes of it read already."""
    while True:
        await reader.readexactly(buffered)
        try:
            await reader.readuntil(b"\n")
            return
        except asyncio.IncompleteReadError:
            return
        except asyncio.LimitOverrunError as exc:
            buffered = exc.consumed


def rejection(line: str) -> str | None:
    """The JSON-RPC error line for a message that does not parse; None for a bad notification."""
    try:
        message = json.loads(line)
    except RecursionError:  # JSON nested past Python's recursion limit: valid, but no request of ours
        return _error(None, INVALID_REQUEST, "Invalid request: nested too deeply.")
    except ValueError:
        return _error(None, PARSE_ERROR, "Parse error: the line is not JSON.")
    request_id = message.get("id") if isinstance(message, dict) else None
    if isinstance(message, dict) and "id" not in message and isinstance(message.get("method"), str):
        return None  # a notification gets no answer, even a malformed one
    if not isinstance(request_id, str | int) or isinstance(request_id, bool):
        request_id = None
    return _error(
        request_id,
        INVALID_REQUEST,
        "Invalid request: not a JSON-RPC 2.0 message (jsonrpc must be \"2.0\", method a string, params an "
        "object, and text valid Unicode).",
    )


def _error(request_id: str | int | None, code: int, message: str) -> str:
    body = {"jsonrpc": "2.0", "id": request_id, "error": {"code": code, "message": message}}
    return json.dumps(body, separators=(",", ":")) + "\n"


class InFlight:
    """The ids of requests read but not yet answered."""

    def __init__(self) -> None:
        self._ids: set[str | int] = set()
        self._empty = asyncio.Event()
        self._empty.set()

    def received(self, message: object) -> None:
        if isinstance(message, types.JSONRPCRequest):
            self._ids.add(message.id)
            self._empty.clear()
        elif isinstance(message, types.JSONRPCNotification) and message.method == "notifications/cancelled":
            # A cancelled request may never be answered.
            self._answered((message.params or {}).get("requestId"))

    def sent(self, line: str) -> None:
        if match := _RESPONSE.match(line):
            self._answered(json.loads(match.group(1)))

    def _answered(self, request_id: object) -> None:
        self._ids.discard(request_id)  # type: ignore[arg-type]
        if not self._ids:
            self._empty.set()

    async def drained(self, timeout: float) -> None:
        try:
            await asyncio.wait_for(self._empty.wait(), timeout)
        except TimeoutError:
            pass  # a request that never ends must not keep the process alive forever


# How the SDK writes a response (model_dump_json keeps field order): only the prefix is read.
_RESPONSE = re.compile(r'^\{"jsonrpc":"2\.0","id":("(?:[^"\\]|\\.)*"|-?\d+),"(?:result|error)"')


class _Writer:
    def __init__(self, writer: asyncio.StreamWriter, pending: InFlight) -> None:
        self._writer = writer
        self._pending = pending

    async def write(self, text: str) -> None:
        self._writer.write(text.encode("utf-8"))
        self._pending.sent(text)

    async def flush(self) -> None:
        await self._writer.drain()


def _is_pipe_like(fd: int) -> bool:
    """What the event loop can watch: pipes, sockets and terminals (epoll refuses /dev/null and files)."""
    mode = os.fstat(fd).st_mode
    return stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode) or (stat.S_ISCHR(mode) and os.isatty(fd))


@asynccontextmanager
async def stdio_streams(on_eof: Callable[[], None] = lambda: None) -> AsyncIterator[tuple]:
    """Read/write streams for `Server.run`; falls back to the SDK's transport for regular files.
    `on_eof` is called when the client's input ends, before requests still running are drained."""
    if not (_is_pipe_like(0) and _is_pipe_like(1)):
        async with stdio_server() as streams:
            yield streams
        return
    loop = asyncio.get_running_loop()
    wire_in, wire_out = os.dup(0), os.dup(1)
    saved_in, saved_out = os.dup(0), os.dup(1)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.dup2(2, 1)
    os.close(devnull)
    try:
        reader = asyncio.StreamReader(limit=MAX_LINE)
        r_transport, _ = await loop.connect_read_pipe(
            lambda: asyncio.StreamReaderProtocol(reader), os.fdopen(wire_in, "rb", buffering=0)
        )
        w_transport, w_protocol = await loop.connect_write_pipe(
            asyncio.streams.FlowControlMixin, os.fdopen(wire_out, "wb", buffering=0)
        )
        writer = asyncio.StreamWriter(w_transport, w_protocol, None, loop)
        try:
            pending = InFlight()
            async with _serve(_Lines(reader, writer, pending, on_eof), _Writer(writer, pending)) as streams:
                yield streams
        finally:
            r_transport.close()
            w_transport.close()
    finally:
        os.dup2(saved_in, 0)
        os.dup2(saved_out, 1)
        os.close(saved_in)
        os.close(saved_out)


@asynccontextmanager
async def _serve(lines: _Lines, out: _Writer) -> AsyncIterator[tuple]:
    """The SDK's stdio_server, fed messages instead of lines."""
    read_in, read_stream = create_context_streams[SessionMessage | Exception](0)
    write_stream, write_out = create_context_streams[SessionMessage](0)

    async def read() -> None:
        try:
            async with read_in:
                async for message in lines:
                    await read_in.send(SessionMessage(message))
        except anyio.ClosedResourceError:
            await anyio.lowlevel.checkpoint()

    async def write() -> None:
        try:
            async with write_out:
                async for sent in write_out:
                    await out.write(sent.message.model_dump_json(by_alias=True, exclude_unset=True) + "\n")
                    await out.flush()
        except anyio.ClosedResourceError:
            await anyio.lowlevel.checkpoint()

    async with anyio.create_task_group() as tg:
        tg.start_soon(read)
        tg.start_soon(write)
        yield read_stream, write_stream
