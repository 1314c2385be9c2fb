"""An agent dies holding a lease: the task returns to ready, is retried, and at max_attempts fails
and is escalated.

The single steps are covered under an injected clock in tests/services/test_leases.py and
test_escalation.py. Here:
- the whole story with real processes and real time (lease 1 s): each worker's `taskloom serve`
  is SIGKILLed while it holds the task, and the resolver of the *next* server process on the
  file, the only one alive, is what recovers it;
- many agents dying at once with two server instances' resolvers racing over one file (injected
  clock): each dead lease is expired and escalated exactly once, living agents keep theirs.
"""

from __future__ import annotations

import time
from pathlib import Path

import anyio

from taskloom.models import TaskSpec
from taskloom.resolver import Resolver
from taskloom.services import creation, tasks, work
from taskloom.services.app import Taskloom
from tests.faults.common import Server, exec_server, integrity, rows, serve_argv

LEASE = 1.0  # seconds, for the real processes
RECOVERY_DEADLINE = 15.0  # seconds; the resolver needs about LEASE, this bounds a broken one
PROJECT = "dead"


def wait_for_status(server: Server, code: str, status: str) -> dict:
    """Poll task_get through a live server until the task reaches `status`."""
    deadline = time.monotonic() + RECOVERY_DEADLINE
    while True:
        got = server.wire.call("task_get", task=code)
        if got["task"]["status"] == status:
            return got
        assert time.monotonic() < deadline, f"{code} still {got['task']['status']}, expected {status}"
        time.sleep(0.05)


def escalation_inbox(server: Server, agent: str, code: str) -> list[tuple[str, str]]:
    inbox = server.wire.call("message_inbox", agent=agent, task=code, limit=50)
    return sorted((m["to"], m["subject"]) for m in inbox["messages"] if m["kind"] == "escalation")


def kill_holding(server: Server, db: Path, code: str, agent: str) -> None:
    server.kill()  # exec_server's kill reaps the process: it is gone when this returns
    [row] = rows(db, "SELECT status, claimed_by FROM tasks WHERE code = ?", code)
    assert (row["status"], row["claimed_by"]) == ("in_progress", agent), "nobody may recover it yet"
    server.wire.close()


def test_a_killed_workers_task_is_recovered_by_the_next_server_retried_and_at_max_attempts_escalated(
    tmp_path,
):
    db = tmp_path / "dead.db"
    argv = serve_argv(db, PROJECT, "--lease-seconds", str(LEASE))

    servers: list[Server] = []
    try:
        story(tmp_path, db, argv, servers)
    finally:
        for server in servers:
            server.cleanup()
    for server in servers:
        assert "Traceback" not in server.stderr(), server.stderr()
    assert integrity(db) == "ok"


def story(tmp_path: Path, db: Path, argv: list[str], servers: list[Server]) -> None:
    first = exec_server(tmp_path, argv, "alice", "alice")
    servers.append(first)
    first.wire.initialize()
    first.wire.call("agent_init", agent="boss", role="orchestrator")
    first.wire.call("agent_init", agent="carol", role="planner")
    first.wire.call("agent_init", agent="alice", role="dev")  # binds this connection to alice again
    made = first.wire.call(
        "task_create", tasks=[{"title": "migrate users", "max_attempts": 2}], agent="carol"
    )
    code = made["tasks"][0]["code"]
    first.wire.call("task_note", task=code, body="alice: starting on the migration")
    claim = first.wire.call("task_claim", task=code)
    assert claim["detail"]["task"]["claimed_by"] == "alice"
    # Killed at once: with a 1 s lease, its own resolver must not get there first.
    kill_holding(first, db, code, "alice")

    # Bob's server is the only process on the file now: its resolver must do the recovery.
    second = exec_server(tmp_path, argv, "bob", "bob")
    servers.append(second)
    second.wire.initialize()
    got = wait_for_status(second, code, "ready")
    assert (got["task"]["attempts"], got["task"]["claimed_by"]) == (1, None)
    assert [e["trigger"] for e in got["escalations"]] == ["lease_expired"]
    retry = second.wire.call("task_claim")
    detail = retry["detail"]
    assert (detail["task"]["code"], detail["task"]["claimed_by"]) == (code, "bob")
    # The retrier learns what happened before: the system note and the dead worker's own note.
    bodies = [n["body"] for n in detail["notes"]]
    assert bodies[0] == "Lease held by alice expired (attempt 1 of 2); it is back in the queue."
    assert "alice: starting on the migration" in bodies
    kill_holding(second, db, code, "bob")

    third = exec_server(tmp_path, argv, "boss", "boss")
    servers.append(third)
    third.wire.initialize()
    got = wait_for_status(third, code, "failed")
    assert got["task"]["attempts"] == 2
    assert [e["trigger"] for e in got["escalations"]] == ["max_attempts", "lease_expired"]
    assert got["notes"][0]["body"] == "Lease held by bob expired (attempt 2 of 2); it failed for good."
    # The orchestrator role and the task's creator read the same two escalations.
    told = [
        ("role:orchestrator", f"[lease_expired] {code}: migrate users"),
        ("role:orchestrator", f"[max_attempts] {code}: migrate users"),
    ]
    assert escalation_inbox(third, "boss", code) == told
    assert escalation_inbox(third, "carol", code) == told
    # A dead worker that comes back cannot finish what is no longer its own.
    stale = third.wire.wait_for(
        third.wire.request(
            "tools/call", {"name": "task_done", "arguments": {"task": code, "summary": "x", "agent": "bob"}}
        )
    )
    assert stale["result"]["isError"] and stale["result"]["content"][0]["text"].startswith("lease_lost:")
    third.stop()
    assert third.proc.returncode == 0
    kinds = [r["kind"] for r in rows(db, "SELECT kind FROM events WHERE subject = ? ORDER BY id", code)]
    assert kinds.count("task.claimed") == 2 and kinds.count("lease.expired") == 2


