"""Claims by 16 agents over PostgreSQL replicas, against 16 agents on one SQLite HTTP server, and
the round trips one write costs on each backend.

1. Throughput, side by side in one run. Each run imports the same plan of `--tasks` ready tasks
   (no dependencies) with `taskloom import` into a fresh database: a new SQLite file served by one
   `taskloom serve --transport http`, or a new database on one PostgreSQL cluster served by 2 (and
   4) such replicas. `--agents` agent processes, dealt round-robin over the replicas, each loop
   task_claim + task_done (the realistic pair) until a claim comes back empty. The agents are
   bare stateless HTTP clients (one JSON POST per call, the 2026 protocol era): the SDK's client
   costs more CPU per call than the server does, which would hide the backends' difference on 2
   cores. All agents start together (a barrier after their warm-up call). Reported: claims/s,
   p50/p95 claim latency, CPU per claim (our servers, PostgreSQL's processes), and the database
   checked afterwards: every task done, claimed exactly once, no claim opened while another was.
   On PostgreSQL a sampler looks at the write lock every 20 ms: free, or held by a transaction
   that is running a statement, flushing the WAL, or waiting for its replica's next statement.
   Repetitions alternate the order (SQLite first, then PostgreSQL first) to show the noise.
2. Round trips per write, in process through the services (`app.write(work.claim)`,
   `app.write(work.done)` of a task with 5 dependents that it makes ready): every statement the
   store's database threads send is counted, on PostgreSQL by wrapping psycopg's
   `Connection.execute` / `Cursor.executemany`, on SQLite with the connection's trace callback.
   `BEGIN; SELECT pg_advisory_xact_lock(..)` and `SELECT pg_notify(..); COMMIT` are one round
   trip each, as sent.

The cluster runs with durable commits (fsync, synchronous_commit, full_page_writes on), as
SQLite's commits are (WAL, synchronous=NORMAL: durable against a process crash, not power loss;
PostgreSQL's synchronous_commit=on flushes the WAL at every commit, which is stricter).

    .venv/bin/python -m tests.benchmarks.bench_pg_replicas [--tasks 1000] [--agents 16] [--reps 3] [--replicas 2,4]
    .venv/bin/python -m tests.benchmarks.bench_pg_replicas --quick     # about a minute
    (--fast: the cluster without fsync; --unlocked: also a run without the write lock, a
    diagnostic; --json FILE: the whole result)
Goal (issue 15): PostgreSQL with 2 replicas >= 1.0x SQLite's claims/s on this 2-core machine.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import re
import statistics
import subprocess
import threading
import time
from collections import Counter
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import anyio

from tests.benchmarks.clients import child_pids, cpu_seconds
from tests.benchmarks.common import (
    PROJECT,
    PY,
    ROOT,
    TASKLOOM,
    Figure,
    http_server,
    median,
    pct,
    print_figures,
    result,
    script,
    workdir_or_temp,
)

GOAL_RATIO = 1.0
DURABLE = {"fsync": "on", "synchronous_commit": "on", "full_page_writes": "on"}
UNLOCKED = "tests.benchmarks.pg_unlocked_server"
DEPENDENTS = 5  # dependents made ready by the task_done whose round trips are counted
META = {"io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientInfo": {"name": "taskloom-bench", "version": "0"},
        "io.modelcontextprotocol/clientCapabilities": {}}


# ---------------------------------------------------------------- the agents (one process each)


def _post(http: Any, url: str, tool: str, args: dict[str, Any], i: int) -> dict[str, Any]:
    body = {"jsonrpc": "2.0", "id": i, "method": "tools/call", "params": {"name": tool, "arguments": args, "_meta": META}}
    headers = {"accept": "application/json, text/event-stream", "mcp-protocol-version": "2026-07-28",
               "mcp-method": "tools/call", "mcp-name": tool}
    reply = http.post(url, json=body, headers=headers).json()
    if "result" not in reply:
        raise RuntimeError(f"{tool}: {reply}")
    return reply["result"]


def _agent(url: str, name: str, barrier: Any, q: Any) -> None:
    """Claim and finish tasks until a claim comes back empty; put what happened on `q`."""
    import httpx2

    out: dict[str, Any] = {"agent": name, "codes": [], "claim_s": [], "done_s": [], "errors": Counter()}
    with httpx2.Client(timeout=60) as http:
        _post(http, url, "task_list", {"limit": 1, "agent": name}, 0)  # connection up, code paths warm
        barrier.wait()
        out["t_start"] = time.time()
        i = 0
        while sum(out["errors"].values()) < 50:
            i += 1
            t0 = time.perf_counter()
            got = _post(http, url, "task_claim", {"agent": name}, i)
            out["claim_s"].append(time.perf_counter() - t0)
            if got.get("isError"):
                out["errors"][got["content"][0]["text"][:80]] += 1
                continue
            if not got["structuredContent"]["claimed"]:
                break
            code = got["structuredContent"]["detail"]["task"]["code"]
            out["codes"].append(code)
            t0 = time.perf_counter()
            done = _post(http, url, "task_done", {"agent": name, "task": code, "summary": "Done; in the branch."}, i)
            out["done_s"].append(time.perf_counter() - t0)
            if done.get("isError"):
                out["errors"][done["content"][0]["text"][:80]] += 1
        out["t_end"] = time.time()
    out["errors"] = dict(out["errors"])
    q.put(out)


def drive(urls: list[str], agents: int) -> list[dict[str, Any]]:
    ctx = mp.get_context("spawn")
    q, barrier = ctx.Queue(), ctx.Barrier(agents + 1)
    procs = [ctx.Process(target=_agent, args=(urls[i % len(urls)], f"agent-{i}", barrier, q)) for i in range(agents)]
    for p in procs:
        p.start()
    try:
        barrier.wait(timeout=120)
        outs = [q.get(timeout=600) for _ in procs]
    finally:
        for p in procs:
            p.join(10)
            if p.is_alive():
                p.kill()
    return outs


# ---------------------------------------------------------------- one run: a fresh database, its servers, the agents


def write_plan(path: Path, n: int) -> Path:
    tasks = [{"code": f"T-{i}", "title": f"Task {i}: do part {i} of the work", "priority": i % 5,
              "description": "Implement the piece described in the plan; keep the tests green."} for i in range(1, n + 1)]
    path.write_text(json.dumps({"tasks": tasks}))
    return path


def import_plan(db: str, plan: Path) -> None:
    subprocess.run([TASKLOOM, "import", str(plan), "--db", db, "--project", PROJECT], check=True,
                   capture_output=True, cwd=str(ROOT), env={k: v for k, v in os.environ.items()
                                                           if not k.startswith("TASKLOOM_")})


HOLDER = """SELECT a.state, coalesce(a.wait_event_type || ':' || a.wait_event, '') AS waiting_on,
  (SELECT count(*) FROM pg_locks w WHERE w.locktype = 'advisory' AND NOT w.granted) AS queued
