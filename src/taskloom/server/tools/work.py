"""The work cycle: claim, heartbeat, done, fail, release, block, unblock, review, bulk moves."""

from __future__ import annotations

from typing import Annotated, Literal

from mcp.server.mcpserver import Context
from pydantic import Field

from taskloom.domain.artifacts import sha_of
from taskloom.models import BulkResult, ClaimResult, Code, Name, WorkResult
from taskloom.server.tools.common import (
    DESTRUCTIVE,
    IDEMPOTENT,
    WRITE,
    AgentArg,
    ReasonArg,
    TaskArg,
    ToolDef,
    WaitArg,
    app_of,
    wait_for,
    while_caller_listens,
)
from taskloom.services import outlook, waiting, work
from taskloom.waiting import claim as wait_claim


async def task_claim(
    ctx: Context,
    task: Annotated[str | None, Field(max_length=64, description="a specific ready task")] = None,
    role: Annotated[Name | None, Field(description="only this role's (or unassigned) tasks; default: your role")] = None,
    stream: Code | None = None,
    labels: Annotated[list[Name] | None, Field(max_length=20, description="tasks having all of these")] = None,
    wait_seconds: WaitArg = None,
    agent: AgentArg = None,
) -> ClaimResult:
    """Take the next ready task (priority, then longest chain waiting on it), atomically. Returns
    it in full, as task_get does, with a lease (task_heartbeat before it ends). wait_seconds
    waits for work instead of polling. If claimed is false, `outlook`: wait or retry: call
    again; finished, stalled, other_work: stop."""
    app = app_of(ctx)
    wait = wait_for(ctx, wait_seconds)
    if wait and task is None:
        wanted = waiting.Wanted(role, stream, tuple(labels or ()))
        result = None
        async with while_caller_listens(ctx):
            result = await wait_claim(app, ctx.mcp_server.feed, wanted, wait, agent=agent, progress=ctx.report_progress)
        return result or ClaimResult(claimed=False, message="The client went away; nothing was claimed.")
    result = await app.write_now(work.claim, code=task, role=role, stream=stream, labels=labels, agent=agent)
    if result.claimed:
        return result
    return await app.read(outlook.nothing_ready, role=role, stream=stream, labels=labels, agent=agent)


async def task_heartbeat(ctx: Context, task: TaskArg, agent: AgentArg = None) -> WorkResult:
    """Renew your lease on a task you hold. Errors: lease_lost if you no longer hold it: stop and claim anew."""
    return await app_of(ctx).write(work.heartbeat, task, agent=agent)


async def task_done(
    ctx: Context,
    task: TaskArg,
    summary: Annotated[str, Field(min_length=1, description="what you did and where the results are")],
    artifacts: Annotated[list[str] | None, Field(max_length=50, description="artifact URIs to link")] = None,
    agent: AgentArg = None,
) -> WorkResult:
    """Finish a task you hold. Goes to review if the task requires it; returns the tasks it made
    ready. Safe to retry. Errors: lease_lost if you no longer hold it."""
    refs = [sha_of(a) for a in artifacts or []]
    return await app_of(ctx).write(work.done, task, summary, refs, agent=agent)


async def task_fail(
    ctx: Context,
    task: TaskArg,
    reason: Annotated[str, Field(min_length=1)],
    retry: Annotated[bool, Field(description="false gives up now instead of retrying")] = True,
    agent: AgentArg = None,
) -> WorkResult:
    """Your attempt failed: the task goes back to the queue while attempts remain, else it fails
    for good and its dependents keep waiting."""
    return await app_of(ctx).write(work.fail, task, reason, retry, agent=agent)


async def task_release(ctx: Context, task: TaskArg, reason: ReasonArg = None, agent: AgentArg = None) -> WorkResult:
    """Hand a task you hold back to the queue without using an attempt (wrong role, no time)."""
    return await app_of(ctx).write(work.release, task, reason, agent=agent)


async def task_block(
    ctx: Context,
    task: TaskArg,
    reason: Annotated[str, Field(min_length=1, description="what input you need, from whom")],
    agent: AgentArg = None,
) -> WorkResult:
    """Report a blocker that needs someone's input. You keep the task and its lease pauses until
    task_unblock. Orchestrators may also block a task that nobody holds."""
    return await app_of(ctx).write(work.block, task, reason, agent=agent)


async def task_unblock(
    ctx: Context,
    task: TaskArg,
    answer: Annotated[str | None, Field(description="the input the blocker asked for; saved as a decision note")] = None,
    agent: AgentArg = None,
) -> WorkResult:
    """Resolve a blocker: the task returns to the agent that held it (with a fresh lease) or to the queue."""
    return await app_of(ctx).write(work.unblock, task, answer, agent=agent)


async def task_review(
    ctx: Context,
    task: TaskArg,
    approve: bool,
    reason: Annotated[str | None, Field(description="required when sending back")] = None,
    agent: AgentArg = None,
) -> WorkResult:
    """Review a task in `review`: approve (it is done and dependents move) or send it back to the
    queue with a reason."""
    return await app_of(ctx).write(work.review, task, approve, reason, agent=agent)


async def task_status_bulk(
    ctx: Context,
    tasks: Annotated[list[Annotated[str, Field(max_length=64)]], Field(min_length=1, max_length=200)],
    status: Literal["backlog", "ready", "blocked", "done", "cancelled"],
    reason: ReasonArg = None,
    agent: AgentArg = None,
) -> BulkResult:
    """Move many tasks at once (park in backlog, put back in play, cancel...). Each move is checked;
    the ones that are not allowed are listed in `errors` and the rest still happen."""
    return await app_of(ctx).write(work.bulk, tasks, status, reason, agent=agent)


TOOLS = [
    ToolDef(task_claim, "Claim a task", WRITE),
    ToolDef(task_heartbeat, "Renew a lease", IDEMPOTENT),
    ToolDef(task_done, "Finish a task", IDEMPOTENT),
    ToolDef(task_fail, "Fail an attempt", WRITE),
    ToolDef(task_release, "Release a task", WRITE),
    ToolDef(task_block, "Report a blocker", WRITE),
    ToolDef(task_unblock, "Resolve a blocker", WRITE),
    ToolDef(task_review, "Review a task", WRITE),
    ToolDef(task_status_bulk, "Change many statuses", DESTRUCTIVE),
]
