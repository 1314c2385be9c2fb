"""MCP resources: the project's status, a stream, a task and an agent's inbox, as JSON documents.

Resources are for clients that show or watch state (subscribe, and re-read on
`notifications/resources/updated`); the tools return the same documents to agents that act.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import Any

from mcp.server.mcpserver import MCPServer
from mcp.shared.exceptions import MCPError
from mcp.types import INVALID_PARAMS
from pydantic import BaseModel

from taskloom.models import Inbox
from taskloom.server.errors import as_mcp_error
from taskloom.services import agents, messages, planning
from taskloom.services import tasks as task_svc
from taskloom.services.app import Taskloom
from taskloom.services.common import Scope
from taskloom.store.base import Tx

STATUS_URI = "taskloom://status"
JSON = "application/json"
_TEMPLATES = {
    "stream": re.compile(r"^taskloom://streams/(?P<arg>[^/]+)$"),
    "task": re.compile(r"^taskloom://tasks/(?P<arg>[^/]+)$"),
    "inbox": re.compile(r"^taskloom://agents/(?P<arg>[^/]+)/inbox$"),
}


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
        "taskloom://tasks/{code}, taskloom://agents/{name}/inbox.",
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


def _inbox(tx: Tx, scope: Scope) -> Inbox:
    agents.require_agent_row(tx, scope, scope.require_agent())
    return messages.inbox(tx, scope, unread_only=False, task=None, limit=50, mark_read=False)
