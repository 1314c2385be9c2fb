"""A completion report: what a sprint, a stream or the project got done, how, and in what order.

Times are ISO 8601 UTC strings; durations are seconds. Everything is in a fixed order (tasks by
done order or creation, agents by name), so one database and clock give one report.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field


class DoneTask(BaseModel):
    code: str
    title: str
    done_by: str | None = Field(description="who held it when it was finished; None when its subtasks finished it")
    created_at: str
    first_claimed_at: str | None
    done_at: str
    created_to_done: float
    claimed_to_done: float | None = Field(description="from its first claim; None if it was never claimed")
    in_progress: float = Field(description="seconds in progress, over every attempt")
    attempts: int = Field(description="times it was claimed")
    summary: str | None


class OpenTask(BaseModel):
    """A task in scope that is not done: cancelled, failed, or still open."""

    code: str
    title: str
    status: str
    reason: str | None


class AgentWork(BaseModel):
    agent: str
    tasks_done: list[str] = Field(description="codes, in done order")
    in_progress: float = Field(description="seconds holding tasks in progress, done or not")


class PathStep(BaseModel):
    code: str
    title: str
    status: str
    done_at: str | None
    after_start: float | None = Field(description="seconds from the report's start to this task's done")


class Incident(BaseModel):
    at: str
    what: Literal["retried", "failed", "lease_expired"]
    agent: str | None
    reason: str


class EscalationRecord(BaseModel):
    at: str
    trigger: str
    reason: str
    settled: str = Field(description="how it was settled, or 'open'")


class Trouble(BaseModel):
    """One task's failures, retries and escalations, and how it ended."""

    code: str
    title: str
    incidents: list[Incident]
    escalations: list[EscalationRecord]
    outcome: str


class ReportArtifact(BaseModel):
    uri: str
    name: str
    media_type: str
    size: int
    uploaded_by: str | None
    uploaded_at: str
    linked_to: list[str] = Field(description="'task:T-1', 'sprint:S1', ... within the report's scope")


class CompletionReport(BaseModel):
    project: str
    scope: Literal["project", "sprint", "stream"]
    code: str | None = Field(description="the sprint's or stream's code")
    title: str = Field(description="the sprint's title or the stream's name; the project's name")
    goal: str = Field(description="the sprint's goal or the stream's description")
    generated_at: str
    counts: dict[str, int] = Field(description="tasks per status")
    started_at: str | None = Field(description="the first claim in scope")
    finished_at: str | None = Field(description="the last task done")
    elapsed: float | None
    in_progress_total: float
    failed_attempts: int
    lease_expiries: int
    done: list[DoneTask] = Field(description="in done order: the changelog")
    not_done: list[OpenTask]
    agents: list[AgentWork]
    planned_path: list[PathStep]
    actual_path: list[PathStep]
    path_basis: str = Field(description="what the planned path's length counts")
    troubles: list[Trouble]
    artifacts: list[ReportArtifact]