FROM pg_locks l JOIN pg_stat_activity a USING (pid) WHERE l.locktype = 'advisory' AND l.granted"""
SAMPLE_S = 0.02  # seconds between looks at who holds the write lock


def sample_lock(db: str, stop: threading.Event, out: Counter) -> None:
    """What the holder of the write lock is doing, sampled: `active` (PostgreSQL works on a
    statement, or waits on the WAL flush), or `idle in transaction` (PostgreSQL waits for the
    replica's next statement: the lock is held across a round trip and the replica's own CPU)."""
    import psycopg

    with psycopg.connect(db, autocommit=True) as conn:
        while not stop.wait(SAMPLE_S):
            rows = conn.execute(HOLDER).fetchall()
            if not rows:
                out["free"] += 1
            for state, waiting_on, queued in rows:
                out[_holder(state, waiting_on)] += 1
                out["queued"] += queued


def _holder(state: str, waiting_on: str) -> str:
    if state.startswith("idle in transaction"):
        return "waiting for the replica"
    if waiting_on.startswith("IO:WAL"):
        return "flushing the WAL"
    return "running a statement"


def one_run(db: str, replicas: int, agents: int, logs: Path, postmaster: int | None,
            module: str | None = None) -> dict[str, Any]:
    held: Counter = Counter()
    stop_sampling = threading.Event()
    with ExitStack() as stack:
        servers = [stack.enter_context(http_server(db, "bench-http", log_dir=logs, module=module))  # type: ignore[arg-type]
                   for _ in range(replicas)]
        time.sleep(1.0)  # each server's first resolver pass, off the clock
        pids = [p.pid for _, p in servers]
        pg_pids = child_pids(postmaster) if postmaster else []
        cpu0 = [_cpu(pids), _cpu(pg_pids)]
        if postmaster:
            sampler = threading.Thread(target=sample_lock, args=(db, stop_sampling, held), daemon=True)
            sampler.start()
        outs = drive([u for u, _ in servers], agents)
        cpu = [_cpu(pids) - cpu0[0], _cpu(pg_pids) - cpu0[1]]
        if postmaster:
            stop_sampling.set()
            sampler.join()
    claims = [c for o in outs for c in o["codes"]]
    lat = [x for o in outs for x in o["claim_s"]]
    done = [x for o in outs for x in o["done_s"]]
    wall = max(o["t_end"] for o in outs) - min(o["t_start"] for o in outs)
    return {"replicas": replicas, "claims": len(claims), "wall_s": wall, "rate": len(claims) / wall,
            "claim_p50_ms": median(lat) * 1e3, "claim_p95_ms": pct(lat, 95) * 1e3,
            "done_p50_ms": median(done) * 1e3, "done_p95_ms": pct(done, 95) * 1e3,
            "double_in_agents": len(claims) - len(set(claims)),
            "errors": dict(sum((Counter(o["errors"]) for o in outs), Counter())),
            "cpu_servers_ms_per_claim": cpu[0] / max(1, len(claims)) * 1e3,
            "cpu_pg_ms_per_claim": cpu[1] / max(1, len(claims)) * 1e3,
            "loadavg_after": os.getloadavg(), "db": db_check(db), "write_lock": lock_shares(held)}


def lock_shares(held: Counter) -> dict[str, float]:
    looks = sum(n for k, n in held.items() if k != "queued")
    if not looks:
        return {}
    out = {k: n / looks for k, n in held.most_common() if k != "queued"}
    out["queued_mean"] = held["queued"] / looks
    return out


def _cpu(pids: list[int]) -> float:
    total = 0.0
    for pid in pids:
        try:
            total += cpu_seconds(pid)
        except OSError:  # a PostgreSQL backend that ended since it was listed
            pass
    return total


def db_check(db: str) -> dict[str, int]:
    """From the database itself: tasks done, task.claimed events per task, and claims opened
    while the task's previous claim was still open (tests/pg/replicas.py's overlapping_claims)."""
    from taskloom.config import Settings
    from tests.conftest import table_rows
    from tests.pg.replicas import events

    settings = Settings(db_url=db) if db.startswith("postgresql") else Settings(db_path=Path(db))
    done = table_rows(settings, "SELECT count(*) FROM tasks WHERE status = 'done'")[0][0]
    per_task = Counter(s for _, _, s, _ in events_of(settings, events, db))
    overlapping = 0
    open_claim: dict[str, bool] = {}
    for _, kind, subject, _ in events_of(settings, events, db, all_ends=True):
        if kind == "task.claimed":
            overlapping += open_claim.get(subject, False)
            open_claim[subject] = True
        else:
            open_claim[subject] = False
    return {"done": done, "claimed_events": sum(per_task.values()),
            "claimed_twice": sum(1 for n in per_task.values() if n > 1), "overlapping": overlapping}


def events_of(settings: Any, events: Any, db: str, all_ends: bool = False) -> list[tuple]:
    from tests.pg.replicas import CLAIM_ENDS

    if db.startswith("postgresql"):
        return events(db, "task.claimed", *(CLAIM_ENDS if all_ends else ()))
    from tests.conftest import table_rows

    kinds = ("task.claimed", *(CLAIM_ENDS if all_ends else ()))
    marks = ", ".join("?" for _ in kinds)
    return table_rows(settings, f"SELECT id, kind, subject, agent FROM events WHERE kind IN ({marks}) ORDER BY id",
                      kinds)


# ---------------------------------------------------------------- round trips per write, in process


class Counting:
    """Statements sent by the store's database threads while `on`, each as sent (one round trip)."""

    def __init__(self, threads: str) -> None:
        self.threads = threads
        self.sent: list[str] = []
        self.on = False
        self.lock = threading.Lock()

    def see(self, sql: Any) -> None:
        # PostgreSQL: only the store's database threads (not the listener's own connection).
        # SQLite: the trace callback is on the store's one connection already.
        if self.on and threading.current_thread().name.startswith(self.threads):
            with self.lock:
                self.sent.append(" ".join(str(sql).split()))


