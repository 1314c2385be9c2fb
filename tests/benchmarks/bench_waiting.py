"""Waiting claims (`task_claim(wait_seconds=...)`): wake latency across processes, the CPU an idle
server spends on waiters, and fairness over many wake-ups.

1. Wake latency. Two `taskloom serve` stdio processes on one database: a waiter's client holds
   `task_claim(wait_seconds=50)` open on one, a maker's client makes a task ready through the other,
   by `task_create` in even rounds and by `task_done` of its one dependency in odd rounds. The
   latency runs from the maker's commit to the waiting claim returning the task to the waiter's
   client. The commit is bracketed: the task's `ready_at`, stamped by the maker's server when its
   write began (the figure with the goal: it also counts the write itself), and the moment
   the maker's call returned (a lower bound). Beside it, in the same rounds: a plain `task_claim`
   round trip of the same waiter client.
2. Idle CPU. One `taskloom serve --transport http`, 16 agents connected as SDK clients, one task
   in progress so that there is something to wait for. The server's CPU (psutil, user + system)
   over a window with no calls, then over the same window with all 16 holding
   `task_claim(wait_seconds=50)`: shares of one core.
3. Fairness. 8 waiters loop `task_claim(wait_seconds=50)`, then `task_done` on what they got. A
   maker (its own stdio server) creates one task at a time, each once all 8 are in line, so every
   wake-up is contested by all of them. Twice: 8 stdio server processes (one per waiter), and 8
   clients on one HTTP server. Reported: each waiter's share (fair = 12.5%), and the longest
   starvation, the most wake-ups in a row any waiter went without work while others were served
   (strict round robin: waiters - 1).

    .venv/bin/python -m tests.benchmarks.bench_waiting [--rounds 200] [--agents 16] [--window 10] [--wakeups 1000]
Goals: wake latency p95 < 100 ms; idle server with 16 waiters < 1% of a core.
"""

from __future__ import annotations

import argparse
import random
import sqlite3
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import anyio
import psutil
from mcp import Client

from tests.benchmarks.common import (
    PY,
    Figure,
    http_server,
    median,
    open_app,
    pct,
    print_figures,
    result,
    script,
    stdio_params,
    workdir_or_temp,
)

GOAL_P95_MS = 100.0
GOAL_IDLE_PCT = 1.0
WAIT = 50.0  # seconds each waiting call asks for: the default --max-wait
BOUND = 60.0  # seconds: only a bound on a stuck run; every wait below ends on an event
LINE_POLL = 0.002  # seconds between looks at the line while the benchmark waits for waiters to join
TRIGGER_JITTER = 0.1  # seconds: the most a wake-latency round waits, at random, between join and commit
SETTLE_S = 1.0  # after connecting or joining, before a CPU window: the start-up work is over


async def call(client: Client, tool: str, args: dict[str, Any]) -> dict[str, Any]:
    res = await client.call_tool(tool, args)
    if res.is_error:
        raise RuntimeError(f"{tool} {args}: {res.content[0].text}")
    return res.structured_content


async def new_db(path: Path) -> Path:
    """A new, migrated database with the benchmark project, for the servers to share."""
    async with open_app(path):
        pass
    return path


def _reader(db: Path) -> sqlite3.Connection:
    """The benchmark's own read-only look at the database: the line of waiters, ready_at stamps."""
    return sqlite3.connect(f"file:{db}?mode=ro", uri=True, isolation_level=None)


async def in_line(conn: sqlite3.Connection, n: int) -> None:
    """Until n waits are in line: each joins in a write, then waits on its server's change feed."""
    with anyio.fail_after(BOUND):
        while conn.execute("SELECT count(*) FROM claim_waiters").fetchone()[0] < n:
            await anyio.sleep(LINE_POLL)


def _ready_at(conn: sqlite3.Connection, code: str) -> float:
    row = conn.execute("SELECT ready_at, created_at FROM tasks WHERE code = ?", (code,)).fetchone()
    return row[0] if row[0] is not None else row[1]


# ---------------------------------------------------------------- 1. wake latency


