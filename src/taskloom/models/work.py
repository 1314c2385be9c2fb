"""Pydantic models for planning and the work cycle: what those tools take and return.

Outputs are what agents read, so names are plain and timestamps are ISO-8601 strings. Inputs
carry their limits in the schema where it is cheap, and are re-checked in the services (the
limits module) so that every path, CLI included, enforces them.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from taskloom.domain.limits import MAX_NAME, MAX_TITLE
from taskloom.domain.statuses import SprintStatus, StreamStatus, TaskStatus
from taskloom.models.artifacts import ArtifactRef
from taskloom.models.forms import Formed, Part

Code = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]*$")]
Name = Annotated[str, Field(min_length=1, max_length=MAX_NAME)]
Title = Annotated[str, Field(min_length=1, max_length=MAX_TITLE)]
Priority = Annotated[int, Field(ge=0, le=4, description="0 critical .. 4 lowest")]
NoteKind = Literal["note", "progress", "decision", "blocker"]


def _empty_list(description: str | None = None) -> Any:
    """An empty-list default made fresh per instance: pydantic deep-copies a literal `[]` for each
    model it builds (a quarter of a 100k-task plan's validation); the schema still says `[]`."""
    return Field(default_factory=list, description=description, json_schema_extra={"default": []})


class _In(BaseModel):
    # Unknown fields are errors: a misspelt argument must not be silently ignored.
    model_config = ConfigDict(extra="forbid")


class TaskSpec(_In):
    """One task to create."""

    title: Title
    code: Code | None = Field(None, description="default T-<n>")
    key: Name | None = Field(None, description="idempotency key: an existing task with it is returned")
    description: str = ""
    acceptance: str = Field("", description="acceptance criteria")
    context: str = ""
    priority: Priority = 2
    role: Name | None = None
    labels: list[Name] = _empty_list()
    stream: Code | None = None
    sprint: Code | None = None
    parent: Code | None = None
    depends_on: list[str] = _empty_list("task codes or keys (this batch or existing)")
    max_attempts: Annotated[int, Field(ge=1, le=100)] = 3
    requires_review: bool = False
    backlog: bool = Field(False, description="park it out of play")


class StreamSpec(_In):
    code: Code
    name: Title | None = None
    description: str | None = None
    depends_on: list[Code] | None = Field(None, description="replaces the list; omit to keep")


class SprintSpec(_In):
    code: Code
    title: Title | None = None
    goal: str | None = Field(None, description="omit to keep")
    status: SprintStatus | None = Field(None, description="omit to keep; new sprints start planned")


class RoleSpec(_In):
    """A specialist mode agents take on: who it is for and how to work in it."""

    slug: Code
    name: Title | None = Field(None, description="default: the slug")
    definition: str = Field("", description="what this role is responsible for")
    when_to_use: str = Field("", description="which tasks belong to it")
    instructions: str = Field("", description="how an agent in this role should work")


class Plan(_In):
    """A whole plan: imported in one transaction, idempotent by codes and keys."""

    roles: list[RoleSpec] = []
    sprints: list[SprintSpec] = []
    streams: list[StreamSpec] = []
    tasks: list[TaskSpec] = []
    # `taskloom run`'s agent settings (taskloom.runner.settings checks them), so one file can
    # carry both; importing a plan does not store them.
    runner: dict[str, Any] | None = None


class Note(Part):
    kind: NoteKind | Literal["system"]
    body: str
    agent: str | None
    at: str


class DependencyInfo(Part):
    code: str
    title: str
    status: TaskStatus
    summary: str | None = None
    outcome: str | None = Field(None, description="done, cancelled, failed, or pending")


class TaskBrief(BaseModel):
    code: str
    title: str
    status: TaskStatus
    priority: int
    role: str | None
    stream: str | None
    claimed_by: str | None
    version: int


class Task(Part):
    code: str
    key: str | None
    title: str
    description: str
    acceptance: str
    context: str
    status: TaskStatus
    priority: int
    role: str | None
    labels: tuple[str, ...]
    stream: str | None
    sprint: str | None
    parent: str | None
    depends_on: tuple[str, ...]
    subtasks: tuple[str, ...]
    requires_review: bool
    rank: int = Field(description="longest chain of work waiting on this task")
    version: int
    created_by: str | None
    created_at: str
    ready_at: str | None
    started_at: str | None
    completed_at: str | None
    claimed_by: str | None
    lease_expires_at: str | None
    attempts: int
    max_attempts: int
    summary: str | None
    reason: str | None = Field(None, description="why it failed, was blocked or sent back")


class Escalation(Part):
    trigger: Literal["max_attempts", "lease_expired", "blocker", "dependency_failed"]
    reason: str
    at: str


class TaskDetail(Formed):
    """A task with what an agent needs to work on it."""

    task: Task
    notes: tuple[Note, ...] = Field(description="latest first")
    dependencies: tuple[DependencyInfo, ...]
    escalations: tuple[Escalation, ...] = Field((), description="why it was escalated, latest first")
    artifacts: tuple[ArtifactRef, ...] = Field((), description="this task's and its finished dependencies'")


class TaskCreated(BaseModel):
    tasks: list[TaskBrief]
    created: int
    existing: int = Field(description="returned unchanged because their key or code already existed")
    redacted: int = Field(0, description="secrets masked before storing")


class TaskPage(BaseModel):
    tasks: list[TaskBrief]
    total: int
    next_offset: int | None


class ClaimResult(Formed):
    claimed: bool
    detail: TaskDetail | None = None
    lease_seconds: float | None = None
    # Not counted on a successful claim: a count of every open task would cost the hot path
    # O(open tasks), and the claimer's next step does not depend on it.
    open_tasks: int | None = Field(
        None, description="with claimed false, the tasks not yet closed (0: all work is done); null when claimed"
    )
    outlook: Literal["finished", "stalled", "other_work", "wait", "retry"] | None = Field(
        None,
        description="with claimed false: finished, stalled (nothing can move) or other_work (none for your "
        "filters): stop; wait: claim again with wait_seconds; retry: claim again now",
    )
    message: str


class WorkResult(BaseModel):
    """The outcome of a work-cycle call on one task."""

    task: TaskBrief
    lease_expires_at: str | None = None
    unblocked: list[str] = Field([], description="tasks that became ready because of this call")
    redacted: int = Field(0, description="secrets masked before the text was stored")
    message: str = ""


class BulkResult(BaseModel):
    changed: list[TaskBrief]
    errors: list[dict[str, str]]


class Stream(BaseModel):
    code: str
    name: str
    description: str
    status: StreamStatus
    depends_on: list[str]
    waits_on_empty: list[str] = Field(
        [], description="streams it depends on that have no tasks: never done, so it waits until they get some"
    )
    counts: dict[str, int] = Field(description="tasks per status")
    total: int


class StreamView(BaseModel):
    stream: Stream
    tasks: list[TaskBrief] = Field(description="first 200 tasks of the stream")


class StreamList(BaseModel):
    streams: list[Stream]


class Sprint(BaseModel):
    code: str
    title: str
    goal: str
    status: SprintStatus
    counts: dict[str, int]


class SprintList(BaseModel):
    sprints: list[Sprint]


class ProjectStatus(BaseModel):
    project: str
    counts: dict[str, int]
    total: int
    streams: list[Stream]
    ready_by_role: dict[str, int]
    in_progress: list[TaskBrief]
    resolver_last_run: str | None


class ImportResult(BaseModel):
    warnings: list[str] = Field([], description="e.g. streams that wait on streams with no tasks")
    roles: int = 0
    sprints: int
    streams: int
    tasks_created: int
    tasks_existing: int
    dependencies: int
    ready: int


class GraphNode(BaseModel):
    code: str
    title: str
    status: TaskStatus
    depth: int
    rank: int


class Graph(BaseModel):
    nodes: list[GraphNode]
    edges: list[tuple[str, str]] = Field(description="(task, dependency) pairs")
    critical_path: list[str]
    mermaid: str


class MemoryEntry(BaseModel):
    key: str
    value: str
    scope: str = Field(description="'project', or 'agent:<name>'")
    expires_at: str | None = Field(description="null: durable")
    updated_at: str
    updated_by: str | None
    version: int
    truncated: bool = Field(False, description="value cut short here; memory_get has it whole")
    redacted: int = Field(0, description="secrets masked before the value was stored")


class MemoryPage(BaseModel):
    entries: list[MemoryEntry]
    next_offset: int | None


class MemoryDeleted(BaseModel):
    key: str
    deleted: bool = Field(description="false if there was no such (unexpired) entry")
