"""What a real read costs over a bare tool call: `task_get` against `noop`, one server, one run.

The server is `noop_server` (exactly `taskloom serve` plus a `noop` tool) over stdio, on a
database of `--tasks` tasks. `task_get` reads a task with dependencies (done, with summaries),
notes, labels and context. Calls alternate noop/task_get (ABBA order) so that drift on a noisy
machine hits both alike. Goal: p50(task_get) / p50(noop) <= 1.15.

    .venv/bin/python -m tests.benchmarks.bench_call_overhead [--tasks 10000] [--calls 2000]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any

import anyio
from mcp import Client, StdioServerParameters

from taskloom.config import Settings
from taskloom.models import TaskSpec
from taskloom.services import creation, tasks, work
from taskloom.services.app import Taskloom
from tests.benchmarks.common import (
    PY,
    PYTHON,
    ROOT,
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
TARGET = "GET-TARGET"
GOAL_RATIO = 1.15


async def build_db(path: Path, n_tasks: int) -> None:
    """`n_tasks` tasks (1.5 dependencies each) and one target task worth reading."""
    app = await Taskloom.open(Settings(db_path=fresh(path), project=PROJECT, default_agent="builder"))
    try:
        pid = app.project_id
        await app.store.write_raw(lambda conn: bulk_build(conn, pid, n_tasks, n_tasks * 3 // 2))

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
    finally:
        await app.close()
    checkpoint(path)


async def measure(path: Path, calls: int, warmup: int) -> dict[str, Any]:
    params = StdioServerParameters(
        command=PYTHON,
        args=["-m", "tests.benchmarks.noop_server", "--db", str(path), "--project", PROJECT],
        env=child_env(TASKLOOM_AGENT="bench-reader"),
        cwd=str(ROOT),
    )
    times: dict[str, list[float]] = {"noop": [], "task_get": []}
    args = {"noop": {}, "task_get": {"task": TARGET}}
    async with Client(params, mode="legacy") as client:
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
        # CPU seconds per call, in blocks of one tool at a time (alternating blocks), for the
        # server process and for this client: steadier than wall time on a shared machine.
        (server_pid,) = child_pids()
        cpu = {name: {"server": 0.0, "client": 0.0, "calls": 0} for name in args}
        block = max(50, calls // 4)
        for rep in range(4):
            for name in ("noop", "task_get") if rep % 2 == 0 else ("task_get", "noop"):
                s0, c0 = cpu_seconds(server_pid), time.process_time()
                for _ in range(block):
                    await client.call_tool(name, args[name])
                cpu[name]["server"] += cpu_seconds(server_pid) - s0
                cpu[name]["client"] += time.process_time() - c0
                cpu[name]["calls"] += block
    cpu_ms = {n: {k: v[k] / v["calls"] * 1e3 for k in ("server", "client")} for n, v in cpu.items()}
    return {"times": times, "response_bytes": len(first.content[0].text), "cpu_ms": cpu_ms}


def measure_raw(path: Path, calls: int, warmup: int) -> dict[str, Any]:
    """The same interleaved calls from a bare JSON-RPC client (no SDK client, no client-side
    output-schema validation), so nearly all of the time is the server's."""
    client = BareClient(
        [PYTHON, "-m", "tests.benchmarks.noop_server", "--db", str(path), "--project", PROJECT],
        child_env(TASKLOOM_AGENT="bench-reader"),
    )
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


