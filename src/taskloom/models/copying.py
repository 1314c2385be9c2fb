"""What `taskloom copy` reports: rows per table on both sides, and the artifact bytes checked."""

from __future__ import annotations

from pydantic import BaseModel, Field, computed_field


class TableCount(BaseModel):
    table: str
    source: int = Field(description="rows of the copied projects in the source")
    destination: int = Field(description="rows of the copied projects in the destination, read back after commit")


class CopyReport(BaseModel):
    source: str
    destination: str
    projects: list[str]
    tables: list[TableCount]
    blobs: int = Field(description="distinct artifact contents, each read back from the destination and hashed")
    blob_bytes: int
    bad_blobs: list[str] = Field(description="sha256 of contents missing or damaged in the destination")

    @computed_field  # type: ignore[prop-decorator]
    @property
    def verified(self) -> bool:
        return not self.bad_blobs and all(t.source == t.destination for t in self.tables)
