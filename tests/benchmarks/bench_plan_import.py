"""Importing a whole plan into a fresh database: services level, and once through MCP over stdio.

The plan has `n` tasks and 1.5 n dependencies (each on one of the 50 tasks before it, like a
real plan's local structure), priorities and roles; about a fifth of the tasks start ready.
Services level: `planning.import_plan` in one `app.write` (the Plan is read first, timed apart,
as the tool reads it: by `planning.plan_of`, which lets it go afterwards, or `planning.read_plan`,
where the side has them), wall and CPU time both.
MCP: the `plan_import` tool of a fresh `taskloom serve` over stdio, timed around `call_tool`
(JSON transfer and argument validation included, spawn excluded), with the server's and the
client's CPU time over the call.

    .venv/bin/python -m tests.benchmarks.bench_plan_import [--sizes 1000,10000,100000] [--no-mcp]
        [--base DIR] [--repeat N]
Goal (issue 17): 10k tasks with 15k dependencies over stdio in <= 0.5 s; 100k tasks in <= 5 s,
the time per task at 100k within 1.2x of that at 1k.

`--base DIR` measures a checkout of another commit (e.g. the previous release, from `git worktree
add`) side by side: every measurement of both sides then runs in a child process whose
PYTHONPATH puts that side's src/ first (this tree's for "head"), alternating base and head
`--repeat` times; the best of each side is reported, and the ratio.
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import subprocess
import time
from pathlib import Path
from typing import Any

import anyio
import psutil
from mcp import Client

from taskloom.models import Plan
from taskloom.services import planning
from tests.benchmarks.common import (
    PY,
    PYTHON,
    ROOT,
    Figure,
    child_env,
    fresh,
    open_app,
    plan_tasks,
    print_figures,
    result,
    script,
    serve_argv,
    workdir_or_temp,
)

GOAL_S = 0.5
GOAL_SIZE = 10_000
GOAL_BIG_S = 5.0
GOAL_BIG_SIZE = 100_000
GOAL_GROWTH = 1.2


async def import_services(path: Path, tasks: list[dict[str, Any]]) -> dict[str, Any]:
    async with open_app(path, "planner") as app:
        c0, t0 = time.process_time(), time.perf_counter()
        plan_of = getattr(planning, "plan_of", None)
        if plan_of is not None:  # as plan_import reads the plan and lets it go, where the side can
            with plan_of({"tasks": tasks}) as plan:
                c1, t1 = time.process_time(), time.perf_counter()
                res = await app.write(planning.import_plan, plan)
            c2, t2 = time.process_time(), time.perf_counter()
        else:
            # As plan_import reads it (the collector paused), where the side has planning.read_plan.
            read_plan = getattr(planning, "read_plan", None)
            plan = read_plan({"tasks": tasks}) if read_plan else Plan.model_validate({"tasks": tasks})
            c1, t1 = time.process_time(), time.perf_counter()
            res = await app.write(planning.import_plan, plan)
            c2, t2 = time.process_time(), time.perf_counter()
    return {"validate_s": t1 - t0, "import_s": t2 - t1, "validate_cpu_s": c1 - c0, "import_cpu_s": c2 - c1,
            "result": res.model_dump()}


def _server(db: Path) -> Any:
    """`taskloom serve` over stdio with this process's PYTHONPATH, so a side's server runs its code."""
    from mcp import StdioServerParameters

    argv = serve_argv(db)
    env = child_env(PYTHONPATH=os.environ.get("PYTHONPATH", str(ROOT)), TASKLOOM_AGENT="planner")
    return StdioServerParameters(command=argv[0], args=argv[1:], env=env, cwd=str(ROOT))


def _children_cpu() -> float:
    """CPU seconds (user + system) of this process's live children: the server, on a busy machine
    a steadier measure than the wall clock."""
    total = 0.0
    for child in psutil.Process().children(recursive=True):
        try:
            times = child.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += times.user + times.system
    return total


async def import_mcp(path: Path, tasks: list[dict[str, Any]]) -> dict[str, Any]:
    async with Client(_server(fresh(path)), mode="legacy") as client:
        await client.call_tool("project_status", {})
        s0, c0, t0 = _children_cpu(), time.process_time(), time.perf_counter()
        res = await client.call_tool("plan_import", {"tasks": tasks})
        dt, client_cpu, server_cpu = time.perf_counter() - t0, time.process_time() - c0, _children_cpu() - s0
    if res.is_error:
        raise RuntimeError(f"plan_import failed: {res.content[0].text[:300]}")
    return {"call_s": dt, "server_cpu_s": server_cpu, "client_cpu_s": client_cpu, "result": res.structured_content}


def _check(path: Path, n: int, m: int, res: dict[str, Any]) -> None:
    conn = sqlite3.connect(str(path))
    tasks = conn.execute("SELECT count(*) FROM tasks").fetchone()[0]
    deps = conn.execute("SELECT count(*) FROM task_deps").fetchone()[0]
    conn.close()
    assert tasks == n and deps == m and res["tasks_created"] == n and res["dependencies"] == m, (
        tasks,
        deps,
        res,
    )


def measure(n: int, mcp: bool, workdir: Path) -> dict[str, Any]:
    """Import a plan of `n` tasks into a fresh database, in process and (if `mcp`) over stdio."""
    m = n * 3 // 2
    tasks = plan_tasks(n, m)
    path = workdir / f"import_{n}.db"
    r = anyio.run(import_services, path, tasks)
    _check(path, n, m, r["result"])
    row = {"tasks": n, "deps": m, "ready": r["result"]["ready"]}
    row |= {k: r[k] for k in ("validate_s", "import_s", "validate_cpu_s", "import_cpu_s")}
    if mcp:
        path = workdir / f"import_mcp_{n}.db"
        mr = anyio.run(import_mcp, path, tasks)
        _check(path, n, m, mr["result"])
        row |= {"mcp_s": mr["call_s"], "mcp_server_cpu_s": mr["server_cpu_s"], "mcp_client_cpu_s": mr["client_cpu_s"]}
    return row


def measure_in_child(src: Path, n: int, mcp: bool, workdir: Path) -> dict[str, Any]:
    """`measure` in a child process that imports taskloom from `src` (and so do its servers)."""
    env = {**os.environ, "PYTHONPATH": f"{src}{os.pathsep}{ROOT}", "PYTHONDONTWRITEBYTECODE": "1"}
    argv = [PYTHON, "-m", "tests.benchmarks.bench_plan_import", "--child", str(n), "--workdir", str(workdir)]
    done = subprocess.run(
        argv + ([] if mcp else ["--no-mcp"]), cwd=str(ROOT), env=env, capture_output=True, text=True, check=False
    )
    for line in done.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[len("RESULT ") :])
    raise RuntimeError(f"the {src} side failed:\n{done.stdout[-2000:]}\n{done.stderr[-4000:]}")


_TIMES = ("validate_s", "import_s", "validate_cpu_s", "import_cpu_s", "mcp_s", "mcp_server_cpu_s", "mcp_client_cpu_s")


def _best(a: dict[str, Any] | None, b: dict[str, Any]) -> dict[str, Any]:
    if a is None:
        return b
    out = dict(a)
    for key in _TIMES:
        if key in b:
            out[key] = min(a[key], b[key])
    return out


def run(
    sizes: list[int] | None = None,
    mcp: bool = True,
    mcp_max: int = 100_000,
    workdir: Path | None = None,
    repeat: int = 1,
    base: Path | None = None,
) -> dict:
    sizes = sizes or [1_000, 10_000, 100_000]
    workdir = workdir_or_temp(workdir)
    # With a base, both sides run in children, alternating, so that each pays the same.
    sides: dict[str, Path | None] = {"head": None} if base is None else {"base": base / "src", "head": ROOT / "src"}
    rows: dict[str, dict[int, dict[str, Any]]] = {side: {} for side in sides}
    for n in sizes:
        with_mcp = mcp and n <= mcp_max
        for _ in range(repeat):
            for side, src in sides.items():
                here = workdir / side
                here.mkdir(parents=True, exist_ok=True)
                row = measure(n, with_mcp, here) if src is None else measure_in_child(src, n, with_mcp, here)
                rows[side][n] = _best(rows[side].get(n), row)
        for side in sides:
            row = rows[side][n]
            extra = (
                f", MCP plan_import over stdio {row['mcp_s']:.2f} s (server CPU {row['mcp_server_cpu_s']:.2f} s, "
                f"client CPU {row['mcp_client_cpu_s']:.2f} s)"
                if "mcp_s" in row
                else ""
            )
            print(
                f"  [{side}: {n:,} tasks, {row['deps']:,} deps] import_plan {row['import_s']:.2f} s, CPU "
                f"{row['import_cpu_s']:.2f} s (+ Plan validation {row['validate_s']:.2f} s, CPU "
                f"{row['validate_cpu_s']:.2f} s){extra}; {row['ready']:,} ready",
                flush=True,
            )
    sizes_arg = ",".join(str(s) for s in sizes)
    cmd = f"{PY} -m tests.benchmarks.bench_plan_import --sizes {sizes_arg}" + ("" if mcp else " --no-mcp")
    if mcp and mcp_max < max(sizes):
        cmd += f" --mcp-max {mcp_max}"
    if base is not None:
        cmd += f" --base {base} --repeat {repeat}"
    figures = []
    for side, side_rows in rows.items():
        figures += _figures(side if base is not None else "", side_rows, cmd, goals=side == "head")
    if base is not None:
        for n in sizes:
            b, h = rows["base"][n], rows["head"][n]
            for key, what in (
                ("import_s", "import_plan (services)"),
                ("import_cpu_s", "import_plan CPU (services)"),
                ("mcp_s", "plan_import over stdio"),
                ("mcp_server_cpu_s", "plan_import over stdio, server CPU"),
            ):
                if key in b:
                    figures.append(
                        Figure(f"{what}, {n:,} tasks: base / head", round(b[key] / h[key], 2), "x", command=cmd)
                    )
    print_figures("plan import into a fresh database", figures)
    return result(
        "plan_import",
        {"sizes": sizes, "mcp": mcp, "mcp_max": mcp_max, "repeat": repeat, "base": str(base) if base else None},
        figures,
        {side: {str(n): r for n, r in side_rows.items()} for side, side_rows in rows.items()},
    )


def _figures(side: str, rows: dict[int, dict[str, Any]], cmd: str, goals: bool) -> list[Figure]:
    tag = f" ({side})" if side else ""
    figures = []
    for n, row in rows.items():
        total = row["import_s"] + row["validate_s"]
        big = goals and n == GOAL_BIG_SIZE
        figures.append(
            Figure(
                f"import_plan {n:,} tasks / {row['deps']:,} deps (services, incl. validation){tag}",
                round(total, 2),
                "s",
                f"<= {GOAL_BIG_S:g}" if big else "",
                total <= GOAL_BIG_S if big else None,
                cmd,
            )
        )
        if "mcp_s" in row:
            goal = goals and n == GOAL_SIZE
            figures.append(
                Figure(
                    f"plan_import tool over stdio, {n:,} tasks{tag}",
                    round(row["mcp_s"], 2),
                    "s",
                    f"<= {GOAL_S:g}" if goal else "",
                    row["mcp_s"] <= GOAL_S if goal else None,
                    cmd,
                )
            )
            figures.append(
                Figure(
                    f"plan_import over stdio, {n:,} tasks: server / client CPU{tag}",
                    f"{row['mcp_server_cpu_s']:.2f} / {row['mcp_client_cpu_s']:.2f}",
                    "s",
                    command=cmd,
                )
            )
    if len(rows) > 1:
        lo, hi = min(rows), max(rows)
        per = {n: (r["import_s"] + r["validate_s"]) / n * 1e6 for n, r in rows.items()}
        growth = per[hi] / per[lo]
        goal = goals and hi == GOAL_BIG_SIZE
        cpu = {n: (r["import_cpu_s"] + r["validate_cpu_s"]) / n * 1e6 for n, r in rows.items()}
        figures += [
            Figure(f"time per task, {lo:,} vs {hi:,} tasks{tag}", f"{per[lo]:.0f} / {per[hi]:.0f}", "us", command=cmd),
            Figure(f"CPU per task, {lo:,} vs {hi:,} tasks{tag}", f"{cpu[lo]:.0f} / {cpu[hi]:.0f}", "us", command=cmd),
            Figure(
                f"growth of the CPU per task, {hi:,} vs {lo:,} tasks (linear = 1){tag}",
                round(cpu[hi] / cpu[lo], 2),
                "x",
                command=cmd,
            ),
            Figure(
                f"growth of the time per task, {hi:,} vs {lo:,} tasks (linear = 1){tag}",
                round(growth, 2),
                "x",
                f"<= {GOAL_GROWTH:g}" if goal else "",
                growth <= GOAL_GROWTH if goal else None,
                cmd,
            ),
        ]
    return figures


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument(
        "--sizes", type=lambda s: [int(x) for x in s.split(",")], default=[1_000, 10_000, 100_000]
    )
    ap.add_argument("--no-mcp", action="store_true", help="services level only")
    ap.add_argument("--mcp-max", type=int, default=100_000, help="largest size also imported over MCP")
    ap.add_argument("--quick", action="store_true", help="1k and 2k tasks; MCP at 1k")
    ap.add_argument("--base", type=Path, help="a checkout of the commit to compare with, measured side by side")
    ap.add_argument("--repeat", type=int, default=1, help="runs of each side per size; the best counts")
    ap.add_argument("--child", type=int, help=argparse.SUPPRESS)  # one measurement, for --base
    ap.add_argument("--workdir", type=Path, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child:
        print("RESULT " + json.dumps(measure(a.child, not a.no_mcp, a.workdir)), flush=True)
        return
    if a.quick:
        a.sizes, a.mcp_max = [1_000, 2_000], 1_000
    script(run, sizes=a.sizes, mcp=not a.no_mcp, mcp_max=a.mcp_max, repeat=a.repeat, base=a.base)


if __name__ == "__main__":
    main()
