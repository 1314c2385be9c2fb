"""Activity tools: the project's event feed, and an agent's own log entries in it."""

from __future__ import annotations

from typing import Annotated

from mcp.server.mcpserver import Context
from pydantic import Field

from taskloom.models import Feed, Logged
from taskloom.server.tools.common import READ, WRITE, AgentArg, ToolDef, app_of
from taskloom.services import activity


async def activity_feed(
    ctx: Context,
    since: Annotated[int, Field(ge=0, description="event id; pass the last answer's next_since")] = 0,
    task: Annotated[str | None, Field(max_length=64)] = None,
    by_agent: Annotated[str | None, Field(max_length=100, description="events by this agent")] = None,
    kind: Annotated[
        str | None, Field(max_length=64, description="e.g. task.done, or a prefix: task, message, agent")
    ] = None,
    limit: Annotated[int, Field(ge=1, le=200)] = 50,
) -> Feed:
    """Everything that happened after event `since`, oldest first: claims, completions, expiries,
    escalations, messages, log entries. Poll with next_since, or subscribe to a resource instead."""
    return await app_of(ctx).read(activity.feed, since, task, by_agent, kind, limit)


async def agent_log(
    ctx: Context,
    text: Annotated[str, Field(description="up to 4 KiB")],
    task: Annotated[str | None, Field(max_length=64)] = None,
    agent: AgentArg = None,
) -> Logged:
    """Add your own entry to the activity feed (what you did or decided), optionally about a task."""
    return await app_of(ctx).write(activity.log, text, task, agent=agent)


TOOLS = [
    ToolDef(activity_feed, "Read the activity feed", READ),
    ToolDef(agent_log, "Log an activity entry", WRITE),
]
