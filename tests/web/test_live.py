"""`GET /ui/events` on a real uvicorn server (quiet_server, as `taskloom serve` runs it), read by a
real HTTP client, fed by a real ChangeFeed over a real SQLite file that other connections and a
real `taskloom import` process write to.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path

import anyio
import httpx2
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.routing import Route

from taskloom.changes import ChangeFeed
from taskloom.domain.events import EventKind
from taskloom.models import TaskSpec
from taskloom.server import http
from taskloom.server.http import quiet_server
from taskloom.server.run import listen
from taskloom.services import activity, creation
from taskloom.services.app import Taskloom
from taskloom.services.common import event
from taskloom.web.broadcast import Broadcaster
from taskloom.web.live import RETRY_MS, events_endpoint

TASKLOOM = str(Path(sys.executable).with_name("taskloom"))
BOUND = 10  # seconds: only a bound on a broken test, never a wait for a result


@pytest.fixture(autouse=True)
def quick_ticks(monkeypatch):
    """The server looks at its exit flag once a second unless a signal wakes it; a test ends it
    by setting the flag, so 50 ms ticks keep each test's teardown quick."""
    monkeypatch.setattr(http, "TICK", 0.05)


class Live:
    def __init__(self, base: str, broadcaster: Broadcaster, server: uvicorn.Server) -> None:
        self.base = base
        self.broadcaster = broadcaster
        self.server = server
        self.stopped = anyio.Event()


@asynccontextmanager
async def live(app: Taskloom, **options: float) -> AsyncIterator[Live]:
    """The events endpoint served by quiet_server on a real port, wired as the lead wires it:
    the feed, the broadcaster and the server in one task group, the server's exit hook closing
    the broadcaster."""
    feed = ChangeFeed(app)
    broadcaster = Broadcaster(feed, **{"debounce": 0.01, **options})
    web = Starlette(routes=[Route("/ui/events", events_endpoint(broadcaster))])
    sock = listen("127.0.0.1", 0)
    config = uvicorn.Config(web, log_level="warning", lifespan="off")
    server = quiet_server(config, on_exit=broadcaster.closing.set)
    running = Live(f"http://127.0.0.1:{sock.getsockname()[1]}", broadcaster, server)

    async def serve() -> None:
        await server.serve(sockets=[sock])
        running.stopped.set()

    try:
        async with anyio.create_task_group() as tg:
            tg.start_soon(feed.run)
            tg.start_soon(broadcaster.run)
            tg.start_soon(serve)
            yield running
            server.should_exit = True
            broadcaster.closing.set()
            with anyio.fail_after(BOUND):
                await running.stopped.wait()
            tg.cancel_scope.cancel()
    finally:
        sock.close()


class Stream:
    """One open event stream, read a block (event or comment) at a time."""

    def __init__(self, response: httpx2.Response) -> None:
        self.response = response
        self._lines = response.aiter_lines()

    async def block(self) -> dict[str, str]:
        """The next event's fields, or {"comment": text} for a comment line; {} at the end."""
        found: dict[str, str] = {}
        with anyio.fail_after(BOUND):
            async for line in self._lines:
                if line.startswith(":") and not found:
                    return {"comment": line[1:].strip()}
                if line == "":
                    if found:
                        return found
                    continue
                name, _, value = line.partition(":")
                found[name] = value.removeprefix(" ")
        return found

    async def event(self) -> dict[str, str]:
        """The next event, past any keepalive comments."""
        while "comment" in (got := await self.block()):
            pass
        return got


@asynccontextmanager
async def stream(base: str, query: str, **headers: str) -> AsyncIterator[Stream]:
    """Connect, and return once the stream's first block (retry, newest id) has arrived: from
    then on the page is subscribed, so a change made next is heard."""
    async with (
        httpx2.AsyncClient(base_url=base, timeout=BOUND) as http,
        http.stream("GET", f"/ui/events?{query}", headers=headers) as response,
    ):
        opened = Stream(response)
        assert response.status_code == 200
        first = await opened.block()
        assert first["retry"] == str(RETRY_MS)
        opened.first_id = int(first["id"])
        yield opened


