"""File reservation tools: advisory holds on path globs for agents sharing one checkout."""

from __future__ import annotations

from typing import Annotated

from mcp.server.mcpserver import Context
from pydantic import Field

from taskloom.models import FilesReleased, FilesReserved
from taskloom.server.tools.common import IDEMPOTENT, AgentArg, ToolDef, app_of
from taskloom.services import reservations

# The rules for globs are stated once, in files_reserve's description.
PathsArg = Annotated[list[Annotated[str, Field(max_length=200)]], Field(min_length=1, max_length=50)]


async def files_reserve(
    ctx: Context,
    paths: Annotated[PathsArg, Field(description="from the checkout root, e.g. src/api/**")],
    exclusive: Annotated[bool, Field(description="false: shared, e.g. to read")] = True,
    ttl_seconds: Annotated[float, Field(ge=0, le=86400)] = 3600,
    task: Annotated[str | None, Field(max_length=64, description="yours; released when it ends")] = None,
    agent: AgentArg = None,
) -> FilesReserved:
    """Reserve path globs before editing files others may edit. All or nothing: granted false means
    none is held; `conflicts` names each holder, glob and task. `*` spans dirs; a plain name
    covers its dir. Again renews; ttl_seconds=0 releases."""
    return await app_of(ctx).write(reservations.reserve, paths, exclusive, ttl_seconds, task, agent=agent)


async def files_release(
    ctx: Context,
    paths: Annotated[PathsArg | None, Field(description="omit: all yours")] = None,
    agent: AgentArg = None,
) -> FilesReleased:
    """Release your file reservations (globs as reserved). Safe to repeat."""
    return await app_of(ctx).write(reservations.release, paths, agent=agent)


TOOLS = [
    ToolDef(files_reserve, "Reserve files", IDEMPOTENT),
    ToolDef(files_release, "Release files", IDEMPOTENT),
]
