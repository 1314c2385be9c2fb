"""Slow clients (slowloris) are cut off after the HTTP timeout and never hold up anyone else.

A real `taskloom serve --transport http` with TASKLOOM_HTTP_TIMEOUT=1.5, and raw asyncio sockets
playing the attackers: one that connects and says nothing, one that dribbles its request head a
byte at a time, one that sends a head and then dribbles the body. uvicorn alone would keep all
three open for ever; taskloom answers 408 and closes each at the timeout. Idle kept-alive
connections are closed too, while a long-lived event stream is left alone. These tests wait for
real time to pass because the passing of time is what they check; margins are wide for a shared
machine.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import time
from collections.abc import Iterator

import httpx2
import pytest

from taskloom.server.run import request_body_limit
from tests.security.common import JSON_IN, rows
from tests.server.test_http_security import initialize, modern_call
from tests.server.test_transports import _next_event, serving, sse_endpoint

TIMEOUT = 1.5  # seconds, TASKLOOM_HTTP_TIMEOUT for these servers
LATE = 10.0  # seconds: a cut-off this late means the deadline did not work (generous for a loaded machine)
DRIP_EVERY = 0.1  # seconds between a slow client's bytes
MAX_ARTIFACT = 3000
BODY_LIMIT = request_body_limit(MAX_ARTIFACT)


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[tuple[str, int, object]]:
    tmp = tmp_path_factory.mktemp("slow")
    db = tmp / "t.db"
    env = {"TASKLOOM_HTTP_TIMEOUT": str(TIMEOUT), "TASKLOOM_ARTIFACT_MAX_BYTES": str(MAX_ARTIFACT)}
    with serving(tmp, "http", db, env=env) as (url, _, _):
        yield url, httpx2.URL(url).port, db


def head(port: int, method: str = "POST", path: str = "/mcp", length: int | None = None) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", f"host: 127.0.0.1:{port}", "content-type: application/json"]
    lines += ["accept: application/json, text/event-stream"]
    if length is not None:
        lines.append(f"content-length: {length}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


async def read_until_closed(reader: asyncio.StreamReader, got: bytearray) -> None:
    with contextlib.suppress(ConnectionError):
        while chunk := await reader.read(65536):
            got += chunk


async def slow_client(port: int, first: bytes, drip: bytes) -> tuple[float, bytes]:
    """Send `first`, then `drip` a byte every DRIP_EVERY seconds; return (seconds until the server
    closed the connection, everything it sent)."""
    started = time.monotonic()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    got = bytearray()

    async def dribble() -> None:
        with contextlib.suppress(ConnectionError):
            writer.write(first)
            for byte in drip:
                if got:  # answered: stop, so no write races the server's close
                    return
                await writer.drain()
                await asyncio.sleep(DRIP_EVERY)
                writer.write(bytes([byte]))

    sender = asyncio.create_task(dribble())
    try:
        await asyncio.wait_for(read_until_closed(reader, got), LATE + 5)
        return time.monotonic() - started, bytes(got)
    finally:
        sender.cancel()
        writer.close()


def assert_cut_off(elapsed: float, answer: bytes) -> None:
    assert answer.startswith(b"HTTP/1.1 408 "), answer[:200]
    assert b'"error": "timeout"' in answer and b"connection: close" in answer.lower()
    assert TIMEOUT * 0.8 <= elapsed < LATE, elapsed


async def test_silent_dribbling_and_stalled_clients_get_408_at_the_timeout_while_others_are_served(server):
    url, port, db = server
    create = json.dumps(modern_call("task_create", {"tasks": [{"title": "dribbled"}]})[1]).encode()
    attackers = (
        [
            slow_client(port, b"", b""),  # connects, says nothing
            slow_client(port, b"P", head(port)[1:]),  # the head a byte at a time
            slow_client(port, head(port, length=len(create)), create),  # the body a byte at a time
        ]
        * 8
    )
    attack = asyncio.gather(*attackers)

    # Meanwhile an honest client is served promptly, over and over, before any attacker is dropped.
    headers, body = modern_call("project_status", {})
    async with httpx2.AsyncClient(timeout=10) as http:
        for _ in range(5):
            response = await http.post(url, headers=headers, json=body)
            assert response.status_code == 200, response.text
    assert not attack.done(), "the honest calls should not have had to wait for the slow clients"

    for elapsed, answer in await attack:
        assert_cut_off(elapsed, answer)
    assert rows(db, "SELECT count(*) FROM tasks WHERE title = 'dribbled'") == [(0,)]


def response_end(data: bytes) -> int | None:
    """Where the first complete HTTP response in `data` ends (it must carry content-length)."""
    end = data.find(b"\r\n\r\n")
    if end < 0:
        return None
    length = int(re.search(rb"(?i)content-length: *(\d+)", data[:end]).group(1))
    return end + 4 + length if len(data) >= end + 4 + length else None


async def after_one_answer(port: int, then: str) -> tuple[float, bytes]:
    """Get one answer on a kept-alive connection, then do `then`; return (seconds until the server
    closed the connection, what it sent after the first answer)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    early = then.endswith("early answer")
    try:
        # A body declared too long is answered (413) before it is read; the client sends it anyway.
        writer.write(head(port, length=BODY_LIMIT + 1) if early else head(port, "GET", "/nowhere"))
        got = bytearray()
        while response_end(got) is None:
            got += await asyncio.wait_for(reader.read(65536), LATE)
        assert got.startswith(b"HTTP/1.1 413 " if early else b"HTTP/1.1 404 "), got
        assert b"connection: close" not in got.lower()
        rest = got[response_end(got) :]
        started = time.monotonic()
        if then == "idle after an early answer":
            writer.write(b" " * (BODY_LIMIT + 1))
        elif then == "dribble after an early answer":
            writer.write(b" " * 100)  # and no more: uvicorn alone would wait for the rest for ever
        elif then == "stall":
            # The next request starts, then stops: uvicorn alone disarms its keep-alive timer here.
            writer.write(head(port)[:20])
        await asyncio.wait_for(read_until_closed(reader, rest), LATE)
        return time.monotonic() - started, bytes(rest)
    finally:
        writer.close()


async def test_kept_alive_connections_left_idle_or_stalled_mid_request_are_closed(server):
    _, port, _ = server
    cases = ["idle", "stall", "idle after an early answer", "dribble after an early answer"]
    outcomes = dict(zip(cases, await asyncio.gather(*(after_one_answer(port, c) for c in cases)), strict=True))
    assert_cut_off(*outcomes.pop("stall"))
    for case, (elapsed, rest) in outcomes.items():
        # Closed without a word: the request was already answered, or none was begun.
        assert rest == b"" and elapsed < LATE, (case, elapsed, rest)


async def test_a_long_lived_event_stream_outlasts_the_timeout(tmp_path):
    with serving(tmp_path, "sse", tmp_path / "t.db", env={"TASKLOOM_HTTP_TIMEOUT": str(TIMEOUT)}) as (url, _, _):
        base = url.removesuffix("/sse")
        async with (
            httpx2.AsyncClient(base_url=base, timeout=10) as http,
            sse_endpoint(http) as (endpoint, lines),
        ):
            await asyncio.sleep(TIMEOUT * 1.5)  # the time passing is the point: the stream must survive it
            response = await http.post(endpoint, headers=JSON_IN, json=initialize())
            assert response.status_code == 202, response.text
            event, data = await _next_event(lines)
            assert event == "message" and json.loads(data)["result"]["serverInfo"]["name"] == "taskloom"
