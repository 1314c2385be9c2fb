"""Process hygiene for workers: spawn, liveness, reaping, stopping a whole tree, and logs.

The peers' runners lost workers in each of these ways: zombies counted as alive, only the pid
signalled so grandchildren outlived the run, a recycled pid taken for the worker, a status stolen
by a `waitpid(-1)`. Here a process is named by pid *and* start time, a stop reaches every
descendant (even those that left the group), and only the pids the caller names are reaped.

Linux is the target. Elsewhere the same calls work where POSIX allows and degrade where it does
not (no subreaper, waits poll instead of using pidfds).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import anyio
import psutil

from taskloom.errors import InvalidInput
from taskloom.runner.logs import LogTail, cap

__all__ = [
    "LOG_ENV",
    "LogTail",
    "Proc",
    "alive",
    "become_subreaper",
    "cap",
    "reap",
    "reap_orphans",
    "spawn",
    "stop",
]

# A worker and all its descendants carry this variable (the absolute log path), so a stop finds
# the ones that left the process group even after the worker that started them is gone.
LOG_ENV = "TASKLOOM_WORKER_LOG"
# psutil's start time adds the boot time from /proc/stat, which can move by a second between
# reads. Mistaking a recycled pid needs it to start within a second of the worker's own start.
SAME_START = 1.02  # seconds
KILL_WAIT = 2.0  # seconds a stop waits for SIGKILL to land before it returns "killed" anyway
POLL_MIN, POLL_MAX = 0.005, 0.1  # seconds between looks where no pidfd is available


@dataclass(frozen=True)
class Proc:
    """One process, named so that a recycled pid never passes for it."""

    pid: int
    started: float  # psutil.Process(pid).create_time()
    log: Path | None = None  # the log it was spawned with: a stop finds strays by it (LOG_ENV)


def spawn(argv: list[str], env: dict[str, str], cwd: Path, log: Path) -> Proc:
    """Start `argv` (no shell) in its own session, stdin /dev/null, output appended to `log`.

    The child holds the log itself, so its output survives the runner being killed and a
    restarted runner can adopt it. `env` is the complete environment, plus LOG_ENV.
    """
    if not argv:
        raise InvalidInput("The worker's command is empty.", hint="Give the agent command to run.")
    if not Path(cwd).is_dir():
        raise InvalidInput(
            f"The worker's directory {cwd} does not exist.", hint="Create it or run from another directory."
        )
    log = Path(os.path.abspath(log))
    log.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        popen = subprocess.Popen(
            argv,
            env={**env, LOG_ENV: str(log)},
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=fd,
            stderr=fd,
            start_new_session=True,
            close_fds=True,
        )
    except OSError as exc:
        what = f" ({exc.filename})" if exc.filename and str(exc.filename) != argv[0] else ""
        raise InvalidInput(
            f"Cannot start the worker command {argv[0]!r}: {exc.strerror or exc}{what}.",
            hint=(
                f"Install {argv[0]!r} or give its full path; it must be an executable file "
                "on the PATH of the worker's environment."
            ),
        ) from None
    finally:
        os.close(fd)
    # Popen reaps its child when it is garbage-collected (and warns): the exit status belongs to
    # reap(), so the object is told the child is already accounted for.
    popen.returncode = 0
    try:
        started = psutil.Process(popen.pid).create_time()
    except psutil.NoSuchProcess:  # not reaped yet, so only a platform without zombie stats lands here
        started = 0.0
    return Proc(popen.pid, started, log)


def alive(proc: Proc) -> bool:
    """True while the process runs: it exists, is not a zombie, and started when `proc` did."""
    try:
        p = psutil.Process(proc.pid)
        return _same_start(p, proc) and p.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def reap(pids: Iterable[int]) -> dict[int, int]:
    """Collect the exit status of the named children that ended: {pid: returncode}.

    Negative is the signal that killed it. Pids that still run, or are not our children (a
    worker adopted after a restart; use alive() for those), are left out. Never waitpid(-1):
    it would steal the status of subprocesses others run (git).
    """
    codes: dict[int, int] = {}
    for pid in pids:
        try:
            done, status = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            continue
        if done:
            codes[pid] = os.waitstatus_to_exitcode(status)
    return codes


def become_subreaper() -> bool:
    """Make orphaned descendants our children (Linux), so their zombies are ours to reap."""
    if not sys.platform.startswith("linux"):
        return False
    import ctypes

    PR_SET_CHILD_SUBREAPER = 36
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def reap_orphans(known: set[int]) -> int:
    """Reap zombie children that are not in `known`; return how many.

    Only children outside our own session are taken: orphans a subreaper inherited come from
    workers' sessions, while a subprocess someone in this process runs (git) shares ours and its
    owner's wait() must still get its status. A worker is in a session of its own, so `known`
    must hold every worker whose exit code is still wanted: call reap() on them first.
    """
    own_session = os.getsid(0)
    count = 0
    for child in psutil.Process().children():
        if child.pid in known:
            continue
        try:
            if child.status() != psutil.STATUS_ZOMBIE or os.getsid(child.pid) == own_session:
                continue
        except (psutil.NoSuchProcess, ProcessLookupError):
            continue
        with contextlib.suppress(ChildProcessError):
            if os.waitpid(child.pid, os.WNOHANG)[0]:
                count += 1
    return count


async def stop(proc: Proc, grace: float) -> str:
    """End the worker and every descendant: SIGTERM, up to `grace` seconds, then SIGKILL.

    Returns "exited" (nothing was left running), "terminated" (all ended within the grace) or
    "killed". Safe on a dead proc or a recycled pid. The worker's own exit status is left for
    reap(). After "killed", check alive() before giving its work away: a process stuck in the
    kernel (D state) may outlive even SIGKILL.
    """
    targets = _tree(proc)
    if not targets:
        return "exited"
    _signal(proc, targets, signal.SIGTERM)
    _signal(proc, targets, signal.SIGCONT)  # a stopped process acts on SIGTERM only once continued
    with anyio.move_on_after(grace):
        while targets:  # a rescan catches what was forked while the first ones ended
            await _wait_gone(targets)
            targets = _tree(proc)
        return "terminated"
    with anyio.move_on_after(KILL_WAIT):
        while targets := _tree(proc):
            _signal(proc, targets, signal.SIGKILL)
            await _wait_gone(targets)
    return "killed"


def _same_start(p: psutil.Process, proc: Proc) -> bool:
    return abs(p.create_time() - proc.started) <= SAME_START


def _group_is_ours(proc: Proc) -> bool:
    # The kernel keeps a pid number in use while it names a live group, so group `proc.pid` is the
    # worker's unless that number now names another process (the group had emptied).
    try:
        return _same_start(psutil.Process(proc.pid), proc)
    except psutil.NoSuchProcess:
        return True


def _tree(proc: Proc) -> list[psutil.Process]:
    """Everything of the worker's still running: its group, its descendants, and strays by LOG_ENV."""
    found: dict[int, psutil.Process] = {}
    ours = _group_is_ours(proc)
    tag = str(proc.log) if proc.log else None
    me = os.getpid()
    grouped: set[int] = set()
    for p in psutil.process_iter():
        if p.pid == me:
            continue
        try:
            if tag and p.environ().get(LOG_ENV) == tag:
                found[p.pid] = p
            elif ours and os.getpgid(p.pid) == proc.pid and (p.pid != proc.pid or _same_start(p, proc)):
                found[p.pid] = p
                grouped.add(p.pid)
        except (psutil.Error, OSError):
            continue  # gone, or another user's
    if grouped and not _group_is_ours(proc):
        # The worker's pid number was freed and taken by a new group while we looked: what the
        # scan found by group is that group's, not ours.
        for pid in grouped:
            found.pop(pid, None)
    if alive(proc):
        with contextlib.suppress(psutil.Error):
            root = psutil.Process(proc.pid)
            found.update((c.pid, c) for c in root.children(recursive=True))
    return [p for p in found.values() if not _gone(p)]


def _gone(p: psutil.Process) -> bool:
    try:
        return not p.is_running() or p.status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def _signal(proc: Proc, targets: list[psutil.Process], sig: int) -> None:
    if _group_is_ours(proc):
        # killpg reaches members forked after the scan, which a per-pid signal would miss.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, sig)
    for p in targets:
        with contextlib.suppress(psutil.Error):
            p.send_signal(sig)  # psutil refuses if the pid was recycled meanwhile


async def _wait_gone(targets: list[psutil.Process]) -> None:
    """Return once every target has ended (a zombie has): on pidfds where the OS has them."""
    fds: list[int] = []
    try:
        for p in targets:
            try:
                fd = os.pidfd_open(p.pid)
            except ProcessLookupError:
                continue
            except (AttributeError, OSError):
                break  # no pidfds here: poll below
            fds.append(fd)
            if not p.is_running():  # the pid was recycled before the open: not ours to watch
                fds.remove(fd)
                os.close(fd)
        else:
            for fd in fds:
                await anyio.wait_readable(fd)
            return
    finally:
        for fd in fds:
            os.close(fd)
    delay = POLL_MIN
    while not all(_gone(p) for p in targets):
        await anyio.sleep(delay)
        delay = min(delay * 2, POLL_MAX)