async def _wait(client: Client, into: dict[str, Any]) -> None:
    """One waiting claim; its answer and when it arrived (wall clock, to compare with ready_at)."""
    into["answer"] = await call(client, "task_claim", {"wait_seconds": WAIT})
    into["wall"], into["perf"] = time.time(), time.perf_counter()


def _expect(answer: dict[str, Any], code: str) -> None:
    if not answer["claimed"] or answer["detail"]["task"]["code"] != code:
        raise RuntimeError(f"expected to claim {code}, got {answer}")


async def _latency(db: Path, rounds: int) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {"from_ready_at": [], "from_return": [], "plain": [], "create": [], "done": []}
    conn = _reader(db)
    rng = random.Random(5)
    async with (
        Client(stdio_params(db, "maker"), mode="legacy") as maker,
        Client(stdio_params(db, "waiter"), mode="legacy") as waiter,
    ):
        await _keep_open(maker)
        for i in range(rounds):
            # A plain claim round trip, interleaved with the waits so both see the same machine.
            await call(maker, "task_create", {"tasks": [{"title": f"plain {i}", "code": f"P-{i}"}]})
            t0 = time.perf_counter()
            plain = await call(waiter, "task_claim", {})
            out["plain"].append(time.perf_counter() - t0)
            _expect(plain, f"P-{i}")
            await call(waiter, "task_done", {"task": f"P-{i}", "summary": "ok"})

            by_done = i % 2 == 1
            code = f"W-{i}"
            if by_done:
                pair = [{"title": f"blocker {i}", "code": f"A-{i}"},
                        {"title": f"wake {i}", "code": code, "depends_on": [f"A-{i}"]}]
                await call(maker, "task_create", {"tasks": pair})
                await call(maker, "task_claim", {"task": f"A-{i}"})
            got: dict[str, Any] = {}
            async with anyio.create_task_group() as tg:
                tg.start_soon(_wait, waiter, got)
                await in_line(conn, 1)
                # The waiter's own join just woke its server's change feed, which restarts its
                # look at the file then; a commit right after would always land at the same
                # point of that look's cycle. Commits come at any moment in real life.
                await anyio.sleep(rng.uniform(0, TRIGGER_JITTER))
                if by_done:
                    await call(maker, "task_done", {"task": f"A-{i}", "summary": "ok"})
                else:
                    await call(maker, "task_create", {"tasks": [{"title": f"wake {i}", "code": code}]})
                returned = time.perf_counter()
            answer = got["answer"]
            _expect(answer, code)
            seconds = got["wall"] - _ready_at(conn, code)
            out["from_ready_at"].append(seconds)
            out["done" if by_done else "create"].append(seconds)
            out["from_return"].append(got["perf"] - returned)
            await call(waiter, "task_done", {"task": code, "summary": "ok"})
    conn.close()
    return out


async def _keep_open(maker: Client) -> None:
    """A task in progress for the whole run: between wake-ups the project is not finished, so the
    waits wait (a waiting claim on a finished project answers `finished` at once)."""
    await call(maker, "task_create", {"tasks": [{"title": "keeps the project open", "code": "KEEP"}]})
    await call(maker, "task_claim", {"task": "KEEP"})


def latency(db: Path, rounds: int) -> tuple[list[Figure], dict[str, Any]]:
    got = anyio.run(_latency, db, rounds)
    ms = {k: [x * 1e3 for x in v] for k, v in got.items()}
    lat, low = ms["from_ready_at"], ms["from_return"]
    command = f"{PY} -m tests.benchmarks.bench_waiting --only latency --rounds {rounds}"
    p95 = pct(lat, 95)
    figures = [
        Figure(f"wake latency p50 / p95 / max, commit in one stdio process to the waiting claim's return in "
               f"another ({rounds} rounds)", f"{median(lat):.1f} / {p95:.1f} / {max(lat):.1f}", "ms",
               command=command),
        Figure("wake latency p95", p95, "ms", f"< {GOAL_P95_MS:.0f}", p95 < GOAL_P95_MS, command),
        Figure("wake latency p95, made ready by task_create / by task_done",
               f"{pct(ms['create'], 95):.1f} / {pct(ms['done'], 95):.1f}", "ms", command=command),
        Figure("lower bound: from the maker's call returning, p50 / p95", f"{median(low):.1f} / {pct(low, 95):.1f}",
               "ms", command=command),
        Figure("wake latency p50 / plain task_claim round trip p50 (same run)", median(lat) / median(ms["plain"]), "x",
               command=command),
    ]
    return figures, {"latency_ms": lat, "from_return_ms": low, "plain_claim_ms": ms["plain"]}


