"""Claim throughput and the worst wait: N agent processes on one database, beside the raw SQLite ceiling.

Every agent is a worker process (claims_worker) running an MCP client. Over stdio each spawns
its own `taskloom serve` on the shared database of ready tasks; over HTTP all of them talk to one
`taskloom serve --transport http`. Workers report READY once initialized and warmed up; the
coordinator waits a moment (so that every server's first resolver pass is over) and sends GO to
all together, so spawn time is excluded. Each worker loops `task_claim` (no task argument) for a
fixed duration or count. Reported: claims/s, p50/p99/worst single claim, double claims (across
workers, and re-checked in the database), each process's share, CPU per claim.

In the same run, before the servers, the raw SQLite ceiling: the project's own `claim_next`
statement (one UPDATE ... WHERE id = (SELECT ... LIMIT 1) RETURNING) in a plain sqlite3 autocommit
loop, same pragmas, on a copy of the same database: one process, and N processes. The server's
claims/s are shown as a fraction of it.

    .venv/bin/python -m tests.benchmarks.bench_claims [--procs 8] [--sweep 1,4,8,16] [--http 16] [--duration 10]
        [--base DIR [--rounds 3]]
Goal at 8 processes: >= 800 claims/s, worst single claim < 250 ms, 0 double claims.

`--base DIR` (a checkout of the previous release) adds `--rounds` pairs of runs at `--procs` agents
over stdio, one with DIR's servers and one with this checkout's, in alternating order on copies
of the same database, so that both see the same machine; each figure is the median of its rounds.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import shlex
import shutil
import sqlite3
import subprocess
import time
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import anyio

from tests.benchmarks.clients import cpu_seconds
from tests.benchmarks.common import (
    PROJECT,
    PY,
    PYTHON,
    ROOT,
    Figure,
    build_bulk,
    checkpoint,
    child_env,
    claim_line,
    claim_summary,
    fresh,
    http_server,
    median,
    open_app,
    pct,
    print_figures,
    result,
    script,
    workdir_or_temp,
)

GOAL_RATE = 800.0
GOAL_WORST_MS = 250.0
GOAL_PROCS = 8
SETTLE_S = 1.5  # after all workers are ready: let each server's first resolver pass finish


def copy_db(src: Path, dst: Path) -> Path:
    fresh(dst)
    shutil.copyfile(src, dst)
    return dst


# ---------------------------------------------------------------- raw SQLite ceiling


def _raw_loop(path: str, agent: str, duration: float, start_at: float, q: Any) -> None:
    from taskloom.store.sqlite.store import QUERIES

    conn = sqlite3.connect(path, isolation_level=None)
    for pragma in ("busy_timeout = 10000", "journal_mode = WAL", "synchronous = NORMAL", "foreign_keys = ON"):
        conn.execute(f"PRAGMA {pragma}")
    pid = conn.execute("SELECT id FROM projects WHERE name = ?", (PROJECT,)).fetchone()[0]
    sql = QUERIES["claim_next"]
    params = {"project": pid, "agent": agent, "now": 0.0, "expires": 0.0, "role": None, "stream_id": None,
              "labels": "[]", "label_count": 0}
    while time.time() < start_at:
        time.sleep(0.0005)
    ids, lat = [], []
    t_start, cpu0 = time.time(), time.process_time()
    deadline = time.perf_counter() + duration
    while (now := time.perf_counter()) < deadline:
        params["now"] = time.time()
        params["expires"] = params["now"] + 900
        row = conn.execute(sql, params).fetchone()
        lat.append(time.perf_counter() - now)
        if row is None:
            break
        ids.append(row[0])
    t_end, cpu = time.time(), time.process_time() - cpu0
    conn.close()
    q.put({"ids": ids, "lat": lat, "t_start": t_start, "t_end": t_end, "cpu_s": cpu})


def raw_ceiling(path: Path, procs: int, duration: float) -> dict[str, Any]:
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    start_at = time.time() + 1.0 + 0.2 * procs  # all processes start together, after their imports
    ps = [ctx.Process(target=_raw_loop, args=(str(path), f"raw-{i}", duration, start_at, q)) for i in range(procs)]
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
        "cpu_ms_per_claim": sum(o["cpu_s"] for o in outs) / max(1, len(lat)) * 1e3,
    }


# ---------------------------------------------------------------- MCP agents


def server_claims(
    path: Path,
    procs: int,
    duration: float,
    count: int | None,
    client: str = "sdk",
    server: str | None = None,
    http: bool = False,
    tree: Path = ROOT,
) -> dict[str, Any]:
    """`procs` agent processes claiming at once; over stdio each with its own server (run from
    `tree`), with `http` all on one streamable-HTTP server (whose CPU this process measures)."""
    cmd = [PYTHON, "-m", "tests.benchmarks.claims_worker", "--db", str(path), "--duration", str(duration),
           "--client", client, "--tree", str(tree)]
    cmd += ["--server", server] if server else []
    cmd += ["--count", str(count)] if count is not None else []
    env = {**os.environ, **child_env()}
    with http_server(path, "http-agents") if http else nullcontext((None, None)) as (url, http_proc):
        argv = [*cmd, "--url", url] if url else cmd
        t_spawn = time.perf_counter()
        workers = [
            subprocess.Popen([*argv, "--agent", f"agent-{i}"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             text=True, cwd=str(ROOT), env=env)
            for i in range(procs)
        ]
        try:
            for w in workers:
                line = w.stdout.readline()
                if line.strip() != "READY":
                    raise RuntimeError(f"worker did not start: {line!r}")
            spawn_s = time.perf_counter() - t_spawn
            time.sleep(SETTLE_S)
            cpu0 = cpu_seconds(http_proc.pid) if http_proc else 0.0
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
            if http_proc:
                outs[0]["cpu_server_s"] = cpu_seconds(http_proc.pid) - cpu0  # the one shared server's
            for w in workers:
                w.wait(timeout=30)
        finally:
            for w in workers:
                if w.poll() is None:
                    w.kill()
    summary = claim_summary(outs)
    return {**summary, "transport": "http" if http else "stdio", "client": client, "spawn_s": spawn_s,
            "db_check": _db_check(path, outs)}


def _db_check(path: Path, outs: list[dict]) -> dict[str, Any]:
    """Every claimed code is in progress in the database, held by the agent that got it."""
    conn = sqlite3.connect(str(path))
    held = dict(conn.execute("SELECT code, claimed_by FROM tasks WHERE status = 'in_progress'").fetchall())
    conn.close()
    wrong = sum(1 for o in outs for c in o["codes"] if held.get(c) != o["agent"])
    return {"in_progress": len(held), "claimed_in_bench": sum(len(o["codes"]) for o in outs), "mismatched": wrong}


async def services_claims(path: Path, duration: float) -> dict[str, Any]:
    """One process claiming through the services (`app.write(work.claim)`), no MCP: the use case's
    own cost, and how long it holds the write lock (BEGIN IMMEDIATE to just before COMMIT)."""
    from taskloom.services import work

    def timed_claim(tx, scope):
        t0 = time.perf_counter()
        out = work.claim(tx, scope)
        return out, time.perf_counter() - t0

    held, lat = [], []
    async with open_app(path, "services-agent", new=False) as app:
        t_start = time.perf_counter()
        while time.perf_counter() - t_start < duration:
            t0 = time.perf_counter()
            out, dt = await app.write(timed_claim)
            if not out.claimed:  # ran out of ready tasks: a small database
                break
            lat.append(time.perf_counter() - t0)
            held.append(dt)
        wall = time.perf_counter() - t_start
    return {"rate": len(lat) / wall, "p50_ms": median(lat) * 1e3, "in_tx_p50_ms": median(held) * 1e3,
            "in_tx_p99_ms": pct(held, 99) * 1e3}


def compare(
    base: Path, rounds: int, db: Path, workdir: Path, procs: int, duration: float, count: int | None,
    client: str, server: str | None,
) -> dict[str, list[dict[str, Any]]]:
    """`rounds` runs of each tree, {"before": [...], "now": [...]}, alternating which goes first."""
    trees = {"before": base, "now": ROOT}
    out: dict[str, list[dict[str, Any]]] = {"before": [], "now": []}
    for r in range(rounds):
        for label in ("before", "now") if r % 2 == 0 else ("now", "before"):
            run_db = copy_db(db, workdir / "claims_run.db")
            res = server_claims(run_db, procs, duration, count, client, server, tree=trees[label])
            claim_line(f"{label} stdio-{procs} round {r + 1}", res)
            out[label].append(res)
    return out


def compare_figures(pairs: dict[str, list[dict[str, Any]]], procs: int, cmd: str) -> list[Figure]:
    if not pairs:
        return []

    def med(label: str, key: str) -> float:
        return median([r[key] for r in pairs[label]])

    rate, worst = med("now", "rate"), max(r["worst_ms"] for r in pairs["now"])
    doubles = sum(r["double"] + r["db_check"]["mismatched"] for rs in pairs.values() for r in rs)
    label = f"{procs} agents over stdio, previous release -> now, median of {len(pairs['now'])} rounds"
    return [
        Figure(f"claims/s, {label}", f"{med('before', 'rate'):.0f} -> {rate:.0f}", "/s", f">= {GOAL_RATE:.0f}",
               rate >= GOAL_RATE, cmd),
        Figure(f"worst claim wait of all rounds (median p99), {label}",
               f"{max(r['worst_ms'] for r in pairs['before']):.0f} ({med('before', 'p99_ms'):.0f}) -> "
               f"{worst:.0f} ({med('now', 'p99_ms'):.0f})", "ms", f"worst < {GOAL_WORST_MS:.0f}",
               worst < GOAL_WORST_MS, cmd),
        Figure(f"CPU per claim, server + client, {label}",
               f"{med('before', 'cpu_server_ms_per_claim'):.2f} + {med('before', 'cpu_client_ms_per_claim'):.2f} -> "
               f"{med('now', 'cpu_server_ms_per_claim'):.2f} + {med('now', 'cpu_client_ms_per_claim'):.2f}", "ms",
               command=cmd),
        Figure("double claims and errors, the rounds beside the previous release",
               f"{doubles} / {sum(r['errors'] for rs in pairs.values() for r in rs)}", "", "0", doubles == 0, cmd),
    ]


# ---------------------------------------------------------------- the benchmark


def run(
    procs: int = GOAL_PROCS,
    duration: float = 10.0,
    count: int | None = None,
    n_ready: int = 100_000,
    raw_duration: float = 2.0,
    workdir: Path | None = None,
    sweep: list[int] | None = None,
    http_agents: int = 16,
    analyze: bool = False,
    client: str = "sdk",
    bare_too: bool = True,
    server: str | None = None,
    base: Path | None = None,
    rounds: int = 3,
) -> dict:
    """Stdio runs at each size of `sweep` (default: `procs` only) with `client`; the goals apply at
    `procs`. `http_agents` (0: none) agents on one HTTP server. `bare_too` adds a stdio run at
    `procs` with bare JSON-RPC clients (the server-side view)."""
    workdir = workdir_or_temp(workdir)
    sweep = sorted(set(sweep or [procs]))
    base_db = workdir / "claims_base.db"
    anyio.run(lambda: build_bulk(base_db, n_ready, 0, all_ready=True))
    if analyze:
        checkpoint(base_db, analyze=True)
    raw_sizes = sorted({1, procs, max(sweep), http_agents} - {0})
    raw = {}
    for n in raw_sizes:
        raw[n] = raw_ceiling(copy_db(base_db, workdir / "claims_raw.db"), n, raw_duration)
    svc = anyio.run(services_claims, copy_db(base_db, workdir / "claims_services.db"), raw_duration)
    rates = ", ".join(f"{n} proc {r['rate']:.0f}/s" for n, r in raw.items())
    print(f"  [raw SQLite] {rates}; [services, in process] {svc['rate']:.0f}/s, lock held p50 "
          f"{svc['in_tx_p50_ms']:.3f} ms", flush=True)
    runs: dict[str, dict[str, Any]] = {}

    def one(key: str, n: int, kind: str, http: bool = False) -> None:
        runs[key] = server_claims(copy_db(base_db, workdir / "claims_run.db"), n, duration, count, kind, server, http)
        claim_line(key, runs[key])

    for n in sweep:
        one(f"stdio-{n}", n, client)
    if bare_too and client != "bare":
        one(f"stdio-{procs}-bare", procs, "bare")
    if http_agents:
        one(f"http-{http_agents}", http_agents, "sdk", http=True)
    pairs = compare(base, rounds, base_db, workdir, procs, duration, count, client, server) if base else {}

    extra = (" --analyze" if analyze else "") + (f" --ready {n_ready}" if n_ready != 100_000 else "")
    extra += f" --client {client}" if client != "sdk" else ""
    extra += f" --server {shlex.quote(server)}" if server else ""
    extra += f" --base {base} --rounds {rounds}" if base else ""
    sweep_arg = f" --sweep {','.join(map(str, sweep))}" if sweep != [procs] else ""
    cmd = f"{PY} -m tests.benchmarks.bench_claims --procs {procs}{sweep_arg} --http {http_agents} " \
          f"--duration {duration:g}{extra}"
    ceiling = raw[1]["rate"]
    figures = []
    for key, r in runs.items():
        n, goal = r["procs"], r["procs"] == procs and not key.endswith("bare")
        agents = f"{n} agent" + ("s" if n > 1 else "")
        where = {"stdio": f"{agents} over stdio, each its own server", "http": f"{agents} on one HTTP server"}
        label = where[r["transport"]] + (", bare JSON-RPC clients" if r["client"] == "bare" else "")
        figures += [
            Figure(f"claims/s, {label}", round(r["rate"]), "/s", f">= {GOAL_RATE:.0f}" if goal else "",
                   r["rate"] >= GOAL_RATE if goal else None, cmd),
            Figure(f"worst claim wait (p99), {label}", f"{r['worst_ms']:.0f} ({r['p99_ms']:.0f})", "ms",
                   f"worst < {GOAL_WORST_MS:.0f}" if goal else "", r["worst_ms"] < GOAL_WORST_MS if goal else None,
                   cmd),
        ]
    doubles = sum(r["double"] + r["db_check"]["mismatched"] for r in runs.values())
    errors = sum(r["errors"] for r in runs.values())
    main_run = runs.get(f"stdio-{procs}") or next(iter(runs.values()))
    figures += [
        Figure("double claims, all runs (across workers + DB check)", doubles, "", "0", doubles == 0, cmd),
        Figure("errors reaching an agent, all runs", errors, "", "0", errors == 0, cmd),
        Figure(f"share per process, min / max, {main_run['procs']} agents (fair = {1 / main_run['procs']:.1%})",
               f"{main_run['share_min']:.1%} / {main_run['share_max']:.1%}", "", command=cmd),
    ]
    raw_cpu = raw[1]["cpu_ms_per_claim"]
    for key, r in runs.items():
        if r["client"] == "sdk" and (key == f"stdio-{main_run['procs']}" or r["transport"] == "http"):
            # CPU per claim does not swing with the machine's other load the way claims/s does.
            figures.append(Figure(
                f"CPU per claim, server + client, {key.replace('-', ' ')} agents (raw SQLite: {raw_cpu:.3f} ms)",
                f"{r['cpu_server_ms_per_claim']:.2f} + {r['cpu_client_ms_per_claim']:.2f}", "ms", command=cmd))
    server_cpu = main_run["cpu_server_ms_per_claim"]
    figures.append(Figure(f"raw SQLite CPU per claim / server CPU per claim, {main_run['procs']} agents over stdio",
                          f"{raw_cpu / server_cpu:.1%}", "", command=cmd))
    figures += [
        Figure(f"raw SQLite claim_next, {n} process{'es' if n > 1 else ''} (worst {r['worst_ms']:.0f} ms)",
               round(r["rate"]), "/s", command=cmd)
        for n, r in raw.items()
    ]
    figures += [
        Figure("services claim in process, no MCP (lock held p50)",
               f"{svc['rate']:.0f}/s ({svc['in_tx_p50_ms']:.3f} ms)", "", command=cmd),
        Figure("server claims/s as a share of raw SQLite, 1 process: "
               + ", ".join(k.replace("stdio-", "stdio ").replace("http-", "HTTP ") for k in runs),
               " / ".join(f"{r['rate'] / ceiling:.1%}" for r in runs.values()), "", command=cmd),
    ]
    figures += compare_figures(pairs, procs, cmd)
    print_figures("claims: agent processes on one database, and the raw SQLite ceiling", figures)
    params = {"procs": procs, "sweep": sweep, "http_agents": http_agents, "duration_s": duration, "count": count,
              "ready_tasks": n_ready, "raw_duration_s": raw_duration, "analyze": analyze, "client": client,
              "server": server or "taskloom serve"}
    details = {"raw": {str(n): r for n, r in raw.items()}, "services": svc, "runs": runs, "base_pairs": pairs,
               "share_of_raw_1": {k: r["rate"] / ceiling for k, r in runs.items()}}
    return result("claims", params, figures, details)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--procs", type=int, default=GOAL_PROCS, help="agent processes where the goals apply")
    ap.add_argument("--sweep", type=lambda s: [int(x) for x in s.split(",")], help="stdio runs, e.g. 1,4,8,16")
    ap.add_argument("--http", type=int, default=16, help="agents on one HTTP server (0: skip)")
    ap.add_argument("--duration", type=float, default=10.0, help="seconds of claiming per run")
    ap.add_argument("--count", type=int, help="claims per worker instead of a duration")
    ap.add_argument("--ready", type=int, default=100_000, help="ready tasks in the database")
    ap.add_argument("--quick", action="store_true", help="3 s, 30k ready tasks")
    ap.add_argument("--analyze", action="store_true", help="ANALYZE the database first (shows a plan regression)")
    ap.add_argument("--no-bare", action="store_true", help="skip the extra run with bare JSON-RPC clients")
    ap.add_argument("--client", choices=["sdk", "bare"], default="sdk",
                    help="agents' MCP client over stdio: the SDK's Client, or a bare JSON-RPC client")
    ap.add_argument("--server", help='command to run instead of "taskloom serve" (gets --transport/--db/--project)')
    ap.add_argument("--base", type=Path, help="a checkout of the previous release to run beside this one")
    ap.add_argument("--rounds", type=int, default=3, help="pairs of runs (previous, now) with --base")
    a = ap.parse_args()
    if a.quick:
        a.duration, a.ready = 3.0, 30_000
    script(run, procs=a.procs, duration=a.duration, count=a.count, n_ready=a.ready, sweep=a.sweep,
           http_agents=a.http, analyze=a.analyze, client=a.client, bare_too=not a.no_bare, server=a.server,
           base=a.base, rounds=a.rounds)


if __name__ == "__main__":
    main()
