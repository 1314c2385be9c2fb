"""HTTP hardening shared by the SSE and streamable HTTP transports."""

from __future__ import annotations

import asyncio
import ipaddress
import json
import socket
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import psutil
from mcp.server.auth.middleware.bearer_auth import AuthenticatedUser
from mcp.server.auth.provider import AccessToken
from mcp.server.transport_security import TransportSecuritySettings
from starlette.types import ASGIApp, Receive, Scope, Send

from taskloom.errors import InvalidInput
from taskloom.server.auth import PRINCIPAL_SCOPE_KEY, Authenticator, Principal, digest

LOOPBACK_NAMES = {"localhost", "127.0.0.1", "::1"}


def is_loopback(host: str) -> bool:
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


WILDCARDS = {"0.0.0.0", "::", ""}


def machine_names() -> list[str]:
    """This machine's host names and interface addresses: what clients use to reach a wildcard bind."""
    found = {socket.gethostname(), socket.getfqdn()}
    for addrs in psutil.net_if_addrs().values():
        found |= {a.address.split("%")[0] for a in addrs if a.family in (socket.AF_INET, socket.AF_INET6)}
    return sorted(found)


def security_for(
    host: str, port: int, extra_hosts: list[str] | None = None, allow_origins: list[str] | None = None
) -> TransportSecuritySettings:
    """DNS-rebinding and cross-site protection.

    Host: only names that really are this server pass, on any port. Origin (sent by browsers): only
    this server's own origin, http on the port actually bound, or one named by --allow-origin
    (normalised by `origin_of`). Another port on localhost is another site: a page served there
    must not drive a loopback server that asks for no token. Requests without an Origin (CLI and
    SDK clients) are not browsers' and pass.
    """
    names = ["127.0.0.1", "localhost", "[::1]"]
    bound = machine_names() if host in WILDCARDS else ([] if is_loopback(host) else [host])
    for name in [*bound, *(extra_hosts or [])]:
        names.append(f"[{name}]" if ":" in name and not name.startswith("[") else name)
    own = [f"http://{n}:{port}" for n in names] + ([f"http://{n}" for n in names] if port == 80 else [])
    return TransportSecuritySettings(
        enable_dns_rebinding_protection=True,
        allowed_hosts=[f"{n}:*" for n in names] + names,
        allowed_origins=own + list(allow_origins or []),
    )


DEFAULT_PORTS = {"http": 80, "https": 443}


def origin_of(text: str) -> str:
    """An --allow-origin value as a browser sends it: `scheme://host[:port]`, in lower case, without
    a default port. Anything else (a path, a wildcard, no scheme) is refused rather than guessed at."""
    parts = urlsplit(text.strip())
    try:
        port = parts.port
    except ValueError:
        port = -1
    if (
        parts.scheme.lower() not in DEFAULT_PORTS
        or not parts.hostname
        or port == -1
        or parts.path not in ("", "/")
        or parts.query
        or parts.fragment
        or "@" in parts.netloc
    ):
        raise InvalidInput(
            f"--allow-origin {text!r} is not a web origin.",
            hint="Write it as browsers send it, scheme://host[:port] with no path or wildcard, "
            "e.g. http://localhost:6274.",
        )
    scheme, host = parts.scheme.lower(), parts.hostname
    shown = f"[{host}]" if ":" in host else host
    return f"{scheme}://{shown}" + (f":{port}" if port is not None and port != DEFAULT_PORTS[scheme] else "")


