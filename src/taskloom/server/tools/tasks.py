"""Task tools: create, read, list, edit, notes and context."""

from __future__ import annotations

from typing import Annotated, Literal

from mcp.server.mcpserver import Context
from pydantic import Field

from taskloom.models import (
    Code,
    Name,
    NoteKind,
    Priority,
    TaskCreated,
    TaskDetail,
    TaskPage,
    TaskSpec,
    TaskStatus,
    Title,
    WorkResult,
)
from taskloom.server.tools.common import READ, WRITE, AgentArg, ReasonArg, TaskArg, ToolDef, app_of
from taskloom.services import creation
from taskloom.services import tasks as svc


async def task_create(
    ctx: Context,
    tasks: Annotated[list[TaskSpec], Field(min_length=1, max_length=200)],
    agent: AgentArg = None,
) -> TaskCreated:
    """Create 1-200 tasks in one transaction. `depends_on` and `parent` may name tasks in the same
    call (by code or key) or existing ones. A task whose `key` exists is returned unchanged
    (safe to retry). New tasks start waiting and become ready as soon as their dependencies allow.
    Errors: not_found (unknown stream, sprint or dependency), cycle, conflict (code taken)."""
    return await app_of(ctx).write(creation.create_batch, tasks, agent=agent)


async def task_get(ctx: Context, task: TaskArg) -> TaskDetail:
    """A task in full: fields, context, latest notes (newest first) and each dependency's outcome
    and summary. Errors: not_found."""
    return await app_of(ctx).peek(svc.get, task)


async def task_list(
    ctx: Context,
    status: Annotated[list[TaskStatus] | None, Field(description="any of these statuses")] = None,
    role: Name | None = None,
    stream: Code | None = None,
    sprint: Code | None = None,
    parent: Code | None = None,
    label: Name | None = None,
    claimed_by: Name | None = None,
    limit: Annotated[int, Field(ge=1, le=200)] = 50,
    offset: Annotated[int, Field(ge=0, le=2**31)] = 0,
) -> TaskPage:
    """List tasks (brief form) in creation order, filtered; page with `offset` = the returned
    `next_offset` until it is null."""
    return await app_of(ctx).read(
        svc.list_tasks,
        statuses=status,
        role=role,
        stream=stream,
        sprint=sprint,
        parent=parent,
        label=label,
        claimed_by=claimed_by,
        limit=limit,
        offset=offset,
    )


async def task_update(
    ctx: Context,
    task: TaskArg,
    if_version: Annotated[int | None, Field(description="fail with conflict unless the task is at this version")] = None,
    title: Title | None = None,
    description: str | None = None,
    acceptance: str | None = None,
    priority: Priority | None = None,
    role: Annotated[str | None, Field(max_length=100, description="'' clears it")] = None,
    labels: Annotated[list[Name] | None, Field(description="replaces the labels")] = None,
    stream: Annotated[str | None, Field(max_length=64, description="'' removes it from its stream")] = None,
    sprint: Annotated[str | None, Field(max_length=64, description="'' removes it from its sprint")] = None,
    depends_on: Annotated[list[str] | None, Field(description="replaces the dependencies; cycles are refused")] = None,
    max_attempts: Annotated[int | None, Field(ge=1, le=100)] = None,
    requires_review: bool | None = None,
    status: Annotated[
        Literal["backlog", "ready", "blocked", "done", "cancelled"] | None,
        Field(description="checked move; ready puts it back in play"),
    ] = None,
    reason: ReasonArg = None,
    agent: AgentArg = None,
) -> TaskDetail:
    """Edit a task; only the fields given change. Pass `if_version` (from task_get) to avoid
    overwriting someone else's change. Cancelling also cancels open subtasks and frees dependents.
    Errors: conflict (stale version), cycle, invalid_transition (names allowed moves), not_found."""
    changes = {
        k: v
        for k, v in {
            "title": title,
            "description": description,
            "acceptance": acceptance,
            "priority": priority,
            "role": role,
            "labels": labels,
            "stream": stream,
            "sprint": sprint,
            "depends_on": depends_on,
            "max_attempts": max_attempts,
            "requires_review": requires_review,
            "status": status,
            "reason": reason,
        }.items()
        if v is not None
    }
    return await app_of(ctx).write(svc.update, task, changes, if_version=if_version, agent=agent)


async def task_note(
    ctx: Context,
    task: TaskArg,
    body: Annotated[str, Field(min_length=1)],
    kind: NoteKind = "note",
    agent: AgentArg = None,
) -> WorkResult:
    """Add a note: `progress` as you go, `decision` for choices the next agent must know,
    `blocker` for problems (task_block if you cannot go on). Secrets are masked."""
    return await app_of(ctx).write(svc.add_note, task, kind, body, agent=agent)


async def task_context(
    ctx: Context,
    task: TaskArg,
    text: Annotated[str, Field(min_length=1)],
    mode: Literal["append", "replace"] = "append",
    if_version: int | None = None,
    agent: AgentArg = None,
) -> WorkResult:
    """Append to (or replace) the task's markdown context, the briefing later agents read first.
    Errors: too_large past 64 KiB, conflict on a stale if_version."""
    return await app_of(ctx).write(svc.set_context, task, text, mode, if_version, agent=agent)


TOOLS = [
    ToolDef(task_create, "Create tasks", WRITE),
    ToolDef(task_get, "Get a task", READ),
    ToolDef(task_list, "List tasks", READ),
    ToolDef(task_update, "Update a task", WRITE),
    ToolDef(task_note, "Add a note", WRITE),
    ToolDef(task_context, "Edit task context", WRITE),
]
