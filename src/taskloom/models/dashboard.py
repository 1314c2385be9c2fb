"""What the dashboard pages read: what needs a decision, a task's history and what it unblocks."""

from __future__ import annotations

from pydantic import BaseModel, Field

from taskloom.models.overview import OverdueLease


class DecisionTask(BaseModel):
    """A task waiting on a person: blocked, failed for good, or awaiting review."""

    code: str
    title: str
    status: str
    reason: str | None = Field(description="the blocker's question or the last failure")
    claimed_by: str | None = Field(description="who holds it (blocked), failed it, or submitted it")
    attempts: int
    max_attempts: int


class OpenEscalation(BaseModel):
    id: int = Field(description="the escalation message's id: message_ack settles it")
    task: str | None
    subject: str
    at: str


class Decisions(BaseModel):
    """One source of "what needs a decision", newest escalations first, up to `limit` of each kind
    (blocked, failed and review share the one limit, in that order); `counts` has the full numbers."""

    blocked: list[DecisionTask]
    failed: list[DecisionTask]
    review: list[DecisionTask]
    escalations: list[OpenEscalation]
    stuck_streams: list[str] = Field(description="a sentence per stream that waits on streams with no tasks")
    overdue_leases: list[OverdueLease]
    counts: dict[str, int] = Field(description="blocked, failed, review and escalations, however many are listed")

    @property
    def empty(self) -> bool:
        return not (self.blocked or self.failed or self.review or self.escalations or self.stuck_streams
                    or self.overdue_leases)


class StatusSpan(BaseModel):
    status: str
    entered_at: str
    left_at: str | None = Field(description="null: the task is still in this status")
    seconds: float = Field(description="time in this status; the current one up to now")
    agent: str | None = Field(description="who made the move into it (taskloom: the resolver)")


class StatusHistory(BaseModel):
    task: str
    spans: list[StatusSpan] = Field(description="oldest first")
    totals: dict[str, float] = Field(description="seconds spent in each status, all spans added up")


class Dependent(BaseModel):
    code: str
    title: str
    status: str
    stream: str | None
    other_open: list[str] = Field(description="its other dependencies that are neither done nor cancelled")


class StreamOpening(BaseModel):
    code: str
    name: str


class Impact(BaseModel):
    """What finishing a task unblocks."""

    task: str
    dependents: list[Dependent] = Field(description="direct dependents, up to the limit, oldest first")
    direct: int = Field(description="how many direct dependents there are in all")
    would_be_ready: list[str] = Field(description="listed dependents that become ready when this task is done")
    transitive: int = Field(description="tasks that depend on this one directly or through others")
    streams_opening: list[StreamOpening] = Field(
        description="streams that open when this task is done: it is its stream's last open task"
    )
