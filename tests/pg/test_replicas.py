"""Two `taskloom serve --transport http` replicas on one PostgreSQL database, raced by agents.

Real server processes, real MCP sessions (one per agent, dealt over the replicas), a real
database checked row by row afterwards. What SQLite got from its single writer must hold across
processes here too: readiness decided once, every task claimed once, every lease expired once,
and a replica's death costs its agents' leases, never the work.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from pathlib import Path

import pytest

from taskloom.config import Settings
from tests.conftest import table_rows
from tests.pg.replicas import Agent, agents, error_code, events, log_trouble, overlapping_claims, replicas

pytest.importorskip("psycopg")

ROUNDS = 10
FAN_IN = 8
TASKS = 200
LEASE = "2"  # seconds: short, so expiry tests take seconds; claims in them are never finished
DEADLINE = 30.0  # seconds: a safety net for a poll, never reached when things work


async def create(boss: Agent, specs: list[dict]) -> None:
    for i in range(0, len(specs), 50):  # the batch limit
        await boss.ok("task_create", tasks=specs[i : i + 50])


def rows(db_url: str, sql: str, params: tuple = ()) -> list[tuple]:
    return table_rows(Settings(db_url=db_url), sql, params)


async def until(check, what: str, deadline: float = DEADLINE) -> None:
    """Poll the database (it has no event to wait on from here) until `check()` holds."""
    end = time.monotonic() + deadline
    while not check():
        assert time.monotonic() < end, f"not within {deadline} s: {what}"
        await asyncio.sleep(0.1)


async def test_eight_agents_on_two_replicas_finishing_a_fan_in_at_once_make_it_ready_exactly_once(
    tmp_path: Path, pg_url: str
) -> None:
    with replicas(tmp_path, pg_url) as servers:
        async with agents(servers, FAN_IN) as team:
            for r in range(ROUNDS):
                deps = [f"D{r}-{i}" for i in range(FAN_IN)]
                x = f"X{r}"
                await create(team[0], [{"title": d, "code": d} for d in deps]
                             + [{"title": "fan-in", "code": x, "depends_on": deps}])
                claims = await asyncio.gather(*(a.ok("task_claim", task=d) for a, d in zip(team, deps)))
                assert all(c["claimed"] for c in claims)
                go = asyncio.Event()

                async def finish(agent: Agent, dep: str, go: asyncio.Event = go) -> dict:
                    await go.wait()
                    return await agent.ok("task_done", task=dep, summary=f"{dep} finished")

                racing = [asyncio.ensure_future(finish(a, d)) for a, d in zip(team, deps)]
                go.set()
                done = await asyncio.gather(*racing)
                assert [u for d in done for u in d["unblocked"]] == [x], f"round {r}"

                got = await asyncio.gather(*(a.call("task_claim", task=x) for a in team))
                winners = [a.name for a, g in zip(team, got) if not g.is_error and g.structured_content["claimed"]]
                assert len(winners) == 1, f"round {r}: {winners}"
                assert Counter(error_code(g) for g in got if g.is_error) == {"invalid_transition": FAN_IN - 1}
                assert rows(pg_url, "SELECT status, claimed_by FROM tasks WHERE code = ?", (x,)) == [
                    ("in_progress", winners[0])
                ]
        ready = Counter(subject for _, _, subject, _ in events(pg_url, "task.ready") if subject.startswith("X"))
        assert ready == {f"X{r}": 1 for r in range(ROUNDS)}
        assert not log_trouble(servers)


async def test_sixteen_agents_on_two_replicas_claim_and_finish_200_tasks_each_exactly_once(
    tmp_path: Path, pg_url: str
) -> None:
    codes = [f"C-{i:03d}" for i in range(TASKS)]
    with replicas(tmp_path, pg_url) as servers:
        async with agents(servers, 16) as team:
            await create(team[0], [{"title": c, "code": c} for c in codes])
            go = asyncio.Event()

            async def work(agent: Agent) -> tuple[list[str], list[str]]:
                claimed, errors = [], []
                await go.wait()
                while True:
                    got = await agent.call("task_claim")
                    if got.is_error:
                        errors.append(got.content[0].text)
                        break
                    if not got.structured_content["claimed"]:
                        break
                    code = got.structured_content["detail"]["task"]["code"]
                    claimed.append(code)
                    done = await agent.call("task_done", task=code, summary="done")
                    if done.is_error:
                        errors.append(done.content[0].text)
                        break
                return claimed, errors

            racing = [asyncio.ensure_future(work(a)) for a in team]
            go.set()
            results = dict(zip((a.name for a in team), await asyncio.gather(*racing)))
        assert not {n: e for n, (_, e) in results.items() if e}
        claims = Counter(c for claimed, _ in results.values() for c in claimed)
        assert claims == Counter(codes), f"claimed twice: {[c for c, n in claims.items() if n > 1]}"
        assert {a.replica for a in team if results[a.name][0]} == {0, 1}, "both replicas served claims"
        who = {c: n for n, (claimed, _) in results.items() for c in claimed}
        stored = rows(pg_url, "SELECT code, status, claimed_by, attempts FROM tasks")
        assert sorted(stored) == sorted((c, "done", who[c], 0) for c in codes)
        assert Counter(s for _, _, s, _ in events(pg_url, "task.claimed")) == Counter(codes)
        assert Counter(s for _, _, s, _ in events(pg_url, "task.done")) == Counter(codes)
        assert not overlapping_claims(pg_url)
        assert not log_trouble(servers)


async def test_resolvers_on_both_replicas_expire_each_lease_once_and_count_one_attempt(
    tmp_path: Path, pg_url: str
) -> None:
    codes = [f"L-{i}" for i in range(8)]
    with replicas(tmp_path, pg_url, env={"TASKLOOM_LEASE_SECONDS": LEASE}) as servers:
        async with agents(servers, len(codes)) as team:
            await create(team[0], [{"title": c, "code": c} for c in codes])
            for agent, code in zip(team, codes):  # claimed on both replicas, and never finished
                assert (await agent.ok("task_claim", task=code))["claimed"]

        def requeued() -> bool:
            return rows(pg_url, "SELECT count(*) FROM tasks WHERE status = 'ready' AND attempts = 1") == [(len(codes),)]

        # Once requeued, no task is in progress: a second expiry could only have raced the first.
        await until(requeued, "every lease expired and its task requeued")
        expired = events(pg_url, "lease.expired")
        assert Counter(s for _, _, s, _ in expired) == Counter(codes)
        assert rows(pg_url, "SELECT code, attempts, claimed_by FROM tasks ORDER BY code") == [
            (c, 1, None) for c in sorted(codes)
        ]
        assert not log_trouble(servers)


async def test_a_replica_killed_minus_9_loses_its_agents_leases_to_the_survivor_which_requeues_the_work(
    tmp_path: Path, pg_url: str
) -> None:
    codes = [f"K-{i}" for i in range(4)]
    with replicas(tmp_path, pg_url, env={"TASKLOOM_LEASE_SECONDS": LEASE}) as servers:
        doomed, survivor = servers
        async with agents([survivor], 1, prefix="boss") as [boss]:
            await create(boss, [{"title": c, "code": c} for c in codes])
        async with agents([doomed], 1, prefix="victim") as [victim]:
            for code in codes:
                assert (await victim.ok("task_claim", task=code))["claimed"]
            doomed.proc.kill()
            doomed.proc.wait(10)
        async with agents([survivor], 1, prefix="heir") as [heir]:
            taken = []
            end = time.monotonic() + DEADLINE
            while len(taken) < len(codes) and time.monotonic() < end:
                # A waiting claim: the survivor's change feed wakes it when a lease expires.
                got = await heir.ok("task_claim", wait_seconds=10)
                if got["claimed"]:
                    taken.append(got["detail"]["task"]["code"])
        assert sorted(taken) == codes
        assert sorted(s for _, _, s, _ in events(pg_url, "lease.expired")) == codes
        assert sorted(rows(pg_url, "SELECT code, status, claimed_by, attempts FROM tasks")) == [
            (c, "in_progress", "heir-0", 1) for c in codes
        ]
        assert survivor.proc.poll() is None
        assert not log_trouble([survivor])
