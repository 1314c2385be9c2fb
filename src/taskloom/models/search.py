"""What a search returns: ranked hits, each with what to call to read the whole thing."""

from __future__ import annotations

from pydantic import BaseModel, Field

from taskloom.domain.search import SearchKind


class SearchHit(BaseModel):
    kind: SearchKind
    id: int | str = Field(description="task: its code; note, message: the row id; artifact: its sha256")
    title: str
    snippet: str = Field(description="the best passage, matches in **bold**")
    task: str | None = Field(None, description="the task it belongs to")
    status: str | None = Field(None, description="that task's status")
    stream: str | None = None
    agent: str | None = Field(None, description="author")
    at: str | None = None
    score: float = Field(description="higher is better; 0 when too many matched to rank (see message)")


class SearchResults(BaseModel):
    hits: list[SearchHit]
    message: str = ""
