"""`taskloom import FILE.tar[.gz]`: `taskloom copy`'s write half, from an archive that `taskloom
export` wrote (services/archive.py; the format is in models/archive.py).

It checks everything before it writes anything: the format version, every member's size and hash
against the manifest, no member missing, extra or twice, every blob's hash. Then it writes the
blobs (declared by hash and size, so the store refuses other bytes), then every row in one
transaction, ids kept, into a database that holds no project (copy's rule, for copy's reason:
ids appear in events, subjects and links), and reads it all back as copy does.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import tarfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import anyio
from pydantic import ValidationError

from taskloom import __version__
from taskloom.config import Settings
from taskloom.errors import InvalidInput
from taskloom.models.archive import FORMAT, FORMAT_VERSION, MANIFEST, Manifest, TableMember
from taskloom.models.copying import CopyReport, TableCount
from taskloom.services import copying
from taskloom.services.archive import decode_table
from taskloom.services.copying import TABLES, Project, Rows
from taskloom.store import backends
from taskloom.store.blobs import CHUNK, Blobs, fill

MANIFEST_MAX = 64 * 1024 * 1024  # bytes: a manifest lists every blob, but never this many
TABLE_MAX = 2 * 1024 * 1024 * 1024  # bytes of one table's member: refused before it is read into memory



@dataclass
class Loaded:
    """A verified archive: its manifest and every table's rows (blobs stay in the file)."""

    manifest: Manifest
    rows: dict[str, Rows] = field(default_factory=dict)


def damaged(path: Path, why: str) -> InvalidInput:
    return InvalidInput(f"{path} is not a usable taskloom archive: {why}. Nothing was imported.",
                        hint="Export it again with `taskloom export -o FILE`, or check that the file was copied whole.")


@contextmanager
def _members(path: Path) -> Iterator[Iterator[tuple[tarfile.TarInfo, IO[bytes] | None]]]:
    """The archive's members in order, as a stream (gzip or not); any fault reading it is `damaged`."""
    try:
        with tarfile.open(path, mode="r|*") as tar:
            def each() -> Iterator[tuple[tarfile.TarInfo, IO[bytes] | None]]:
                for info in tar:
                    yield info, tar.extractfile(info) if info.isfile() else None

            yield each()
    except (tarfile.TarError, EOFError, zlib.error, gzip.BadGzipFile) as exc:
        raise damaged(path, f"it is truncated or not a tar ({exc})") from None
    except OSError as exc:
        raise InvalidInput(f"Cannot read {path}: {exc.strerror or exc}.", hint="Check the path and its permissions.") from None


def _read(f: IO[bytes], limit: int, path: Path, name: str) -> bytes:
    data = f.read(limit + 1)
    if len(data) > limit:
        raise damaged(path, f"{name} is over {limit} bytes")
    return data


def _hash(f: IO[bytes]) -> tuple[str, int]:
    sha, size = hashlib.sha256(), 0
    while chunk := f.read(CHUNK):
        sha.update(chunk)
        size += len(chunk)
    return sha.hexdigest(), size


def manifest_of(path: Path, data: bytes) -> Manifest:
    try:
        raw = json.loads(data)
    except ValueError as exc:
        raise damaged(path, f"{MANIFEST} is not JSON ({exc})") from None
    if not isinstance(raw, dict):
        raise damaged(path, f"{MANIFEST} is not a JSON object")
    if raw.get("format") != FORMAT:
        raise damaged(path, f"{MANIFEST} says format {raw.get('format')!r}, not {FORMAT!r}")
    version = raw.get("version")
    if isinstance(version, int) and version > FORMAT_VERSION:
        raise InvalidInput(
            f"{path} is a version {version} archive, from a newer taskloom; this taskloom ({__version__}) reads "
            f"versions up to {FORMAT_VERSION}. Nothing was imported.",
            hint="Upgrade taskloom (pip install -U taskloom) and import again.",
            details={"version": version, "supported": FORMAT_VERSION},
        )
    try:
        manifest = Manifest.model_validate(raw)
    except ValidationError as exc:
        raise damaged(path, f"{MANIFEST} does not fit version {FORMAT_VERSION} ({exc.error_count()} problems)") from None
    if manifest.version < 1:
        raise damaged(path, f"{MANIFEST} says version {manifest.version}")
    unknown = [t.table for t in manifest.tables if t.table not in TABLES]
    if unknown:
        raise damaged(path, f"it has tables this taskloom does not know ({', '.join(unknown)})")
    return manifest


