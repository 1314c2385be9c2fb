"""Agent and role tools: the one-call start, who is around, and the roles agents take on."""

from __future__ import annotations

from typing import Annotated

from mcp.server.mcpserver import Context
from pydantic import Field

from taskloom.models import AgentInit, AgentList, Name, Presence, Role, RoleList, RoleSpec
from taskloom.server.auth import token_agent
from taskloom.server.tools.common import (
    IDEMPOTENT,
    READ,
    STATELESS_IDENTITY,
    AgentArg,
    ToolDef,
    app_of,
    bind_agent,
)
from taskloom.services import agents


async def agent_init(
    ctx: Context,
    agent: AgentArg = None,
    role: Annotated[Name | None, Field(description="e.g. backend; omit to keep")] = None,
    capabilities: Annotated[list[Name] | None, Field(max_length=20, description="omit to keep")] = None,
) -> AgentInit:
    """Call first, and after any restart. Registers you; returns the tasks you hold (resume them),
    claimable tasks, unread messages, your memory, your role's instructions and health. Then
    loop: task_claim(wait_seconds=50) until its outlook says stop. Later calls here act as you
    when `agent` is omitted."""
    app = app_of(ctx)
    s = app.settings
    result = await app.write(
        agents.init,
        role,
        capabilities,
        resolver_last_run=app.resolver_last_run,
        online_seconds=s.online_seconds,
        offline_seconds=s.offline_seconds,
        backend=app.store.backend,
        schema_version=app.store.schema_version,
        agent=agent,
    )
    if not bind_agent(ctx, result.agent.name) and token_agent(ctx) is None:
        # Said in the answer itself: otherwise the next call's "no agent name" is the first hint.
        result.next_step = (
            f"This connection is stateless HTTP: the name {result.agent.name} does not carry to your next "
            f"call. {STATELESS_IDENTITY} {result.next_step}"
        )
    return result


async def agent_list(
    ctx: Context, status: Annotated[Presence | None, Field(description="only agents in this state")] = None
) -> AgentList:
    """Who is on the project: each agent's status (busy: holds a task; online: seen in the last
    2 minutes; idle: quiet; offline: unseen for 15 minutes), current task and last sighting.
    Any tool call counts as a sighting."""
    app = app_of(ctx)
    return await app.read(
        agents.list_agents, app.settings.online_seconds, app.settings.offline_seconds, status
    )


async def role_define(ctx: Context, role: RoleSpec, agent: AgentArg = None) -> Role:
    """Create or replace a role: what it covers, when to use it, and instructions every agent in
    it receives (in agent_init and worker_instructions). Tasks name roles in `role`."""
    return await app_of(ctx).write(agents.define_role, role, agent=agent)


async def role_list(ctx: Context) -> RoleList:
    """All roles: slug, name, definition, when to use each, and the instructions its agents get."""
    return await app_of(ctx).read(agents.list_roles)


TOOLS = [
    ToolDef(agent_init, "Start or resume as an agent", IDEMPOTENT),
    ToolDef(agent_list, "List agents", READ),
    ToolDef(role_define, "Define a role", IDEMPOTENT),
    ToolDef(role_list, "List roles", READ),
]
