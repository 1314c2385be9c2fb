"""`taskloom backup`: a consistent copy of a live SQLite database and the blobs it names.

SQLite's online backup API copies the pages into a temp file beside the target. It runs as one
step: in WAL mode that is one read transaction, a snapshot that never blocks a writer (writers
append to the WAL while it reads). Stepping would not help them and would hurt us: a backup
restarts from the first page whenever another process commits between two steps, so on a busy
database a stepped backup might never finish. The copy then passes `taskloom check`'s checks
(integrity, foreign keys, schema), its blobs are copied (immutable and content-addressed, so the
files the copy's rows name are the right ones whenever they are read), and only then is it
renamed into place: never half a backup at the path.

Blocking (file and database I/O): call it off the event loop.
"""

from __future__ import annotations

import os
import sqlite3
import tempfile
from dataclasses import dataclass
from pathlib import Path

from taskloom.errors import Conflict, InvalidInput, NotFound, Storage
from taskloom.store.blobs import BlobStore, fill
from taskloom.store.sqlite import health
from taskloom.store.sqlite.store import SqliteTx

BUSY_TIMEOUT_MS = 10_000


@dataclass(frozen=True)
class BackupReport:
    database: str
    backup: str
    bytes: int
    pages: int
    blobs: int
    blob_bytes: int
    integrity: str  # "ok": the copy passed integrity_check, foreign_key_check and the schema check


def check_paths(source: Path, target: Path, force: bool) -> None:
    """Refuse what cannot be a backup, before anything is opened or written."""
    if not source.is_file():
        raise NotFound(f"No taskloom database at {source}.", hint="Check --db (or TASKLOOM_DB).")
    if target.is_dir():
        raise InvalidInput(f"{target} is a directory.", hint="Name the backup file, e.g. backup.db.")
    if not target.parent.is_dir():
        raise NotFound(f"The directory {target.parent} does not exist.", hint="Create it first, or back up to another path.")
    if target.resolve() == source.resolve():
        raise InvalidInput("The backup would replace the database itself.", hint="Back up to another path.")
    for suffix in ("-wal", "-shm"):
        if Path(f"{target}{suffix}").exists():
            raise Conflict(f"{target}{suffix} exists: something has {target} open as a database; it was left as it is.",
                           hint="Stop what uses it, or back up to a new path.")
    if target.exists() and not force:
        raise Conflict(f"{target} already exists; it was left as it is.",
                       hint="Back up to a new path, or pass --force to replace it.")


def backup(source: Path, target: Path, force: bool = False) -> BackupReport:
    check_paths(source, target, force)
    fd, name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    os.close(fd)
    tmp = Path(name)
    try:
        pages = _copy_pages(source, tmp)
        report = health.examine(tmp)
        if not report.ok:
            raise Storage(f"The copy of {source} failed its checks: {'; '.join(report.problems)}. No backup was written.",
                          hint=health.check_hint(source))
        blobs, blob_bytes = _copy_blobs(source, tmp, target)
        os.chmod(tmp, source.stat().st_mode & 0o777)  # mkstemp's 0600, else: whoever may read the database
        os.replace(tmp, target)
    except BaseException:
        for leftover in (tmp, Path(f"{tmp}-wal"), Path(f"{tmp}-shm")):
            leftover.unlink(missing_ok=True)
        raise
    return BackupReport(database=str(source), backup=str(target), bytes=target.stat().st_size, pages=pages,
                        blobs=blobs, blob_bytes=blob_bytes, integrity="ok")


def _copy_pages(source: Path, tmp: Path) -> int:
    try:
        src = sqlite3.connect(source)  # read-write, though it only reads: a read-only one may not open a WAL file
    except sqlite3.Error as exc:
        raise health.storage_error(exc, source) from None
    try:
        src.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        dst = sqlite3.connect(tmp)
        try:
            src.backup(dst)  # one step: see the module
            pages = dst.execute("PRAGMA page_count").fetchone()[0]
            # The copy keeps the source's WAL mode in its header; fold it back into one file now.
            dst.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            dst.close()
    except sqlite3.Error as exc:
        if health.is_storage_fault(exc):
            raise health.storage_error(exc, source) from None
        raise Storage(f"Cannot back up {source}: {exc}. No backup was written.", hint=health.check_hint(source)) from None
    finally:
        src.close()
    return int(pages)


def _copy_blobs(source: Path, tmp: Path, target: Path) -> tuple[int, int]:
    """The blobs the copy's rows name, from the source's blob folder to the target's, each hashed on
    the way (the writer refuses bytes that are not the ones named)."""
    conn = sqlite3.connect(tmp)
    conn.row_factory = sqlite3.Row
    try:
        shas = [r[0] for r in SqliteTx(conn).all("artifact_all_shas", {"except": "[]"})]
    finally:
        conn.close()
    here, there = BlobStore.beside(source), BlobStore.beside(target)
    total = 0
    for sha in sorted(shas):
        try:
            data = here.read(sha)
        except FileNotFoundError:
            raise Storage(f"The bytes of artifact {sha[:12]} are missing from {here.root}; no backup was written.",
                          hint="Remove the artifact (artifacts_gc) or upload it again, then back up again.") from None
        total += len(data)
        if there.known(sha, len(data)) is None:
            try:
                fill(there.writer(len(data), sha256=sha, size=len(data)), data)
            except InvalidInput as exc:
                raise Storage(f"The bytes of artifact {sha[:12]} in {here.root} are damaged: {exc.message}",
                              hint="Upload the file again, or remove the artifact (artifacts_gc).") from None
    return len(shas), total
