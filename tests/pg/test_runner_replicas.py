"""Two `taskloom run` processes on one PostgreSQL database, as on two machines: each runner's
workers reach their own HTTP replica (`--url`, a token minted per run in the replicas' shared
tokens file), and the runners share nothing but the database, where a unit's slot is a row.

Real runner processes, real replicas, real agents (tests/runner/agent.py); the database is
checked afterwards: every task done exactly once, by exactly one run, and no task ever had two
live runs at once.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections import Counter, defaultdict
from itertools import pairwise
from pathlib import Path

import pytest

from taskloom.config import Settings
from tests.conftest import table_rows
from tests.pg.replicas import events, log_trouble, overlapping_claims, replicas
from tests.runner.test_run import BOUND, TASKLOOM, agent_cmd, child_env, plan, survivors
from tests.server.test_transports import PROJECT

pytest.importorskip("psycopg")

TASKS = 8
STREAMS = 4  # T0..T3 ready at once, T4..T7 each waiting on one of them
PER_RUNNER = 2  # workers each: the first wave needs both runners


def rows(db_url: str, sql: str, params: tuple = ()) -> list[tuple]:
    return table_rows(Settings(db_url=db_url), sql, params)


def wait_for(check, what: str) -> None:
    """Poll the database: the runners offer a test no event to wait on."""
    deadline = time.monotonic() + BOUND
    while not check():
        assert time.monotonic() < deadline, f"not within {BOUND} s: {what}"
        time.sleep(0.1)


def runner_argv(db_url: str, url: str, tokens: Path, gate: Path) -> list[str]:
    return [TASKLOOM, "run", "--db", db_url, "--project", PROJECT, "--url", url, "--tokens", str(tokens),
            "--agent-cmd", agent_cmd("--misbehave", "wait-go", "--once-dir", str(gate)),
            "--until-idle", "--max-workers", str(PER_RUNNER), "--backoff", "0.2", "--grace", "1"]


def assert_no_task_had_two_live_runs(db_url: str) -> None:
    spans: dict[int, list[tuple[float, float]]] = defaultdict(list)
    for task_id, started, ended in rows(db_url, "SELECT task_id, started_at, ended_at FROM runs ORDER BY started_at"):
        spans[task_id].append((started, ended))
    for task_id, runs in spans.items():
        for (_, ended), (started, _) in pairwise(runs):
            assert started >= ended, f"task {task_id} had two live runs: {runs}"


def test_two_runners_each_on_its_own_replica_start_one_worker_per_task(tmp_path: Path, pg_url: str) -> None:
    plan_file = tmp_path / "plan.yaml"
    plan_file.write_text(plan(TASKS, STREAMS))
    subprocess.run([TASKLOOM, "import", str(plan_file), "--db", pg_url, "--project", PROJECT], check=True,
                   capture_output=True, env=child_env(), timeout=60)
    tokens = tmp_path / "tokens"
    tokens.write_text("")
    tokens.chmod(0o600)
    gate = tmp_path / "gate"  # the first wave's agents hold their tasks until gate/go exists
    gate.mkdir()
    with replicas(tmp_path, pg_url, env={"TASKLOOM_TOKENS_FILE": str(tokens)}) as servers:
        machines = [tmp_path / "machine-a", tmp_path / "machine-b"]
        procs = []
        for machine, server in zip(machines, servers):
            machine.mkdir()
            procs.append(subprocess.Popen(runner_argv(pg_url, server.url, tokens, gate), stderr=subprocess.PIPE,
                                          text=True, env=child_env(), cwd=machine))
        try:
            live = "SELECT runner, count(*) FROM runs WHERE ended_at IS NULL GROUP BY runner"
            # Four ready tasks, two workers a runner: the first wave fills both runners' slots.
            wait_for(lambda: sorted(n for _, n in rows(pg_url, live)) == [PER_RUNNER, PER_RUNNER],
                     "both runners started their first workers")
            (gate / "go").write_text("")
            errs = [p.communicate(timeout=BOUND)[1] for p in procs]
        finally:
            # On a failure: SIGTERM makes a runner stop its workers' groups (they live in sessions
            # of their own, so a kill would leave them waiting on the gate); the gate lets go any left.
            (gate / "go").touch()
            for p in procs:
                if p.poll() is None:
                    p.terminate()
                    try:
                        p.wait(30)
                    except subprocess.TimeoutExpired:
                        p.kill()
                        p.wait(10)
        assert [p.returncode for p in procs] == [0, 0], errs
        assert all("the project is finished" in e for e in errs), errs
        assert not log_trouble(servers)

    done = rows(pg_url, "SELECT t.code, t.status, t.claimed_by, r.agent, r.outcome, r.runner FROM tasks t "
                        "JOIN runs r ON r.task_id = t.id ORDER BY t.code")
    assert [(code, status) for code, status, *_ in done] == [(f"T{n}", "done") for n in range(TASKS)], done
    assert all(claimed_by == agent and outcome == "done" for _, _, claimed_by, agent, outcome, _ in done), done
    assert len({runner for *_, runner in done}) == 2, "both runners ran workers"
    assert rows(pg_url, "SELECT count(*) FROM runs WHERE ended_at IS NULL") == [(0,)]
    assert_no_task_had_two_live_runs(pg_url)
    assert not overlapping_claims(pg_url)
    assert Counter(s for _, _, s, _ in events(pg_url, "task.done")) == Counter(f"T{n}" for n in range(TASKS))
    assert Counter(k for _, k, _, _ in events(pg_url, "run.started", "run.ended")) == {
        "run.started": TASKS, "run.ended": TASKS}
    # Each runner's workers reached its own replica, with tokens that were revoked when they ended.
    for machine, server in zip(machines, servers):
        configs = list(machine.glob(".taskloom/runs/*/*/mcp.json"))
        assert configs and {json.loads(c.read_text())["mcpServers"]["taskloom"]["url"] for c in configs} == {
            server.url}
    assert tokens.read_text().strip() == "", "every run's token was revoked"
    assert survivors(tmp_path) == []
