"""`build_server()`: the MCP server for one open `Taskloom`, with the tools of one profile."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pydantic_core
from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import CallToolResult, TextContent
from mcp.types import Tool as MCPTool

from taskloom import __version__
from taskloom.config import Profile
from taskloom.errors import InvalidInput
from taskloom.server import errors
from taskloom.server.schema import compact
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
    """MCPServer with taskloom's error codes, strict argument names and compact schemas."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.argument_names: dict[str, frozenset[str]] = {}
        self._listed: list[MCPTool] | None = None

    async def list_tools(self) -> list[MCPTool]:
        if self._listed is None:
            self._listed = [
                tool.model_copy(
                    update={
                        "input_schema": compact(tool.input_schema, is_input=True),
                        "output_schema": tool.output_schema and compact(tool.output_schema, is_input=False),
                    }
                )
                for tool in await super().list_tools()
            ]
        return self._listed

    async def call_tool(self, name: str, arguments: dict[str, Any], context: Any = None) -> Any:
        known = self.argument_names.get(name)
        unknown = sorted(set(arguments) - known) if known is not None else []
        if unknown:
            # A misspelt argument silently ignored is a wrong result the agent never notices.
            return errors.to_result(
                InvalidInput(
                    f"{name} has no argument(s) {', '.join(unknown)}.",
                    hint=f"Valid arguments: {', '.join(sorted(known)) or 'none'}.",
                )
            )
        try:
            result = await super().call_tool(name, arguments, context)
        except ToolError as exc:
            return errors.to_result(errors.map_exception(name, exc))
        if isinstance(result, CallToolResult) and result.structured_content is not None and not result.is_error:
            result.content = [TextContent(type="text", text=text_copy(result.structured_content))]
        return result


def text_copy(structured: dict[str, Any]) -> str:
    """The text block models read: compact JSON without nulls and empties.

    The SDK's default is indent-2 JSON of everything. That is about twice the bytes and tokens,
    and it was most of what task_get cost beyond a no-op call. `structuredContent` keeps every
    field for programs.
    """
    return pydantic_core.to_json(_prune(structured)).decode()


def _prune(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _prune(v) for k, v in value.items() if v is not None and v != "" and v != [] and v != {}}
    if isinstance(value, list):
        return [_prune(v) for v in value]
    return value


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
    server.argument_names = register(server, PROFILES[profile])
    return server


__all__ = ["build_server", "TaskloomMCP", "CallToolResult"]
