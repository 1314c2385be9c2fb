"""`taskloom export`: `taskloom copy`'s read half into a file (the format is in models/archive.py;
services/importing.py is the other half).

Export reads every table in one snapshot (the store's `read`) and the blobs that snapshot names,
each hashed on the way out, and writes a temp file renamed into place: never half an archive at
the path. The same data always gives the same bytes.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import tarfile
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

import anyio

from taskloom import __version__
from taskloom.config import Settings
from taskloom.errors import Conflict, InvalidInput, NotFound, Storage
from taskloom.models.archive import (
    FORMAT,
    FORMAT_VERSION,
    MANIFEST,
    ArchiveReport,
    BlobMember,
    Manifest,
    Source,
    TableMember,
)
from taskloom.services import copying
from taskloom.services.copying import TABLES, Project, Rows
from taskloom.store import backends
from taskloom.store.blobs import Blobs

GZIP_SUFFIXES = (".gz", ".tgz")
GZIP_LEVEL = 1  # 6 took 2.5x the time for an archive 13% smaller (100k tasks: 6.1 MB at 1)


def is_archive(path: Path) -> bool:
    """A tar (`ustar` at byte 257) or a gzip (1f 8b) file: what `taskloom import` loads as an archive
    rather than as a plan. An unreadable file is not one (the plan reader says why it cannot read it)."""
    try:
        with open(path, "rb") as f:
            head = f.read(512)
    except OSError:
        return False
    return head[:2] == b"\x1f\x8b" or head[257:262] == b"ustar"


# -- export --------------------------------------------------------------------------------------


# One encoder for every line: keys sorted, so a row's bytes do not depend on a SELECT's column order.
_ENCODER = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def encode_table(rows: Rows) -> bytes:
    """One JSON object per line. A flag is 0/1 on SQLite and a bool on PostgreSQL: 0/1 here, so both
    backends write the same bytes (flags are NOT NULL, so the first row names them)."""
    if not rows:
        return b""
    flags = [k for k, v in rows[0].items() if isinstance(v, bool)]
    if flags:
        rows = [{**r, **{k: int(r[k]) for k in flags}} for r in rows]
    lines = list(map(_ENCODER.encode, rows))
    if "id" not in rows[0]:
        # A link table is read in its key's order, and text keys sort by the database's collation:
        # sorting the lines makes the order the same on both backends (nothing refers to these rows).
        lines.sort()
    return ("\n".join(lines) + "\n").encode()


def decode_table(data: bytes) -> list[Any]:
    """The rows of a member, parsed in one call (a line never holds a raw newline: JSON escapes it)."""
    return json.loads(b"[" + data.rstrip(b"\n").replace(b"\n", b",") + b"]") if data else []


def members_of(found: list[Project], source: Source) -> tuple[Manifest, dict[str, bytes]]:
    """The manifest and the table members of the projects read in one snapshot."""
    tables: dict[str, bytes] = {}
    listed = []
    for table in TABLES:
        rows = [r for p in found for r in p.rows[table]]
        data = encode_table(rows)
        member = f"tables/{table}.jsonl"
        tables[member] = data
        listed.append(TableMember(table=table, member=member, rows=len(rows), size=len(data),
                                  sha256=hashlib.sha256(data).hexdigest()))
    blobs = sorted({a["sha256"]: a["size"] for p in found for a in p.rows["artifacts"]}.items())
    manifest = Manifest(format=FORMAT, version=FORMAT_VERSION, projects=[p.name for p in found], tables=listed,
                        blobs=[BlobMember(sha256=s, size=n) for s, n in blobs], source=source)
    return manifest, tables


def _info(name: str, size: int) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size, info.mtime, info.mode, info.uid, info.gid, info.uname, info.gname = size, 0, 0o644, 0, 0, "", ""
    return info


def write_archive(out: IO[bytes], manifest: Manifest, tables: dict[str, bytes], blob_bytes: Callable[[BlobMember], bytes],
                  gz: bool) -> None:
    """The archive into `out`: manifest, tables, blobs, each with fixed metadata (deterministic)."""
    packed = gzip.GzipFile(filename="", mode="wb", fileobj=out, mtime=0, compresslevel=GZIP_LEVEL) if gz else None
    with tarfile.open(fileobj=packed or out, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        head = manifest.model_dump_json(indent=2).encode() + b"\n"
        tar.addfile(_info(MANIFEST, len(head)), _Reader(head))
        for name, data in tables.items():
            tar.addfile(_info(name, len(data)), _Reader(data))
        for blob in manifest.blobs:
            data = blob_bytes(blob)
            tar.addfile(_info(f"blobs/{blob.sha256}", len(data)), _Reader(data))
    if packed is not None:
        packed.close()


class _Reader:
    """A file over bytes without copying them (io.BytesIO copies on construction)."""

    def __init__(self, data: bytes) -> None:
        self._view, self._at = memoryview(data), 0

    def read(self, n: int = -1) -> bytes:
        end = len(self._view) if n < 0 else self._at + n
        chunk = self._view[self._at:end].tobytes()
        self._at += len(chunk)
        return chunk


def _checked_blob(blobs: Blobs, names: dict[str, str]) -> Callable[[BlobMember], bytes]:
    def read(blob: BlobMember) -> bytes:
        what = f"The bytes of artifact {names[blob.sha256]!r} ({blob.sha256[:12]}) in the database"
        fix = "Upload the file again, or remove the artifact (artifacts_gc), then export again."
        try:
            data = blobs.read(blob.sha256)
        except FileNotFoundError:
            raise Storage(f"{what} are missing; no archive was written.", hint=fix) from None
        if len(data) != blob.size or hashlib.sha256(data).hexdigest() != blob.sha256:
            raise Storage(f"{what} are damaged (their hash differs); no archive was written.", hint=fix)
        return data

    return read


def check_output(target: Path | None, force: bool) -> None:
    """Refuse a path the archive cannot go to, before the database is opened."""
    if target is None:
        return
    if target.is_dir():
        raise InvalidInput(f"{target} is a directory.", hint="Give -o a file name, e.g. -o project.tar.gz.")
    if not target.parent.is_dir():
        raise NotFound(f"The directory {target.parent} does not exist.", hint="Create it first, or give -o another path.")
    if target.exists() and not force:
        raise Conflict(f"{target} already exists; it was left as it is.",
                       hint="Give -o a new file name, or pass --force to replace it.")


@contextmanager
def replacing(target: Path) -> Iterator[IO[bytes]]:
    """A temp file beside `target`, renamed onto it only if the block ends without an error."""
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


async def export(settings: Settings, project: str | None, target: Path | None, out: IO[bytes] | None = None,
                 force: bool = False) -> ArchiveReport:
    """Write `project` (or every project) to `target` (or to `out`, e.g. stdout); see the module."""
    check_output(target, force)
    where = backends.label(settings)
    found_db = backends.database(settings)
    if found_db.path is not None and not found_db.path.is_file():
        raise NotFound(f"No taskloom database at {found_db.path}.", hint="Check --db (or TASKLOOM_DB).")
    store = await backends.open_store(settings)
    try:
        found = await store.read(lambda tx: copying.read_projects(tx, project, where, "export", "--db"))
        source = Source(taskloom=__version__, backend=store.backend, database=where, schema_version=store.schema_version)
    finally:
        await store.close()
    manifest, tables = members_of(found, source)
    names = {a["sha256"]: a["name"] for p in found for a in p.rows["artifacts"]}
    gz = target is not None and target.name.endswith(GZIP_SUFFIXES)

    def write() -> tuple[int, str]:
        blobs = backends.open_blobs(settings)
        try:
            if target is None:
                assert out is not None
                sink = _Hashing(out)
                write_archive(sink, manifest, tables, _checked_blob(blobs, names), gz)
                return sink.size, sink.sha.hexdigest()
            with replacing(target) as f:
                sink = _Hashing(f)
                write_archive(sink, manifest, tables, _checked_blob(blobs, names), gz)
            return sink.size, sink.sha.hexdigest()
        finally:
            blobs.close()

    size, sha = await anyio.to_thread.run_sync(write)
    return ArchiveReport(
        archive=str(target) if target is not None else "-", database=where, projects=manifest.projects,
        tables={t.table: t.rows for t in manifest.tables}, blobs=len(manifest.blobs),
        blob_bytes=sum(b.size for b in manifest.blobs), archive_bytes=size, sha256=sha,
    )


class _Hashing:
    """Passes writes on, counting and hashing them: the report names the archive's own hash."""

    def __init__(self, out: IO[bytes]) -> None:
        self._out, self.sha, self.size = out, hashlib.sha256(), 0

    def write(self, data: bytes) -> int:
        self.sha.update(data)
        self.size += len(data)
        return self._out.write(data) or len(data)

    def tell(self) -> int:  # tarfile asks where it starts
        return self.size

    def flush(self) -> None:
        self._out.flush()
