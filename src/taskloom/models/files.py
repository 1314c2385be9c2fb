"""Pydantic models for advisory file reservations."""

from __future__ import annotations

from pydantic import BaseModel, Field


class FileHold(BaseModel):
    """One glob you hold."""

    glob: str = Field(description="as stored: normalised, e.g. 'docs/' is 'docs/**'")
    exclusive: bool
    task: str | None = Field(description="released when this task leaves your hands")
    expires_at: str


class FileConflict(BaseModel):
    """Another agent's live hold that overlaps a glob you asked for."""

    glob: str = Field(description="the glob you asked for")
    holder: str = Field(description="the agent holding the overlapping glob")
    held_glob: str
    exclusive: bool = Field(description="whether the holder's hold is exclusive")
    task: str | None = Field(description="the holder's task, if the hold is tied to one")
    reason: str | None
    expires_at: str
    example: str = Field(description="a path both globs cover")


class FilesReserved(BaseModel):
    granted: bool = Field(description="all or nothing: false means none of the globs was reserved")
    message: str
    holds: list[FileHold] = Field(description="what you now hold from this call")
    conflicts: list[FileConflict]


class FilesReleased(BaseModel):
    released: list[str] = Field(description="globs you held and no longer hold")
    not_held: list[str] = Field(description="globs named that you did not hold (or that had expired)")
    message: str
