"""Lock contention: 16 server processes on one SQLite file work an 800-task plan to completion.

The plan (800 tasks, 600 dependencies, mixed priorities and roles) is imported with the
`taskloom import` console script. Sixteen `taskloom serve` stdio processes (forked from
tests/faults/zygote.py; each its own connections, resolver and event loop) each serve one
agent; one driver talks raw JSON-RPC to all of them at once, so the only serialisation left is
SQLite's write lock. Each agent loops task_claim + task_done; a claim that finds nothing while
work is still open (dependencies in progress elsewhere) is retried shortly after.

Proved: no task claimed twice (clients and the events table agree), none lost (all done, each
by the agent that claimed it), and no error of any kind, "database is locked" included, reaches a
client or a server's stderr. Printed: the worst claim wait (send to reply) and each agent's share.
"""

from __future__ import annotations

import json
import selectors
import subprocess
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from tests.benchmarks.common import pct, plan_tasks
from tests.faults.common import Server, integrity, rows, serve_argv, zygote
from tests.server.test_transports import TASKLOOM

AGENTS = 16
TASKS = 800
DEPENDENCIES = 600
PROJECT = "contention"
RETRY_EMPTY = 0.02  # seconds before an agent asks again when nothing is ready yet
RUN_DEADLINE = 120.0  # seconds; bounds a stuck run only


@dataclass
class Agent:
    name: str
    server: Server
    claimed: list[str] = field(default_factory=list)
    done: list[str] = field(default_factory=list)
    errors: list[Any] = field(default_factory=list)
    waits: list[float] = field(default_factory=list)  # seconds from sending task_claim to a claim
    empty_claims: int = 0
    request: tuple[int, str, float] | None = None  # (id, tool, sent at)
    retry_at: float | None = None
    finished: bool = False

    def send(self, tool: str, **arguments: Any) -> None:
        rid = self.server.wire.request("tools/call", {"name": tool, "arguments": arguments})
        self.request = (rid, tool, time.monotonic())

    def on_reply(self, message: dict[str, Any]) -> None:
        rid, tool, sent = self.request
        if message.get("id") != rid:
            return  # a notification
        self.request = None
        result = message.get("result")
        if result is None or result.get("isError"):
            self.errors.append({"tool": tool, "reply": message})
            self.finished = True
            return
        out = result["structuredContent"]
        if tool == "task_done":
            assert out["task"]["status"] == "done", out
            self.done.append(out["task"]["code"])
            self.send("task_claim")
        elif out["claimed"]:
            self.waits.append(time.monotonic() - sent)
            task = out["detail"]["task"]
            assert task["claimed_by"] == self.name, task
            self.claimed.append(task["code"])
            self.send("task_done", task=task["code"], summary=f"done by {self.name}")
        elif out.get("open_tasks", 0) == 0:
            self.finished = True
        else:
            self.empty_claims += 1
            self.retry_at = time.monotonic() + RETRY_EMPTY


def import_plan(tmp_path, db) -> list[str]:
    plan = plan_tasks(TASKS, DEPENDENCIES, seed=16)
    path = tmp_path / "plan.json"
    path.write_text(json.dumps({"tasks": plan}))
    done = subprocess.run(
        [TASKLOOM, "import", "--db", str(db), "--project", PROJECT, str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert f"{TASKS} tasks created" in done.stdout, done.stdout
    return [t["code"] for t in plan]


def drive(agents: list[Agent]) -> float:
    """Run every agent until all are finished; returns the seconds it took."""
    with selectors.DefaultSelector() as sel:
        for agent in agents:
            sel.register(agent.server.wire.from_server, selectors.EVENT_READ, agent)
        started = time.monotonic()
        for agent in agents:
            agent.send("task_claim")
        while not all(a.finished for a in agents):
            now = time.monotonic()
            assert now - started < RUN_DEADLINE, {a.name: (len(a.done), a.request) for a in agents}
            for agent in agents:
                if agent.retry_at is not None and agent.retry_at <= now:
                    agent.retry_at = None
                    agent.send("task_claim")
            due = [a.retry_at for a in agents if a.retry_at is not None]
            timeout = max(0.0, min(due) - now) if due else 1.0
            for key, _ in sel.select(timeout):
                agent = key.data
                wire = agent.server.wire
                message = wire.read(0)
                while message is not None:
                    agent.on_reply(message)
                    # More may be buffered already: handle them before selecting again.
                    message = wire.read(0) if wire.buffered else None
                assert not wire.eof, f"{agent.name}'s server died:\n{agent.server.stderr()[-3000:]}"
        return time.monotonic() - started


def test_sixteen_server_processes_work_one_plan_to_completion_with_no_double_claim_no_loss_and_no_lock_error(
    tmp_path,
):
    db = tmp_path / "contention.db"
    codes = import_plan(tmp_path, db)
    with zygote(tmp_path) as z:
        agents = [
            Agent(name, z.spawn(serve_argv(db, PROJECT, "--profile", "worker"), name, name))
            for name in (f"worker-{n:02d}" for n in range(AGENTS))
        ]
        try:
            for agent in agents:  # every server is up before anyone claims
                wire = agent.server.wire
                wire.initialize()
                listed = wire.wait_for(wire.request("tools/list"))["result"]["tools"]
                assert {"task_claim", "task_done"} <= {t["name"] for t in listed}
            seconds = drive(agents)
        finally:
            for agent in agents:
                agent.server.stop()

    errors = {a.name: a.errors for a in agents if a.errors}
    assert not errors, f"errors reached clients: {json.dumps(errors)[:3000]}"
    troubled = {
        a.name: a.server.stderr()[-2000:]
        for a in agents
        if any(word in a.server.stderr() for word in ("locked", "busy", "Traceback"))
    }
    assert not troubled, f"server logs show trouble: {troubled}"

    claimed = Counter(code for a in agents for code in a.claimed)
    assert not [c for c, n in claimed.items() if n > 1], "claimed twice"
    assert set(claimed) == set(codes), f"never claimed: {sorted(set(codes) - set(claimed))[:20]}"
    assert sorted(code for a in agents for code in a.done) == sorted(codes)

    assert integrity(db) == "ok"
    who = {code: a.name for a in agents for code in a.claimed}
    tasks = rows(db, "SELECT code, status, claimed_by FROM tasks")
    assert sorted(t["code"] for t in tasks) == sorted(codes)
    wrong = [dict(t) for t in tasks if (t["status"], t["claimed_by"]) != ("done", who[t["code"]])]
    assert not wrong, f"not done by the agent that claimed it: {wrong[:10]}"
    events = rows(db, "SELECT kind, subject, agent FROM events WHERE kind IN ('task.claimed', 'task.done')")
    for kind in ("task.claimed", "task.done"):
        per_task = Counter(e["subject"] for e in events if e["kind"] == kind)
        assert per_task == Counter(codes), f"{kind} not exactly once per task"
    assert all(e["agent"] == who[e["subject"]] for e in events)

    waits = [w for a in agents for w in a.waits]
    shares = ", ".join(f"{a.name[-2:]}={len(a.claimed)}" for a in agents)
    print(
        f"\ncontention: {TASKS} tasks, {AGENTS} server processes, {seconds:.1f}s; claim wait "
        f"worst {max(waits) * 1000:.0f} ms, p50 {pct(waits, 50) * 1000:.1f} ms, "
        f"p99 {pct(waits, 99) * 1000:.0f} ms; "
        f"empty claims while work was pending {sum(a.empty_claims for a in agents)}; shares: {shares}"
    )
