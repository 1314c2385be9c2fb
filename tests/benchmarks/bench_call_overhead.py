"""What a real read costs over a bare tool call: `task_get` against `noop`, over stdio and streamable HTTP.

The server is `noop_server` (exactly `taskloom serve` plus a `noop` tool) on a database of
`--tasks` tasks. `task_get` reads a task with dependencies (done, with summaries), notes, labels
and context. Calls alternate noop/task_get (ABBA order) so that drift on a noisy machine hits
both alike. One server process per transport, one run: stdio with the SDK client (plus CPU per
call), stdio with a bare JSON-RPC client (plus `echo_detail`: the same result from memory), and
streamable HTTP with the SDK client, with a session (`legacy`, the handshake era) and stateless
(the 2026 era, one POST per call). Goal: p50(task_get) / p50(noop) <= 1.15.

Issue 17's goal 1, the server CPU a call adds over `noop` (task_get <= 150 us, task_claim <= 300
us), is measured by call_cpu.py; `--base DIR` (a checkout of the previous release, e.g. a
worktree at its commit) measures that tree beside this one in the same run.

    .venv/bin/python -m tests.benchmarks.bench_call_overhead [--tasks 10000] [--calls 2000] [--base DIR]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import anyio
from mcp import Client

from taskloom.models import TaskSpec
from taskloom.services import creation, tasks, work
from tests.benchmarks.call_cpu import added_cpu_us, tree_env
from tests.benchmarks.clients import BareClient, child_pids, cpu_seconds
from tests.benchmarks.common import (
    PY,
    ROOT,
    Figure,
    build_bulk,
    checkpoint,
    child_env,
    http_server,
    median,
    open_app,
    pct,
    print_figures,
    result,
    script,
    serve_argv,
    stdio_params,
    workdir_or_temp,
)

NOOP_SERVER = "tests.benchmarks.noop_server"
TARGET = "GET-TARGET"
GOAL_RATIO = 1.15
GOAL_ADDED_US = {"task_get": 150.0, "task_claim": 300.0}  # server CPU over noop per call
# /proc counts CPU in 10 ms ticks: a block shorter than ~1 s is noise at the scale of these goals.
MIN_CPU_CALLS = 1000


async def build_db(path: Path, n_tasks: int) -> None:
    """`n_tasks` tasks (1.5 dependencies each) and one target task worth reading."""
    await build_bulk(path, n_tasks, n_tasks * 3 // 2)
    async with open_app(path, "builder", new=False) as app:

        def target(tx, scope):
            specs = [
                TaskSpec(
                    code=f"GET-DEP-{k}",
                    title=f"Dependency {k} of the target",
                    description="Produce the interface the target builds on.",
                )
                for k in range(3)
            ]
            specs.append(
                TaskSpec(
                    code=TARGET,
                    title="The task every call reads",
                    description="Wire the new parser into the pipeline. " * 8,
                    acceptance="All parser tests pass; the pipeline test covers the new path.",
                    context="## Briefing\nThe parser lives in src/parse; see ADR-7 for the format.\n",
                    labels=["parser", "pipeline"],
                    role="backend",
                    depends_on=[s.code for s in specs],
                )
            )
            creation.create_tasks(tx, scope, specs)

        await app.write(target)
        for k in range(3):
            await app.write(work.claim, code=f"GET-DEP-{k}")
            await app.write(
                work.done, f"GET-DEP-{k}", f"Dependency {k}: done; the API is in src/api/dep{k}.py."
            )
        for k, kind in enumerate(["progress", "decision", "note", "progress"]):
            await app.write(
                tasks.add_note, TARGET, kind, f"Note {k}: looked at the parser, decided on approach {k}."
            )
    checkpoint(path)


async def measure(target: Any, calls: int, warmup: int, mode: str = "legacy", cpu: bool = True) -> dict[str, Any]:
    """Interleaved noop/task_get through the SDK client; `target` is stdio parameters or a URL.
    With `cpu`, also CPU seconds per call of the (stdio) server and of this client."""
    times: dict[str, list[float]] = {"noop": [], "task_get": []}
    args = {"noop": {}, "task_get": {"task": TARGET}}
    async with Client(target, mode=mode) as client:
        first = await client.call_tool("task_get", args["task_get"])
        assert not first.is_error, first.content
        detail = first.structured_content
        assert len(detail["dependencies"]) == 3 and len(detail["notes"]) == 4, detail
        for i in range(warmup + calls):
            order = ("noop", "task_get") if i % 2 == 0 else ("task_get", "noop")
            for name in order:
                t0 = time.perf_counter()
                res = await client.call_tool(name, args[name])
                dt = time.perf_counter() - t0
                if res.is_error:
                    raise RuntimeError(f"{name} failed: {res.content}")
                if i >= warmup:
                    times[name].append(dt)
        if not cpu:
            return {"times": times, "response_bytes": len(first.content[0].text)}
        # CPU seconds per call, in blocks of one tool at a time (alternating blocks), for the
        # server process and for this client: steadier than wall time on a shared machine.
        (server_pid,) = child_pids()
        used = {name: {"server": 0.0, "client": 0.0, "calls": 0} for name in args}
        block = max(50, calls // 4)
        for rep in range(4):
            for name in ("noop", "task_get") if rep % 2 == 0 else ("task_get", "noop"):
                s0, c0 = cpu_seconds(server_pid), time.process_time()
                for _ in range(block):
                    await client.call_tool(name, args[name])
                used[name]["server"] += cpu_seconds(server_pid) - s0
                used[name]["client"] += time.process_time() - c0
                used[name]["calls"] += block
    cpu_ms = {n: {k: v[k] / v["calls"] * 1e3 for k in ("server", "client")} for n, v in used.items()}
    return {"times": times, "response_bytes": len(first.content[0].text), "cpu_ms": cpu_ms}


def measure_http_raw(url: str, calls: int, warmup: int) -> dict[str, Any]:
    """Stateless (2026-era) tools/call POSTs from a bare HTTP client, interleaved as above: the
    server's side of HTTP, without the SDK client's own per-call cost."""
    import httpx2

    meta = {"io.modelcontextprotocol/protocolVersion": "2026-07-28",
            "io.modelcontextprotocol/clientInfo": {"name": "taskloom-bench", "version": "0"},
            "io.modelcontextprotocol/clientCapabilities": {}}
    args = {"noop": {}, "task_get": {"task": TARGET}}
    times: dict[str, list[float]] = {"noop": [], "task_get": []}
    with httpx2.Client(timeout=30) as http:
        for i in range(warmup + calls):
            for name in ("noop", "task_get") if i % 2 == 0 else ("task_get", "noop"):
                body = {"jsonrpc": "2.0", "id": i, "method": "tools/call",
                        "params": {"name": name, "arguments": args[name], "_meta": meta}}
                headers = {"accept": "application/json, text/event-stream", "mcp-protocol-version": "2026-07-28",
                           "mcp-method": "tools/call", "mcp-name": name}
                t0 = time.perf_counter()
                reply = http.post(url, json=body, headers=headers).json()
                dt = time.perf_counter() - t0
                if "result" not in reply or reply["result"].get("isError"):
                    raise RuntimeError(f"{name} over HTTP failed: {reply}")
                if i >= warmup:
                    times[name].append(dt)
    return {"times": times}


def measure_raw(path: Path, calls: int, warmup: int) -> dict[str, Any]:
    """The same interleaved calls from a bare JSON-RPC client (no SDK client, no client-side
    output-schema validation), so nearly all of the time is the server's."""
    client = BareClient(serve_argv(path, module=NOOP_SERVER), child_env(TASKLOOM_AGENT="bench-reader"))
    args = {"noop": {}, "task_get": {"task": TARGET}, "echo_detail": {"task": TARGET}}
    times: dict[str, list[float]] = {"noop": [], "task_get": [], "echo_detail": []}
    rotations = [("noop", "echo_detail", "task_get"), ("task_get", "noop", "echo_detail"),
                 ("echo_detail", "task_get", "noop")]
    try:
        for i in range(warmup + calls):
            for name in rotations[i % 3]:
                t0 = time.perf_counter()
                res = client.call(name, args[name])
                dt = time.perf_counter() - t0
                if res.get("isError"):
                    raise RuntimeError(f"{name} failed: {res}")
                if i >= warmup:
                    times[name].append(dt)
    finally:
        client.close()
    return {"times": times}