class BearerAuth:
    """Require `Authorization: Bearer <token>` on every HTTP request (see taskloom.server.auth).

    An accepted token leaves its Principal (its agent, if bound, and whether it may only read) in
    the scope (PRINCIPAL_SCOPE_KEY), where the tool layer finds it through the Starlette request.
    Every refusal is the same 401 body, whether the token was missing, unknown or expired, so a
    caller learns nothing about which tokens exist.

    The token also becomes the request's `user` (see `principal`): the SDK binds each
    streamable HTTP and SSE session to the user that opened it, and answers anyone else exactly
    as it answers an unknown session id (404), forgetting the binding when the session ends.
    """

    def __init__(self, app: ASGIApp, auth: Authenticator | str) -> None:
        self.app = app
        self._auth = Authenticator(auth, None) if isinstance(auth, str) else auth

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        header = dict(scope.get("headers") or []).get(b"authorization", b"")
        scheme, _, given = header.partition(b" ")
        who = self._auth.agent_for(given.strip()) if scheme.lower() == b"bearer" and given.strip() else None
        if who is not None:
            scope[PRINCIPAL_SCOPE_KEY] = who
            scope["user"] = principal(given.strip(), who)
            await self.app(scope, receive, send)
            return
        await send_json(send, 401, UNAUTHORIZED, [(b"www-authenticate", b'Bearer realm="taskloom"')])


def principal(token: bytes, who: Principal) -> AuthenticatedUser:
    """Who a token is, for session ownership: its SHA-256 (the raw token is kept nowhere) and its agent.

    Every holder of one token is one principal: all callers of the shared `--token` (or of one
    unbound tokens-file entry) can use each other's sessions, as they can already act as any agent.
    """
    sha = digest(token).hex()
    return AuthenticatedUser(AccessToken(token=sha, client_id=sha, scopes=[], subject=who.agent))


UNAUTHORIZED = {"error": "unauthorized", "message": "Send Authorization: Bearer <token>."}


async def send_json(send: Send, status: int, content: dict[str, str], extra: list[tuple[bytes, bytes]]) -> None:
    body = json.dumps(content).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()), *extra]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


MIN_BODY_RATE = 16 * 1024  # bytes/s: each 16 KiB received buys a request body one more second
KEEP_ALIVE = 5.0  # seconds an idle kept-alive connection stays open (uvicorn's default)
_TIMEOUT_BODY = json.dumps({"error": "timeout", "message": "The request did not arrive in time."}).encode()
TIMEOUT_RESPONSE = (
    b"HTTP/1.1 408 Request Timeout\r\ncontent-type: application/json\r\nconnection: close\r\n"
    b"content-length: %d\r\n\r\n%s" % (len(_TIMEOUT_BODY), _TIMEOUT_BODY)
)


def deadline_protocol(timeout: float) -> type[asyncio.Protocol]:
    """uvicorn's h11 protocol with read deadlines, against slow clients (slowloris).

    uvicorn times only idle kept-alive connections, from the end of a response until the first
    byte of the next request. A client that connects and sends nothing, or dribbles its headers
    or body, would hold its connection (and a file descriptor) forever. Here a request's head must
    arrive within `timeout` seconds of the connection opening or of the request's first byte, and
    its body within `timeout` plus one second per MIN_BODY_RATE bytes; otherwise the client gets
    408 (unless an answer has begun) and the connection is closed. Nothing is timed while the app
    works or streams its answer (an SSE stream lasts as long as it likes).
    """
    import h11
    from uvicorn.protocols.http.h11_impl import H11Protocol

    class DeadlineH11Protocol(H11Protocol):
        _deadline: asyncio.TimerHandle | None = None
        _started = 0.0
        _received = 0

        def connection_made(self, transport: Any) -> None:
            super().connection_made(transport)
            self._start()

        def data_received(self, data: bytes) -> None:
            if self._deadline is None and self.conn.their_state is h11.IDLE:
                self._start()  # the first byte of the next request on a kept-alive connection
            self._received += len(data)
            super().data_received(data)
            state = self.conn.their_state
            if self.transport.is_closing():
                self._stop()
            elif state is h11.SEND_BODY or (state is h11.IDLE and self.conn.trailing_data[0]):
                self._arm()  # a request is part-way in
            elif state is h11.IDLE:
                # The rest of a body answered early (401, 413) arrived and uvicorn started the next
                # cycle without re-arming its keep-alive timer: the connection is idle, so arm it.
                self._stop()
                self._unset_keepalive_if_required()
                self.timeout_keep_alive_task = self.loop.call_later(
                    self.timeout_keep_alive, self.timeout_keep_alive_handler
                )
            else:
                self._stop()  # the request is in: the app's turn, however long it takes

        def connection_lost(self, exc: Exception | None) -> None:
            self._stop()
            super().connection_lost(exc)

        def _start(self) -> None:
            self._started = self.loop.time()
            self._received = 0
            self._arm()

        def _arm(self) -> None:
            self._stop()
            at = self._started + timeout + self._received / MIN_BODY_RATE
            self._deadline = self.loop.call_at(at, self._expired)

        def _stop(self) -> None:
            if self._deadline is not None:
                self._deadline.cancel()
                self._deadline = None

        def _expired(self) -> None:
            self._deadline = None
            if self.transport.is_closing():
                return
            if self.flow.read_paused:
                self._start()  # we stopped reading (the app is behind): not the client's delay
                return
            # Answer 408 unless this request already has an answer (a 401 or 413 sent before its body).
            in_head = self.conn.their_state is h11.IDLE
            if in_head or self.cycle is None or not self.cycle.response_started:
                self.transport.write(TIMEOUT_RESPONSE)
            self.transport.close()

    return DeadlineH11Protocol


