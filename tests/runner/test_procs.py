"""Process hygiene with real child processes: spawn, liveness, reaping, group stop, logs."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
from pathlib import Path

import psutil
import pytest

from taskloom.errors import InvalidInput
from taskloom.runner import procs
from taskloom.runner.procs import LogTail, Proc, cap
from tests.runner.kids import BOUND, exited, gone, program, suspend

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="uses pidfds and FIFOs")

SLEEPER = 'tell("ready"); time.sleep(60)'


# --- spawn ---------------------------------------------------------------------------------------


@pytest.fixture
def stdin_with_data():
    """Our own stdin holds unread data for the test's length: a child that inherited it would read it."""
    r, w = os.pipe()
    os.write(w, b"not for the worker\n")
    os.close(w)
    saved = os.dup(0)
    os.dup2(r, 0)
    os.close(r)
    try:
        yield
    finally:
        os.dup2(saved, 0)
        os.close(saved)


def test_a_worker_runs_in_its_own_session_with_stdin_at_eof_and_its_output_in_the_log(
    kids, tmp_path, stdin_with_data
):
    log = tmp_path / "runs" / "r1" / "w.log"
    proc = kids.spawn(
        """
        print("ids", os.getsid(0), os.getpgid(0), os.getpid())
        print("stdin", repr(sys.stdin.read()), os.readlink("/proc/self/fd/0"))
        print("env", os.environ["TASKLOOM_WORKER_LOG"])
        print("to stderr", file=sys.stderr)
        """,
        log=log,
    )
    assert exited(proc.pid)
    assert procs.reap([proc.pid]) == {proc.pid: 0}
    text = log.read_text()
    assert f"ids {proc.pid} {proc.pid} {proc.pid}" in text
    assert os.getsid(0) != proc.pid
    assert "stdin '' /dev/null" in text
    assert f"env {log}" in text
    assert "to stderr" in text
    assert stat.S_IMODE(log.stat().st_mode) == 0o600
    assert proc.log == log


def test_a_worker_appends_to_its_log_and_inherits_no_descriptor(kids, tmp_path):
    log = tmp_path / "w.log"
    log.write_text("earlier run\n")
    leak = os.open(tmp_path / "leak", os.O_WRONLY | os.O_CREAT)
    os.set_inheritable(leak, True)
    try:
        proc = kids.spawn(
            f"""
            try:
                os.fstat({leak})
                print("descriptor {leak} open")
            except OSError:
                print("descriptor {leak} closed")
            """,
            log=log,
        )
        assert exited(proc.pid)
    finally:
        os.close(leak)
    assert log.read_text() == f"earlier run\ndescriptor {leak} closed\n"


def test_spawning_a_missing_or_unrunnable_program_is_invalid_input_with_a_hint(tmp_path):
    with pytest.raises(InvalidInput) as err:
        procs.spawn(["taskloom-no-such-agent", "-p"], dict(os.environ), tmp_path, tmp_path / "w.log")
    assert "taskloom-no-such-agent" in err.value.message
    assert "PATH" in err.value.hint
    script = tmp_path / "agent.sh"
    script.write_text("#!/bin/sh\n")
    script.chmod(0o600)
    with pytest.raises(InvalidInput, match="agent.sh"):
        procs.spawn([str(script)], dict(os.environ), tmp_path, tmp_path / "w.log")
    with pytest.raises(InvalidInput, match="does not exist"):
        procs.spawn([sys.executable], dict(os.environ), tmp_path / "nowhere", tmp_path / "w.log")
    with pytest.raises(InvalidInput, match="empty"):
        procs.spawn([], dict(os.environ), tmp_path, tmp_path / "w.log")


# --- alive and reap ------------------------------------------------------------------------------


def test_alive_is_true_for_a_running_worker_and_false_for_another_start_time(kids):
    proc = kids.spawn(SLEEPER)
    assert kids.heard() == "ready"
    assert procs.alive(proc)
    # The same pid with another start time is another process: the worker's pid was recycled.
    assert not procs.alive(Proc(proc.pid, proc.started - 5))
    assert not procs.alive(Proc(proc.pid, proc.started + 5))