def run(
    n_tasks: int = 10_000,
    calls: int = 2000,
    warmup: int = 200,
    workdir: Path | None = None,
    base: Path | None = None,
    cpu_calls: int | None = None,
    cpu_rounds: int = 6,
) -> dict:
    cpu_calls = cpu_calls or max(MIN_CPU_CALLS, calls // 2)
    path = workdir_or_temp(workdir) / "call_overhead.db"
    t0 = time.perf_counter()
    anyio.run(build_db, path, n_tasks)
    build_s = time.perf_counter() - t0
    cmd = f"{PY} -m tests.benchmarks.bench_call_overhead --tasks {n_tasks} --calls {calls}"
    added, added_figures = measure_added(path, n_tasks, base, cpu_calls, cpu_rounds, cmd)
    out = anyio.run(measure, stdio_params(path, "bench-reader", module=NOOP_SERVER), calls, warmup)
    raw = measure_raw(path, calls, warmup)
    http = {}
    with http_server(path, "bench-reader", module=NOOP_SERVER) as (url, _):
        # Stateless calls open no session but cost more each: fewer of them keep the run short.
        few = max(100, calls // 4)
        http["legacy"] = anyio.run(measure, url, calls, warmup, "legacy", False)
        http["auto"] = anyio.run(measure, url, few, 20, "auto", False)
        http["bare"] = measure_http_raw(url, few, 20)

    def p(times: dict[str, list[float]], q: float) -> dict[str, float]:
        return {k: (median(v) if q == 50 else pct(v, q)) * 1e3 for k, v in times.items()}

    p50, p99, raw50 = p(out["times"], 50), p(out["times"], 99), p(raw["times"], 50)
    h50 = {mode: p(r["times"], 50) for mode, r in http.items()}
    cpu = out["cpu_ms"]
    ratio = lambda d: d["task_get"] / d["noop"]

    def fig(name: str, value: Any, unit: str = "x", goal: bool = False) -> Figure:
        if goal:
            return Figure(name, value, unit, f"<= {GOAL_RATIO}", value <= GOAL_RATIO, cmd)
        return Figure(name, value, unit, command=cmd)

    figures = [
        fig("stdio, SDK client: noop / task_get p50", f"{p50['noop']:.3f} / {p50['task_get']:.3f}", "ms"),
        fig(f"stdio, SDK client: task_get/noop p50 ratio ({n_tasks:,} tasks)", round(ratio(p50), 3), goal=True),
        fig("stdio, SDK client: task_get/noop p99 ratio", round(ratio(p99), 3)),
        fig("stdio, bare JSON-RPC client: noop / task_get p50", f"{raw50['noop']:.3f} / {raw50['task_get']:.3f}",
            "ms"),
        fig("stdio, bare client: task_get/noop p50 ratio (server side)", round(ratio(raw50), 3), goal=True),
        fig("stdio, bare client: echo_detail/noop p50 (the SDK's cost of a task-sized result)",
            round(raw50["echo_detail"] / raw50["noop"], 3)),
        fig("stdio, bare client: task_get/echo_detail p50 (taskloom's own work)",
            round(raw50["task_get"] / raw50["echo_detail"], 3)),
        fig("stdio, task_get/noop CPU ratio, server + client",
            round((cpu["task_get"]["server"] + cpu["task_get"]["client"])
                  / (cpu["noop"]["server"] + cpu["noop"]["client"]), 3)),
        fig("HTTP with a session, SDK client: noop / task_get p50",
            f"{h50['legacy']['noop']:.3f} / {h50['legacy']['task_get']:.3f}", "ms"),
        fig("HTTP with a session: task_get/noop p50 ratio", round(ratio(h50["legacy"]), 3), goal=True),
        fig("HTTP stateless (2026 era), SDK client: task_get/noop p50 ratio", round(ratio(h50["auto"]), 3),
            goal=True),
        fig("HTTP stateless, bare HTTP client: noop / task_get p50",
            f"{h50['bare']['noop']:.3f} / {h50['bare']['task_get']:.3f}", "ms"),
        fig("HTTP stateless, bare client: task_get/noop p50 ratio (server side)", round(ratio(h50["bare"]), 3),
            goal=True),
        fig("noop p50 over HTTP / over stdio, SDK clients: with a session; stateless",
            f"{h50['legacy']['noop'] / p50['noop']:.1f} ; {h50['auto']['noop'] / p50['noop']:.1f}", "x"),
        fig("noop p50 over HTTP stateless / over stdio, bare clients (the server's transport cost)",
            round(h50["bare"]["noop"] / raw50["noop"], 2)),
    ]
    figures += added_figures
    print_figures("call overhead: task_get vs noop over stdio and streamable HTTP", figures)
    round3 = lambda d: {k: round(v, 3) for k, v in d.items()}
    return result(
        "call_overhead",
        {"tasks": n_tasks, "calls_each": calls, "warmup": warmup, "http_stateless_calls": max(100, calls // 4)},
        figures,
        {
            "db_build_s": round(build_s, 2),
            "task_get_response_bytes": out["response_bytes"],
            "stdio_sdk": {"p50_ms": round3(p50), "p99_ms": round3(p99),
                          "p90_ms": round3(p(out["times"], 90)), "max_ms": round3(p(out["times"], 100))},
            "stdio_sdk_cpu_ms_per_call": cpu,
            "added_server_cpu_us": added,
            "base": str(base) if base else None,
            "stdio_bare": {"p50_ms": round3(raw50), "p99_ms": round3(p(raw["times"], 99))},
            "http": {mode: {"p50_ms": round3(h50[mode]), "p99_ms": round3(p(r["times"], 99))}
                     for mode, r in http.items()},
            "noop_calls_per_s_stdio_sdk": round(1 / (sum(out["times"]["noop"]) / len(out["times"]["noop"]))),
        },
    )


def run_cpu_only(n_tasks: int = 10_000, calls: int = 2000, warmup: int = 0, workdir: Path | None = None,
                 base: Path | None = None, cpu_calls: int | None = None, cpu_rounds: int = 6,
                 also: Path | None = None) -> dict:
    """Goal 1 of issue 17 alone: the server CPU task_get and task_claim add over noop."""
    cpu_calls = cpu_calls or max(MIN_CPU_CALLS, calls // 2)
    path = workdir_or_temp(workdir) / "call_overhead.db"
    anyio.run(build_db, path, n_tasks)
    cmd = f"{PY} -m tests.benchmarks.bench_call_overhead --cpu-only --tasks {n_tasks}"
    added, figures = measure_added(path, n_tasks, base, cpu_calls, cpu_rounds, cmd, also)
    print_figures("server CPU added per call over noop (issue 17, goal 1)", figures)
    params = {"tasks": n_tasks, "cpu_calls": cpu_calls, "cpu_rounds": cpu_rounds, "base": str(base) if base else None}
    return result("call_cpu", params, figures, {"added_server_cpu_us": added})


def measure_added(
    path: Path, n_tasks: int, base: Path | None, cpu_calls: int, cpu_rounds: int, cmd: str, also: Path | None = None
) -> tuple[dict[str, dict[str, float]], list[Figure]]:
    """call_cpu's figures for this tree, and beside it `base` when given: task_get on `path`,
    task_claim on a new database of ready tasks, enough for every claim of the run."""
    claim_db = path.with_name("call_cpu_claims.db")
    n_claims = 200 + cpu_calls * cpu_rounds + 100
    anyio.run(lambda: build_bulk(claim_db, n_claims, 0, all_ready=True))
    # `also`: a third checkout (e.g. the last merge), measured between the two in the same rounds.
    trees = {"before": base, "mid": also, "now": ROOT} if base and also else {"before": base, "now": ROOT} if base else {"now": ROOT}
    # A tree whose schema is older than this one's cannot open these files: it builds its own.
    own = {label: build_in_tree(tree, path.with_name(f"{label}-{path.name}"), n_tasks, n_claims)
           for label, tree in trees.items() if label != "now"}
    added = added_cpu_us(trees, path, claim_db, TARGET, cpu_calls, cpu_rounds, own=own)
    added = {label: {k: round(v, 1) for k, v in d.items()} for label, d in added.items()}
    figures = []
    for tool, goal in GOAL_ADDED_US.items():
        now = added["now"][tool]
        shown = " -> ".join(f"{added[label][tool]:.0f}" for label in trees)
        name = f"server CPU added per call over noop, {tool}" + (" (previous release -> now)" if base else "")
        figures.append(Figure(name, shown, "us", f"<= {goal:.0f}", now <= goal, cmd + (f" --base {base}" if base else "")))
    return added, figures


def build_in_tree(tree: Path, like: Path, n_tasks: int, n_claims: int) -> tuple[Path, Path]:
    """The same two databases as `like` and its claim database, built by `tree`'s own code."""
    get_db, claim_db = like.with_name(f"tree-{like.name}"), like.with_name(f"tree-claims-{like.name}")
    code = (
        "import anyio; from pathlib import Path; "
        "from tests.benchmarks.bench_call_overhead import build_db; from tests.benchmarks.common import build_bulk; "
        f"anyio.run(build_db, Path({str(get_db)!r}), {n_tasks}); "
        f"anyio.run(lambda: build_bulk(Path({str(claim_db)!r}), {n_claims}, 0, all_ready=True))"
    )
    subprocess.run([sys.executable, "-c", code], cwd=tree, env=tree_env(tree), check=True)
    return get_db, claim_db


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tasks", type=int, default=10_000)
    ap.add_argument("--calls", type=int, default=2000, help="measured calls of each tool")
    ap.add_argument("--warmup", type=int, default=200)
    ap.add_argument("--quick", action="store_true", help="1k tasks, 300 calls")
    ap.add_argument("--base", type=Path, help="another checkout to measure beside this one (CPU added per call)")
    ap.add_argument("--also", type=Path, help="with --base and --cpu-only: a third checkout, shown between the two")
    ap.add_argument("--cpu-calls", type=int, help="calls per block in the CPU-added measurement (default: calls/2, at least 1000)")
    ap.add_argument("--cpu-rounds", type=int, default=6)
    ap.add_argument("--cpu-only", action="store_true", help="only the CPU added per call (skip latency, HTTP)")
    a = ap.parse_args()
    if a.quick:
        a.tasks, a.calls, a.warmup = 1000, 300, 50
    fn = run_cpu_only if a.cpu_only else run
    more = {"also": a.also} if a.cpu_only and a.also else {}
    script(fn, n_tasks=a.tasks, calls=a.calls, warmup=a.warmup, base=a.base, cpu_calls=a.cpu_calls,
           cpu_rounds=a.cpu_rounds, **more)


if __name__ == "__main__":
    main()