def verify(path: Path) -> Loaded:
    """Read and check the whole archive; its rows, parsed. Raises before anything is written."""
    with _members(path) as members:
        first = next(members, None)
        if first is None or first[0].name != MANIFEST or first[1] is None:
            raise damaged(path, f"its first member is not {MANIFEST}")
        loaded = Loaded(manifest_of(path, _read(first[1], MANIFEST_MAX, path, MANIFEST)))
        tables = {t.member: t for t in loaded.manifest.tables}
        blobs = {f"blobs/{b.sha256}": b for b in loaded.manifest.blobs}
        seen: set[str] = set()
        for info, f in members:
            if info.name in seen:
                raise damaged(path, f"{info.name} is in it twice")
            seen.add(info.name)
            want = tables.get(info.name) or blobs.get(info.name)
            if want is None or f is None:
                raise damaged(path, f"{info.name} is not in its manifest")
            if isinstance(want, TableMember):
                loaded.rows[want.table] = _table(path, want, _read(f, TABLE_MAX, path, info.name))
            else:
                sha, size = _hash(f)
                if (sha, size) != (want.sha256, want.size):
                    raise damaged(path, f"{info.name} does not match its hash (damaged bytes)")
    missing = sorted((set(tables) | set(blobs)) - seen)
    if missing:
        raise damaged(path, f"{len(missing)} member(s) of its manifest are missing (is it truncated?), e.g. {missing[0]}")
    for table in TABLES:  # a table an older taskloom did not have: no rows
        loaded.rows.setdefault(table, [])
    names = [p.get("name") for p in loaded.rows["projects"]]
    if names != loaded.manifest.projects:
        raise damaged(path, f"its projects table holds {names}, its manifest {loaded.manifest.projects}")
    return loaded


def _table(path: Path, want: TableMember, data: bytes) -> Rows:
    if len(data) != want.size or hashlib.sha256(data).hexdigest() != want.sha256:
        raise damaged(path, f"{want.member} does not match its hash (damaged or edited)")
    try:
        rows = decode_table(data)
    except ValueError as exc:
        raise damaged(path, f"{want.member} is not JSON Lines ({exc})") from None
    if len(rows) != want.rows or not all(isinstance(r, dict) for r in rows):
        raise damaged(path, f"{want.member} holds {len(rows)} rows, its manifest says {want.rows}")
    return rows


def load_blobs(path: Path, loaded: Loaded, target: Blobs) -> None:
    """The blobs into the target's store, each declared by hash and size (a second pass over the file,
    so a large archive's bytes are never all in memory)."""
    wanted = {f"blobs/{b.sha256}": b for b in loaded.manifest.blobs if target.known(b.sha256, b.size) is None}
    if not wanted:
        return  # no second pass over the file
    with _members(path) as members:
        for info, f in members:
            blob = wanted.get(info.name)
            if blob is None or f is None:
                continue
            try:
                fill(target.writer(blob.size, sha256=blob.sha256, size=blob.size), f.read())
            except InvalidInput as exc:
                raise damaged(path, f"{info.name} changed while it was read ({exc.message})") from None


IMPORT_HINT = ("Import into a new database: --db with a new SQLite path, or an empty PostgreSQL database "
               "(`createdb NAME`, then --db postgresql://USER@HOST/NAME).")


async def import_archive(settings: Settings, path: Path) -> CopyReport:
    """Load the archive at `path` into the settings' database; see the module."""
    loaded = await anyio.to_thread.run_sync(verify, path)
    where = backends.label(settings)
    refusal = {"command": "taskloom import", "hint": IMPORT_HINT}
    store = await backends.open_store(settings)
    try:
        # Asked first so a refusal writes no blob either; asked again inside the write.
        await store.read(lambda tx: copying.refuse_occupied(tx, where, **refusal))
        blobs = await anyio.to_thread.run_sync(backends.open_blobs, settings)
        try:
            await anyio.to_thread.run_sync(load_blobs, path, loaded, blobs)
            whole = Project(", ".join(loaded.manifest.projects), loaded.rows, {})
            ids = [p["id"] for p in loaded.rows["projects"]]
            await store.load(lambda tx: copying.write_projects(tx, [whole], where, **refusal), ids)
            landed = await store.read(lambda tx: [copying.counts(tx, i) for i in ids])
            bad, total = await anyio.to_thread.run_sync(copying.bad_blobs, [whole], blobs)
        finally:
            await anyio.to_thread.run_sync(blobs.close)
    finally:
        await store.close()
    tables = [TableCount(table=t.table, source=t.rows, destination=sum(c[t.table] for c in landed))
              for t in loaded.manifest.tables]
    return CopyReport(source=str(path), destination=where, projects=loaded.manifest.projects, tables=tables,
                      blobs=len(loaded.manifest.blobs), blob_bytes=total, bad_blobs=bad)