def test_a_zombie_is_not_alive_and_a_reaped_worker_neither(kids):
    proc = kids.spawn("pass")
    assert exited(proc.pid)
    assert psutil.pid_exists(proc.pid)  # what the peers counted as alive
    assert psutil.Process(proc.pid).status() == psutil.STATUS_ZOMBIE
    assert not procs.alive(proc)
    assert procs.reap([proc.pid]) == {proc.pid: 0}
    assert not procs.alive(proc)


def test_reap_returns_exit_codes_and_signals_and_leaves_other_children_alone(kids):
    three = kids.spawn("sys.exit(3)")
    termed = kids.spawn("os.kill(os.getpid(), signal.SIGTERM)")
    running = kids.spawn(SLEEPER)
    other = subprocess.Popen([sys.executable, "-c", "raise SystemExit(7)"])
    assert kids.heard() == "ready"
    assert exited(three.pid) and exited(termed.pid) and exited(other.pid)
    reaped = procs.reap([three.pid, termed.pid, running.pid, os.getppid()])
    assert reaped == {three.pid: 3, termed.pid: -signal.SIGTERM}
    assert procs.reap([three.pid]) == {}  # reaped once
    assert other.wait(timeout=BOUND) == 7  # its status was not taken by reap


# --- stop ----------------------------------------------------------------------------------------


async def test_stopping_a_worker_that_exited_ends_the_grandchild_it_left_behind(kids):
    proc = kids.spawn(
        """
        if os.fork() == 0:
            tell(f"grandchild {os.getpid()}")
            time.sleep(60)
        """
    )
    grandchild = psutil.Process(int(kids.heard().split()[1]))
    assert exited(proc.pid)
    assert not gone(grandchild)
    assert await procs.stop(proc, grace=BOUND) == "terminated"
    assert gone(grandchild)


async def test_a_worker_that_ends_on_sigterm_is_terminated_and_its_status_left_for_reap(kids):
    proc = kids.spawn(SLEEPER)
    assert kids.heard() == "ready"
    assert await procs.stop(proc, grace=BOUND) == "terminated"
    assert not procs.alive(proc)
    assert procs.reap([proc.pid]) == {proc.pid: -signal.SIGTERM}


async def test_a_stopped_worker_is_continued_so_that_it_can_act_on_sigterm(kids):
    proc = kids.spawn(SLEEPER)
    assert kids.heard() == "ready"
    suspend(proc.pid)
    assert await procs.stop(proc, grace=BOUND) == "terminated"
    assert procs.reap([proc.pid]) == {proc.pid: -signal.SIGTERM}


async def test_a_worker_that_ignores_sigterm_is_killed_after_the_grace(kids):
    proc = kids.spawn('signal.signal(signal.SIGTERM, signal.SIG_IGN); tell("ready"); time.sleep(60)')
    assert kids.heard() == "ready"
    assert await procs.stop(proc, grace=0.2) == "killed"
    assert procs.reap([proc.pid]) == {proc.pid: -signal.SIGKILL}


async def test_a_grandchild_that_left_the_group_is_stopped_with_its_worker(kids):
    proc = kids.spawn(
        """
        if os.fork() == 0:
            os.setsid()
            tell(f"stray {os.getpid()} {os.getpgid(0)}")
            time.sleep(60)
        time.sleep(60)
        """
    )
    _, pid, pgid = kids.heard().split()
    stray = psutil.Process(int(pid))
    assert int(pgid) != proc.pid  # out of the worker's group: a killpg alone misses it
    assert await procs.stop(proc, grace=BOUND) == "terminated"
    assert gone(stray) and not procs.alive(proc)


