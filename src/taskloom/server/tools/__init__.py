"""Tool modules, one per noun, and the profiles that choose among them."""

from __future__ import annotations

import inspect

from mcp.server.mcpserver import MCPServer

from taskloom.server.tools import memory, planning, tasks, work
from taskloom.server.tools.common import ToolDef

ALL: list[ToolDef] = [*planning.TOOLS, *tasks.TOOLS, *work.TOOLS, *memory.TOOLS]

_WORKER = {
    "task_claim",
    "task_heartbeat",
    "task_note",
    "task_context",
    "task_done",
    "task_fail",
    "task_release",
    "task_block",
    "task_get",
    "memory_set",
    "memory_get",
    "memory_list",
    "memory_delete",
}
PROFILES: dict[str, frozenset[str]] = {
    "worker": frozenset(_WORKER),
    "orchestrator": frozenset(t.name for t in ALL),
    "all": frozenset(t.name for t in ALL),
}


def register(server: MCPServer, names: frozenset[str]) -> dict[str, frozenset[str]]:
    """Add the named tools; returns each tool's argument names (the context parameter excluded)."""
    arguments: dict[str, frozenset[str]] = {}
    for tool in ALL:
        if tool.name in names:
            server.add_tool(
                tool.fn,
                title=tool.title,
                description=inspect.cleandoc(tool.fn.__doc__ or ""),
                annotations=tool.annotations,
                structured_output=True,
            )
            params = inspect.signature(tool.fn).parameters
            arguments[tool.name] = frozenset(p for p in params if p != "ctx")
    return arguments
