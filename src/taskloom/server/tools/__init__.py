"""Tool modules, one per noun, and the profiles that choose among them."""

from __future__ import annotations

import functools
import inspect

from mcp.server.mcpserver.tools import Tool

from taskloom.server.tools import (
    activity,
    agents,
    artifacts,
    files,
    memory,
    messages,
    planning,
    search,
    tasks,
    work,
)
from taskloom.server.tools.common import ToolDef

ALL: list[ToolDef] = [
    *agents.TOOLS,
    *planning.TOOLS,
    *tasks.TOOLS,
    *work.TOOLS,
    *messages.TOOLS,
    *memory.TOOLS,
    *activity.TOOLS,
    *artifacts.TOOLS,
    *files.TOOLS,
    *search.TOOLS,  # not for workers: it does not fit their 10 KB tools/list
]

# What a worker needs from a cold start to a finished task, and nothing more: every tool listed
# costs each agent context tokens on every session.
_WORKER = {
    "agent_init",
    "task_claim",
    "task_heartbeat",
    "task_note",
    "task_context",
    "task_done",
    "task_fail",
    "task_release",
    "task_block",
    "task_get",
    "message_send",
    "message_inbox",  # acknowledges too (`ack`), so message_ack is not listed for workers
    "memory_set",
    "memory_get",
    "memory_list",
    "memory_delete",
    "files_reserve",  # ttl_seconds=0 releases, so files_release is not listed for workers
    "artifacts_upload",  # reading is by resource URI (taskloom://artifacts/...), as task_claim lists them
}
# Orchestrators plan, watch and decide; they do not hold leases.
_LEASE_HOLDING = {"task_claim", "task_heartbeat", "task_done", "task_fail", "task_release"}
# What a read-only token may call: the tools annotated read-only, so the annotation clients see
# and the rule the server enforces cannot drift apart.
READ_ONLY_TOOLS = frozenset(t.name for t in ALL if t.annotations.read_only_hint)
PROFILES: dict[str, frozenset[str]] = {
    "worker": frozenset(_WORKER),
    "orchestrator": frozenset(t.name for t in ALL) - _LEASE_HOLDING,
    "all": frozenset(t.name for t in ALL),
}


@functools.cache
def sdk_tools(names: frozenset[str]) -> tuple[Tool, ...]:
    """The SDK's description of each named tool, made once per process and profile.

    Making one builds its argument model and JSON schemas with pydantic: 8 ms a tool, 0.35 s for
    a server with all of them, paid again by every server the process builds (one per test).
    The tools are module-level functions, so what is built depends on nothing but `names`.
    """
    return tuple(
        Tool.from_function(
            tool.fn,
            title=tool.title,
            description=inspect.cleandoc(tool.fn.__doc__ or ""),
            annotations=tool.annotations,
            structured_output=True,
        )
        for tool in ALL
        if tool.name in names
    )


def argument_names(names: frozenset[str]) -> dict[str, frozenset[str]]:
    """Each named tool's argument names (the context parameter excluded)."""
    return {
        tool.name: frozenset(p for p in inspect.signature(tool.fn).parameters if p != "ctx")
        for tool in ALL
        if tool.name in names
    }
