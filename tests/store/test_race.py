"""The claim race: many server processes on one SQLite file hand out every task exactly once.

Eight worker processes, each an MCP client with its own `taskloom serve` stdio child (so eight
server processes and eight resolvers share the file), loop task_claim + task_done over 2,000
ready tasks until nothing is left.
"""

from __future__ import annotations

import json
import os
import selectors
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

WORKERS = 8
TASKS = 2_000
PROJECT = "race"
WORKER_SCRIPT = Path(__file__).with_name("race_worker.py")
# A safety net for a hung worker only: the race itself finishes far sooner.
HANG_LIMIT = 300.0


def taskloom_exe() -> str:
    exe = Path(sys.executable).with_name("taskloom")
    assert exe.exists(), f"console script not found next to {sys.executable}"
    return str(exe)


def stop(proc: subprocess.Popen) -> None:
    """End a worker and its server child (its own process group, started by us)."""
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)
    for stream in (proc.stdin, proc.stdout):
        if stream is not None:
            stream.close()


def readline_within(proc: subprocess.Popen, seconds: float) -> str:
    """One line from a worker's stdout, or "" if it exits or says nothing in time."""
    with selectors.DefaultSelector() as sel:
        sel.register(proc.stdout, selectors.EVENT_READ)
        if not sel.select(seconds):
            return ""
    return proc.stdout.readline()


def seed(db: Path, tmp_path: Path) -> list[str]:
    codes = [f"R-{i:04d}" for i in range(1, TASKS + 1)]
    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps({"tasks": [{"code": c, "title": f"race task {c}"} for c in codes]}))
    done = subprocess.run(
        [taskloom_exe(), "import", "--db", str(db), "--project", PROJECT, str(plan)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert f"{TASKS} tasks created" in done.stdout and f"{TASKS} ready now" in done.stdout, done.stdout
    return codes


def test_eight_server_processes_racing_for_2000_tasks_hand_out_each_exactly_once_with_no_errors(tmp_path):
    db = tmp_path / "race.db"
    codes = seed(db, tmp_path)
    agents = [f"racer-{n}" for n in range(WORKERS)]
    procs: list[subprocess.Popen] = []
    logs = []
    try:
        for agent in agents:
            log = open(tmp_path / f"{agent}.stderr", "w+")
            logs.append(log)
            procs.append(
                subprocess.Popen(
                    [sys.executable, str(WORKER_SCRIPT), taskloom_exe(), str(db), PROJECT, agent],
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    stderr=log,
                    text=True,
                    cwd=tmp_path,
                    start_new_session=True,
                )
            )
        # Barrier: every worker is connected to its own server before any of them claims.
        for agent, proc, log in zip(agents, procs, logs):
            line = readline_within(proc, HANG_LIMIT)
            assert line, f"{agent} was never ready: {log.seek(0) or log.read()[-3000:]}"
            ready = json.loads(line)
            assert ready["ready"] and {"task_claim", "task_done"} <= set(ready["tools"]), ready
        started = time.monotonic()
        for proc in procs:
            proc.stdin.write("go\n")
            proc.stdin.flush()
        results = {}
        for agent, proc in zip(agents, procs):
            out, _ = proc.communicate(timeout=HANG_LIMIT)
            assert proc.returncode == 0, f"{agent} exited with {proc.returncode}"
            results[agent] = json.loads(out.strip().splitlines()[-1])
        race_seconds = time.monotonic() - started
    finally:
        for proc in procs:
            stop(proc)
        server_logs = {}
        for agent, log in zip(agents, logs):
            log.seek(0)
            server_logs[agent] = log.read()
            log.close()

    errors = {agent: r["errors"] for agent, r in results.items() if r["errors"]}
    assert not errors, f"errors reached clients: {json.dumps(errors)[:4000]}"
    # Nor did the servers (their stderr is the worker's) hit a locked database or crash in the background.
    troubled = {a: text[-2000:] for a, text in server_logs.items() if "locked" in text or "Traceback" in text}
    assert not troubled, f"server logs show trouble: {troubled}"

    claimed = Counter(code for r in results.values() for code in r["claimed"])
    twice = sorted(code for code, n in claimed.items() if n > 1)
    assert not twice, f"claimed more than once: {twice[:20]}"
    assert set(claimed) == set(codes), f"never claimed: {sorted(set(codes) - set(claimed))[:20]}"
    finished = Counter(code for r in results.values() for code in r["done"])
    assert set(finished) == set(codes) and all(n == 1 for n in finished.values())
    # Every worker stopped because the queue was empty, having seen claimed:false once.
    assert all(r["claim_calls"] == len(r["claimed"]) + 1 for r in results.values())
    # Sanity on the race itself: the work really was shared.
    assert sum(1 for r in results.values() if r["claimed"]) >= 2, {
        a: len(r["claimed"]) for a, r in results.items()
    }

    # The database agrees with what the clients saw.
    who = {code: agent for agent, r in results.items() for code in r["claimed"]}
    with sqlite3.connect(db) as conn:
        rows = conn.execute(
            "SELECT t.code, t.status, t.claimed_by, t.attempts FROM tasks t "
            "JOIN projects p ON p.id = t.project_id WHERE p.name = ?",
            (PROJECT,),
        ).fetchall()
        claims = conn.execute("SELECT subject, agent FROM events WHERE kind = 'task.claimed'").fetchall()
    conn.close()
    assert len(rows) == TASKS
    wrong = [r for r in rows if r[1] != "done" or r[2] != who[r[0]]]
    assert not wrong, f"tasks not done by the agent that claimed them: {wrong[:20]}"
    assert Counter(subject for subject, _ in claims) == Counter({c: 1 for c in codes})
    assert all(agent == who[subject] for subject, agent in claims)
    shares = ", ".join(f"{agent}={len(r['claimed'])}" for agent, r in results.items())
    print(f"race: {TASKS} tasks over {WORKERS} servers in {race_seconds:.1f}s ({shares})")
