"""Pydantic models for artifacts: files agents hand to each other, stored by content."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from taskloom.models.forms import Part


class ArtifactRef(Part):
    """An artifact as a task shows it: enough to decide whether to read it."""

    uri: str = Field(description="read it with artifacts_get or as an MCP resource")
    name: str
    media_type: str
    size: int
    task: str | None = Field(None, description="the task it is linked to: this one or a finished dependency")


class Artifact(BaseModel):
    uri: str
    sha256: str
    name: str
    media_type: str
    size: int = Field(description="bytes")
    description: str | None = None
    uploaded_by: str | None
    uploaded_at: str
    links: list[str] = Field(description="'task:T-1', 'stream:api', 'sprint:S1' or 'project'")


class Uploaded(BaseModel):
    artifact: Artifact | None = Field(description="null until the bytes are PUT to upload_url")
    new: bool = Field(description="false: the same bytes were already stored; links were added")
    upload_url: str = Field("", description="PUT the bytes here (asked for by sha256, over HTTP)")
    message: str = ""


class ArtifactPage(BaseModel):
    artifacts: list[Artifact]
    total: int
    next_offset: int | None


class ArtifactContent(BaseModel):
    artifact: Artifact
    encoding: Literal["text", "base64", "path", "url", "none"] = Field(
        description="which of text, base64, path or url holds the content; none: too big to inline (see message)"
    )
    text: str | None = None
    base64: str | None = None
    path: str | None = Field(None, description="the blob's local file; read-only")
    url: str = Field("", description="GET the bytes here with your bearer token (HTTP only)")
    truncated: bool = Field(False, description="text holds only the first max_bytes")
    message: str = ""


class GcResult(BaseModel):
    artifacts_removed: int
    blobs_removed: int
    bytes_freed: int
    temp_files_removed: int
    dry_run: bool
