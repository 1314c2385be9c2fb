"""What the command line shows about a whole database: its projects and overdue leases."""

from __future__ import annotations

from pydantic import BaseModel, Field


class ProjectSummary(BaseModel):
    name: str
    created_at: str | None
    counts: dict[str, int] = Field(description="tasks per status")
    total: int


class ProjectList(BaseModel):
    database: str
    projects: list[ProjectSummary]


class OverdueLease(BaseModel):
    """A claim whose lease ran out that no resolver has expired yet (no server was running)."""

    code: str
    claimed_by: str | None
    lease_expired_at: str | None
    seconds_ago: float
