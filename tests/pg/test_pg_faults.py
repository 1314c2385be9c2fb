"""PostgreSQL going away under taskloom replicas, and not being there at start.

A cluster of this module's own (the session's stays up for everyone else), stopped and started
by the tests. Real `taskloom serve` processes and real MCP sessions throughout.
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client

from taskloom.config import Settings
from tests.conftest import table_rows
from tests.pg.cluster import Cluster, start, stop
from tests.pg.replicas import Agent, agents, error_code, log_trouble, overlapping_claims, replicas
from tests.server.test_transports import PROJECT, TASKLOOM, free_port, terminate

psycopg = pytest.importorskip("psycopg")
from taskloom.store.postgres import migrate  # after importorskip: they need psycopg
from taskloom.store.postgres.store import THREADS

AGENTS = 16
TASKS = 120
RESTART_AFTER = 30  # acknowledged task_done calls before PostgreSQL is restarted
LEASE = "5"  # seconds: a claim whose answer the outage lost comes back to the queue this soon
RETRY_AFTER = 0.2  # seconds an agent waits before retrying a call that failed for the outage
OUTAGE_CODES = {"storage", "busy"}  # what a call may answer while PostgreSQL is away
PATIENCE = "2"  # seconds (TASKLOOM_DB_PATIENCE) a call waits for a server that is away
DEADLINE = 60.0  # seconds: a safety net for the whole run, never reached when it works


@pytest.fixture(scope="module")
def restartable(pg_cluster: Cluster) -> Iterator[Cluster]:
    """A cluster of this module's own, which the tests stop and start."""
    c = start()
    try:
        yield c
    finally:
        stop(c)


@pytest.fixture
def db_url(restartable: Cluster) -> str:
    url = restartable.create_database(f"faults_{uuid.uuid4().hex[:12]}")
    with psycopg.connect(url, autocommit=True) as conn:
        migrate.apply(conn)
    return url


def rows(db_url: str, sql: str, params: tuple = ()) -> list[tuple]:
    return table_rows(Settings(db_url=db_url), sql, params)


class Run:
    """What the agents saw: acknowledged work, errors the outage explains, and anything else."""

    def __init__(self) -> None:
        self.acked: dict[str, str] = {}  # task -> the agent whose task_done was answered ok
        self.lost_leases: list[tuple[str, str]] = []  # (agent, task): the lease ran out during the outage
        self.outage_errors = 0
        self.unexpected: list[str] = []
        self.restart_due = asyncio.Event()
        self.finished = asyncio.Event()


async def persist(run: Run, agent: Agent, tool: str, **args: Any) -> Any:
    """Call until the answer is not the outage's; the retried call must be safe to repeat."""
    while not run.finished.is_set():
        result = await agent.call(tool, **args)
        if not result.is_error or error_code(result) not in OUTAGE_CODES:
            return result
        run.outage_errors += 1
        await asyncio.sleep(RETRY_AFTER)  # an agent's back-off: there is nothing to wait on
    return None


async def work(run: Run, agent: Agent) -> None:
    while not run.finished.is_set():
        # A waiting claim: a task whose claim answer the outage lost comes back when its lease
        # expires, and the wait hears of it.
        got = await persist(run, agent, "task_claim", wait_seconds=1)
        if got is None:
            return
        if got.is_error:
            run.unexpected.append(f"{agent.name} task_claim: {got.content[0].text}")
            return
        if not got.structured_content["claimed"]:
            continue
        code = got.structured_content["detail"]["task"]["code"]
        done = await persist(run, agent, "task_done", task=code, summary=f"done by {agent.name}")
        if done is None:
            return
        if done.is_error and error_code(done) == "lease_lost":
            run.lost_leases.append((agent.name, code))
        elif done.is_error:
            run.unexpected.append(f"{agent.name} task_done {code}: {done.content[0].text}")
            return
        else:
            run.acked[code] = agent.name
            if len(run.acked) >= RESTART_AFTER:
                run.restart_due.set()


async def test_postgresql_restarted_under_sixteen_claiming_agents_loses_no_acknowledged_work_and_claims_nothing_twice(
    tmp_path: Path, restartable: Cluster, db_url: str
) -> None:
    codes = [f"P-{i:03d}" for i in range(TASKS)]
    run = Run()
    with replicas(tmp_path, db_url, env={"TASKLOOM_LEASE_SECONDS": LEASE}) as servers:
        async with agents(servers, AGENTS) as team:
            for i in range(0, TASKS, 50):
                await team[0].ok("task_create", tasks=[{"title": c, "code": c} for c in codes[i : i + 50]])
            workers = [asyncio.ensure_future(work(run, a)) for a in team]
            try:
                async with asyncio.timeout(DEADLINE):
                    await run.restart_due.wait()
                    acked_before = len(run.acked)
                    await asyncio.to_thread(restartable.stop_server)
                    await asyncio.to_thread(restartable.start_server)
                    while rows(db_url, "SELECT count(*) FROM tasks WHERE status = 'done'") != [(TASKS,)]:
                        assert not run.unexpected, run.unexpected
                        await asyncio.sleep(0.2)  # the database has nothing to wait on from here
            finally:
                run.finished.set()
                await asyncio.gather(*workers)

        assert not run.unexpected, run.unexpected
        # The restart came mid-run, and both replicas lost their connections to it (their
        # listeners say so); calls may or may not have seen it, as the store reruns what it can.
        assert acked_before < TASKS
        assert all("stopped listening for changes" in s.log.read_text() for s in servers)
        # No acknowledged write lost: every task_done answered ok is in the database, as that agent's.
        stored = dict(rows(db_url, "SELECT code, claimed_by FROM tasks WHERE status = 'done'"))
        assert {code: stored.get(code) for code in run.acked} == run.acked
        assert not overlapping_claims(db_url)
        # The replicas serve again without a restart, each of them.
        for replica in servers:
            assert replica.proc.poll() is None
            async with agents([replica], 1, prefix="after") as [agent]:
                made = await agent.ok("task_create", tasks=[{"title": "after the restart"}])
                code = made["tasks"][0]["code"]
                assert (await agent.ok("task_claim", task=code))["claimed"]
                assert (await agent.ok("task_done", task=code, summary="ok"))["task"]["status"] == "done"
        assert not log_trouble(servers)


