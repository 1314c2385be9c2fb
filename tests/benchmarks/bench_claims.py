"""Claim throughput and fairness: N agents, each an MCP client with its own `taskloom serve`.

Every agent is a separate worker process running an MCP client, which spawns its own
`taskloom serve --transport stdio` on one shared database of ready tasks. Workers report READY
once initialized and warmed up; the coordinator then waits a moment (so that every server's
first resolver pass is over) and sends GO on their stdin together, so spawn time is excluded.
Each worker loops `task_claim` (no task argument) for a fixed duration or count and records each
claim's latency and code. Reported: total claims/s, p50/p99/worst single claim, double claims
(across workers, and re-checked in the database), each process's share.

In the same run, before the servers, the raw SQLite ceiling: the project's own `claim_next`
statement (one UPDATE ... WHERE id = (SELECT ... LIMIT 1) RETURNING) in a plain sqlite3 autocommit
loop, same pragmas, on a copy of the same database: one process, and N processes.

    .venv/bin/python -m tests.benchmarks.bench_claims [--procs 8] [--duration 10] [--count K]
Goal at 8 processes: >= 800 claims/s, worst single claim < 250 ms, 0 double claims.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import shlex
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import anyio

from tests.benchmarks.common import (
    PY,
    PYTHON,
    ROOT,
    TASKLOOM,
    BareClient,
    Figure,
    bulk_build,
    checkpoint,
    child_env,
    child_pids,
    cpu_seconds,
    fresh,
    machine,
    median,
    pct,
    print_figures,
    result,
)

PROJECT = "bench"
NPROC = len(__import__("os").sched_getaffinity(0))
GOAL_RATE = 800.0
GOAL_WORST_MS = 250.0
SETTLE_S = 1.5  # after all workers are ready: let each server's first resolver pass finish


# ---------------------------------------------------------------- database


async def _build(path: Path, n_ready: int, analyze: bool = False) -> None:
    from taskloom.config import Settings
    from taskloom.services.app import Taskloom

    app = await Taskloom.open(Settings(db_path=fresh(path), project=PROJECT))
    try:
        pid = app.project_id
        await app.store.write_raw(lambda conn: bulk_build(conn, pid, n_ready, 0, all_ready=True))
    finally:
        await app.close()
    checkpoint(path, analyze)


def copy_db(src: Path, dst: Path) -> Path:
    fresh(dst)
    shutil.copyfile(src, dst)
    return dst


# ---------------------------------------------------------------- raw SQLite ceiling


def _raw_loop(path: str, agent: str, duration: float, count: int | None, start_at: float, q) -> None:
    from taskloom.store.sqlite.store import QUERIES

    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA busy_timeout = 10000")
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.execute("PRAGMA foreign_keys = ON")
    pid = conn.execute("SELECT id FROM projects WHERE name = ?", (PROJECT,)).fetchone()[0]
    sql = QUERIES["claim_next"]
    params = {
        "project": pid,
        "agent": agent,
        "now": 0.0,
        "expires": 0.0,
        "role": None,
        "stream_id": None,
        "labels": "[]",
        "label_count": 0,
    }
    while time.time() < start_at:
        time.sleep(0.0005)
    ids, lat = [], []
    t_start = time.time()
    deadline = time.perf_counter() + duration
    while True:
        now = time.perf_counter()
        if (count is not None and len(lat) >= count) or (count is None and now >= deadline):
            break
        params["now"] = time.time()
        params["expires"] = params["now"] + 900
        row = conn.execute(sql, params).fetchone()
        lat.append(time.perf_counter() - now)
        if row is None:
            break
        ids.append(row[0])
    t_end = time.time()
    conn.close()
    q.put({"agent": agent, "ids": ids, "lat": lat, "t_start": t_start, "t_end": t_end})


def raw_ceiling(path: Path, procs: int, duration: float, count: int | None) -> dict[str, Any]:
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    start_at = time.time() + 1.0 + 0.2 * procs
    ps = [
        ctx.Process(target=_raw_loop, args=(str(path), f"raw-{i}", duration, count, start_at, q))
        for i in range(procs)
    ]
    for p in ps:
        p.start()
    outs = [q.get() for _ in ps]
    for p in ps:
        p.join()
    ids = [i for o in outs for i in o["ids"]]
    lat = [x for o in outs for x in o["lat"]]
    wall = max(o["t_end"] for o in outs) - min(o["t_start"] for o in outs)
    return {
        "procs": procs,
        "claims": len(ids),
        "rate": len(ids) / wall,
        "p50_ms": median(lat) * 1e3,
        "p99_ms": pct(lat, 99) * 1e3,
        "worst_ms": max(lat) * 1e3,
        "double": len(ids) - len(set(ids)),
        "shares": sorted(len(o["ids"]) for o in outs),
    }


# ---------------------------------------------------------------- MCP workers


def _server_argv(server: str | None, db: str) -> list[str]:
    """`taskloom serve` by default; `--server "CMD ARGS"` swaps in another command taking the same
    options (e.g. a branch's build, or an experiment), to compare variants under one harness."""
    base = shlex.split(server) if server else [TASKLOOM, "serve"]
    return [*base, "--transport", "stdio", "--db", db, "--project", PROJECT]


async def _worker(db: str, agent: str, duration: float, count: int | None, server: str | None = None) -> None:
    from mcp import Client, StdioServerParameters

    argv = _server_argv(server, db)
    params = StdioServerParameters(
        command=argv[0],
        args=argv[1:],
        env=child_env(TASKLOOM_AGENT=agent),
        cwd=str(ROOT),
    )
    async with Client(params, mode="legacy") as client:
        for _ in range(20):  # warm up the call path with reads
            await client.call_tool("task_list", {"limit": 1})
        (server_pid,) = child_pids()
        print("READY", flush=True)
        line = await anyio.to_thread.run_sync(sys.stdin.readline)
        if line.strip() != "GO":
            return
        cpu0 = (time.process_time(), cpu_seconds(server_pid))
        codes: list[str] = []
        lat: list[float] = []
        empty = errors = 0
        error_texts: Counter[str] = Counter()
        t_start = time.time()
        deadline = time.perf_counter() + duration
        while True:
            t0 = time.perf_counter()
            if (count is not None and len(lat) >= count) or (count is None and t0 >= deadline):
                break
            res = await client.call_tool("task_claim", {})
            lat.append(time.perf_counter() - t0)
            if res.is_error:
                errors += 1
                error_texts[res.content[0].text[:80]] += 1
            elif res.structured_content["claimed"]:
                codes.append(res.structured_content["detail"]["task"]["code"])
            else:
                empty += 1
        t_end = time.time()
        cpu_client = time.process_time() - cpu0[0]
        cpu_server = cpu_seconds(server_pid) - cpu0[1]
    out = {
        "agent": agent,
        "codes": codes,
        "lat": lat,
        "empty": empty,
        "errors": errors,
        "cpu_client_s": cpu_client,
        "cpu_server_s": cpu_server,
        "error_texts": dict(error_texts),
        "t_start": t_start,
        "t_end": t_end,
    }
    print("RESULT " + json.dumps(out), flush=True)


def _bare_worker(db: str, agent: str, duration: float, count: int | None, server: str | None = None) -> None:
    """The same loop from a bare JSON-RPC client: no SDK client CPU, so the servers get the cores."""
    client = BareClient(_server_argv(server, db), child_env(TASKLOOM_AGENT=agent))
    try:
        for _ in range(20):
            client.call("task_list", {"limit": 1})
        print("READY", flush=True)
        if sys.stdin.readline().strip() != "GO":
            return
        codes: list[str] = []
        lat: list[float] = []
        empty = errors = 0
        error_texts: Counter[str] = Counter()
        cpu0 = (time.process_time(), cpu_seconds(client.pid))
        t_start = time.time()
        deadline = time.perf_counter() + duration
        while True:
            t0 = time.perf_counter()
            if (count is not None and len(lat) >= count) or (count is None and t0 >= deadline):
                break
            res = client.call("task_claim", {})
            lat.append(time.perf_counter() - t0)
            if res.get("isError"):
                errors += 1
                error_texts[res["content"][0]["text"][:80]] += 1
            elif res["structuredContent"]["claimed"]:
                codes.append(res["structuredContent"]["detail"]["task"]["code"])
            else:
                empty += 1
        t_end = time.time()
        cpu_client = time.process_time() - cpu0[0]
        cpu_server = cpu_seconds(client.pid) - cpu0[1]
    finally:
        client.close()
    out = {
        "agent": agent,
        "codes": codes,
        "lat": lat,
        "empty": empty,
        "errors": errors,
        "cpu_client_s": cpu_client,
        "cpu_server_s": cpu_server,
        "error_texts": dict(error_texts),
        "t_start": t_start,
        "t_end": t_end,
    }
    print("RESULT " + json.dumps(out), flush=True)


def server_claims(
    path: Path, procs: int, duration: float, count: int | None, client: str = "sdk", server: str | None = None
) -> dict[str, Any]:
    cmd = [
        PYTHON,
        "-m",
        "tests.benchmarks.bench_claims",
        "--worker",
        "--db",
        str(path),
        "--duration",
        str(duration),
        "--client",
        client,
    ]
    if server:
        cmd += ["--server", server]
    if count is not None:
        cmd += ["--count", str(count)]
    env = {**__import__("os").environ, **child_env()}
    t_spawn = time.perf_counter()
    workers = [
        subprocess.Popen(
            [*cmd, "--agent", f"agent-{i}"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=str(ROOT),
            env=env,
        )
        for i in range(procs)
    ]
    try:
        for w in workers:
            line = w.stdout.readline()
            if line.strip() != "READY":
                raise RuntimeError(f"worker did not start: {line!r}")
        spawn_s = time.perf_counter() - t_spawn
        time.sleep(SETTLE_S)
        for w in workers:
            w.stdin.write("GO\n")
        for w in workers:
            w.stdin.flush()
        outs = []
        for w in workers:
            line = w.stdout.readline()
            if not line.startswith("RESULT "):
                raise RuntimeError(f"worker failed: {line!r}")
            outs.append(json.loads(line[len("RESULT ") :]))
        for w in workers:
            w.wait(timeout=30)
    finally:
        for w in workers:
            if w.poll() is None:
                w.kill()
    codes = [c for o in outs for c in o["codes"]]
    lat = [x for o in outs for x in o["lat"]]
    wall = max(o["t_end"] for o in outs) - min(o["t_start"] for o in outs)
    dup = [c for c, k in Counter(codes).items() if k > 1]
    db_check = _db_check(path, outs)
    total = len(codes)
    shares = {o["agent"]: len(o["codes"]) for o in outs}
    calls = sum(len(o["lat"]) for o in outs)
    cpu_server = sum(o["cpu_server_s"] for o in outs)
    cpu_client = sum(o["cpu_client_s"] for o in outs)
    return {
        "cpu_server_ms_per_claim": cpu_server / calls * 1e3,
        "cpu_client_ms_per_claim": cpu_client / calls * 1e3,
        "loadavg_after": __import__("os").getloadavg(),
        "procs": procs,
        "claims": total,
        "wall_s": wall,
        "rate": total / wall,
        "p50_ms": median(lat) * 1e3,
        "p90_ms": pct(lat, 90) * 1e3,
        "p99_ms": pct(lat, 99) * 1e3,
        "worst_ms": max(lat) * 1e3,
        "double": len(dup),
        "double_codes": dup[:10],
        "empty": sum(o["empty"] for o in outs),
        "errors": sum(o["errors"] for o in outs),
        "error_texts": sum((Counter(o["error_texts"]) for o in outs), Counter()),
        "shares": shares,
        "share_min": min(shares.values()) / total if total else 0.0,
        "share_max": max(shares.values()) / total if total else 0.0,
        "spawn_s": spawn_s,
        "db_check": db_check,
    }


def _db_check(path: Path, outs: list[dict]) -> dict[str, Any]:
    """Every claimed code is in progress in the database, held by the agent that got it."""
    conn = sqlite3.connect(str(path))
    held = dict(conn.execute("SELECT code, claimed_by FROM tasks WHERE status = 'in_progress'").fetchall())
    conn.close()
    wrong = sum(1 for o in outs for c in o["codes"] if held.get(c) != o["agent"])
    return {
        "in_progress": len(held),
        "claimed_in_bench": sum(len(o["codes"]) for o in outs),
        "mismatched": wrong,
    }


# ---------------------------------------------------------------- the benchmark


async def services_claims(path: Path, duration: float) -> dict[str, Any]:
    """One process claiming through the services (`app.write(work.claim)`), no MCP: the use case's
    own cost, and how long it holds the write lock (BEGIN IMMEDIATE to just before COMMIT)."""
    from taskloom.config import Settings
    from taskloom.services import work
    from taskloom.services.app import Taskloom

    def timed_claim(tx, scope):
        t0 = time.perf_counter()
        out = work.claim(tx, scope)
        return out, time.perf_counter() - t0

    app = await Taskloom.open(Settings(db_path=path, project=PROJECT, default_agent="services-agent"))
    held, lat = [], []
    try:
        t_start = time.perf_counter()
        while time.perf_counter() - t_start < duration:
            t0 = time.perf_counter()
            out, dt = await app.write(timed_claim)
            if not out.claimed:  # ran out of ready tasks: a small database
                break
            lat.append(time.perf_counter() - t0)
            held.append(dt)
        wall = time.perf_counter() - t_start
    finally:
        await app.close()
    return {
        "rate": len(lat) / wall,
        "p50_ms": median(lat) * 1e3,
        "in_tx_p50_ms": median(held) * 1e3,
        "in_tx_p99_ms": pct(held, 99) * 1e3,
    }


def _line(label: str, r: dict[str, Any]) -> None:
    print(
        f"  [{label}] {r['claims']} claims in {r['wall_s']:.2f} s = {r['rate']:.0f}/s, p50 {r['p50_ms']:.2f} ms, "
        f"p99 {r['p99_ms']:.1f} ms, worst {r['worst_ms']:.1f} ms, doubles {r['double']}, "
        f"errors {r['errors']}, empty {r['empty']}, shares {sorted(r['shares'].values())}, "
        f"CPU/claim server {r['cpu_server_ms_per_claim']:.2f} ms + client {r['cpu_client_ms_per_claim']:.2f} ms",
        flush=True,
    )


def run(
    procs: int = 8,
    duration: float = 10.0,
    count: int | None = None,
    n_ready: int = 100_000,
    raw_duration: float = 2.0,
    workdir: Path | None = None,
    sweep: list[int] | None = None,
    analyze: bool = False,
    client: str = "sdk",
    bare_too: bool = True,
    server: str | None = None,
) -> dict:
    """`sweep` (e.g. [1, 4, 8, 16]) runs the servers at each size with `client`; the goals apply at
    `procs`. `bare_too` adds a run at `procs` with bare JSON-RPC clients (the server-side view)."""
    workdir = workdir or Path(tempfile.mkdtemp(prefix="taskloom-bench-"))
    base = workdir / "claims_base.db"
    anyio.run(_build, base, n_ready, analyze)
    raw1 = raw_ceiling(copy_db(base, workdir / "claims_raw1.db"), 1, raw_duration, None)
    rawn = raw_ceiling(copy_db(base, workdir / "claims_rawn.db"), procs, raw_duration, None)
    svc = anyio.run(services_claims, copy_db(base, workdir / "claims_services.db"), raw_duration)
    print(
        f"  [raw SQLite] 1 process {raw1['rate']:.0f}/s; {procs} processes {rawn['rate']:.0f}/s, worst "
        f"{rawn['worst_ms']:.0f} ms; [services, in process] {svc['rate']:.0f}/s, lock held p50 "
        f"{svc['in_tx_p50_ms']:.3f} ms",
        flush=True,
    )
    runs: dict[int, dict[str, Any]] = {}
    for n in sweep or [procs]:
        runs[n] = server_claims(
            copy_db(base, workdir / f"claims_server_{n}.db"), n, duration, count, client, server
        )
        _line(f"{n} procs, {client} client", runs[n])
    bare = None
    if bare_too and client != "bare":
        bare = server_claims(
            copy_db(base, workdir / "claims_server_bare.db"), procs, duration, count, "bare", server
        )
        _line(f"{procs} procs, bare client", bare)
    main_run = runs[procs] if procs in runs else runs[max(runs)]
    n = main_run["procs"]
    extra = (" --analyze" if analyze else "") + (f" --ready {n_ready}" if n_ready != 100_000 else "")
    extra += f" --client {client}" if client != "sdk" else ""
    extra += f" --server {shlex.quote(server)}" if server else ""
    cmd = f"{PY} -m tests.benchmarks.bench_claims --procs {n} --duration {duration:g}{extra}"
    ok_double = main_run["double"] == 0 and main_run["db_check"]["mismatched"] == 0
    cpu = main_run["cpu_server_ms_per_claim"] + main_run["cpu_client_ms_per_claim"]
    figures = [
        Figure(
            f"claims/s, {n} agents ({client} client + own taskloom serve)",
            round(main_run["rate"]),
            "/s",
            f">= {GOAL_RATE:.0f}",
            main_run["rate"] >= GOAL_RATE,
            cmd,
        ),
        Figure(
            f"worst single claim, {n} agents",
            round(main_run["worst_ms"], 1),
            "ms",
            f"< {GOAL_WORST_MS:.0f}",
            main_run["worst_ms"] < GOAL_WORST_MS,
            cmd,
        ),
        Figure(
            f"claim p50 / p99, {n} agents",
            f"{main_run['p50_ms']:.2f} / {main_run['p99_ms']:.1f}",
            "ms",
            command=cmd,
        ),
        Figure(
            f"double claims, {n} agents (across workers + DB check)",
            main_run["double"] + main_run["db_check"]["mismatched"],
            "",
            "0",
            ok_double,
            cmd,
        ),
        Figure(
            f"share per process, min / max (fair = {1 / n:.1%})",
            f"{main_run['share_min']:.1%} / {main_run['share_max']:.1%}",
            "",
            command=cmd,
        ),
        Figure(
            f"CPU per claim, server + client, {n} agents",
            f"{main_run['cpu_server_ms_per_claim']:.2f} + {main_run['cpu_client_ms_per_claim']:.2f}",
            "ms",
            command=cmd,
        ),
        Figure(
            f"CPU-bound ceiling on {NPROC} cores at that CPU/claim (no waiting, no other load)",
            round(NPROC / cpu * 1e3),
            "/s",
            command=cmd,
        ),
    ]
    if bare is not None:
        bcmd = f"{PY} -m tests.benchmarks.bench_claims --procs {procs} --duration {duration:g} --client bare"
        bcmd += (" --analyze" if analyze else "") + (f" --ready {n_ready}" if n_ready != 100_000 else "")
        bcmd += f" --server {shlex.quote(server)}" if server else ""
        figures += [
            Figure(
                f"claims/s, {procs} agents, bare JSON-RPC clients (server-side view)",
                round(bare["rate"]),
                "/s",
                f">= {GOAL_RATE:.0f}",
                bare["rate"] >= GOAL_RATE,
                bcmd,
            ),
            Figure(
                f"worst / p99 claim, {procs} agents, bare clients",
                f"{bare['worst_ms']:.1f} / {bare['p99_ms']:.1f}",
                "ms",
                f"worst < {GOAL_WORST_MS:.0f}",
                bare["worst_ms"] < GOAL_WORST_MS,
                bcmd,
            ),
            Figure(
                "server CPU per claim, bare clients",
                round(bare["cpu_server_ms_per_claim"], 3),
                "ms",
                command=bcmd,
            ),
        ]
    figures += [
        Figure("raw SQLite claim_next, 1 process", round(raw1["rate"]), "/s", command=cmd),
        Figure(
            f"raw SQLite claim_next, {procs} processes (worst {rawn['worst_ms']:.0f} ms)",
            round(rawn["rate"]),
            "/s",
            command=cmd,
        ),
        Figure(
            "services claim in process, 1 process (lock held p50)",
            f"{svc['rate']:.0f}/s ({svc['in_tx_p50_ms']:.3f} ms)",
            "",
            command=cmd,
        ),
        Figure(
            f"server/raw ratio ({n} agents vs raw 1 process)",
            round(main_run["rate"] / raw1["rate"], 4),
            "x",
            command=cmd,
        ),
    ]
    for k, r in runs.items():
        if k != n:
            c = cmd.replace(f"--procs {n} ", f"--procs {k} ")
            figures.append(
                Figure(
                    f"claims/s, {k} agents (worst {r['worst_ms']:.0f} ms, p99 {r['p99_ms']:.0f} ms, "
                    f"shares {r['share_min']:.0%}-{r['share_max']:.0%})",
                    round(r["rate"]),
                    "/s",
                    command=c,
                )
            )
    print_figures(f"claims: {n} agents, each its own taskloom serve over stdio", figures)
    as_json = lambda v: {**v, "error_texts": dict(v["error_texts"])}
    return result(
        "claims",
        {
            "procs": procs,
            "sweep": sweep or [procs],
            "duration_s": duration,
            "count": count,
            "ready_tasks": n_ready,
            "raw_duration_s": raw_duration,
            "analyze": analyze,
            "client": client,
            "server": server or "taskloom serve",
        },
        figures,
        {
            "raw_1": raw1,
            "raw_n": rawn,
            "services": svc,
            "server": {str(k): as_json(v) for k, v in runs.items()},
            "server_bare": as_json(bare) if bare else None,
        },
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--procs", type=int, default=8, help="agent processes (1, 4, 8, 16...)")
    ap.add_argument("--sweep", type=lambda s: [int(x) for x in s.split(",")], help="e.g. 1,4,8,16")
    ap.add_argument("--duration", type=float, default=10.0, help="seconds of claiming per run")
    ap.add_argument("--count", type=int, help="claims per worker instead of a duration")
    ap.add_argument("--ready", type=int, default=100_000, help="ready tasks in the database")
    ap.add_argument("--quick", action="store_true", help="3 s, 30k ready tasks")
    ap.add_argument(
        "--analyze", action="store_true", help="run ANALYZE on the database first (shows a plan regression)"
    )
    ap.add_argument("--no-bare", action="store_true", help="skip the extra run with bare JSON-RPC clients")
    ap.add_argument(
        "--server", help='command to run instead of "taskloom serve" (gets --transport/--db/--project)'
    )
    # worker mode (spawned by the coordinator)
    ap.add_argument(
        "--client",
        choices=["sdk", "bare"],
        default="sdk",
        help="agents' MCP client: the SDK's Client (default), or a bare JSON-RPC client (server-side view)",
    )
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--db", help=argparse.SUPPRESS)
    ap.add_argument("--agent", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.worker:
        if a.client == "bare":
            _bare_worker(a.db, a.agent, a.duration, a.count, a.server)
        else:
            anyio.run(_worker, a.db, a.agent, a.duration, a.count, a.server)
        return
    if a.quick:
        a.duration, a.ready = 3.0, 30_000
    with tempfile.TemporaryDirectory(prefix="taskloom-bench-") as d:
        run(
            a.procs,
            a.duration,
            a.count,
            a.ready,
            workdir=Path(d),
            sweep=a.sweep,
            analyze=a.analyze,
            client=a.client,
            bare_too=a.client == "sdk" and not a.no_bare,
            server=a.server,
        )
    print(machine())


if __name__ == "__main__":
    main()
