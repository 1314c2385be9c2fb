"""stdio without worker threads.

The SDK's stdio transport wraps stdin and stdout with `anyio.wrap_file`, which sends every line
read, every write and every flush through a worker thread: three thread hops per message, most
of a small call's cost. Here stdin and stdout are asyncio pipes on the event loop instead,
which cut server CPU per claim by about a third (tests/benchmarks/bench_claims.py).

Like the SDK, it keeps stray output off the wire: while serving, fd 1 points at stderr and
fd 0 at the null device, and the wire uses private duplicates.
"""

from __future__ import annotations

import asyncio
import os
import stat
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from mcp.server.stdio import stdio_server

MAX_LINE = 64 * 1024 * 1024  # bytes; a whole plan_import arrives as one line


class _Lines:
    def __init__(self, reader: asyncio.StreamReader) -> None:
        self._reader = reader

    def __aiter__(self) -> _Lines:
        return self

    async def __anext__(self) -> str:
        line = await self._reader.readline()
        if not line:
            raise StopAsyncIteration
        return line.decode("utf-8", "replace")


class _Writer:
    def __init__(self, writer: asyncio.StreamWriter) -> None:
        self._writer = writer

    async def write(self, text: str) -> None:
        self._writer.write(text.encode("utf-8"))

    async def flush(self) -> None:
        await self._writer.drain()


def _is_pipe_like(fd: int) -> bool:
    mode = os.fstat(fd).st_mode
    return stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode) or stat.S_ISCHR(mode)


@asynccontextmanager
async def stdio_streams() -> AsyncIterator[tuple]:
    """Read/write streams for `Server.run`; falls back to the SDK's transport for regular files."""
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
            async with stdio_server(stdin=_Lines(reader), stdout=_Writer(writer)) as streams:
                yield streams
        finally:
            r_transport.close()
            w_transport.close()
    finally:
        os.dup2(saved_in, 0)
        os.dup2(saved_out, 1)
        os.close(saved_in)
        os.close(saved_out)
