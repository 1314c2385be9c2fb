"""MCP prompts: the bootstrap for a fresh worker, and the orchestrator's brief."""

from __future__ import annotations

from typing import Annotated, Any

from mcp.server.mcpserver import MCPServer
from pydantic import Field

from taskloom.server.errors import as_mcp_error
from taskloom.services import briefing
from taskloom.services.agents import check_agent_name
from taskloom.services.app import Taskloom


def register(server: MCPServer[Any], app: Taskloom) -> None:
    @server.prompt(
        name="worker_instructions",
        title="Worker instructions",
        description="Bootstrap prompt for a fresh worker: identity, role, the claim/heartbeat/done protocol, "
        "and the given task's (or stream's) context.",
    )
    async def worker_instructions(
        agent: Annotated[str, Field(description="the worker's name; default TASKLOOM_AGENT")] = "",
        task: Annotated[str, Field(description="a task code to brief on, e.g. T-12")] = "",
        stream: Annotated[str, Field(description="or a stream code to work in")] = "",
    ) -> str:
        with as_mcp_error():
            if agent:
                check_agent_name(agent)  # the name it would take in agent_init
            return await app.read(briefing.worker_instructions, task or None, stream or None, agent=agent or None)

    @server.prompt(
        name="orchestrator_brief",
        title="Orchestrator brief",
        description="Project state, blockers, failures, open escalations and idle agents: what needs a decision now.",
    )
    async def orchestrator_brief() -> str:
        s = app.settings
        with as_mcp_error():
            return await app.read(briefing.orchestrator_brief, s.online_seconds, s.offline_seconds)
