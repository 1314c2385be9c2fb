"""Real child processes for the runner's tests: small Python programs that report over a FIFO."""

from __future__ import annotations

import contextlib
import os
import select
import signal
import sys
import textwrap
from pathlib import Path

import psutil

from taskloom.runner import procs

BOUND = 5.0  # seconds: only a bound on a broken test, never a wait for a result

# Each child program starts with this: tell() writes one line to the FIFO named by argv[1].
PRELUDE = """\
import os, signal, sys, time
def tell(msg):
    fd = os.open(sys.argv[1], os.O_WRONLY)
    os.write(fd, (msg + "\\n").encode())
    os.close(fd)
"""


def program(body: str) -> str:
    return PRELUDE + textwrap.dedent(body)


def exited(pid: int, timeout: float = BOUND) -> bool:
    """Wait for the process to end (a zombie has), on its pidfd: no polling."""
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return True
    try:
        return bool(select.select([fd], [], [], timeout)[0])
    finally:
        os.close(fd)


def suspend(pid: int) -> None:
    """SIGSTOP a child of ours and return once it is stopped (its status stays for reap)."""
    os.kill(pid, signal.SIGSTOP)
    os.waitid(os.P_PID, pid, os.WSTOPPED | os.WNOWAIT)


def gone(p: psutil.Process) -> bool:
    try:
        return not p.is_running() or p.status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


class Kids:
    """Spawns workers with procs.spawn, hears them on a FIFO, and kills whatever is left at the end."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.fifo = tmp / "tell.fifo"
        os.mkfifo(self.fifo)
        # Read-write: the reader never sees EOF between children, so select() waits for data.
        self._fd = os.open(self.fifo, os.O_RDWR | os.O_NONBLOCK)
        self._buf = b""
        self.spawned: list[procs.Proc] = []

    def spawn(self, body: str, log: Path | None = None) -> procs.Proc:
        argv = [sys.executable, "-c", program(body), str(self.fifo)]
        proc = procs.spawn(argv, dict(os.environ), self.tmp, log or self.tmp / "worker.log")
        self.spawned.append(proc)
        return proc

    def heard(self) -> str:
        """The next line a child told."""
        while b"\n" not in self._buf:
            ready = select.select([self._fd], [], [], BOUND)[0]
            assert ready, "no child spoke within the bound"
            self._buf += os.read(self._fd, 4096)
        line, self._buf = self._buf.split(b"\n", 1)
        return line.decode()

    def close(self) -> None:
        for proc in self.spawned:
            tag = str(proc.log)
            for p in psutil.process_iter():
                with contextlib.suppress(psutil.Error):
                    if p.environ().get(procs.LOG_ENV) == tag and p.pid != os.getpid():
                        p.send_signal(signal.SIGKILL)
            exited(proc.pid)
            procs.reap([proc.pid])
        os.close(self._fd)