# ------------------------------------------------------------------ injected clock, racing resolvers

DEAD = [f"dead-{n}" for n in range(10)]


async def test_when_many_agents_die_at_once_racing_resolvers_expire_and_escalate_each_lease_exactly_once(
    app, settings, clock
):
    # A second server instance on the same file and clock: its own connections, its own resolver.
    other = await Taskloom.open(settings, clock)
    try:
        specs = [TaskSpec(title=f"job {n}", code=f"J{n}", max_attempts=2) for n in range(2 * len(DEAD) + 3)]
        await app.write(creation.create_tasks, specs)
        held = {}
        for n, agent in enumerate(DEAD):
            for code in (f"J{2 * n}", f"J{2 * n + 1}"):
                assert (await app.write(work.claim, code=code, agent=agent)).claimed
                held[code] = agent
        living = [f"J{n}" for n in range(2 * len(DEAD), 2 * len(DEAD) + 3)]
        for code in living:
            await other.write(work.claim, code=code, agent="survivor")

        async def round_of_deaths(expected_status: str) -> None:
            clock.advance(settings.lease_seconds - 5)
            for code in living:  # the survivor keeps heartbeating; the dead do not
                await other.write(work.heartbeat, code, agent="survivor")
            clock.advance(10)
            results: list[list[str]] = []

            async def sweep(a: Taskloom) -> None:
                results.append((await Resolver(a).run_once())["expired"])

            async with anyio.create_task_group() as tg:
                for a in (app, other, app, other):
                    tg.start_soon(sweep, a)
            swept = [code for batch in results for code in batch]
            assert sorted(swept) == sorted(held), "each dead lease expired exactly once, by one resolver"
            for code in held:
                t = (await app.read(tasks.get, code)).task
                assert t.status == expected_status
            for code in living:
                t = (await other.read(tasks.get, code)).task
                assert (t.status, t.claimed_by, t.attempts) == ("in_progress", "survivor", 0)

        await round_of_deaths("ready")
        # Retried by other agents, who die as well.
        for n, code in enumerate(sorted(held)):
            got = await other.write(work.claim, agent=f"retrier-{n}")
            assert got.claimed and got.detail.task.code in held
            held[got.detail.task.code] = f"retrier-{n}"
        await round_of_deaths("failed")
        # One escalation per trigger per task, one expiry event per death: no double work anywhere.
        for code in held:
            detail = await app.read(tasks.get, code)
            assert [e.trigger for e in detail.escalations] == ["max_attempts", "lease_expired"]
            assert detail.task.attempts == 2
        events = rows(settings.db_path, "SELECT subject, kind FROM events WHERE kind = 'lease.expired'")
        assert sorted(r["subject"] for r in events) == sorted(list(held) * 2)
        sent = rows(settings.db_path, "SELECT subject FROM messages WHERE kind = 'escalation'")
        assert len(sent) == 2 * len(held)
    finally:
        await other.close()
