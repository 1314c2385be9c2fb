"""Where the time went (`taskloom report time`): tasks, agents and spans over a window.

Times are ISO 8601 UTC; durations are seconds. domain/timesheet.py defines the words.
"""

from __future__ import annotations

from pydantic import BaseModel, Field


class TimeSpan(BaseModel):
    """A task's stay in one status, cut to the report's window."""

    task: str
    role: str | None = Field(description="the task's role (the TSV's `mode`)")
    status: str
    start: str = Field(description="when it entered the status, or the window's start if earlier")
    end: str | None = Field(description="when it left; null: open, still in it at the report's end")
    seconds: float = Field(description="an open span counts up to the report's end")
    open: bool
    holder: str | None = Field(description="who held the task (in_progress and blocked only)")
    moved_by: str | None = Field(description="who made the move into it (taskloom: the resolver)")


class Holding(BaseModel):
    agent: str
    in_progress: float
    blocked: float


class TaskTime(BaseModel):
    code: str
    title: str
    role: str | None
    stream: str | None
    sprint: str | None
    status: str = Field(description="its status now")
    seconds: dict[str, float] = Field(description="seconds in each status in the window, every status listed")
    waiting_for_claim: float = Field(description="seconds ready: claimable, and nobody had taken it")
    elapsed: float = Field(description="seconds in play: in every status but done, cancelled and failed")
    claims: int = Field(description="times it was claimed in the window")
    attempts: int = Field(description="attempts used now: failures and expired leases, as max_attempts counts")
    holders: list[Holding] = Field(description="who held it and for how long, in order of first claim")
    runs: int = Field(description="runner runs for this task started in the window")
    cost_usd: float | None = Field(description="those runs' cost, where the runner learnt it; null: none did")
    turns: int | None


class AgentTime(BaseModel):
    name: str
    role: str | None
    present: float = Field(description="seconds present in the window")
    busy: float = Field(description="seconds holding a task in progress")
    blocked: float = Field(description="seconds holding blocked tasks only")
    idle: float = Field(description="seconds present and holding nothing")
    present_at_end: bool
    tasks: list[str] = Field(description="the tasks it held in the window")
    runs: int = Field(description="runner runs of this agent started in the window")
    cost_usd: float | None
    turns: int | None


class Timesheet(BaseModel):
    project: str
    sprint: str | None
    stream: str | None
    since: str | None = Field(description="the window's start; null: the project's first event")
    until: str = Field(description="the report's end: --until, or the time it was made")
    made_at: str
    tasks: list[TaskTime] = Field(description="the sprint's or stream's tasks (all, if neither), oldest first")
    agents: list[AgentTime] = Field(description="every agent present in the window, whatever it worked on")
    spans: list[TimeSpan] = Field(description="in the order they ended (open ones last), as a log is written")