# ---------------------------------------------------------------- 2. idle CPU


def _cpu_share(process: psutil.Process) -> Callable[[float], Awaitable[float]]:
    """A measure of `process`'s CPU over a window of wall time, as a percentage of one core."""

    def cpu() -> float:
        t = process.cpu_times()
        return t.user + t.system

    async def measure(window: float) -> float:
        c0, t0 = cpu(), time.perf_counter()
        await anyio.sleep(window)
        return (cpu() - c0) / (time.perf_counter() - t0) * 100

    return measure


async def _idle(db: Path, agents: int, window: float) -> dict[str, Any]:
    conn = _reader(db)
    with http_server(db, "idle-http") as (url, proc):
        measure = _cpu_share(psutil.Process(proc.pid))
        async with AsyncExitStack() as stack:
            clients = [await stack.enter_async_context(Client(url, mode="legacy")) for _ in range(agents)]
            for c in clients:
                await call(c, "task_list", {"limit": 1})
            await call(clients[0], "task_create", {"tasks": [{"title": "in progress", "code": "BUSY"}], "agent": "boss"})
            await call(clients[0], "task_claim", {"task": "BUSY", "agent": "busy"})
            await anyio.sleep(SETTLE_S)
            idle = await measure(window)
            answers: list[dict[str, Any]] = []

            async def wait(i: int) -> None:
                answers.append(await call(clients[i], "task_claim", {"wait_seconds": WAIT, "agent": f"agent-{i}"}))

            async with anyio.create_task_group() as tg:
                for i in range(agents):
                    tg.start_soon(wait, i)
                await in_line(conn, agents)
                await anyio.sleep(SETTLE_S)
                waiting = await measure(window)
                still = conn.execute("SELECT count(*) FROM claim_waiters").fetchone()[0]
                release = [{"title": f"release {i}", "code": f"R-{i}"} for i in range(agents)]
                await call(clients[0], "task_create", {"tasks": release, "agent": "boss"})
            served = sum(1 for a in answers if a["claimed"])
    solo = await _idle_stdio(db, conn, window)
    conn.close()
    return {"idle_pct": idle, "waiting_pct": waiting, "in_line_at_end": still, "served_after": served, **solo}


async def _idle_stdio(db: Path, conn: sqlite3.Connection, window: float) -> dict[str, float]:
    """One agent's own stdio server (the usual set-up: one per agent), idle, then holding one waiting claim."""
    before = {p.pid for p in psutil.Process().children()}
    async with Client(stdio_params(db, "solo"), mode="legacy") as client:
        (server,) = [p for p in psutil.Process().children() if p.pid not in before]
        measure = _cpu_share(server)
        await call(client, "task_list", {"limit": 1})
        await anyio.sleep(SETTLE_S)
        idle = await measure(window)
        got: dict[str, Any] = {}
        async with anyio.create_task_group() as tg:
            tg.start_soon(_wait, client, got)
            await in_line(conn, 1)
            await anyio.sleep(SETTLE_S)
            waiting = await measure(window)
            await call(client, "task_create", {"tasks": [{"title": "release solo", "code": "R-solo"}]})
    return {"stdio_idle_pct": idle, "stdio_waiting_pct": waiting}


