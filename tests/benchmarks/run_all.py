"""Run every benchmark, write results.json and results.md beside this file, print the table.

    .venv/bin/python -m tests.benchmarks.run_all [--quick] [--only claims,plan_import] [--big]

Full settings: call overhead on 10k tasks (2,000 calls of each tool); claims at 1, 4, 8 and 16
processes for 10 s each (goals at 8); done() on 1k/10k/100k-task projects; plan import of 1k and
10k tasks (services and MCP), 100k with --big. --quick uses small sizes and short runs.
The machine is shared and noisy: compare figures measured side by side in one run (ratios),
not absolute times across runs.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any

from tests.benchmarks import (
    bench_call_overhead,
    bench_claims,
    bench_done_dependents,
    bench_plan_import,
    bench_push,
    bench_tool_list,
)
from tests.benchmarks.common import PY, fmt, machine

HERE = Path(__file__).resolve().parent


def plan(quick: bool, big: bool) -> dict[str, tuple[Any, dict[str, Any]]]:
    if quick:
        return {
            "call_overhead": (bench_call_overhead.run, {"n_tasks": 1_000, "calls": 300, "warmup": 50}),
            "claims": (bench_claims.run, {"procs": 8, "duration": 3.0, "n_ready": 30_000}),
            "done_dependents": (bench_done_dependents.run, {"sizes": [1_000, 10_000], "pairs": 100}),
            "plan_import": (bench_plan_import.run, {"sizes": [1_000, 2_000], "mcp_max": 1_000}),
            "push": (bench_push.run, {"rounds": 30}),
            "tool_list": (bench_tool_list.run, {}),
        }
    return {
        "call_overhead": (bench_call_overhead.run, {"n_tasks": 10_000, "calls": 2_000, "warmup": 200}),
        "claims": (
            bench_claims.run,
            {"procs": 8, "duration": 10.0, "n_ready": 100_000, "sweep": [1, 4, 8, 16]},
        ),
        "done_dependents": (bench_done_dependents.run, {"sizes": [1_000, 10_000, 100_000], "pairs": 300}),
        "plan_import": (
            bench_plan_import.run,
            {"sizes": [1_000, 10_000] + ([100_000] if big else []), "mcp_max": 10_000},
        ),
        "push": (bench_push.run, {"rounds": 200}),
        "tool_list": (bench_tool_list.run, {}),
    }


def markdown(report: dict[str, Any]) -> str:
    m = report["machine"]
    lines = [
        f"# taskloom benchmarks ({'quick' if report['quick'] else 'full'})",
        "",
        f"{m['date']} · {m['nproc']} CPUs ({m['cpu']}) · Python {m['python']} · SQLite {m['sqlite']} · "
        f"load average at start {', '.join(f'{x:.1f}' for x in m['loadavg_at_start'])} · "
        f"{report['elapsed_s']:.0f} s in all · code: {m['git']['head']}"
        + (f" + uncommitted changes in {', '.join(m['git']['src_dirty'])}" if m["git"]["src_dirty"] else ""),
        "",
        f"Reproduce everything: `{report['command']}` (from the repository root).",
        "The machine is shared and noisy: read ratios measured side by side, not absolute times across runs.",
        "",
        "| figure | value | goal | command |",
        "|---|---|---|---|",
    ]
    for r in report["results"]:
        if "error" in r:
            lines.append(f"| **{r['bench']} failed**: {r['error'].splitlines()[-1]} | | | |")
            continue
        for f in r["figures"]:
            goal = f["goal"]
            if f["met"] is not None:
                goal = f"{goal} {'✅' if f['met'] else '❌ missed'}"
            value = f"{fmt(f['value'])} {f['unit']}".strip()
            lines.append(f"| {f['figure']} | {value} | {goal} | `{f['command']}` |")
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="small sizes, short runs")
    ap.add_argument(
        "--big",
        action="store_true",
        help="plan import at 100k tasks too (hours while the cycle check is quadratic)",
    )
    ap.add_argument("--only", help="comma-separated: call_overhead,claims,done_dependents,plan_import")
    ap.add_argument("--output", type=Path, default=HERE, help="where results.json and results.md go")
    ap.add_argument("--keep", action="store_true", help="keep the benchmark databases (printed path)")
    a = ap.parse_args()
    chosen = plan(a.quick, a.big)
    if a.only:
        chosen = {k: v for k, v in chosen.items() if k in a.only.split(",")}
    command = (
        f"{PY} -m tests.benchmarks.run_all" + (" --quick" if a.quick else "") + (" --big" if a.big else "")
    )
    if a.only:
        command += f" --only {a.only}"
    info = machine()
    workdir = Path(tempfile.mkdtemp(prefix="taskloom-bench-"))
    results = []
    t0 = time.perf_counter()
    for name, (fn, kwargs) in chosen.items():
        print(f"\n### {name} {kwargs}", flush=True)
        t = time.perf_counter()
        try:
            r = fn(**kwargs, workdir=workdir)
        except Exception:  # noqa: BLE001 - top-level handler: one failing benchmark must not lose the others' figures
            r = {"bench": name, "params": kwargs, "error": traceback.format_exc()}
            print(r["error"], flush=True)
        r["elapsed_s"] = round(time.perf_counter() - t, 1)
        r["loadavg_after"] = os.getloadavg()
        results.append(r)
    report = {
        "quick": a.quick,
        "command": command,
        "machine": info,
        "elapsed_s": time.perf_counter() - t0,
        "workdir": str(workdir),
        "results": results,
    }
    a.output.mkdir(parents=True, exist_ok=True)
    (a.output / "results.json").write_text(json.dumps(report, indent=2, default=str) + "\n", encoding="utf-8")
    if not a.keep:
        shutil.rmtree(workdir, ignore_errors=True)
    md = markdown(report)
    (a.output / "results.md").write_text(md, encoding="utf-8")
    print("\n" + md)


if __name__ == "__main__":
    main()
