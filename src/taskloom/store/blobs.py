"""Content-addressed blobs: the `Blobs` protocol, and `BlobStore`, its implementation on disk.

On disk a blob is `<root>/ab/cdef...` by SHA-256, written atomically.

A blob is written to `<root>/tmp/`, fsynced, then renamed into place (and the directory fsynced),
so a reader sees a whole blob or none, and a process killed mid-upload leaves at most a temp
file that nothing lists. The writer holds a lock on its temp file, so a gc, in any process,
never takes the file of an upload that is still running. The same bytes land on the same path, so storing them twice is free.
Which blobs are *wanted* is the database's business; this module never decides that.

Everything here is blocking file I/O: callers run it off the event loop.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import re
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from taskloom.errors import Conflict, InvalidInput, TooLarge

SHA256 = re.compile(r"^[0-9a-f]{64}$")
CHUNK = 1024 * 1024  # bytes per read/write step (and per progress report)
TEMP_PREFIX = "upload-"


@dataclass(frozen=True)
class Stored:
    sha256: str
    size: int
    new: bool  # the blob was not on disk before


class Writer(Protocol):
    """One upload in progress: feed chunks, then `commit()` (or `abort()`). `write` past the limit
    raises TooLarge and leaves nothing; `commit` of bytes other than the expected ones (when a
    hash or size was given) raises InvalidInput and leaves nothing."""

    size: int

    def write(self, chunk: bytes) -> None: ...

    def commit(self) -> Stored: ...

    def abort(self) -> None: ...


class Blobs(Protocol):
    """Immutable bytes by SHA-256, shared by every process that serves the database.

    What the services, the tools, the web and the CLI use, so either backend serves them: disk
    beside a SQLite file (BlobStore), or the PostgreSQL database itself (store/postgres/blobs.py).
    Which blobs are wanted is the database's business: no implementation decides it. Every
    method blocks: callers run them off the event loop. A blob that is not stored is a
    FileNotFoundError from `read` and `local_path`.
    """

    def writer(self, limit: int, *, sha256: str | None = None, size: int | None = None) -> Writer: ...

    def put(self, data: bytes, limit: int) -> Stored: ...

    def known(self, sha256: str, size: int) -> Stored | None:
        """The blob, if stored: freshened, so gc's grace period starts again for it."""
        ...

    def exists(self, sha256: str) -> bool: ...

    def read(self, sha256: str, limit: int | None = None) -> bytes: ...

    def local_path(self, sha256: str) -> Path:
        """A read-only local file with the blob's bytes, for a local client or a file response."""
        ...

    def delete(self, sha256: str) -> int:
        """Remove a blob; returns the bytes freed (0 if it was not there)."""
        ...

    def shas(self) -> Iterator[str]: ...

    def age(self, sha256: str) -> float:
        """Seconds since the blob was stored or last freshened; 0 if it is gone."""
        ...

    def size(self, sha256: str) -> int: ...

    def stale_temps(self, older_than: float) -> list[Path]:
        """Temp files of uploads that died, for gc to remove."""
        ...

    def close(self) -> None: ...


def too_large(limit: int) -> TooLarge:
    return TooLarge(
        f"The artifact is over the {limit}-byte limit.",
        hint="Upload a smaller file (split or compress it). Nothing was stored.",
        details={"limit": limit},
    )


def check_expected(sha256: str, size: int, want_sha256: str | None, want_size: int | None) -> None:
    """Refuse bytes that are not the ones declared (a copy between stores, a client's own hash)."""
    if want_size is not None and size != want_size:
        raise InvalidInput(
            f"The bytes are {size} long, not the declared {want_size}; nothing was stored.",
            hint="Send the whole content again.",
            details={"size": size, "expected": want_size},
        )
    if want_sha256 is not None and sha256 != want_sha256:
        raise InvalidInput(
            f"The bytes hash to {sha256}, not the declared {want_sha256}; nothing was stored.",
            hint="Send the content again; it changed on the way.",
            details={"sha256": sha256, "expected": want_sha256},
        )


def fill(writer: Writer, data: bytes) -> Stored:
    """Write `data` through `writer` in CHUNK steps and commit; nothing stays on failure."""
    try:
        for start in range(0, len(data), CHUNK):
            writer.write(data[start : start + CHUNK])
        return writer.commit()
    except BaseException:
        writer.abort()
        raise


