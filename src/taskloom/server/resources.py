"""MCP resources: the project's status, a stream, a task and an agent's inbox, as JSON documents.

Resources are for clients that show or watch state (subscribe, and re-read on
`notifications/resources/updated`); the tools return the same documents to agents that act.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
from mcp.server.lowlevel.helper_types import ReadResourceContents
from mcp.server.mcpserver import MCPServer
from mcp.shared.exceptions import MCPError
from mcp.types import INVALID_PARAMS
from pydantic import BaseModel

from taskloom.domain.artifacts import URI_PREFIX, is_text, sha_of, uri_of
from taskloom.errors import NotFound
from taskloom.models import Inbox
from taskloom.server.errors import as_mcp_error
from taskloom.services import agents, artifacts, messages, planning
from taskloom.services import tasks as task_svc
from taskloom.services.app import Taskloom
from taskloom.services.common import Scope
from taskloom.store.base import Tx

STATUS_URI = "taskloom://status"
ARTIFACT_TEMPLATE = URI_PREFIX + "{sha256}"
JSON = "application/json"
_TEMPLATES = {
    "stream": re.compile(r"^taskloom://streams/(?P<arg>[^/?#]+)$"),
    "task": re.compile(r"^taskloom://tasks/(?P<arg>[^/?#]+)$"),
    "inbox": re.compile(r"^taskloom://agents/(?P<arg>[^/?#]+)/inbox$"),
    "artifact": re.compile(r"^taskloom://artifacts/(?P<arg>[0-9a-f]{64})$"),
}


def inbox_uri(agent: str) -> str:
    return f"taskloom://agents/{agent}/inbox"


def parse_uri(uri: str) -> tuple[str, str | None]:
    """Which resource a URI names; an MCP invalid-params error if none."""
    if uri == STATUS_URI:
        return "status", None
    for kind, pattern in _TEMPLATES.items():
        if m := pattern.match(uri):
            return kind, m.group("arg")
    raise MCPError(
        INVALID_PARAMS,
        f"Unknown taskloom resource {uri}. Resources: {STATUS_URI}, taskloom://streams/{{code}}, "
        "taskloom://tasks/{code}, taskloom://agents/{name}/inbox, taskloom://artifacts/{sha256}.",
    )


async def _document(read: Callable[[], Awaitable[BaseModel]]) -> str:
    with as_mcp_error():
        return (await read()).model_dump_json()


def register(server: MCPServer[Any], app: Taskloom) -> None:
    @server.resource(STATUS_URI, name="status", title="Project status", mime_type=JSON,
                     description="Counts per status, streams, ready work per role, what is in progress.")
    async def status() -> str:
        return await _document(lambda: app.read(planning.project_status))

    @server.resource("taskloom://streams/{code}", name="stream", title="A stream", mime_type=JSON,
                     description="A stream with its counts and first 200 tasks.")
    async def stream(code: str) -> str:
        return await _document(lambda: app.read(planning.stream_view, code))

    @server.resource("taskloom://tasks/{code}", name="task", title="A task", mime_type=JSON,
                     description="A task with its latest notes, dependencies' outcomes and escalations.")
    async def task(code: str) -> str:
        return await _document(lambda: app.peek(task_svc.get, code))

    @server.resource("taskloom://agents/{name}/inbox", name="inbox", title="An agent's inbox", mime_type=JSON,
                     description="The agent's messages, unread first; reading it marks nothing read.")
    async def inbox(name: str) -> str:
        return await _document(lambda: app.read(_inbox, agent=name))

    # Listed for discovery; TaskloomMCP.read_resource serves it, with each artifact's own mimeType.
    @server.resource(ARTIFACT_TEMPLATE, name="artifact", title="An artifact", mime_type="application/octet-stream",
                     description="An artifact's bytes, as text for text types; the mimeType is the artifact's own.")
    async def artifact(sha256: str) -> bytes | str:
        return (await read_artifact(app, uri_of(sha256)))[0].content


async def read_artifact(app: Taskloom, uri: str) -> list[ReadResourceContents]:
    """An artifact's bytes with its own media type: text for text types, else a base64 blob."""
    with as_mcp_error():
        meta = await app.peek(artifacts.get, sha_of(uri))
        try:
            data = await anyio.to_thread.run_sync(app.blobs.read, meta.sha256)
        except FileNotFoundError:
            raise NotFound(f"The bytes of {uri} are missing from disk.", hint="Upload the file again.") from None
    content: str | bytes = data
    if is_text(meta.media_type):
        with contextlib.suppress(UnicodeDecodeError):  # mislabelled binary is served as bytes
            content = data.decode("utf-8")
    return [ReadResourceContents(content=content, mime_type=meta.media_type)]


def _inbox(tx: Tx, scope: Scope) -> Inbox:
    agents.require_agent_row(tx, scope, scope.require_agent())
    return messages.inbox(tx, scope, unread_only=False, task=None, limit=50, mark_read=False)