def run(n_tasks: int = 10_000, calls: int = 2000, warmup: int = 200, workdir: Path | None = None) -> dict:
    workdir = workdir or Path(tempfile.mkdtemp(prefix="taskloom-bench-"))
    path = workdir / "call_overhead.db"
    t0 = time.perf_counter()
    anyio.run(build_db, path, n_tasks)
    build_s = time.perf_counter() - t0
    out = anyio.run(measure, path, calls, warmup)
    raw = measure_raw(path, calls, warmup)
    raw50 = {k: median(v) * 1e3 for k, v in raw["times"].items()}
    raw99 = {k: pct(v, 99) * 1e3 for k, v in raw["times"].items()}
    raw_ratio50 = raw50["task_get"] / raw50["noop"]
    echo_ratio50 = raw50["task_get"] / raw50["echo_detail"]
    floor_ratio50 = raw50["echo_detail"] / raw50["noop"]
    noop = out["times"]["noop"]
    p50 = {k: median(v) * 1e3 for k, v in out["times"].items()}
    p99 = {k: pct(v, 99) * 1e3 for k, v in out["times"].items()}
    cpu = out["cpu_ms"]
    ratio50 = p50["task_get"] / p50["noop"]
    ratio99 = p99["task_get"] / p99["noop"]
    cmd = f"{PY} -m tests.benchmarks.bench_call_overhead --tasks {n_tasks} --calls {calls}"
    figures = [
        Figure("SDK client: noop p50 (stdio round trip)", round(p50["noop"], 3), "ms", command=cmd),
        Figure("SDK client: noop p99", round(p99["noop"], 3), "ms", command=cmd),
        Figure(f"SDK client: task_get p50 ({n_tasks:,} tasks)", round(p50["task_get"], 3), "ms", command=cmd),
        Figure("SDK client: task_get p99", round(p99["task_get"], 3), "ms", command=cmd),
        Figure(
            "SDK client: task_get/noop p50 ratio",
            round(ratio50, 3),
            "x",
            f"<= {GOAL_RATIO}",
            ratio50 <= GOAL_RATIO,
            cmd,
        ),
        Figure("SDK client: task_get/noop p99 ratio", round(ratio99, 3), "x", command=cmd),
        Figure(
            "bare JSON-RPC client: noop p50 / task_get p50",
            f"{raw50['noop']:.3f} / {raw50['task_get']:.3f}",
            "ms",
            command=cmd,
        ),
        Figure(
            "bare JSON-RPC client: task_get/noop p50 ratio (server's own cost)",
            round(raw_ratio50, 3),
            "x",
            f"<= {GOAL_RATIO}",
            raw_ratio50 <= GOAL_RATIO,
            cmd,
        ),
        Figure(
            "bare JSON-RPC client: task_get/noop p99 ratio",
            round(raw99["task_get"] / raw99["noop"], 3),
            "x",
            command=cmd,
        ),
        Figure(
            "bare client: echo_detail p50 (same result from memory, no taskloom work)",
            round(raw50["echo_detail"], 3),
            "ms",
            command=cmd,
        ),
        Figure("bare client: echo_detail/noop p50 ratio (the SDK's cost of that result)", round(floor_ratio50, 3), "x",
               command=cmd),
        Figure("bare client: task_get/echo_detail p50 ratio (taskloom's own work)", round(echo_ratio50, 3), "x",
               command=cmd),
        Figure("noop calls/s (sequential)", round(1000 / (sum(noop) / len(noop) * 1e3)), "/s", command=cmd),
        Figure(
            "server CPU per call, noop / task_get",
            f"{cpu['noop']['server']:.3f} / {cpu['task_get']['server']:.3f}",
            "ms",
            command=cmd,
        ),
        Figure(
            "client CPU per call, noop / task_get",
            f"{cpu['noop']['client']:.3f} / {cpu['task_get']['client']:.3f}",
            "ms",
            command=cmd,
        ),
        Figure(
            "task_get/noop CPU ratio, server + client",
            round(
                (cpu["task_get"]["server"] + cpu["task_get"]["client"])
                / (cpu["noop"]["server"] + cpu["noop"]["client"]),
                3,
            ),
            "x",
            command=cmd,
        ),
    ]
    print_figures("call overhead: task_get vs noop over stdio", figures)
    return result(
        "call_overhead",
        {"tasks": n_tasks, "calls_each": calls, "warmup": warmup, "client_mode": "legacy"},
        figures,
        {
            "db_build_s": round(build_s, 2),
            "task_get_response_bytes": out["response_bytes"],
            "mean_ms": {k: round(sum(v) / len(v) * 1e3, 3) for k, v in out["times"].items()},
            "p90_ms": {k: round(pct(v, 90) * 1e3, 3) for k, v in out["times"].items()},
            "max_ms": {k: round(max(v) * 1e3, 3) for k, v in out["times"].items()},
            "added_p50_ms": round(p50["task_get"] - p50["noop"], 3),
            "cpu_ms_per_call": cpu,
            "bare_client_p90_ms": {k: round(pct(v, 90) * 1e3, 3) for k, v in raw["times"].items()},
            "bare_client_max_ms": {k: round(max(v) * 1e3, 3) for k, v in raw["times"].items()},
            "loadavg_after": __import__("os").getloadavg(),
        },
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tasks", type=int, default=10_000)
    ap.add_argument("--calls", type=int, default=2000, help="measured calls of each tool")
    ap.add_argument("--warmup", type=int, default=200)
    ap.add_argument("--quick", action="store_true", help="1k tasks, 300 calls")
    a = ap.parse_args()
    if a.quick:
        a.tasks, a.calls, a.warmup = 1000, 300, 50
    with tempfile.TemporaryDirectory(prefix="taskloom-bench-") as d:
        run(a.tasks, a.calls, a.warmup, workdir=Path(d))
    print(machine())


if __name__ == "__main__":
    main()