class BlobWriter:
    """A disk upload: a locked temp file under `<root>/tmp/`, renamed into place on commit."""

    def __init__(self, blobs: BlobStore, limit: int, sha256: str | None = None, size: int | None = None) -> None:
        self._blobs = blobs
        self._limit = limit
        self._want = (sha256, size)
        self._hash = hashlib.sha256()
        self.size = 0
        tmp = blobs.root / "tmp"
        tmp.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix=TEMP_PREFIX, dir=tmp)
        # Held until the writer closes or its process dies: gc skips temp files still locked.
        fcntl.flock(fd, fcntl.LOCK_EX)
        self._file = os.fdopen(fd, "wb")
        self._temp = Path(name)

    def write(self, chunk: bytes) -> None:
        self.size += len(chunk)
        if self.size > self._limit:
            self.abort()
            raise too_large(self._limit)
        self._hash.update(chunk)
        self._file.write(chunk)

    def commit(self) -> Stored:
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()
        sha = self._hash.hexdigest()
        try:
            check_expected(sha, self.size, *self._want)
        except InvalidInput:
            self.abort()
            raise
        final = self._blobs.path(sha)
        try:
            if (kept := self._blobs.known(sha, self.size)) is not None:
                self._temp.unlink()
                return kept
            final.parent.mkdir(parents=True, exist_ok=True)
            os.chmod(self._temp, 0o444)  # blobs are immutable
            os.replace(self._temp, final)
        except FileNotFoundError:
            # Someone removed our temp file (the data directory cleaned by hand).
            raise Conflict("The upload's temporary file was removed before it was stored.",
                           hint="Upload again.") from None
        _fsync_dir(final.parent)
        return Stored(sha, self.size, new=True)

    def abort(self) -> None:
        if not self._file.closed:
            self._file.close()
        self._temp.unlink(missing_ok=True)


class BlobStore:
    """Blobs on this machine's disk, beside a SQLite file."""

    def __init__(self, root: Path) -> None:
        self.root = root

    @classmethod
    def beside(cls, db_path: Path) -> BlobStore:
        """Blobs live beside the database file, named after its whole name (`team.db-artifacts`,
        like SQLite's `-wal`): two databases in one directory must never share blobs, or one's gc
        would collect the other's, and `team.db` and `team.sqlite` share a stem. An in-memory
        database gets a private temp directory (created only when the first artifact is written)."""
        if str(db_path) == ":memory:":
            return cls(Path(tempfile.gettempdir()) / f"taskloom-artifacts-{uuid.uuid4().hex}")
        return cls(db_path.parent / f"{db_path.name}-artifacts")

    def path(self, sha256: str) -> Path:
        if not SHA256.match(sha256):
            raise ValueError(f"not a SHA-256 hex digest: {sha256!r}")
        return self.root / sha256[:2] / sha256[2:]

    def local_path(self, sha256: str) -> Path:
        path = self.path(sha256)
        if not path.is_file():
            raise FileNotFoundError(path)
        return path

    def writer(self, limit: int, *, sha256: str | None = None, size: int | None = None) -> BlobWriter:
        return BlobWriter(self, limit, sha256, size)

    def put(self, data: bytes, limit: int) -> Stored:
        return fill(self.writer(limit), data)

    def known(self, sha256: str, size: int) -> Stored | None:
        """The blob, if these bytes are stored already: freshened, so gc's grace period starts
        again for an orphan that an upload is about to record."""
        try:
            os.utime(self.path(sha256))
        except FileNotFoundError:
            return None
        return Stored(sha256, size, new=False)

    def exists(self, sha256: str) -> bool:
        return self.path(sha256).is_file()

    def read(self, sha256: str, limit: int | None = None) -> bytes:
        with self.path(sha256).open("rb") as f:
            return f.read() if limit is None else f.read(limit)

    def delete(self, sha256: str) -> int:
        """Remove a blob; returns the bytes freed (0 if it was not there)."""
        path = self.path(sha256)
        try:
            size = path.stat().st_size
            path.unlink()
        except FileNotFoundError:
            return 0
        return size

    def shas(self) -> Iterator[str]:
        """Every blob on disk."""
        if not self.root.is_dir():
            return
        for fan in self.root.iterdir():
            if len(fan.name) == 2 and fan.is_dir():
                for blob in fan.iterdir():
                    sha = fan.name + blob.name
                    if SHA256.match(sha):
                        yield sha

    def age(self, sha256: str) -> float:
        """Seconds since the blob was written or last re-uploaded; 0 if it is gone meanwhile."""
        try:
            return time.time() - self.path(sha256).stat().st_mtime
        except FileNotFoundError:
            return 0.0

    def size(self, sha256: str) -> int:
        try:
            return self.path(sha256).stat().st_size
        except FileNotFoundError:
            return 0

    def stale_temps(self, older_than: float) -> list[Path]:
        """Temp files of uploads that died (or are still running, if younger than `older_than`)."""
        tmp = self.root / "tmp"
        if not tmp.is_dir():
            return []
        cutoff = time.time() - older_than
        stale = []
        for path in tmp.iterdir():
            try:
                if path.name.startswith(TEMP_PREFIX) and path.stat().st_mtime < cutoff and not _in_use(path):
                    stale.append(path)
            except FileNotFoundError:  # an upload finished (renamed it) while we looked
                continue
        return stale

    def close(self) -> None:
        """Nothing to release: every file is closed when its call returns."""


def _in_use(path: Path) -> bool:
    """Whether a live upload, in any process, still holds this temp file."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return True  # finished meanwhile: not ours to count
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
