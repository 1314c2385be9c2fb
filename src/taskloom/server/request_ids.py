"""Requests whose `id` is no JSON-RPC id: null, an object, an array, a fraction or a boolean.

MCP ids are strings or integers (JSON-RPC 2.0 allows null only in an error that could not read
the id). The SDK's message model ignores keys it does not know, so it reads such a request as a
notification and never answers it: a stdio client waits forever, and over the handshake-era
HTTP transports (streamable HTTP and the SSE transport's POST /messages/) the caller gets a 202.
JSON-RPC's answer is an Invalid Request error (-32600) with id null; the stdio reader and the
HTTP guard below give it, and the SDK sees nothing. (The 2026-era HTTP entry already does.)
"""

from __future__ import annotations

import json
from typing import Any

import pydantic_core
from mcp.server.transport_security import TransportSecurityMiddleware, TransportSecuritySettings
from mcp.types import INVALID_REQUEST
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

BAD_ID_MESSAGE = (
    "Invalid Request: the id must be a string or an integer (null, objects, arrays, fractions and "
    "booleans are not ids); nothing was done."
)


def has_bad_id(message: Any) -> bool:
    """A request (it names a method) carrying an `id` that is not a string or an integer.

    Responses are left alone: a client may answer a server request it could not read with an
    error whose id is null, and a response is never answered.
    """
    if not (isinstance(message, dict) and "id" in message and "method" in message):
        return False
    request_id = message["id"]
    return isinstance(request_id, bool) or not isinstance(request_id, str | int)


def invalid_request() -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": None, "error": {"code": INVALID_REQUEST, "message": BAD_ID_MESSAGE}}


class BadIdGuard:
    """Answers a POSTed request with a bad id with 400 and the Invalid Request error.

    It reads the body before the app does (the SDK buffers it whole anyway) and hands it on
    untouched otherwise. A body past `limit` is passed on unread, for the app's own 413. The
    Host/Origin checks the SDK would have made come first, so a refused origin still gets its
    403, whatever its body.
    """

    def __init__(self, app: ASGIApp, security: TransportSecuritySettings, limit: int) -> None:
        self.app = app
        self._security = TransportSecurityMiddleware(security)
        self._limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST" or _declared(scope) > self._limit:
            # A body declared too long is the app's to refuse (413) before it arrives: reading it
            # here first would keep the client waiting for an answer to a body it never sends.
            await self.app(scope, receive, send)
            return
        read: list[Message] = []
        size, whole = 0, False
        while size <= self._limit:
            message = await receive()
            read.append(message)
            if message["type"] != "http.request":
                break  # the client went away: let the app see it
            size += len(message.get("body", b""))
            if not message.get("more_body", False):
                whole = True
                break
        if whole and size <= self._limit and _bad(b"".join(m.get("body", b"") for m in read)):
            refused = await self._security.validate_request(Request(scope), is_post=True)
            if refused is not None:
                await refused(scope, receive, send)
                return
            await _send_json(send, 400, invalid_request())
            return

        async def replay() -> Message:
            return read.pop(0) if read else await receive()

        await self.app(scope, replay, send)


def _declared(scope: Scope) -> int:
    """The Content-Length the client declared (0 if none or unreadable: chunked bodies are counted as read)."""
    for name, value in scope.get("headers") or []:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return 0
    return 0


def _bad(body: bytes) -> bool:
    try:
        return has_bad_id(pydantic_core.from_json(body))
    except ValueError:
        return False  # not JSON: the app's parse error


async def _send_json(send: Send, status: int, content: dict[str, Any]) -> None:
    body = json.dumps(content, separators=(",", ":")).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