def _wrap_psycopg(counting: Counting) -> None:
    import psycopg

    execute, executemany = psycopg.Connection.execute, psycopg.Cursor.executemany

    def counted_execute(self, query, *args, **kwargs):
        counting.see(query)
        return execute(self, query, *args, **kwargs)

    def counted_many(self, query, *args, **kwargs):
        counting.see(query)
        return executemany(self, query, *args, **kwargs)

    psycopg.Connection.execute, psycopg.Cursor.executemany = counted_execute, counted_many


def label(sql: str, names: dict[str, str]) -> str:
    """What one round trip was: a named query's name, or the transaction control it carried."""
    if sql.startswith("BEGIN; SELECT pg_advisory_xact_lock"):
        return "BEGIN + advisory lock"
    if sql.startswith("SELECT pg_notify"):
        return "pg_notify + COMMIT"
    if sql in names:
        return names[sql]
    if sql.split()[0].upper() in ("BEGIN", "COMMIT", "ROLLBACK"):
        return sql
    # SQLite's trace gives the statement with its parameters filled in: match with them as wildcards.
    for name, pattern in _patterns(names).items():
        if pattern.fullmatch(sql):
            return name
    return sql[:30]


def _patterns(names: dict[str, str]) -> dict[str, re.Pattern[str]]:
    return {name: re.compile(re.sub(r"(?<!:):[a-z_]+", ".*?", re.escape(text).replace(r"\:", ":")))
            for text, name in names.items()}