TICK = 1.0  # seconds between the uvicorn server's looks at its exit flag and Date header
# Seconds uvicorn waits at shutdown for responses still running before it cancels them: a
# backstop for streams that do not end when asked (the dashboard's end on `on_exit`).
GRACEFUL_SHUTDOWN = 3.0


def quiet_server(config: Any, on_exit: Callable[[], None] | None = None) -> Any:
    """A uvicorn server whose main loop wakes once a second, not ten times.

    uvicorn's loop sleeps 0.1 s between looks at its exit flag (and a once-a-second Date
    refresh): in an idle taskloom server those ten wake-ups were a third of the CPU spent. Here
    the loop wakes on the signal itself: the handler (a plain `signal.signal` handler, run
    between bytecodes on the main thread) pokes the loop through its self-pipe, so an exit
    still begins at once.

    uvicorn waits for running responses before it exits, and a stream (the dashboard's SSE)
    never ends by itself: `on_exit` is called on the server's loop when an exit is asked for,
    so streams can end then (the dashboard passes `broadcaster.closing.set`). Whatever still
    runs GRACEFUL_SHUTDOWN seconds later is cancelled, unless the config says otherwise.
    """
    import uvicorn

    if config.timeout_graceful_shutdown is None:
        config.timeout_graceful_shutdown = GRACEFUL_SHUTDOWN

    class QuietServer(uvicorn.Server):
        _loop: asyncio.AbstractEventLoop | None = None
        _exit: asyncio.Event | None = None

        def handle_exit(self, sig: int, frame: Any) -> None:
            super().handle_exit(sig, frame)
            if self._loop is not None and self._exit is not None:
                self._loop.call_soon_threadsafe(self._exit.set)
                if on_exit is not None:
                    # On the loop, not here: a signal handler interrupts the loop mid-step.
                    self._loop.call_soon_threadsafe(on_exit)

        async def serve(self, sockets: list[socket.socket] | None = None) -> None:
            # Known from the start, so an exit asked for during startup still reaches on_exit.
            self._loop, self._exit = asyncio.get_running_loop(), asyncio.Event()
            await super().serve(sockets)

        async def main_loop(self) -> None:
            assert self._exit is not None
            counter = 0  # on_tick refreshes the Date header when counter % 10 == 0: every tick here
            while not await self.on_tick(counter):
                counter = (counter + 10) % 864_000
                try:
                    await asyncio.wait_for(self._exit.wait(), TICK)
                except TimeoutError:
                    pass

    return QuietServer(config)