async def test_a_grandchild_that_left_the_group_and_cleared_its_environment_is_stopped(kids):
    # Only the process tree leads to it: the worker still runs.
    stray_program = program('tell(f"stray {os.getpid()}"); time.sleep(60)')
    proc = kids.spawn(
        f"""
        if os.fork() == 0:
            os.setsid()
            os.execve(sys.executable, [sys.executable, "-c", {stray_program!r}, sys.argv[1]], {{}})
        time.sleep(60)
        """
    )
    stray = psutil.Process(int(kids.heard().split()[1]))
    assert procs.LOG_ENV not in stray.environ()
    assert await procs.stop(proc, grace=BOUND) == "terminated"
    assert gone(stray) and not procs.alive(proc)


async def test_a_grandchild_that_left_the_group_is_stopped_after_its_worker_exited(kids):
    # Neither the group nor the process tree leads to it any more: the log variable does.
    proc = kids.spawn(
        """
        if os.fork() == 0:
            os.setsid()
            tell(f"stray {os.getpid()}")
            time.sleep(60)
        """
    )
    stray = psutil.Process(int(kids.heard().split()[1]))
    assert exited(proc.pid)
    assert await procs.stop(proc, grace=BOUND) == "terminated"
    assert gone(stray)


async def test_stopping_a_finished_worker_says_exited_and_is_safe_twice(kids):
    proc = kids.spawn("pass")
    assert exited(proc.pid)
    assert await procs.stop(proc, grace=BOUND) == "exited"
    assert procs.reap([proc.pid]) == {proc.pid: 0}
    assert await procs.stop(proc, grace=BOUND) == "exited"


@pytest.fixture
def stranger():
    """A live group leader that is not ours to stop."""
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], start_new_session=True)
    try:
        yield other
    finally:
        other.kill()
        other.wait(timeout=BOUND)


async def test_stop_never_signals_a_process_that_got_the_workers_pid(stranger):
    # Its start time is not the recorded one: the worker's pid was recycled.
    started = psutil.Process(stranger.pid).create_time()
    assert await procs.stop(Proc(stranger.pid, started - 60), grace=BOUND) == "exited"
    assert stranger.poll() is None


# --- subreaper -----------------------------------------------------------------------------------

ORPHANS = """
import json, os, select, subprocess, sys
from pathlib import Path
import psutil
from taskloom.runner import procs

def exited(pid):
    fd = os.pidfd_open(pid)
    select.select([fd], [], [], 5)
    os.close(fd)

out = {"subreaper": procs.become_subreaper()}
# The grandchild ends when its worker has: its pipe's write end closes with the worker.
worker = procs.spawn(
    [sys.executable, "-c", "import os\\nr, w = os.pipe()\\nif os.fork() == 0:\\n"
     "    os.close(w); os.read(r, 1)\\nos._exit(0)"],
    dict(os.environ), Path.cwd(), Path(sys.argv[1]),
)
exited(worker.pid)
out["worker"] = procs.reap([worker.pid])
adopted = [c.pid for c in psutil.Process().children()]
git = subprocess.Popen([sys.executable, "-c", "raise SystemExit(7)"])
for pid in adopted + [git.pid]:
    exited(pid)
out["adopted"] = len(adopted)
out["reaped"] = procs.reap_orphans({worker.pid})
out["git"] = git.wait()
out["left"] = [c.pid for c in psutil.Process().children()]
print(json.dumps(out))
"""