async def newest(app: Taskloom) -> int:
    return await app.read(activity.last_event_id)


async def test_the_stream_opens_with_retry_the_newest_id_and_no_caching(app, other):
    await other.write(creation.create_tasks, [TaskSpec(title="before")])
    async with live(app) as server, stream(server.base, "r=overview") as s:
        assert s.first_id == await newest(app)
        assert s.response.headers["content-type"].startswith("text/event-stream")
        assert s.response.headers["cache-control"] == "no-store"
        assert s.response.headers["x-accel-buffering"] == "no"
        assert "content-length" not in s.response.headers


async def test_a_plan_imported_by_another_process_arrives_as_a_named_event(app, settings, tmp_path):
    # The feed's real pace: patient looks a second apart.
    plan = tmp_path / "plan.yaml"
    plan.write_text("tasks:\n  - {code: A, title: first}\n  - {code: B, title: second, depends_on: [A]}\n")
    async with live(app, debounce=0.25) as server, stream(server.base, "r=runs,overview") as s:
        args = [TASKLOOM, "import", str(plan), "--db", str(settings.db_path), "--project", settings.project]
        done = await anyio.run_process(args, check=False, env={**os.environ})
        assert done.returncode == 0, done.stderr
        got = await s.event()
    assert got == {"id": str(await newest(app)), "event": "overview", "data": "1"}


async def test_a_task_page_hears_its_task_as_event_task(app, other):
    await other.write(creation.create_tasks, [TaskSpec(title="watched")])
    async with live(app) as server, stream(server.base, "r=task&code=T-1") as s:
        await other.write(lambda tx, scope: event(tx, scope, EventKind.NOTE_PROGRESS, "T-1"))
        assert (await s.event())["event"] == "task"


async def test_a_reconnect_with_an_older_last_event_id_gets_all_at_once(app, other):
    async with live(app, keepalive=0.05) as server:
        async with stream(server.base, "r=runs") as s:
            seen = s.first_id
        await other.write(creation.create_tasks, [TaskSpec(title="while away")])  # no runs region
        async with stream(server.base, "r=runs", **{"Last-Event-ID": str(seen)}) as s:
            assert await s.block() == {"id": str(await newest(app)), "event": "all", "data": "1"}
        async with stream(server.base, f"r=runs&since={seen}") as s:  # a page drawn at `seen`
            assert (await s.block())["event"] == "all"
        async with stream(server.base, "r=runs", **{"Last-Event-ID": str(10**9)}) as s:  # another db's
            assert (await s.block())["event"] == "all"
        async with stream(server.base, "r=runs", **{"Last-Event-ID": str(await newest(app))}) as s:
            assert await s.block() == {"comment": "keepalive"}  # up to date: nothing to catch up


async def test_an_idle_stream_sends_keepalive_comments(app):
    async with live(app, keepalive=0.05) as server, stream(server.base, "r=overview") as s:
        assert await s.block() == {"comment": "keepalive"}
        assert await s.block() == {"comment": "keepalive"}


async def test_a_client_that_goes_is_unsubscribed(app):
    async with live(app, keepalive=0.05) as server:
        async with stream(server.base, "r=overview"):
            assert server.broadcaster.listening
        with anyio.fail_after(BOUND):
            while server.broadcaster.listening:  # no event says "the server saw the socket close"
                await anyio.sleep(0.01)


@pytest.mark.parametrize(
    "query, headers",
    [
        ("", {}),
        ("r=overview,bogus", {}),
        ("r=task", {}),
        ("r=overview&code=T-1", {}),
        ("r=task&code=%3Cscript%3E", {}),
        ("r=overview", {"Last-Event-ID": "12; drop"}),
        ("r=overview&since=-1", {}),
        ("r=overview&since=" + "9" * 5000, {}),
        ("r=overview", {"Last-Event-ID": "¹²".encode("latin-1")}),  # superscripts: isdigit, not int
    ],
)
async def test_bad_requests_get_400_with_a_code_and_what_to_do(app, query, headers):
    async with live(app) as server, httpx2.AsyncClient(base_url=server.base, timeout=BOUND) as http:
        response = await http.get(f"/ui/events?{query}", headers=headers)
    assert response.status_code == 400
    body = response.json()
    assert body["error"] == "invalid_input"
    assert body["message"] and body["hint"]
    assert not server.broadcaster.listening


