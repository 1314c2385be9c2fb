"""Running a server process: open the store once, start the resolver, serve one transport."""

from __future__ import annotations

import contextlib
import dataclasses
import gc
import logging
import socket
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio

from taskloom.changes import ChangeFeed
from taskloom.clock import Clock
from taskloom.config import HTTP_TIMEOUT, Settings, Transport
from taskloom.errors import InvalidInput
from taskloom.resolver import Resolver
from taskloom.server.auth import Authenticator, TokensFile
from taskloom.server.build import TaskloomMCP, build_server
from taskloom.server.stdio import stdio_streams
from taskloom.server.unimportable import unimportable
from taskloom.services.app import Taskloom

# The dashboard (jinja2, markdown-it: ~100 ms to import) and the HTTP hardening (psutil, ~1 MiB
# resident) are imported by the HTTP transports that use them, not by every stdio server an
# agent's client starts.
if TYPE_CHECKING:
    from taskloom.web.broadcast import Broadcaster

log = logging.getLogger(__name__)
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def freeze_startup() -> None:
    """What start-up made (imports, the opened app) lives as long as the process: frozen out of
    the garbage collector's sight, so the full collections a big read triggers do not walk it
    all again. At 10k tasks the dashboard's graph read made one or two such walks, ~100 ms of
    its ~190 (tests/benchmarks/bench_dashboard.py measures both ways)."""
    gc.collect()
    gc.freeze()


@contextlib.contextmanager
def sdk_logging_plain() -> Iterator[None]:
    """MCPServer sets up the root logger with rich's handler when rich can be imported (rich is
    here for `taskloom watch`): ~1.4 MiB resident and ~0.1 s of start-up for a stderr log that
    nobody views in a terminal. Our own handler goes first, so the SDK's `basicConfig` does
    nothing, and rich is unimportable only while the server is built."""
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format=LOG_FORMAT, stream=sys.stderr)
    with unimportable("rich.console", "rich.logging"):
        yield


def authenticator(token: str | None, tokens_file: Path | None) -> Authenticator | None:
    """Bearer auth when a token or a tokens file is given; None means an open (loopback) server."""
    if not token and tokens_file is None:
        return None
    return Authenticator(token, TokensFile(tokens_file) if tokens_file is not None else None)


def check_exposure(host: str, token: str | None, tokens_file: Path | None = None) -> None:
    """No accidental open service: a non-loopback bind needs a token or a tokens file."""
    from taskloom.server.http import is_loopback

    if not is_loopback(host) and not token and tokens_file is None:
        raise InvalidInput(
            f"Refusing to listen on {host} without a token.",
            hint="Pass --token (or TASKLOOM_TOKEN), or --tokens FILE (or TASKLOOM_TOKENS_FILE) made with "
            "`taskloom token new`, to require bearer auth; or bind 127.0.0.1.",
        )


async def serve(
    settings: Settings,
    transport: Transport = "stdio",
    host: str = "127.0.0.1",
    port: int = 8765,
    token: str | None = None,
    clock: Clock | None = None,
    allow_hosts: list[str] | None = None,
    tokens_file: Path | None = None,
    http_timeout: float = HTTP_TIMEOUT,
    allow_origins: list[str] | None = None,
) -> None:
    # Tools need to know whether the caller is on this machine (artifact paths).
    settings = dataclasses.replace(settings, transport=transport)
    sock = None
    auth = None
    origins: list[str] = []
    if transport != "stdio":
        from taskloom.server.http import origin_of

        check_exposure(host, token, tokens_file)
        origins = [origin_of(o) for o in allow_origins or []]
        auth = authenticator(token, tokens_file)
        sock = listen(host, port)
    app = await Taskloom.open(settings, clock)
    try:
        feed = ChangeFeed(app)
        with sdk_logging_plain():
            server = build_server(app, settings.profile, feed)
        resolver = Resolver(app, feed)
        freeze_startup()
        async with anyio.create_task_group() as tg:
            # One change feed per process: push, waiting calls, the resolver and the dashboard's
            # live updates all listen to it.
            tg.start_soon(feed.run, name="taskloom-changes")
            tg.start_soon(resolver.run, name="taskloom-resolver")
            tg.start_soon(server.push.run, name="taskloom-push")
            if transport == "stdio":
                await _serve_stdio(server)
            else:
                from taskloom.web.broadcast import Broadcaster

                broadcaster = Broadcaster(feed)
                tg.start_soon(broadcaster.run, name="taskloom-dashboard")
                await _serve_http(server, transport, sock, host, auth, allow_hosts, origins, http_timeout, broadcaster)
            tg.cancel_scope.cancel()
    finally:
        with anyio.CancelScope(shield=True):
            await app.close()


