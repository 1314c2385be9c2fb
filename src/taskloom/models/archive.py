"""The archive format of `taskloom export` / `taskloom import`, and what both commands report.

An archive is a tar (gzipped when its name ends in `.gz` or `.tgz`) whose first member is
`manifest.json`, then `tables/<table>.jsonl` (one JSON object per row, keys sorted, rows in the
order the copy reads them), then `blobs/<sha256>` (each artifact's bytes once), sorted by hash.

Every member has a fixed mtime, owner and mode, and the gzip header no time or name, so the same
data always gives the same bytes. Only `source` in the manifest says where and by what the
archive was written (the database, without a password; the backend; its schema; the taskloom
version): a round trip changes that part and nothing else. There is no export time anywhere.
"""

from __future__ import annotations

from pydantic import BaseModel, Field

FORMAT = "taskloom-archive"
FORMAT_VERSION = 1  # bump when a reader of the old version could misread the new one
MANIFEST = "manifest.json"


class TableMember(BaseModel):
    table: str
    member: str = Field(description="the tar member: tables/<table>.jsonl")
    rows: int = Field(ge=0)
    size: int = Field(ge=0, description="the member's bytes")
    sha256: str


class BlobMember(BaseModel):
    sha256: str = Field(description="the artifact bytes' SHA-256, which is also the member's name blobs/<sha256>")
    size: int = Field(ge=0)


class Source(BaseModel):
    """Where the archive came from: the one part a round trip changes."""

    taskloom: str
    backend: str
    database: str = Field(description="the SQLite file or the URL, never a password")
    schema_version: int


class Manifest(BaseModel):
    format: str
    version: int
    projects: list[str]
    tables: list[TableMember]
    blobs: list[BlobMember]
    source: Source


class ArchiveReport(BaseModel):
    """What `taskloom export` wrote."""

    archive: str
    database: str
    projects: list[str]
    tables: dict[str, int] = Field(description="rows per table")
    blobs: int
    blob_bytes: int
    archive_bytes: int
    sha256: str = Field(description="of the archive file: the same data always gives the same one")
