"""`build_server()`: the MCP server for one open `Taskloom`, with the tools of one profile."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import CallToolResult

from taskloom import __version__
from taskloom.config import Profile
from taskloom.server import errors
from taskloom.server.tools import PROFILES, register
from taskloom.services.app import Taskloom

INSTRUCTIONS = """taskloom coordinates a team of agents on one project.
Workers: task_claim gets the next ready task with everything needed to start; task_heartbeat
before the lease runs out; task_note as you go; finish with task_done (summary), task_fail
(reason) or task_release. Orchestrators: plan_import or stream_create/task_create lay out
work; project_status and graph_get show where it stands. Errors start with a stable code
(not_found, conflict, invalid_transition, cycle, lease_lost, invalid_input, too_large, busy)
and end with what to do next."""


class TaskloomMCP(MCPServer[Taskloom]):
    """MCPServer whose tool errors carry taskloom's codes instead of SDK wording or tracebacks."""

    async def call_tool(self, name: str, arguments: dict[str, Any], context: Any = None) -> Any:
        try:
            return await super().call_tool(name, arguments, context)
        except ToolError as exc:
            return errors.to_result(errors.map_exception(name, exc))


def build_server(app: Taskloom, profile: Profile = "all") -> TaskloomMCP:
    """The app is opened by the caller, once per process: over SSE the lifespan runs per connection."""

    @asynccontextmanager
    async def lifespan(_: MCPServer[Taskloom]) -> AsyncIterator[Taskloom]:
        yield app

    server = TaskloomMCP(
        "taskloom",
        version=__version__,
        instructions=INSTRUCTIONS,
        lifespan=lifespan,
        log_level="WARNING",
    )
    register(server, PROFILES[profile])
    return server


__all__ = ["build_server", "TaskloomMCP", "CallToolResult"]
