"""Memory tools: durable or expiring notes-to-self, for one agent or the whole project."""

from __future__ import annotations

from typing import Annotated, Literal

from mcp.server.mcpserver import Context
from pydantic import Field

from taskloom.models import MemoryDeleted, MemoryEntry, MemoryPage
from taskloom.server.tools.common import IDEMPOTENT, READ, AgentArg, ToolDef, app_of
from taskloom.services import memory

KeyArg = Annotated[str, Field(min_length=1, max_length=200)]
# Explained once, in memory_set's description, not on every memory tool.
ScopeArg = Literal["agent", "project"]


async def memory_set(
    ctx: Context,
    key: KeyArg,
    value: Annotated[str, Field(description="up to 64 KiB of text")],
    scope: ScopeArg = "agent",
    ttl_seconds: Annotated[float | None, Field(gt=0, description="forget after this long; omit to keep")] = None,
    agent: AgentArg = None,
) -> MemoryEntry:
    """Remember `value` under `key` (e.g. 'decisions/db') across sessions and crashes, replacing
    any old value. Scope `agent`: yours alone; `project`: shared."""
    return await app_of(ctx).write(memory.set_value, key, value, scope, ttl_seconds, agent=agent)


async def memory_get(ctx: Context, key: KeyArg, scope: ScopeArg = "agent", agent: AgentArg = None) -> MemoryEntry:
    """Read one remembered value. Errors: not_found if it was never set, was deleted, or expired."""
    return await app_of(ctx).peek(memory.get_value, key, scope, agent=agent)


async def memory_list(
    ctx: Context,
    prefix: Annotated[str, Field(max_length=200)] = "",
    scope: ScopeArg = "agent",
    limit: Annotated[int, Field(ge=1, le=200)] = 50,
    offset: Annotated[int, Field(ge=0, le=2**31)] = 0,
    agent: AgentArg = None,
) -> MemoryPage:
    """List remembered entries (with values) by key prefix, in key order; page with `next_offset`."""
    return await app_of(ctx).read(memory.list_values, prefix, scope, limit, offset, agent=agent)


async def memory_delete(ctx: Context, key: KeyArg, scope: ScopeArg = "agent", agent: AgentArg = None) -> MemoryDeleted:
    """Forget one entry. Safe to repeat: `deleted` is false if there was nothing to forget."""
    return await app_of(ctx).write(memory.delete_value, key, scope, agent=agent)


TOOLS = [
    ToolDef(memory_set, "Remember a value", IDEMPOTENT),
    ToolDef(memory_get, "Recall a value", READ),
    ToolDef(memory_list, "List remembered values", READ),
    ToolDef(memory_delete, "Forget a value", IDEMPOTENT),
]
