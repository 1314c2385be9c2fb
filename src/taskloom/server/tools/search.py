"""The search tool: find tasks, notes, messages and artifacts by their words."""

from __future__ import annotations

from typing import Annotated

from mcp.server.mcpserver import Context
from pydantic import Field

from taskloom.domain.search import DEFAULT_LIMIT, MAX_LIMIT, SearchKind
from taskloom.models import TaskStatus
from taskloom.models.search import SearchResults
from taskloom.server.tools.common import READ, AgentArg, ToolDef, app_of
from taskloom.services import search as svc


async def search(
    ctx: Context,
    query: Annotated[str, Field(max_length=10_000)],
    kind: SearchKind | None = None,
    stream: Annotated[str | None, Field(max_length=64)] = None,
    status: Annotated[TaskStatus | None, Field(description="of the task a hit belongs to")] = None,
    author: Annotated[str | None, Field(max_length=100)] = None,
    limit: Annotated[int, Field(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
    agent: AgentArg = None,
) -> SearchResults:
    """Find where something was said: task titles, descriptions, context and summaries, notes,
    messages you may read, artifact names, descriptions and text. Best first, matches **bold**.
    Query: words (all must match), "exact phrase", -excluded, a OR b; any text is safe.
    Open a hit with task_get(task) or artifacts_get(id). Errors: not_found for an unknown stream."""
    return await app_of(ctx).read(
        svc.search, query, kind=kind, stream=stream, status=status, author=author, limit=limit, agent=agent
    )


TOOLS = [ToolDef(search, "Search the project", READ)]