def idle_cpu(db: Path, agents: int, window: float) -> tuple[list[Figure], dict[str, Any]]:
    got = anyio.run(_idle, db, agents, window)
    if got["in_line_at_end"] != agents:
        raise RuntimeError(f"only {got['in_line_at_end']} of {agents} waits lasted the window")
    command = f"{PY} -m tests.benchmarks.bench_waiting --only idle --agents {agents} --window {window:g}"
    w, i = got["waiting_pct"], got["idle_pct"]
    figures = [
        Figure(f"idle HTTP server CPU, {agents} agents each in a waiting task_claim ({window:g} s window)", w,
               "% of a core", f"< {GOAL_IDLE_PCT:g}", w < GOAL_IDLE_PCT, command),
        Figure(f"same server, {agents} agents connected, none waiting / added by the waits", f"{i:.2f} / {w - i:.2f}",
               "% of a core", command=command),
        Figure("one stdio server (one per agent), idle / holding one waiting task_claim",
               f"{got['stdio_idle_pct']:.2f} / {got['stdio_waiting_pct']:.2f}", "% of a core", command=command),
    ]
    return figures, got


# ---------------------------------------------------------------- 3. fairness


async def _fairness(db: Path, waiters: int, wakeups: int, http_url: str | None) -> dict[str, Any]:
    """`waiters` agents over stdio (each its own server) or on one HTTP server (`http_url`)."""
    conn = _reader(db)
    send, receive = anyio.create_memory_object_stream[tuple[str, str, float]](waiters)
    winners: list[str] = []
    latencies: list[float] = []
    expired: Counter[str] = Counter()

    async def waiter(client: Client, agent: str) -> None:
        extra = {"agent": agent} if http_url else {}
        while True:
            answer = await call(client, "task_claim", {"wait_seconds": WAIT, **extra})
            wall = time.time()
            if not answer["claimed"]:  # the wait ran out (a stalled run): it joins the line again
                expired[agent] += 1
                continue
            code = answer["detail"]["task"]["code"]
            if code.startswith("STOP-"):
                return
            await send.send((agent, code, wall))
            await call(client, "task_done", {"task": code, "summary": "ok", **extra})

    agents = [f"w{i}" for i in range(waiters)]
    async with AsyncExitStack() as stack:
        maker = await stack.enter_async_context(Client(stdio_params(db, "maker"), mode="legacy"))
        clients = [
            await stack.enter_async_context(Client(http_url or stdio_params(db, a), mode="legacy")) for a in agents
        ]
        await _keep_open(maker)
        t0 = time.perf_counter()
        async with anyio.create_task_group() as tg:
            for client, agent in zip(clients, agents, strict=True):
                tg.start_soon(waiter, client, agent)
            for k in range(wakeups):
                await in_line(conn, waiters)
                await call(maker, "task_create", {"tasks": [{"title": f"wake {k}", "code": f"F-{k}"}]})
                with anyio.fail_after(BOUND):
                    agent, code, wall = await receive.receive()
                if code != f"F-{k}":
                    raise RuntimeError(f"wake-up {k}: {agent} got {code}")
                winners.append(agent)
                latencies.append(wall - _ready_at(conn, code))
            await in_line(conn, waiters)
            await call(maker, "task_create", {"tasks": [{"title": "stop", "code": f"STOP-{i}"} for i in range(waiters)]})
        wall_s = time.perf_counter() - t0
    conn.close()
    return {"winners": winners, "latency_s": latencies, "expired": dict(expired), "agents": agents, "wall_s": wall_s}


def starvation(winners: list[str], agents: list[str]) -> int:
    """The most wake-ups in a row one agent went without work (from the start, between its wins, to the end)."""
    last = dict.fromkeys(agents, -1)
    worst = 0
    for k, agent in enumerate(winners):
        worst = max(worst, k - last[agent] - 1)
        last[agent] = k
    return max(worst, *(len(winners) - last[a] - 1 for a in agents))


