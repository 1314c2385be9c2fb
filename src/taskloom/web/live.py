"""`GET /ui/events`: the Server-Sent Events stream that tells an open page what to fetch again.

    GET /ui/events?r=overview,decisions,activity      (a task page: ?r=task&code=T-1)

    retry: 3000
    id: 8123                  the newest event id, so a reconnect says where it left off

    id: 8125
    event: decisions          one of the regions asked for, `task`, or `all`
    data: 1

    : keepalive               every `keepalive` seconds while nothing happens

A reconnect whose `Last-Event-ID` (or `?since=`, for a page that knows the id it was drawn at)
is not the newest event's gets one `event: all` at once: signals are not data, so there is
nothing to replay, only "fetch everything again". The stream ends when the client goes or the
broadcaster is closing (server shutdown), so it never holds a server open.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable

import anyio
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import Receive, Scope, Send

from taskloom.errors import InvalidInput
from taskloom.web.broadcast import ALL, REGIONS, TASK, Broadcaster

RETRY_MS = 3000  # the EventSource reconnect delay the stream announces
CODE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,63}")  # as models.work.Code allows
HEADERS = {
    "cache-control": "no-store",
    "x-accel-buffering": "no",  # nginx and its kin would otherwise hold the stream in a buffer
}


def events_endpoint(
    broadcaster: Broadcaster, allowed: Callable[[Request], bool] | None = None
) -> Callable[[Request], Awaitable[Response]]:
    """The Starlette endpoint for `GET /ui/events`. `allowed(request)` is who may listen: asked
    when the stream opens (401 if not) and again at each signal or keepalive (the stream ends)."""

    async def events(request: Request) -> Response:
        if allowed is not None and not allowed(request):
            return Response(status_code=401)
        try:
            regions, code, last = parse(request)
        except InvalidInput as exc:
            return JSONResponse(
                {"error": exc.code, "message": exc.message, "hint": exc.hint}, status_code=400
            )
        still = (lambda: allowed(request)) if allowed is not None else (lambda: True)
        return EventStream(broadcaster, regions, code, last, still)

    return events


def parse(request: Request) -> tuple[frozenset[str], str | None, int | None]:
    asked = frozenset(r.strip() for r in request.query_params.get("r", "").split(",") if r.strip())
    if not asked or asked - REGIONS:
        raise InvalidInput(
            f"Unknown or missing regions in r={request.query_params.get('r', '')!r}.",
            hint=f"Name regions separated by commas, from: {', '.join(sorted(REGIONS))}.",
        )
    code = request.query_params.get("code")
    if (TASK in asked) != (code is not None) or (code is not None and not CODE.fullmatch(code)):
        raise InvalidInput(
            "A task page's stream needs r=task with code=<task code>, and only then a code.",
            hint="For example /ui/events?r=task&code=T-12.",
        )
    last = request.headers.get("last-event-id") or request.query_params.get("since")
    if last is not None and not (last.isascii() and last.isdigit() and len(last) <= 19):  # an SQLite integer
        raise InvalidInput(
            f"Last-Event-ID (or since) {last[:40]!r} is not an event id.",
            hint="Send the id of the last event this stream sent, or none.",
        )
    return asked, code, None if last is None else int(last)


def message(region: str, event_id: int) -> bytes:
    return f"id: {event_id}\nevent: {region}\ndata: 1\n\n".encode()


class EventStream(Response):
    """The SSE response. Hand-rolled rather than StreamingResponse so the subscription is held by
    `async with` around the whole response, and is dropped the moment the client goes."""

    media_type = "text/event-stream"

    def __init__(
        self,
        broadcaster: Broadcaster,
        regions: frozenset[str],
        code: str | None,
        last: int | None,
        still: Callable[[], bool] = lambda: True,
    ):
        # Not Response.__init__: with no body it would announce content-length: 0.
        self.status_code = 200
        self.background = None
        self.init_headers(HEADERS)
        self.broadcaster = broadcaster
        self.regions = regions
        self.code = code
        self.last = last
        self.still = still

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        b = self.broadcaster
        async with b.subscribe(self.regions, self.code) as sub, anyio.create_task_group() as tg:
            tg.start_soon(self._until_gone, receive, tg.cancel_scope)
            try:
                await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers})
                await self._send(send, f"retry: {RETRY_MS}\nid: {b.newest}\n\n".encode())
                # An id from the future is another database's (or a reset one's): catch up too.
                if self.last is not None and self.last != b.newest:
                    await self._send(send, message(ALL, b.newest))
                while not sub.closed:
                    signal = await sub.next(b.keepalive)
                    if not self.still():
                        break
                    if signal is not None:
                        await self._send(send, message(*signal))
                    elif not sub.closed:
                        await self._send(send, b": keepalive\n\n")
                await send({"type": "http.response.body", "body": b"", "more_body": False})
            except OSError:
                pass  # the client went while we wrote (ASGI 2.4 servers say so this way)
            tg.cancel_scope.cancel()

    @staticmethod
    async def _send(send: Send, body: bytes) -> None:
        await send({"type": "http.response.body", "body": body, "more_body": True})

    @staticmethod
    async def _until_gone(receive: Receive, scope: anyio.CancelScope) -> None:
        while (await receive())["type"] != "http.disconnect":
            pass
        scope.cancel()