async def test_after_a_restart_the_first_call_succeeds_and_while_postgresql_is_away_calls_answer_storage_soon(
    tmp_path: Path, restartable: Cluster, db_url: str
) -> None:
    # Both seen failing before the fix: after a restart the first call drew one dead pooled
    # connection per rerun and failed with the server up; and with no pooled connection left,
    # a call made during an outage answered after 90-120 s (each rerun waited the pool's 30 s),
    # past any client's tool-call timeout.
    with replicas(tmp_path, db_url, n=1, env={"TASKLOOM_DB_PATIENCE": PATIENCE}) as servers:
        async with agents(servers, THREADS) as team:

            async def fill_the_pool() -> None:  # every pooled connection in use at once
                await asyncio.gather(*(a.ok("task_create", tasks=[{"title": a.name}]) for a in team))

            await fill_the_pool()
            restartable.stop_server()
            restartable.start_server()
            await team[0].ok("task_create", tasks=[{"title": "the first call after the restart"}])

            await fill_the_pool()
            restartable.stop_server()
            try:
                # The first calls meet the dead connections; then none are left and a call waits.
                for _ in range(3):
                    with anyio.fail_after(4 * float(PATIENCE)):
                        refused = await team[0].call("task_create", tasks=[{"title": "during the outage"}])
                    assert refused.is_error and error_code(refused) == "storage", refused.content[0].text
            finally:
                restartable.start_server()
            await team[0].ok("task_create", tasks=[{"title": "after the outage"}])
        assert rows(db_url, "SELECT count(*) FROM tasks") == [(2 * THREADS + 2,)]
        assert not log_trouble(servers)


def _serve(tmp_path: Path, url: str, patience: str) -> tuple[subprocess.Popen, int, Path]:
    port = free_port()
    log = tmp_path / f"serve-{port}.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("TASKLOOM_")}
    env.update(TASKLOOM_DB_PATIENCE=patience, TASKLOOM_AGENT="patient")
    with open(log, "w") as err:
        proc = subprocess.Popen(
            [TASKLOOM, "serve", "--transport", "http", "--port", str(port), "--db", url, "--project", PROJECT],
            stdin=subprocess.DEVNULL, stdout=err, stderr=err, env=env, cwd=tmp_path,
        )
    return proc, port, log


def _accepting(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
        return True
    except OSError:
        return False


async def test_a_replica_started_while_postgresql_is_down_comes_up_and_serves_once_it_starts(
    tmp_path: Path, restartable: Cluster, db_url: str
) -> None:
    restartable.stop_server()
    try:
        proc, port, log = _serve(tmp_path, db_url, patience="60")
        try:
            # The port is bound just before the store is opened: from then on it waits for PostgreSQL.
            end = time.monotonic() + DEADLINE
            while not _accepting(port):
                assert proc.poll() is None, log.read_text()
                assert time.monotonic() < end, "never bound its port"
                await asyncio.sleep(0.05)
        finally:
            restartable.start_server()
        try:
            async with Client(f"http://127.0.0.1:{port}/mcp", mode="legacy") as client:
                made = await client.call_tool("task_create", {"tasks": [{"title": "after the wait"}]})
                assert not made.is_error, made.content
            assert proc.poll() is None
            assert "Traceback" not in log.read_text()
        finally:
            terminate(proc)
    finally:
        if restartable.postmaster_pid() is None:
            restartable.start_server()


def test_a_replica_whose_postgresql_never_comes_up_exits_2_with_one_storage_line_and_no_password(
    tmp_path: Path,
) -> None:
    url = f"postgresql://taskloom:s3cret-pw@127.0.0.1:{free_port()}/nowhere"  # nothing listens there
    proc, _, log = _serve(tmp_path, url, patience="1")
    try:
        assert proc.wait(DEADLINE) == 2
    finally:
        terminate(proc)
    err = log.read_text()
    assert "s3cret-pw" not in err and "Traceback" not in err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("taskloom: storage: Cannot reach the PostgreSQL database "), err
    assert "postgresql://taskloom:***@127.0.0.1:" in lines[0]
