"""Artifacts' bytes over plain HTTP, beside MCP: `GET`/`HEAD`/`PUT /artifacts/{sha256}`.

Base64 inside JSON-RPC costs a 10 MiB artifact thousands of times a disk read, almost all of it
the SDK's JSON. These routes move the bytes as they are. They sit behind the same BearerAuth as
/mcp and /sse and follow the artifact tools' rules: any token reads the project's artifacts (and
only this server's project's: another project's sha256 is `not_found`, even if its bytes are on
disk), a read-only token may not upload, an agent-bound token uploads as its agent only. The
Host and Origin checks are the MCP endpoints' own.

- GET answers with the file (ranges included); text as text/plain and images as themselves,
  both inline with nosniff and a sandbox CSP, and every other type (HTML, SVG...) as an
  octet-stream attachment, exactly as the dashboard serves them. The artifact's own media type
  is in `x-taskloom-media-type`.
- PUT /artifacts/{sha256}?name=N[&link=task:T-1...][&media_type=T][&description=D][&agent=A]
  streams the body into the blob store (services/transfers.py): a wrong hash or size, a limit
  or quota passed, a dropped connection, and nothing is stored. The answer is the artifact, as
  artifacts_upload returns it: 201 when new, 200 when the project held these bytes already
  (then the body is not read).
- Every refusal is a JSON body with the error's stable code (errors.py), message and hint.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import parse_qs, quote, urlencode

import anyio
from mcp.server.transport_security import TransportSecurityMiddleware, TransportSecuritySettings
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import FileResponse, MalformedRangeHeader, RangeNotSatisfiable, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from taskloom.errors import Forbidden, InvalidInput, NotFound, ReadOnly, TaskloomError, TooLarge
from taskloom.server.auth import scope_principal
from taskloom.services import transfers
from taskloom.services.agents import check_agent_name
from taskloom.services.app import Taskloom
from taskloom.store.blobs import CHUNK

PREFIX = "/artifacts"
_ONE = re.compile(r"/artifacts/([0-9a-f]{64})")  # fullmatch: `$` would let a trailing newline by
STATUS = {"not_found": 404, "invalid_input": 400, "too_large": 413, "read_only": 403, "conflict": 409, "busy": 503}
ALLOW = "GET, HEAD, PUT"
# A request's head must fit uvicorn's 16 KiB: the URL carries the description, percent-encoded.
URL_MAX = 8192
_UNUSED = ("upload_url", "message")  # left out of a PUT answer when empty


def download_url(base: str, sha: str) -> str:
    """Where to GET an artifact's bytes, on the server at `base` (e.g. http://127.0.0.1:8765/)."""
    return f"{base.rstrip('/')}{PREFIX}/{sha}"


def upload_url(base: str, declared: transfers.Declared) -> str:
    """Where to PUT the bytes of a checked declaration (transfers.check), which the URL carries."""
    query = [("name", declared.name)] + [("link", link) for link in declared.links]
    for key, value in (("media_type", declared.media_type), ("description", declared.description),
                       ("agent", declared.agent)):
        if value:
            query.append((key, value))
    url = f"{download_url(base, declared.sha256)}?{urlencode(query, quote_via=quote)}"
    if len(url) > URL_MAX:
        raise TooLarge(f"The upload URL would be {len(url)} characters long; at most {URL_MAX} are served.",
                       hint="Shorten the description (it travels in the URL). Nothing was stored.")
    return url


class _Gone(Exception):
    """The client went away before its body was whole."""


class BlobFile(FileResponse):
    """A blob's file, with our answers to a Range header instead of Starlette's plain-text ones."""

    chunk_size = CHUNK  # 64 KiB steps cost a thread hop each: 160 for 10 MiB

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        wanted = Headers(scope=scope).get("range")
        if wanted is not None and self.stat_result is not None:
            size = self.stat_result.st_size
            try:
                self._parse_range_header(wanted, size)
            except MalformedRangeHeader:
                # RFC 9110 §14.2: a server MAY ignore a Range it cannot parse; the whole file is
                # a better answer for a downloader than a 400 it may not retry without.
                headers = [(k, v) for k, v in scope.get("headers", []) if k.lower() != b"range"]
                scope = {**scope, "headers": headers}
            except RangeNotSatisfiable:
                refusal = error_response(
                    InvalidInput(f"The range starts past the artifact's end: it holds {size} bytes.",
                                 hint=f"Ask for bytes=0-{max(size - 1, 0)} or less, or leave Range out."),
                    416, {"content-range": f"bytes */{size}"},
                )
                await refusal(scope, receive, send)
                return
        await super().__call__(scope, receive, send)