async def round_trips(settings: Any, calls: int) -> dict[str, Any]:
    """Statements per work.claim and per work.done (with DEPENDENTS dependents readied)."""
    from taskloom.models import TaskSpec
    from taskloom.services import creation, work
    from taskloom.services.app import Taskloom

    pg = settings.db_url is not None
    counting = Counting("taskloom-pg" if pg else "")
    if pg:
        _wrap_psycopg(counting)
        from taskloom.store.postgres.store import QUERIES
    else:
        from taskloom.store.sqlite.store import QUERIES
    names = {" ".join(sql.split()): name for name, sql in QUERIES.items()}
    app = await Taskloom.open(settings)
    try:
        if not pg:
            # The store's one connection, on its own thread: trace every statement it runs.
            await app.store._call(lambda conn: conn.set_trace_callback(counting.see))
        specs = []
        for i in range(calls):
            specs.append(TaskSpec(code=f"A-{i}", title=f"Probe {i}", priority=0))
            specs += [TaskSpec(code=f"A-{i}-D{j}", title=f"Dependent {j} of probe {i}", priority=4,
                               depends_on=[f"A-{i}"]) for j in range(DEPENDENTS)]
        await app.write(lambda tx, scope: creation.create_tasks(tx, scope, specs))
        per: dict[str, list[list[str]]] = {"claim": [], "done": []}
        for i in range(calls):
            for op in ("claim", "done"):
                counting.sent, counting.on = [], True
                if op == "claim":
                    got = await app.write(work.claim)
                    assert got.claimed and got.detail.task.code == f"A-{i}", got
                else:
                    got = await app.write(work.done, f"A-{i}", "Done; in the branch.")
                    assert len(got.unblocked) == DEPENDENTS, got
                counting.on = False
                per[op].append([label(s, names) for s in counting.sent])
    finally:
        await app.close()
    out = {}
    for op, seen in per.items():
        counts = [len(s) for s in seen]
        typical = Counter(tuple(s) for s in seen).most_common(1)[0][0]
        out[op] = {"median": statistics.median(counts), "min": min(counts), "max": max(counts),
                   "statements": list(typical)}
    return out


# ---------------------------------------------------------------- the benchmark