def test_a_subreaper_reaps_adopted_orphans_but_not_a_subprocess_someone_else_waits_for(tmp_path):
    done = subprocess.run(
        [sys.executable, "-c", ORPHANS, str(tmp_path / "w.log")],
        capture_output=True,
        check=False,
        text=True,
        timeout=BOUND,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["subreaper"] is True
    assert out["adopted"] == 1
    assert out["reaped"] == 1
    assert out["git"] == 7  # a stolen status would read 0
    assert out["left"] == []


# --- logs ----------------------------------------------------------------------------------------


def append(path: Path, text: str) -> None:
    with open(path, "a") as f:
        f.write(text)


def test_a_tail_returns_new_complete_lines_and_holds_a_partial_one_back(tmp_path):
    log = tmp_path / "w.log"
    tail = LogTail(log)
    assert tail.lines() == []  # no log yet
    append(log, "one\ntwo\r\nthr")
    assert tail.lines() == ["one", "two"]
    assert tail.lines() == []
    append(log, "ee\n\n  \n")
    assert tail.lines() == ["three", "", "  "]
    assert tail.last_line == "three"
    resumed = LogTail(log, offset=tail.offset)
    append(log, "four\n")
    assert resumed.lines() == ["four"]
    assert tail.lines() == ["four"]


def test_a_tail_starts_over_when_the_log_is_truncated_even_if_it_regrew(tmp_path):
    log = tmp_path / "w.log"
    append(log, "old line one\nold line two\n")
    tail = LogTail(log)
    assert tail.lines() == ["old line one", "old line two"]
    log.write_text("new\n")
    assert tail.lines() == ["new"]
    log.write_text("a much longer first line than before\nsecond\n")  # past the old offset
    assert tail.lines() == ["a much longer first line than before", "second"]
    assert tail.last_line == "second"


def test_a_tail_reads_what_a_rotation_moved_away_before_it_looked(tmp_path):
    log = tmp_path / "w.log"
    append(log, "".join(f"line {i:03}\n" for i in range(50)))
    tail = LogTail(log)
    assert len(tail.lines()) == 50
    append(log, "".join(f"line {i:03}\n" for i in range(50, 60)) + "cut in the mid")
    assert cap(log, 200) is True
    append(log, "dle\nafter\n")
    assert tail.lines() == [f"line {i:03}" for i in range(50, 60)] + ["cut in the mid", "dle", "after"]
    assert tail.lines() == []


def test_a_tail_far_behind_a_rotation_reads_what_the_rotation_kept(tmp_path):
    log = tmp_path / "w.log"
    append(log, "first\n")
    tail = LogTail(log)
    assert tail.lines() == ["first"]
    append(log, "".join(f"line {i:03}\n" for i in range(100)))
    assert cap(log, 95) is True
    append(log, "after\n")
    assert tail.lines() == [f"line {i:03}" for i in range(90, 100)] + ["after"]


def test_a_tail_follows_a_log_renamed_away_and_recreated(tmp_path):
    log = tmp_path / "w.log"
    append(log, "a\nb\n")
    tail = LogTail(log)
    assert tail.lines() == ["a", "b"]
    append(log, "c\n")
    log.rename(tmp_path / "w.log.1")
    append(log, "d\n")
    assert tail.lines() == ["c", "d"]


def test_cap_moves_the_tail_to_dot_1_and_the_worker_keeps_writing_to_the_small_log(kids, tmp_path):
    log = tmp_path / "w.log"
    proc = kids.spawn(
        """
        for i in range(300):
            print(f"line {i:04} " + "x" * 89)
        sys.stdout.flush()
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGUSR1})
        tell("ready")
        signal.sigwait({signal.SIGUSR1})
        print("after rotation")
        """,
        log=log,
    )
    assert kids.heard() == "ready"
    assert cap(log, 50_000) is False  # 30,000 bytes: under the cap
    assert cap(log, 4096) is True
    rotated = tmp_path / "w.log.1"
    kept = rotated.read_text().splitlines()
    assert kept[-1].startswith("line 0299 ") and kept[0].startswith("line 02")
    assert all(len(line) == 99 for line in kept)  # starts at a line start
    assert 4096 - 100 < rotated.stat().st_size <= 4096
    assert stat.S_IMODE(rotated.stat().st_mode) == 0o600
    assert log.stat().st_size == 0
    os.kill(proc.pid, signal.SIGUSR1)
    assert exited(proc.pid)
    assert log.read_text() == "after rotation\n"  # appended at the new end: no hole of 30,000 bytes
    assert procs.reap([proc.pid]) == {proc.pid: 0}
