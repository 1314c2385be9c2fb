"""Project, sprint and stream tools, plan import and the graph."""

from __future__ import annotations

from typing import Annotated, TypeVar

from mcp.server.mcpserver import Context
from pydantic import Field, SkipValidation

from taskloom.models import (
    Code,
    Graph,
    ImportResult,
    ProjectStatus,
    RoleSpec,
    Sprint,
    SprintList,
    SprintSpec,
    SprintStatus,
    Stream,
    StreamList,
    StreamSpec,
    StreamView,
    TaskSpec,
    Title,
)
from taskloom.server.tools.common import IDEMPOTENT, READ, AgentArg, ToolDef, app_of
from taskloom.services import graphs, planning


async def project_status(ctx: Context) -> ProjectStatus:
    """The project at a glance: task counts per status, each stream's state and counts, ready work
    per role, and who holds what. Use it to decide what to plan or unblock next."""
    return await app_of(ctx).read(planning.project_status)


async def sprint_create(
    ctx: Context,
    code: Code,
    title: Title | None = None,
    goal: str | None = None,
    status: SprintStatus | None = None,
) -> Sprint:
    """Create a sprint, or update the one with this code: fields you omit are kept (a new sprint
    starts planned). Status is planned, active or closed. Assign tasks with task_create or
    task_update `sprint`."""
    spec = SprintSpec(code=code, title=title, goal=goal, status=status)
    sprint, _ = await app_of(ctx).write(planning.upsert_sprint, spec)
    return sprint


async def sprint_list(ctx: Context) -> SprintList:
    """All sprints with their status and task counts per status."""
    return await app_of(ctx).read(planning.list_sprints)


async def stream_create(
    ctx: Context,
    code: Code,
    name: Title | None = None,
    description: str | None = None,
    depends_on: Annotated[
        list[Code] | None, Field(description="streams that must all be done first; replaces the list, omit to keep")
    ] = None,
) -> Stream:
    """Create a stream of work, or update the one with this code (fields you omit are kept). Tasks in a stream wait until every stream it depends on is done. A dependency
    cycle is refused with error `cycle`, printing the path. `waits_on_empty` names dependencies
    with no tasks yet: they are never done, so this stream waits until they get tasks."""
    spec = StreamSpec(code=code, name=name, description=description, depends_on=depends_on)
    return await app_of(ctx).write(planning.upsert_stream, spec)


async def stream_list(ctx: Context) -> StreamList:
    """All streams: state (waiting, ready, active, done), dependencies and task counts."""
    return await app_of(ctx).read(planning.list_streams)


async def stream_get(ctx: Context, stream: Code) -> StreamView:
    """One stream with its first 200 tasks. Errors: not_found for an unknown code."""
    return await app_of(ctx).read(planning.stream_view, stream)


T = TypeVar("T")
# A plan's lists keep their schema but skip the SDK's validation: `planning.read_plan` validates
# them once, as one Plan, with the collector paused (a model per task; half the time at 100k).
PlanPart = SkipValidation[list[T] | None]


async def plan_import(
    ctx: Context,
    roles: PlanPart[RoleSpec] = None,
    sprints: PlanPart[SprintSpec] = None,
    streams: PlanPart[StreamSpec] = None,
    tasks: Annotated[PlanPart[TaskSpec], Field(description="each needs a key or code")] = None,
    agent: AgentArg = None,
) -> ImportResult:
    """Lay out a whole plan (roles, sprints, streams, tasks, dependencies) in one transaction.
    Idempotent: roles, sprints and streams match by slug or code, tasks by key or code, so importing
    again creates nothing new. Cycles are checked over the whole plan; any error leaves nothing behind."""
    parts = {"roles": roles, "sprints": sprints, "streams": streams, "tasks": tasks}
    with planning.plan_of({k: [] if v is None else v for k, v in parts.items()}) as plan:
        return await app_of(ctx).write(planning.import_plan, plan, agent=agent)


async def graph_get(
    ctx: Context, stream: Annotated[Code | None, Field(description="limit to one stream")] = None
) -> Graph:
    """The task DAG (at most 200 tasks; filter by stream for more): each task's depth and rank
    (work waiting on it), the critical path, and Mermaid text to render."""
    return await app_of(ctx).read(graphs.graph_get, stream)


TOOLS = [
    ToolDef(project_status, "Project status", READ),
    ToolDef(sprint_create, "Create or update a sprint", IDEMPOTENT),
    ToolDef(sprint_list, "List sprints", READ),
    ToolDef(stream_create, "Create or update a stream", IDEMPOTENT),
    ToolDef(stream_list, "List streams", READ),
    ToolDef(stream_get, "Get a stream", READ),
    ToolDef(plan_import, "Import a plan", IDEMPOTENT),
    ToolDef(graph_get, "Get the task graph", READ),
]