def serve_in_thread(settings, clock, started: threading.Event, stopped: threading.Event, box: dict) -> None:
    """A server on its own thread and loop, as the only way to call its signal handler: uvicorn
    re-raises, at the end, the signals it caught on the main thread (so a test there would get a
    real SIGTERM), and installs no handlers off it."""

    async def main() -> None:
        app = await Taskloom.open(settings, clock)
        try:
            async with live(app) as server:
                box["server"] = server
                started.set()
                await server.stopped.wait()
        finally:
            await app.close()
            stopped.set()

    anyio.run(main)


async def test_an_exit_request_with_three_streams_open_stops_the_server_within_two_seconds(settings, clock):
    started, stopped, box = threading.Event(), threading.Event(), {}
    thread = threading.Thread(
        target=serve_in_thread, args=(settings, clock, started, stopped, box), daemon=True
    )
    thread.start()
    assert await anyio.to_thread.run_sync(started.wait, BOUND)
    server = box["server"]
    async with AsyncExitStack() as streams:
        opened = [await streams.enter_async_context(stream(server.base, "r=overview")) for _ in range(3)]
        asked = time.monotonic()
        server.server.handle_exit(signal.SIGTERM, None)  # what the signal handler calls
        assert await anyio.to_thread.run_sync(stopped.wait, BOUND), "the server did not exit"
        took = time.monotonic() - asked
        for s in opened:
            assert await s.block() == {}  # each stream ended cleanly
    thread.join(BOUND)
    assert took < 2.0, f"the server took {took:.1f} s to exit"


SERVER_SCRIPT = """
import sys
from pathlib import Path

import anyio, uvicorn
from starlette.applications import Starlette
from starlette.routing import Route
from taskloom.changes import ChangeFeed
from taskloom.config import Settings
from taskloom.server.http import quiet_server
from taskloom.server.run import listen
from taskloom.services.app import Taskloom
from taskloom.web.broadcast import Broadcaster
from taskloom.web.live import events_endpoint

async def main():
    app = await Taskloom.open(Settings(db_path=Path(sys.argv[1]), project="test"))
    feed = ChangeFeed(app)
    broadcaster = Broadcaster(feed)
    web = Starlette(routes=[Route("/ui/events", events_endpoint(broadcaster))])
    sock = listen("127.0.0.1", 0)
    server = quiet_server(uvicorn.Config(web, log_level="warning", lifespan="off"), on_exit=broadcaster.closing.set)
    print(sock.getsockname()[1], flush=True)
    async with anyio.create_task_group() as tg:
        tg.start_soon(feed.run)
        tg.start_soon(broadcaster.run)
        await server.serve(sockets=[sock])
        tg.cancel_scope.cancel()
    await app.close()

anyio.run(main)
"""


async def test_a_real_sigterm_with_three_streams_open_ends_the_process_within_two_seconds(tmp_path, db_path):
    script = tmp_path / "live_server.py"
    script.write_text(SERVER_SCRIPT)
    async with await anyio.open_process([sys.executable, str(script), str(db_path)]) as proc:
        try:
            with anyio.fail_after(BOUND):
                port = int((await proc.stdout.receive()).decode().split()[0])
            base = f"http://127.0.0.1:{port}"
            async with AsyncExitStack() as streams:
                opened = [await streams.enter_async_context(stream(base, "r=overview")) for _ in range(3)]
                asked = time.monotonic()
                proc.send_signal(signal.SIGTERM)
                with anyio.fail_after(BOUND):
                    await proc.wait()
                took = time.monotonic() - asked
                for s in opened:
                    assert await s.block() == {}  # each stream ended cleanly
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
    assert took < 2.0, f"the server took {took:.1f} s to exit"