class ArtifactTransfer:
    """Serves /artifacts/...; hands every other request to `app` (the MCP endpoints)."""

    def __init__(self, app: ASGIApp, taskloom: Taskloom, security: TransportSecuritySettings) -> None:
        self.app = app
        self.taskloom = taskloom
        self._security = TransportSecurityMiddleware(security)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "") if scope["type"] == "http" else ""
        if path != PREFIX and not path.startswith(PREFIX + "/"):
            await self.app(scope, receive, send)
            return
        refused = await self._security.validate_request(Request(scope), is_post=False)
        if refused is not None:
            # The SDK's check, shared with /mcp (whose plain-text answers stay the SDK's); here
            # its refusal is worded as ours, with the same status.
            reason = bytes(refused.body).decode("utf-8", "replace")
            await error_response(
                Forbidden(f"{reason}: this server does not answer for it.",
                          hint="Reach the server by the host it serves (e.g. 127.0.0.1:PORT), from an allowed origin."),
                refused.status_code,
            )(scope, receive, send)
            return
        try:
            response = await self._answer(scope, receive, path)
        except _Gone:
            return  # nobody to answer; the upload left nothing behind
        except TaskloomError as exc:
            response = error_response(exc)
        await response(scope, receive, send)

    async def _answer(self, scope: Scope, receive: Receive, path: str) -> Response:
        found = _ONE.fullmatch(path)
        if found is None:
            raise NotFound(
                "No artifact at this address.",
                hint="Use /artifacts/<sha256> with the 64 lowercase hex digits artifacts_list shows.",
            )
        sha, method = found.group(1), scope["method"]
        if method in ("GET", "HEAD"):
            return await self._download(sha, head=method == "HEAD")
        if method == "PUT":
            return await self._upload(scope, receive, sha)
        return error_response(
            InvalidInput(f"{method} is not served here.", hint="GET (or HEAD) to download, PUT to upload."),
            405, {"allow": ALLOW},
        )

    async def _download(self, sha: str, *, head: bool) -> Response:
        # The dashboard's rules, so the two never disagree on what a browser may render. Imported
        # here: the tools import this module for its URLs, and a stdio server must not load the web.
        from taskloom.web.routes.artifacts import BYTES_HEADERS, disposition, kind

        if head:  # from the metadata: on PostgreSQL, fetching the bytes would fill the local cache
            meta, path = await transfers.describe(self.taskloom, sha), None
        else:
            meta, path = await transfers.locate(self.taskloom, sha)
        shown = kind(meta.media_type)
        named = disposition(meta.name)
        if shown == "image":
            media, named = meta.media_type.split(";")[0].strip().lower(), named.replace("attachment", "inline", 1)
        elif shown in ("text", "markdown"):
            media, named = "text/plain; charset=utf-8", named.replace("attachment", "inline", 1)
        else:
            media = "application/octet-stream"
        headers = {**BYTES_HEADERS, "content-disposition": named, "etag": f'"{sha}"',
                   "x-taskloom-media-type": meta.media_type}
        if path is None:
            return Response(None, media_type=media, headers={
                **headers, "content-length": str(meta.size), "accept-ranges": "bytes"})
        return BlobFile(path, media_type=media, headers=headers, stat_result=await anyio.Path(path).stat())

    async def _upload(self, scope: Scope, receive: Receive, sha: str) -> Response:
        who = scope_principal(scope)
        if who is not None and who.read_only:
            raise ReadOnly("Uploading changes the project, and this token may only read.")
        query = _query(scope)
        claimed = _one(query, "agent")
        fixed = who.agent if who is not None else None
        if fixed is not None and claimed is not None and claimed != fixed:
            raise InvalidInput(
                f"This token belongs to agent {fixed!r}; it cannot upload as {claimed!r}.",
                hint=f"Leave out agent= (uploads are {fixed!r}'s), or use that agent's own token.",
            )
        agent = fixed or claimed or self.taskloom.settings.default_agent
        if agent is not None:
            check_agent_name(agent)
        name = _one(query, "name")
        if not name:
            raise InvalidInput("The upload URL has no name=.", hint="Add ?name=<file name>, e.g. ?name=report.pdf.")
        links = query.get("link", [])  # as many as the tools take: transfers.check counts them
        declared, room = await transfers.check(
            self.taskloom,
            transfers.Declared(
                sha256=sha, name=name, size=_length(scope), media_type=_one(query, "media_type"),
                description=_one(query, "description"), links=links, agent=agent,
            ),
        )
        done = await transfers.receive(self.taskloom, declared, _body(receive), room)
        # The tool's shape, less the fields only its two-step answer fills (upload_url, message):
        # the bytes are here already, and empty strings would read as something to do.
        shown = {k: v for k, v in done.model_dump(mode="json").items() if k not in _UNUSED or v}
        body = json.dumps(shown).encode()
        return Response(body, 201 if done.new else 200, media_type="application/json",
                        headers={"location": f"{PREFIX}/{sha}"})


def _query(scope: Scope) -> dict[str, list[str]]:
    # Strict: a name or description that is not UTF-8 would otherwise be stored as U+FFFD.
    try:
        return parse_qs(scope.get("query_string", b"").decode("utf-8"), keep_blank_values=True, errors="strict")
    except UnicodeDecodeError:
        raise InvalidInput(
            "The upload URL's query is not UTF-8.", hint="Percent-encode the UTF-8 bytes of each value."
        ) from None


def _one(query: dict[str, list[str]], key: str) -> str | None:
    values = query.get(key)
    if values is not None and len(values) > 1:
        raise InvalidInput(f"{key}= is given {len(values)} times.", hint=f"Give {key}= once.")
    return values[0] if values else None


def _length(scope: Scope) -> int | None:
    raw = dict(scope.get("headers") or []).get(b"content-length")
    if raw is None:
        return None  # chunked: the limit is checked as the pieces come
    if not raw.isdigit():
        raise InvalidInput("Content-Length is not a number.", hint="Send the body's length in bytes.")
    return int(raw)


async def _body(receive: Receive) -> AsyncIterator[bytes]:
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise _Gone
        if piece := message.get("body", b""):
            yield piece
        if not message.get("more_body", False):
            return


def error_response(exc: TaskloomError, status: int | None = None, headers: dict[str, str] | None = None) -> Response:
    body: dict[str, Any] = {"error": exc.code, **{k: v for k, v in exc.to_dict().items() if k != "code"}}
    return Response(json.dumps(body), status or STATUS.get(exc.code, 500), headers=headers,
                    media_type="application/json")