def fairness(db_for: Callable[[str], Path], waiters: int, wakeups: int, modes: list[str]) -> tuple[list[Figure], dict]:
    command = f"{PY} -m tests.benchmarks.bench_waiting --only fairness --waiters {waiters} --wakeups {wakeups}"
    figures, details = [], {}
    for mode in modes:
        db = db_for(f"fairness-{mode}")
        if mode == "http":
            with http_server(db, "fair-http") as (url, _):
                got = anyio.run(_fairness, db, waiters, wakeups, url)
        else:
            got = anyio.run(_fairness, db, waiters, wakeups, None)
        wins = Counter(got["winners"])
        shares = {a: wins[a] / wakeups for a in got["agents"]}
        worst = starvation(got["winners"], got["agents"])
        lat = [x * 1e3 for x in got["latency_s"]]
        label = f"{waiters} stdio server processes" if mode == "stdio" else f"{waiters} clients on one HTTP server"
        per = " ".join(f"{shares[a]:.1%}" for a in got["agents"])
        figures += [
            Figure(f"fairness, {label}, {wakeups:,} wake-ups: each waiter's share (fair = {1 / waiters:.1%})", per,
                   command=command),
            Figure(f"fairness, {label}: share min / max", f"{min(shares.values()):.1%} / {max(shares.values()):.1%}",
                   command=command),
            Figure(f"fairness, {label}: longest starvation (round robin: {waiters - 1})", worst, "wake-ups",
                   command=command),
            Figure(f"fairness, {label}: wake latency p50 / p95 with all {waiters} contending",
                   f"{median(lat):.1f} / {pct(lat, 95):.1f}", "ms", command=command),
        ]
        print(f"  [{mode}] {wakeups} wake-ups in {got['wall_s']:.1f} s, waits that ran out: {dict(got['expired'])}",
              flush=True)
        details[mode] = {"shares": shares, "starvation": worst, "expired_waits": got["expired"],
                         "wall_s": got["wall_s"], "latency_ms": lat}
    return figures, details


# ---------------------------------------------------------------- the benchmark

PARTS = ("latency", "idle", "fairness")


def run(
    rounds: int = 200,
    agents: int = 16,
    window: float = 10.0,
    waiters: int = 8,
    wakeups: int = 1_000,
    fairness_modes: tuple[str, ...] = ("stdio", "http"),
    only: tuple[str, ...] = PARTS,
    workdir: Path | None = None,
) -> dict[str, Any]:
    workdir = workdir_or_temp(workdir)
    figures: list[Figure] = []
    details: dict[str, Any] = {}
    if "latency" in only:
        got, details["latency"] = latency(anyio.run(new_db, workdir / "waiting-latency.db"), rounds)
        print_figures("wake latency across processes", got)
        figures += got
    if "idle" in only:
        got, details["idle"] = idle_cpu(anyio.run(new_db, workdir / "waiting-idle.db"), agents, window)
        print_figures("idle server CPU with waiters", got)
        figures += got
    if "fairness" in only:
        got, details["fairness"] = fairness(lambda name: anyio.run(new_db, workdir / f"waiting-{name}.db"), waiters, wakeups,
                                            list(fairness_modes))
        print_figures("fairness among waiters", got)
        figures += got
    params = {"rounds": rounds, "agents": agents, "window_s": window, "waiters": waiters, "wakeups": wakeups,
              "fairness_modes": list(fairness_modes), "only": list(only)}
    return result("waiting", params, figures, details)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=200, help="wake-latency rounds")
    ap.add_argument("--agents", type=int, default=16, help="waiting agents on the idle HTTP server")
    ap.add_argument("--window", type=float, default=10.0, help="seconds of each idle CPU window")
    ap.add_argument("--waiters", type=int, default=8, help="waiters contending in the fairness run")
    ap.add_argument("--wakeups", type=int, default=1_000, help="tasks made ready one at a time in the fairness run")
    ap.add_argument("--modes", default="stdio,http", help="fairness over stdio, HTTP or both")
    ap.add_argument("--only", default=",".join(PARTS), help="comma-separated: " + ",".join(PARTS))
    a = ap.parse_args()
    script(run, rounds=a.rounds, agents=a.agents, window=a.window, waiters=a.waiters, wakeups=a.wakeups,
           fairness_modes=tuple(a.modes.split(",")), only=tuple(a.only.split(",")))


if __name__ == "__main__":
    main()
