"""A queue of writers across processes: an exclusive `flock` on a file beside the database.

SQLite's write lock is taken by trying: a writer that finds it held sleeps and tries again, and
whoever tries first after the release wins. `write_now` queues on this lock first: a waiter
sleeps in the kernel (on a worker thread, so the event loop stays free) and is woken when the
holder lets go, the earliest waiter first (Linux chains a waiter behind the one it queued after).
The holder keeps it through COMMIT, so the checkpoint SQLite runs inside COMMIT ends before the
next queued writer begins: that writer then finds the WAL fully copied back and starts it over
from the top. Without the queue the next writer begins in between, the WAL is never restarted,
and it grows by every commit while each COMMIT checkpoints again (two fsyncs).

SQLite's own lock still decides who writes: the queue only orders those who use it, so a
writer that does not (the database thread's `write`, another program) is never blocked by it,
and nothing of exactly-once depends on it. Readers never touch it. The kernel drops a flock
when its process dies, so a crashed holder blocks nobody. On a file system without flock the
queue turns itself off and `write_now` retries as before.
"""

from __future__ import annotations

import asyncio
import errno
import fcntl
import logging
import os
import queue
import threading
from pathlib import Path

log = logging.getLogger(__name__)
SUFFIX = "-writers"  # beside the database, as SQLite's -wal and -shm
# flock is not there (some network and FUSE file systems): errors that turn the queue off.
UNSUPPORTED = {errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS, errno.EINVAL, errno.EBADF}


class _Wait:
    """One blocking take on the worker thread: whether it got the lock, or was given up first."""

    __slots__ = ("abandoned", "held")

    def __init__(self) -> None:
        self.held = False
        self.abandoned = False


class WriterQueue:
    def __init__(self, fd: int, path: Path) -> None:
        self._fd = fd
        self.path = path
        self.enabled = True
        self._mu = threading.Lock()  # orders the worker's "got it" against the loop's "gave up"
        self._jobs: (
            queue.SimpleQueue[tuple[_Wait, asyncio.AbstractEventLoop, asyncio.Future[None]] | None] | None
        ) = None
        self._local: asyncio.Lock | None = None  # one taker per process at a time (one fd, one owner)

    @classmethod
    def open(cls, db: Path) -> WriterQueue | None:
        """The queue of the database file `db`, or None where there can be none (cannot create the
        file, or no flock there)."""
        path = Path(f"{db}{SUFFIX}")
        try:
            # Whoever may open the database may queue, and nobody else: a stranger's flock on
            # a file anyone can read would make every writer wait out its patience.
            mode = os.stat(db).st_mode & 0o666
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, mode)
        except OSError as exc:
            log.info("no writer queue for %s: %s", db, exc)
            return None
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)  # a probe: does this file system lock at all?
            fcntl.flock(fd, fcntl.LOCK_UN)
        except BlockingIOError:
            pass  # someone holds it: flock works
        except OSError as exc:
            os.close(fd)
            log.info("no writer queue for %s (flock: %s)", db, exc)
            return None
        return cls(fd, path)

    @property
    def local(self) -> asyncio.Lock:
        if self._local is None:
            self._local = asyncio.Lock()
        return self._local

    def try_take(self) -> bool:
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        except OSError as exc:
            self._unsupported(exc)
            return False
        return True

    async def take(self, patience: float) -> bool:
        """Hold the lock within `patience` seconds: True, or False having given up (or the queue
        turned off). The caller holds `local` and, on True, must `release`."""
        if not self.enabled:
            return False
        if self.try_take():
            return True
        if not self.enabled or patience <= 0:
            return False
        loop = asyncio.get_running_loop()
        wait, woken = _Wait(), loop.create_future()
        self._worker().put((wait, loop, woken))
        try:
            async with asyncio.timeout(patience):
                await woken
        except TimeoutError:
            pass
        except BaseException:  # cancelled: let go of what the worker may just have taken
            with self._mu:
                if wait.held:
                    self.release()
                wait.abandoned = True
            raise
        with self._mu:
            wait.abandoned = not wait.held
            return wait.held

    def release(self) -> None:
        try:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
        except OSError as exc:  # the lock goes with the file at close or exit anyway
            log.warning("writer queue %s: unlock failed: %s", self.path, exc)

    def close(self) -> None:
        """Close the file (after a blocking take still under way, on the worker)."""
        self.enabled = False
        if self._jobs is None:
            os.close(self._fd)
        else:
            self._jobs.put(None)

    def _worker(self) -> queue.SimpleQueue:
        if self._jobs is None:
            self._jobs = queue.SimpleQueue()
            threading.Thread(target=self._run, name="taskloom-writers", daemon=True).start()
        return self._jobs

    def _run(self) -> None:
        """The worker: blocking takes one after another. A daemon thread: a process that exits
        while it waits does not wait for the lock first."""
        assert self._jobs is not None
        while (job := self._jobs.get()) is not None:
            wait, loop, woken = job
            try:
                fcntl.flock(self._fd, fcntl.LOCK_EX)
            except OSError as exc:
                self._unsupported(exc)
                loop.call_soon_threadsafe(_wake, woken)
                continue
            with self._mu:
                if wait.abandoned:
                    self.release()
                    continue
                wait.held = True
            try:
                loop.call_soon_threadsafe(_wake, woken)
            except RuntimeError:  # the loop is closed: nobody will use it
                with self._mu:
                    wait.held, wait.abandoned = False, True
                self.release()
        os.close(self._fd)

    def _unsupported(self, exc: OSError) -> None:
        if exc.errno in UNSUPPORTED and self.enabled:
            log.info("writer queue %s off (flock: %s)", self.path, exc)
            self.enabled = False


def _wake(woken: asyncio.Future[None]) -> None:
    if not woken.done():
        woken.set_result(None)
