"""The HTTP server's main loop wakes once a second, yet begins an exit at once when asked.

uvicorn's own loop wakes ten times a second to look at its exit flag; `quiet_server` sleeps on an
event the signal handler sets instead. The tick is stretched here to far beyond the test's bound,
so only that event can end the loop in time.
"""

from __future__ import annotations

import signal
import socket
import threading
import time

import anyio
import uvicorn

from taskloom.server import http

BOUND = 10.0  # seconds: only a bound on a stuck run


async def hello(scope, receive, send):  # the smallest ASGI app: a server to run, nothing more
    if scope["type"] == "http":
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"hi"})


def test_an_exit_request_ends_the_main_loop_without_waiting_for_a_tick(monkeypatch):
    monkeypatch.setattr(http, "TICK", 3600.0)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = http.quiet_server(uvicorn.Config(hello, log_level="warning", lifespan="off"))
    done = threading.Event()

    def serve() -> None:
        # Off the main thread, uvicorn installs no signal handlers of its own (and re-raises
        # none at its end), so the test calls the handler itself, as a signal would.
        anyio.run(server.serve, [sock])
        done.set()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    deadline = time.monotonic() + BOUND
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.01)  # uvicorn offers no event for "started"; a bounded look at its flag
    assert server.started, "the server did not start"

    asked = time.monotonic()
    server.handle_exit(signal.SIGTERM, None)
    assert done.wait(BOUND), "the server did not exit"
    assert time.monotonic() - asked < BOUND / 2
    sock.close()
