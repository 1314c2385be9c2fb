"""MCP prompts: the bootstrap for a fresh worker, the orchestrator's brief and completion reports.

Prompts cost no tokens in tools/list, so the completion report is one, and `save` stores it too.
"""

from __future__ import annotations

import functools
from typing import Annotated, Any

from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.prompts import Prompt
from pydantic import Field

from taskloom.errors import InvalidInput, ReadOnly
from taskloom.server.auth import token_agent, token_read_only
from taskloom.server.errors import as_mcp_error
from taskloom.server.tools.common import app_of
from taskloom.services import briefing, completion
from taskloom.services.agents import check_agent_name
from taskloom.services.completion_md import render


async def worker_instructions(
    ctx: Context,
    agent: Annotated[str, Field(description="the worker's name; default TASKLOOM_AGENT")] = "",
    task: Annotated[str, Field(description="a task code to brief on, e.g. T-12")] = "",
    stream: Annotated[str, Field(description="or a stream code to work in")] = "",
) -> str:
    with as_mcp_error():
        if agent:
            check_agent_name(agent)  # the name it would take in agent_init
        return await app_of(ctx).read(briefing.worker_instructions, task or None, stream or None, agent=agent or None)


async def orchestrator_brief(ctx: Context) -> str:
    app = app_of(ctx)
    s = app.settings
    with as_mcp_error():
        return await app.read(briefing.orchestrator_brief, s.online_seconds, s.offline_seconds)


async def completion_report(
    ctx: Context,
    sprint: Annotated[str, Field(description="a sprint code; with neither sprint nor stream, the whole project")] = "",
    stream: Annotated[str, Field(description="or a stream code")] = "",
    save: Annotated[str, Field(description="yes: also store it as a text/markdown artifact")] = "",
) -> str:
    app = app_of(ctx)
    with as_mcp_error():
        keep = _yes(save)
        if keep and token_read_only(ctx):
            raise ReadOnly("save=yes stores an artifact, and this connection's token may only read.",
                           hint="Leave save out to read the report; a write token can save it.")
        report = await app.read(completion.build, sprint or None, stream or None)
        text = render(report)
        if not keep:
            return text
        saved = (await completion.save(app, report, text, agent=token_agent(ctx) or app.settings.default_agent)).artifact
        return f"{text}\nSaved as {saved.name} ({saved.uri}), linked to {completion.link_of(report)}.\n"


@functools.cache
def _prompts() -> tuple[Prompt, ...]:
    """The SDK's description of each prompt, made once per process (as tools are: sdk_tools).

    Making one builds its argument model with pydantic, which every server the process built
    (one per test) paid again; the functions find the app in the request's context.
    """
    return (
        Prompt.from_function(
            worker_instructions,
            name="worker_instructions",
            title="Worker instructions",
            description="Bootstrap prompt for a fresh worker: identity, role, the claim/heartbeat/done protocol, "
            "and the given task's (or stream's) context.",
        ),
        Prompt.from_function(
            orchestrator_brief,
            name="orchestrator_brief",
            title="Orchestrator brief",
            description="Project state, blockers, failures, open escalations and idle agents: what needs a decision now.",
        ),
        Prompt.from_function(
            completion_report,
            name="completion_report",
            title="Completion report",
            description="Markdown report of a sprint, a stream or the project: what was done and by whom, durations, "
            "the critical path planned and actual, failures, retries and escalations and how each was settled, "
            "artifacts, and a changelog. save=yes also stores it as an artifact linked to the sprint or stream.",
        ),
    )


def register(server: MCPServer[Any]) -> None:
    for prompt in _prompts():
        server.add_prompt(prompt)


def _yes(value: str) -> bool:
    answer = value.strip().lower()
    if answer in ("", "no", "false"):
        return False
    if answer in ("yes", "true"):
        return True
    raise InvalidInput(f"save is {value[:40]!r}; it takes yes or no.", hint="Pass save=yes to store the report.")
