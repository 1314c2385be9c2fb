"""The doorbell between processes on one SQLite file: a ring wakes a waiter, a dead peer's socket
is cleared, and a bell that cannot be private stays silent (the store then polls)."""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
from pathlib import Path

import anyio
import pytest

from taskloom.store.sqlite.doorbell import Doorbell

BOUND = 5  # seconds: only a bound on a broken test


@pytest.fixture
def bells(tmp_path, monkeypatch):
    # A short private temp directory: a socket's path must fit in 107 bytes, pytest's are long.
    short = Path(tempfile.mkdtemp(prefix="tlb-", dir="/tmp"))
    monkeypatch.setattr("tempfile.gettempdir", lambda: str(short))
    made: list[Doorbell] = []

    def bell() -> Doorbell:
        b = Doorbell(tmp_path / "team.db")
        made.append(b)
        return b

    yield bell
    for b in made:
        b.close()
    shutil.rmtree(short, ignore_errors=True)


async def test_a_ring_wakes_another_bell_on_the_same_database_and_a_quiet_wait_times_out(bells):
    waiter, ringer = bells(), bells()
    assert waiter.start() and ringer.start()
    assert await waiter.wait(0.05) is False
    async with anyio.create_task_group() as tg:
        woke: list[bool] = []

        async def wait() -> None:
            woke.append(await waiter.wait(BOUND))

        tg.start_soon(wait)
        await anyio.wait_all_tasks_blocked()
        ringer.ring()
    assert woke == [True]


async def test_rings_that_piled_up_end_the_next_wait_at_once_and_are_drained(bells):
    waiter, ringer = bells(), bells()
    assert waiter.start() and ringer.start()
    for _ in range(5):
        ringer.ring()
    with anyio.fail_after(BOUND):
        assert await waiter.wait(BOUND) is True
    assert await waiter.wait(0.05) is False


def test_a_dead_processes_socket_is_cleared_by_the_next_ring(bells):
    live, ringer = bells(), bells()
    assert live.start() and ringer.start()
    dead = live.directory / "999999-dead.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(dead))
    sock.close()  # the file stays, nobody listens: a process killed before it could clean up
    ringer.ring()
    assert not dead.exists()
    assert dead.parent.exists()


def test_a_directory_others_can_enter_leaves_the_bell_silent(bells):
    bell = bells()
    bell.directory.mkdir(mode=0o755)
    os.chmod(bell.directory, 0o755)
    assert bell.start() is False
    assert not bell.open
    bell.ring()  # a silent bell rings nobody, and says nothing
