"""What every tool module shares: how to reach the app, argument types, annotations."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any

from mcp.server.mcpserver import Context
from mcp.types import ToolAnnotations
from pydantic import Field

from taskloom.services.app import Taskloom

# No description: agent_init documents it once, and a sentence repeated on every tool costs each
# agent about 1 KB of context.
AgentArg = Annotated[str | None, Field(max_length=100)]
# Undescribed for the same reason: every result names tasks by code (T-12), so the format is evident.
TaskArg = Annotated[str, Field(min_length=1, max_length=64)]
ReasonArg = Annotated[str | None, Field(description="why, for the next reader")]

# Hints equal to the spec's defaults (readOnly false, idempotent false) are left out; destructive
# and openWorld default to true, so they are always spelt. A read-only tool's destructive and
# idempotent hints mean nothing by the spec.
READ = ToolAnnotations(read_only_hint=True, open_world_hint=False)
WRITE = ToolAnnotations(destructive_hint=False, open_world_hint=False)
IDEMPOTENT = ToolAnnotations(idempotent_hint=True, destructive_hint=False, open_world_hint=False)
DESTRUCTIVE = ToolAnnotations(destructive_hint=True, open_world_hint=False)


@dataclass(frozen=True)
class ToolDef:
    fn: Callable[..., Any]
    title: str
    annotations: ToolAnnotations

    @property
    def name(self) -> str:
        return self.fn.__name__


def app_of(ctx: Context) -> Taskloom:
    return ctx.request_context.lifespan_context


def bind_agent(ctx: Context, name: str) -> None:
    """Remember `name` as this connection's agent, for later calls that omit `agent`."""
    bind = getattr(ctx.mcp_server, "bind_agent", None)
    if bind is not None:
        bind(ctx.session, name)