async def _serve_stdio(server: TaskloomMCP) -> None:
    # MCPServer.run_stdio_async hard-wires the SDK's threaded transport; its low-level server is
    # private, so fall back to the public path if a future SDK renames it (tests cover both).
    lowlevel = getattr(server, "_lowlevel_server", None)
    if lowlevel is None:
        await server.run_stdio_async()
        return
    async with stdio_streams(server.hangups.hang_up) as (read_stream, write_stream):
        await lowlevel.run(read_stream, write_stream, lowlevel.create_initialization_options())


def listen(host: str, port: int) -> socket.socket:
    """Bind before anything else starts, so a taken port is one clear error, not a traceback."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # proto IPPROTO_TCP, not 0: asyncio sets TCP_NODELAY only on accepted sockets whose proto says
    # TCP, and without it Nagle + delayed ACK stall every kept-alive HTTP response by ~40 ms.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise InvalidInput(
            f"Cannot listen on {host}:{port}: {exc.strerror or exc}.",
            hint="Pick another --port, or stop the process using it.",
        ) from None
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


async def _serve_http(
    server: TaskloomMCP,
    transport: Transport,
    sock: socket.socket,
    host: str,
    auth: Authenticator | None,
    allow_hosts: list[str] | None,
    allow_origins: list[str],
    timeout: float,
    broadcaster: Broadcaster,
) -> None:
    from taskloom.server.dispatch import PathDispatch
    from taskloom.server.http import BearerAuth, security_for
    from taskloom.server.request_ids import BadIdGuard
    from taskloom.server.transfer import ArtifactTransfer
    from taskloom.web.app import build_web
    from taskloom.web.guard import WebGuard
    from taskloom.web.sessions import Sessions

    port = sock.getsockname()[1]  # the port bound, which --port 0 leaves to the OS
    security = security_for(host, port, allow_hosts, allow_origins)
    limit = request_body_limit(server.app.settings.artifact_max_bytes)
    if transport == "http":
        asgi = server.streamable_http_app(host=host, transport_security=security, max_request_body_size=limit)
        path = "/mcp"
    else:
        asgi = server.sse_app(host=host, transport_security=security, max_request_body_size=limit)
        path = "/sse"
    asgi = BadIdGuard(asgi, security, limit)
    # Artifacts' bytes as they are, beside MCP, behind the same token (issue 17).
    asgi = ArtifactTransfer(asgi, server.app, security)
    if auth is not None:
        asgi = BearerAuth(asgi, auth)
    app = server.app
    # No default name for the person: the server's default agent is an agent's identity, and an
    # answer from it would look like the agent talking to itself.
    guard = WebGuard(security, auth, Sessions(app.clock))
    web = build_web(app, guard, broadcaster)
    shown = f"[{host}]" if ":" in host else host
    # The first line stays what scripts parse (it ends with the MCP URL); the dashboard gets its own.
    print(f"taskloom serving {transport} on http://{shown}:{port}{path}", file=sys.stderr, flush=True)
    print(f"taskloom dashboard on http://{shown}:{port}/ui/", file=sys.stderr, flush=True)
    await run_uvicorn(PathDispatch(web, asgi), sock, timeout, lifespan="on", on_exit=broadcaster.closing.set)


async def run_uvicorn(
    asgi: Any, sock: socket.socket, timeout: float, *, lifespan: str, on_exit: Callable[[], None]
) -> None:
    import uvicorn

    from taskloom.server.http import KEEP_ALIVE, deadline_protocol, quiet_server

    config = uvicorn.Config(
        asgi,
        log_level="warning",
        lifespan=lifespan,
        http=deadline_protocol(timeout),
        ws="none",  # no WebSocket routes: an upgrade request is just another HTTP request
        timeout_keep_alive=min(KEEP_ALIVE, timeout),  # type: ignore[arg-type]  # call_later takes a float
    )
    # on_exit ends the dashboard's open event streams, which never end by themselves.
    await quiet_server(config, on_exit=on_exit).serve(sockets=[sock])


def request_body_limit(artifact_max_bytes: int) -> int:
    """Bodies larger than this get 413 before they are parsed: room for the largest artifact as
    base64 (4/3 of its size) plus the JSON-RPC envelope, and no more."""
    return artifact_max_bytes * 4 // 3 + 64 * 1024