def run(tasks: int = 1000, agents: int = 16, reps: int = 3, replica_counts: tuple[int, ...] = (2, 4),
        rt_calls: int = 20, workdir: Path | None = None, quick: bool = False, durable: bool = True,
        unlocked: bool = False) -> dict:
    from taskloom.config import Settings
    from tests.pg.cluster import start, stop

    workdir = workdir_or_temp(workdir)
    plan = write_plan(workdir / "plan.json", tasks)
    cluster = start(DURABLE if durable else None)
    runs: list[dict[str, Any]] = []
    try:
        postmaster = cluster.postmaster_pid()
        kinds = ["sqlite", *(f"pg{n}" for n in replica_counts)]
        kinds += [f"pg{replica_counts[0]}-unlocked"] if unlocked else []
        for rep in range(reps):
            order = kinds if rep % 2 == 0 else [*kinds[1:], kinds[0]]
            for kind in order:
                if kind == "sqlite":
                    db = str(workdir / f"run-{rep}.db")
                else:
                    db = cluster.create_database(f"bench_{rep}_{kind}")
                import_plan(db, plan)
                n = 1 if kind == "sqlite" else int(kind[2:].split("-")[0])
                module = UNLOCKED if kind.endswith("-unlocked") else None
                r = {"kind": kind, "rep": rep,
                     **one_run(db, n, agents, workdir, None if kind == "sqlite" else postmaster, module)}
                runs.append(r)
                print(f"  [rep {rep} {kind}] {r['claims']} claims+dones in {r['wall_s']:.2f} s = {r['rate']:.0f} claims/s,"
                      f" claim p50 {r['claim_p50_ms']:.1f} / p95 {r['claim_p95_ms']:.1f} ms, done p50"
                      f" {r['done_p50_ms']:.1f} ms, CPU/claim servers {r['cpu_servers_ms_per_claim']:.2f} ms +"
                      f" PostgreSQL {r['cpu_pg_ms_per_claim']:.2f} ms, errors {r['errors']}, db {r['db']}", flush=True)
                if r["write_lock"]:
                    print("    write lock, sampled: " + ", ".join(f"{k} {v:.0%}" if k != "queued_mean" else
                                                              f"writers queued {v:.1f}"
                                                              for k, v in r["write_lock"].items()), flush=True)
        sqlite_rt = anyio.run(round_trips, Settings(db_path=workdir / "rt.db", project=PROJECT, default_agent="rt"),
                              rt_calls)
        rt_db = cluster.create_database("bench_rt")
        pg_rt = anyio.run(round_trips, Settings(db_url=rt_db, project=PROJECT, default_agent="rt"), rt_calls)
    finally:
        stop(cluster)
    return report(runs, sqlite_rt, pg_rt, tasks=tasks, agents=agents, reps=reps, replica_counts=replica_counts,
                  quick=quick, durable=durable, unlocked=unlocked)


