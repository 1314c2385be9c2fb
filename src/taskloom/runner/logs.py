"""Worker logs: read new lines as they come, and keep a log under a size cap.

A worker writes its log itself (O_APPEND), so the runner can neither buffer nor pause it. The cap
therefore rotates in place: the tail is copied to `<log>.1` and the log truncated, and the child's
next write lands at the new end. A reader notices the truncation and finds where it left off in
`<log>.1`, so no line is lost to it and none is read twice.
"""

from __future__ import annotations

import os
from pathlib import Path

READ_LIMIT = 1 << 20  # bytes one lines() call reads; a line longer than this is cut
SEEN = 1024  # bytes a reader keeps of what it read last, to find its place after a rotation
CHECK = 64  # of which it compares this many each read, to notice a truncation that regrew


def rotated(path: Path) -> Path:
    return path.with_name(path.name + ".1")


class LogTail:
    """The new complete lines of a log since the last read; a partial last line waits."""

    def __init__(self, path: Path, offset: int = 0) -> None:
        self.path = Path(path)
        self.offset = offset  # always at a line start: a reader may persist it and resume there
        self.last_line = ""  # the last non-blank line seen (for "worker exited, last log line ...")
        self._seen = b""
        self._ino: int | None = None
        self._mtime = 0

    def lines(self) -> list[str]:
        try:
            f = open(self.path, "rb")  # noqa: SIM115 (closed below; the fd's stat is needed first)
        except FileNotFoundError:
            return []
        with f:
            st = os.fstat(f.fileno())
            out: list[str] = []
            if self._ino is None and self.offset and st.st_size >= self.offset:
                f.seek(max(0, self.offset - SEEN))  # resuming at a saved offset
                self._seen = f.read(self.offset - f.tell())
            k = min(len(self._seen), CHECK, self.offset)
            f.seek(self.offset - k)
            data = f.read(k + READ_LIMIT)
            replaced = self._ino is not None and st.st_ino != self._ino
            if replaced or st.st_size < self.offset or data[:k] != self._seen[len(self._seen) - k :]:
                out += self._rest_of_rotated()
                self.offset, self._seen, k = 0, b"", 0
                f.seek(0)
                data = f.read(READ_LIMIT)
            out += self._take(data[k:])
        self._ino, self._mtime = st.st_ino, st.st_mtime_ns
        return out

    def _take(self, data: bytes) -> list[str]:
        end = data.rfind(b"\n") + 1
        if not end and len(data) >= READ_LIMIT:
            end = len(data)
        chunk = data[:end]
        self.offset += end
        self._seen = (self._seen + chunk)[-SEEN:]
        return self._decode(chunk)

    def _rest_of_rotated(self) -> list[str]:
        """What was written after our place and moved to `<log>.1` before we read it."""
        try:
            with open(rotated(self.path), "rb") as f:
                st = os.fstat(f.fileno())
                f.seek(max(0, st.st_size - 4 * READ_LIMIT))
                data = f.read()
        except FileNotFoundError:
            return []
        if not self._seen:
            return []  # resumed at a saved offset in a log rotated since: our place is unknown
        at = data.rfind(self._seen)
        # Or our place is within its first SEEN bytes: it starts with the end of what we read.
        start = next((n for n in range(len(self._seen) - 1, 0, -1) if data.startswith(self._seen[-n:])), 0)
        if at >= 0:
            rest = data[at + len(self._seen) :]
        elif start:
            rest = data[start:]
        elif st.st_mtime_ns >= self._mtime:
            rest = data  # we were further behind than the rotation kept
        else:
            return []  # an older rotation: nothing of ours
        if rest and not rest.endswith(b"\n"):
            rest += b"\n"  # its last line was cut by the rotation; the rest of it follows in the log
        return self._decode(rest)

    def _decode(self, chunk: bytes) -> list[str]:
        lines = [line.removesuffix("\r") for line in chunk.decode("utf-8", "replace").split("\n")]
        if lines and lines[-1] == "":
            lines.pop()
        for line in reversed(lines):
            if line.strip():
                self.last_line = line
                break
        return lines


def cap(path: Path, max_bytes: int) -> bool:
    """Rotate a log that grew over `max_bytes`: its last `max_bytes` (from a line start) go to
    `<log>.1`, replacing it, and the log is truncated in place. True if it rotated.

    Bytes the child writes between the last copy and the truncation (two system calls) are lost.
    """
    path = Path(path)
    try:
        f = open(path, "r+b")  # noqa: SIM115 (closed below)
    except FileNotFoundError:
        return False
    with f:
        size = os.fstat(f.fileno()).st_size
        if size <= max_bytes:
            return False
        f.seek(size - max_bytes - 1)  # one byte early: a tail that starts a line keeps that line
        data = f.read()
        data = data[data.find(b"\n") + 1 :]  # (a tail without any newline is kept whole)
        target = rotated(path)
        tmp = target.with_name(target.name + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
        with open(fd, "wb") as out:
            out.write(data)
            while more := f.read():  # what the child wrote meanwhile
                out.write(more)
        os.replace(tmp, target)
        os.ftruncate(f.fileno(), 0)
    return True
