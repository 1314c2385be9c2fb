"""A doorbell between the processes on one SQLite file: what NOTIFY is to PostgreSQL.

SQLite cannot tell one process about another's commit, so a process that waits for changes
would have to ask `PRAGMA data_version` many times a second, and on a VM each look costs
hundreds of microseconds of wake-up. Instead every process serving a database binds a datagram
socket in one private directory per database file, and after each commit sends one byte to the
others. A waiting process sleeps on its socket; the byte only says "look now", and the look
itself is still `data_version`, so a lost, late or forged ring costs a look, never a change.

Sockets of processes that died are removed by the first ring that finds them refused. Where the
directory cannot be made private (another user owns it) the bell stays silent and the store
falls back to polling.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import secrets
import socket
import tempfile
import time
from pathlib import Path

log = logging.getLogger(__name__)

RESCAN_SECONDS = 1.0  # how long the list of other processes' sockets is trusted before it is read again


class Doorbell:
    def __init__(self, db_path: Path) -> None:
        key = hashlib.sha256(str(db_path.resolve()).encode()).hexdigest()[:16]
        # /tmp, not beside the database: a socket path must fit in 108 bytes.
        self.directory = Path(tempfile.gettempdir()) / f"taskloom-bells-{os.getuid()}-{key}"
        self._sock: socket.socket | None = None
        self._path: Path | None = None
        self._peers: list[Path] = []
        self._scanned = -RESCAN_SECONDS

    @property
    def open(self) -> bool:
        return self._sock is not None

    def start(self) -> bool:
        """Bind this process's socket; False (and a silent bell) if that is not possible here."""
        try:
            self.directory.mkdir(mode=0o700, exist_ok=True)
            info = self.directory.stat()
            if info.st_uid != os.getuid() or info.st_mode & 0o077:
                log.warning("%s is not private to this user; waiting processes will poll instead", self.directory)
                return False
            path = self.directory / f"{os.getpid()}-{secrets.token_hex(4)}.sock"
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            try:
                sock.setblocking(False)
                sock.bind(str(path))  # fails if the path is over 107 bytes (a very long TMPDIR)
            except OSError:
                sock.close()
                raise
        except OSError as exc:
            log.warning("no doorbell for this database (%s); waiting processes will poll instead", exc)
            return False
        self._sock, self._path = sock, path
        return True

    def ring(self) -> None:
        """Tell every process on this database (this one too) to look. Never blocks, never raises."""
        if self._sock is None:
            return
        now = time.monotonic()
        if now - self._scanned >= RESCAN_SECONDS:
            self._scan(now)
        for peer in self._peers:
            try:
                self._sock.sendto(b"!", str(peer))
            except BlockingIOError:
                pass  # its queue is full of rings already: it will look
            except (ConnectionRefusedError, FileNotFoundError):
                with contextlib.suppress(OSError):
                    peer.unlink()  # a process that died without closing its bell
                self._scanned = -RESCAN_SECONDS
            except OSError:
                pass

    async def wait(self, timeout: float) -> bool:
        """Sleep until a ring (True) or `timeout` seconds (False). Rings that piled up are drained."""
        if self._sock is None or timeout <= 0:
            return False
        if self._drain():
            return True
        loop = asyncio.get_running_loop()
        rung = loop.create_future()
        fd = self._sock.fileno()
        loop.add_reader(fd, _settle, rung, True)
        timer = loop.call_later(timeout, _settle, rung, False)
        try:
            return await rung and (self._drain() or True)
        finally:
            timer.cancel()
            loop.remove_reader(fd)

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None
        if self._path is not None:
            with contextlib.suppress(OSError):
                self._path.unlink()
            self._path = None

    def _drain(self) -> bool:
        got = False
        while self._sock is not None:
            try:
                self._sock.recv(64)
            except (BlockingIOError, OSError):
                return got
            got = True
        return got

    def _scan(self, now: float) -> None:
        try:
            # Its own socket too: a commit here wakes this process's waiting look as well.
            self._peers = list(self.directory.glob("*.sock"))
        except OSError:
            self._peers = []
        self._scanned = now


def _settle(future: asyncio.Future[bool], value: bool) -> None:
    if not future.done():
        future.set_result(value)