def report(runs: list[dict[str, Any]], sqlite_rt: dict, pg_rt: dict, **params: Any) -> dict:
    q = " --quick" if params["quick"] else ""
    cmd = f"{PY} -m tests.benchmarks.bench_pg_replicas{q}" if q else (
        f"{PY} -m tests.benchmarks.bench_pg_replicas --tasks {params['tasks']} --agents {params['agents']} "
        f"--reps {params['reps']} --replicas {','.join(map(str, params['replica_counts']))}"
        + ("" if params["durable"] else " --fast") + (" --unlocked" if params["unlocked"] else ""))
    by: dict[str, list[dict[str, Any]]] = {}
    for r in runs:
        by.setdefault(r["kind"], []).append(r)
    sqlite = by["sqlite"]
    figures = []
    for kind, rs in by.items():
        n = kind[2:].split("-")[0]
        where = "1 SQLite HTTP server" if kind == "sqlite" else (
            f"{n} PostgreSQL replica{'s' if n != '1' else ''}" + (" WITHOUT the write lock" if "-" in kind else ""))
        figures += [
            Figure(f"claims/s (claim + done), {params['agents']} agents on {where}, each rep",
                   " / ".join(f"{r['rate']:.0f}" for r in rs), "/s", command=cmd),
            Figure(f"claim latency p50 / p95, {where} (median of reps)",
                   f"{median([r['claim_p50_ms'] for r in rs]):.1f} / {median([r['claim_p95_ms'] for r in rs]):.1f}",
                   "ms", command=cmd),
            Figure(f"CPU per claim + done, {where}: taskloom servers + PostgreSQL",
                   f"{median([r['cpu_servers_ms_per_claim'] for r in rs]):.2f} + "
                   f"{median([r['cpu_pg_ms_per_claim'] for r in rs]):.2f}", "ms", command=cmd),
        ]
        if kind != "sqlite":
            idle = [r["write_lock"].get("waiting for the replica", 0.0) for r in rs]
            queued = [r["write_lock"].get("queued_mean", 0.0) for r in rs]
            figures.append(Figure(f"write lock held by a transaction waiting for its replica's next statement, "
                                  f"share of samples, {where} (writers queued, mean)",
                                  f"{median(idle):.0%} ({median(queued):.1f})", "", command=cmd))
            ratios = [r["rate"] / s["rate"] for r, s in zip(rs, sqlite, strict=False)]
            goal = kind == "pg2"
            figures.append(Figure(f"claims/s ratio, {where} / SQLite, each rep (median)",
                                  " / ".join(f"{x:.2f}" for x in ratios) + f" ({median(ratios):.2f})", "x",
                                  f">= {GOAL_RATIO:.1f}" if goal else "", median(ratios) >= GOAL_RATIO if goal else None,
                                  cmd))
    bad = sum(r["double_in_agents"] + r["db"]["claimed_twice"] + r["db"]["overlapping"] for r in runs)
    undone = sum(params["tasks"] - r["db"]["done"] for r in runs)
    errors = sum(sum(r["errors"].values()) for r in runs)
    figures += [
        Figure("double claims, all runs (agents' codes + events in the database)", bad, "", "0", bad == 0, cmd),
        Figure("tasks not done at the end, all runs", undone, "", "0", undone == 0, cmd),
        Figure("errors reaching an agent, all runs", errors, "", "0", errors == 0, cmd),
    ]
    for op, what in (("claim", "task_claim"), ("done", f"task_done readying {DEPENDENTS} dependents")):
        figures.append(Figure(f"round trips per {what}: PostgreSQL / SQLite statements",
                              f"{pg_rt[op]['median']:g} / {sqlite_rt[op]['median']:g}", "", command=cmd))
    print_figures("claims over PostgreSQL replicas against one SQLite server", figures)
    for name, rt in (("PostgreSQL", pg_rt), ("SQLite", sqlite_rt)):
        for op, r in rt.items():
            print(f"  {name} {op}: {r['median']:g} round trips (min {r['min']}, max {r['max']}): "
                  + ", ".join(f"{k} x{v}" if v > 1 else k for k, v in Counter(r["statements"]).items()))
    details = {"runs": runs, "round_trips": {"postgresql": pg_rt, "sqlite": sqlite_rt},
               "pg_settings": DURABLE if params["durable"] else "tests.pg.cluster.FAST"}
    return result("pg_replicas", {**params, "replica_counts": list(params["replica_counts"])}, figures, details)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tasks", type=int, default=1000, help="ready tasks imported per run")
    ap.add_argument("--agents", type=int, default=16, help="agent processes per run")
    ap.add_argument("--reps", type=int, default=3, help="repetitions, alternating which backend goes first")
    ap.add_argument("--replicas", type=lambda s: tuple(int(x) for x in s.split(",")), default=(2, 4),
                    help="PostgreSQL replica counts to run, e.g. 2,4")
    ap.add_argument("--rt-calls", type=int, default=20, help="calls whose round trips are counted")
    ap.add_argument("--quick", action="store_true", help="200 tasks, 8 agents, 2 reps, 2 replicas only")
    ap.add_argument("--fast", action="store_true", help="the cluster without fsync (throwaway settings), to see "
                    "what durable commits cost")
    ap.add_argument("--unlocked", action="store_true", help="also the first replica count with the write lock "
                    "off (a diagnostic: tests/benchmarks/pg_unlocked_server.py)")
    ap.add_argument("--json", type=Path, help="also write the result here")
    a = ap.parse_args()
    if a.quick:
        a.tasks, a.agents, a.reps, a.replicas, a.rt_calls = 200, 8, 2, (2,), 3
    out = script(run, tasks=a.tasks, agents=a.agents, reps=a.reps, replica_counts=a.replicas, rt_calls=a.rt_calls,
                 quick=a.quick, durable=not a.fast, unlocked=a.unlocked)
    if a.json:
        a.json.write_text(json.dumps(out, indent=1, default=str))


if __name__ == "__main__":
    main()
