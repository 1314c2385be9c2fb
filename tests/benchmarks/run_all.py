"""Run every benchmark, write results.json and results.md beside this file, print the table.

    .venv/bin/python -m tests.benchmarks.run_all [--quick] [--only claims,plan_import] [--output DIR]
    .venv/bin/python -m tests.benchmarks.run_all --render    # results.md again from results.json

Full settings (15-23 minutes on 2 shared cores): call overhead on 10k tasks (2,000 calls of each tool,
stdio and HTTP); claims at 1, 4, 8 and 16 agent processes over stdio and 16 on one HTTP server,
10 s each, beside the raw SQLite ceiling; task_done on 1k/10k/100k-task projects; plan import of
1k, 10k and 100k tasks (services and MCP); server memory at 100k tasks; push latency; tools/list
sizes; waiting claims (wake latency over 200 rounds, idle CPU over 10 s windows, fairness over 1,000
wake-ups on stdio and on HTTP); the runner (ready task to its worker's first tool call over 30
rounds beside a bare agent start, the runner's idle CPU over 10 s windows, peak live workers with
60 short tasks under --max-workers 4); the dashboard's DAG picture at 10k tasks (20 rounds); the
dashboard at 10k tasks (the overview and its partials rendered in process over 20 rounds, cold and
warm; 20 idle browsers on SSE against none over 60 s windows; change to signal over 20 changes).
--quick uses small sizes and short runs (about 5 minutes).

`bench_artifacts` joins when it exists: its `run(workdir=..., **kwargs)` gets the module's `QUICK`
or `FULL` dict (empty if it has none), and its figures appear under "artifacts".

The machine is shared and noisy: compare figures measured side by side in one run (ratios),
not absolute times across runs. The load average is recorded at the start, after each benchmark
and at the end.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import json
import os
import shutil
import tempfile
import time
import traceback
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

from tests.benchmarks import (
    bench_call_overhead,
    bench_claims,
    bench_dashboard,
    bench_done_dependents,
    bench_graph_picture,
    bench_inbox,
    bench_memory,
    bench_plan_import,
    bench_push,
    bench_runner,
    bench_tool_list,
    bench_waiting,
)
from tests.benchmarks.common import PY, Figure, fmt, machine

HERE = Path(__file__).resolve().parent
ARTIFACTS_MODULE = "tests.benchmarks.bench_artifacts"

# The numbering (issue 5, "Benchmarks"); the raw SQLite ceiling (8) runs inside the claims benchmark.
TITLES = {
    "call_overhead": "1. Tool-call overhead against a no-op tool, stdio and streamable HTTP",
    "claims": "2 + 8. Claims by N agent processes, beside the raw SQLite ceiling",
    "done_dependents": "3. task_done to dependents ready, as the project grows",
    "plan_import": "4. plan_import",
    "memory": "5. Server resident memory",
    "tool_list": "6. tools/list size per profile",
    "push": "7. Notification latency across processes",
    "artifacts": "Artifacts",
    "inbox": "Inbox cost as other agents' threads grow",
    "waiting": "Waiting claims (issue 12): wake latency, idle CPU, fairness",
    "runner": "The runner (issue 13): ready to first tool call, idle CPU, live workers under churn",
    "graph_picture": "The dashboard's DAG picture at 10k tasks (issue 14): read, layout, SVG",
    "dashboard": "The dashboard at 10k tasks (issue 14): overview render, idle browsers on SSE, change to signal",
}

Plan = dict[str, tuple[Callable[..., dict[str, Any]], dict[str, Any]]]


def plan(quick: bool) -> Plan:
    if quick:
        chosen: Plan = {
            "call_overhead": (bench_call_overhead.run, {"n_tasks": 1_000, "calls": 300, "warmup": 50}),
            "claims": (
                bench_claims.run,
                {"procs": 4, "sweep": [1, 4], "http_agents": 4, "duration": 2.0, "raw_duration": 1.0,
                 "n_ready": 20_000},
            ),
            "done_dependents": (bench_done_dependents.run, {"sizes": [1_000, 10_000], "pairs": 100}),
            "plan_import": (bench_plan_import.run, {"sizes": [1_000, 10_000], "mcp_max": 1_000}),
            "memory": (bench_memory.run, {"n_tasks": 10_000, "cycles": 20}),
            "tool_list": (bench_tool_list.run, {}),
            "push": (bench_push.run, {"rounds": 30}),
            "inbox": (bench_inbox.run, {"tasks": 2_000, "threads": 500}),
            "waiting": (bench_waiting.run, {"rounds": 30, "window": 3.0, "wakeups": 100}),
            "runner": (bench_runner.run, dict(bench_runner.QUICK)),
            "graph_picture": (bench_graph_picture.run, {"rounds": 5}),
            "dashboard": (bench_dashboard.run, dict(bench_dashboard.QUICK)),
        }
    else:
        chosen = {
            "call_overhead": (bench_call_overhead.run, {"n_tasks": 10_000, "calls": 2_000, "warmup": 200}),
            "claims": (
                bench_claims.run,
                {"procs": 8, "sweep": [1, 4, 8, 16], "http_agents": 16, "duration": 10.0, "n_ready": 100_000},
            ),
            "done_dependents": (bench_done_dependents.run, {"sizes": [1_000, 10_000, 100_000], "pairs": 300}),
            "plan_import": (bench_plan_import.run, {"sizes": [1_000, 10_000, 100_000], "mcp_max": 100_000}),
            "memory": (bench_memory.run, {"n_tasks": 100_000, "cycles": 50}),
            "tool_list": (bench_tool_list.run, {}),
            "push": (bench_push.run, {"rounds": 200}),
            "inbox": (bench_inbox.run, {}),
            "waiting": (bench_waiting.run, {"rounds": 200, "window": 10.0, "wakeups": 1_000}),
            "runner": (bench_runner.run, dict(bench_runner.FULL)),
            "graph_picture": (bench_graph_picture.run, {"rounds": 20}),
            "dashboard": (bench_dashboard.run, dict(bench_dashboard.FULL)),
        }
    artifacts = _artifacts(quick)
    if artifacts:
        chosen["artifacts"] = artifacts
    return chosen


def _artifacts(quick: bool) -> tuple[Callable[..., dict[str, Any]], dict[str, Any]] | None:
    """The artifacts benchmark, if its module exists yet (written separately)."""
    if importlib.util.find_spec(ARTIFACTS_MODULE) is None:
        return None
    module = importlib.import_module(ARTIFACTS_MODULE)
    return module.run, dict(getattr(module, "QUICK" if quick else "FULL", {}))


def normalized(name: str, kwargs: dict[str, Any], r: dict[str, Any]) -> dict[str, Any]:
    """A benchmark's answer in the common shape (see common.result); a flat {figure: value} dict
    becomes one figure per key, its unit read from the key's suffix."""
    if isinstance(r.get("figures"), list):
        return {**r, "bench": name}
    # key suffix: (unit, what replaces the suffix in the label)
    units = {"_mib_s": ("MiB/s", ""), "_x_disk": ("x", " / disk"), "_bytes_per_artifact": ("B", " bytes per artifact"),
             "_ms": ("ms", ""), "_s": ("s", "")}
    figures = []
    for key, value in r.items():
        suffix = next((sfx for sfx in units if key.endswith(sfx)), "")
        unit, replacement = units.get(suffix, ("", ""))
        label = (key.removesuffix(suffix) + replacement).replace("_", " ") if suffix else key.replace("_", " ")
        if isinstance(value, float):
            value = round(value, 3)
        command = f"{PY} -m tests.benchmarks.bench_{name}"
        figures.append(asdict(Figure(label, value, unit, command=command)))
    return {"bench": name, "params": kwargs, "figures": figures, "details": {}}


def markdown(report: dict[str, Any]) -> str:
    m = report["machine"]
    load = lambda xs: ", ".join(f"{x:.1f}" for x in xs)
    dirty = m["git"]["src_dirty"]
    code = m["git"]["head"] + (f" + uncommitted changes in {len(dirty)} src files" if dirty else "")
    lines = [
        f"# taskloom benchmarks ({'quick' if report['quick'] else 'full'} run)",
        "",
        (
            f"**{m['date'][:10]}** · {m['cpu']}, {m['nproc']} cores · Python {m['python']} · "
            f"SQLite {m['sqlite']} · {m['platform']}"
        ),
        "",
        (
            f"Load average (1, 5, 15 min) {load(m['loadavg_at_start'])} at the start, "
            f"{load(report['loadavg_at_end'])} at the end (a shared machine) · {report['elapsed_s']:.0f} s in all"
            f" · code {code}"
        ),
        "",
        f"Reproduce: `{report['command']}` from the repository root. Each section's own command is beside its title.",
        "Every figure is a count, or a ratio or pair measured side by side in the same run; absolute times move",
        "with the machine's other load.",
        "",
        "| figure | value | goal |",
        "|---|---|---|",
    ]
    for r in report["results"]:
        title = TITLES.get(r["bench"], r["bench"])
        if "error" in r:
            lines.append(f"| **{title}: failed** ({_last_error(r['error'])}) | | |")
            continue
        commands = dict.fromkeys(f["command"] for f in r["figures"] if f["command"])
        shown = " ".join(f"`{c}`" for c in commands)
        lines.append(f"| **{title}** ({r['elapsed_s']:.0f} s, load {r['loadavg_after'][0]:.1f} after) {shown} | | |")
        for f in r["figures"]:
            goal = f["goal"]
            if f["met"] is not None:
                goal = f"{goal} {'✅' if f['met'] else '❌ missed'}"
            value = f"{fmt(f['value'])} {f['unit']}".strip()
            lines.append(f"| {f['figure'].strip()} | {value} | {goal} |")
    return "\n".join(lines) + "\n"


def _last_error(trace: str) -> str:
    """The exception line of a traceback; an exception group's ends in box drawing, so skip that."""
    lines = [line.strip(" |+-") for line in trace.strip().splitlines()]
    return next((line for line in reversed(lines) if line), "unknown error")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="small sizes, short runs (about 4 minutes)")
    ap.add_argument("--only", help="comma-separated: " + ",".join(TITLES))
    ap.add_argument("--output", type=Path, default=HERE, help="where results.json and results.md go")
    ap.add_argument("--keep", action="store_true", help="keep the benchmark databases (printed path)")
    ap.add_argument("--render", action="store_true", help="only rewrite results.md from results.json")
    a = ap.parse_args()
    if a.render:
        report = json.loads((a.output / "results.json").read_text(encoding="utf-8"))
        (a.output / "results.md").write_text(markdown(report), encoding="utf-8")
        return
    chosen = plan(a.quick)
    if a.only:
        chosen = {k: v for k, v in chosen.items() if k in a.only.split(",")}
    command = f"{PY} -m tests.benchmarks.run_all" + (" --quick" if a.quick else "")
    command += f" --only {a.only}" if a.only else ""
    info = machine()
    workdir = Path(tempfile.mkdtemp(prefix="taskloom-bench-"))
    results = []
    t0 = time.perf_counter()
    for name, (fn, kwargs) in chosen.items():
        print(f"\n### {name} {kwargs}", flush=True)
        t = time.perf_counter()
        try:
            r = normalized(name, kwargs, fn(**kwargs, workdir=workdir))
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
        "loadavg_at_end": os.getloadavg(),
        "elapsed_s": time.perf_counter() - t0,
        "workdir": str(workdir) if a.keep else None,
        "results": results,
    }
    a.output.mkdir(parents=True, exist_ok=True)
    (a.output / "results.json").write_text(json.dumps(report, indent=2, default=str) + "\n", encoding="utf-8")
    if a.keep:
        print(f"databases kept in {workdir}")
    else:
        shutil.rmtree(workdir, ignore_errors=True)
    md = markdown(report)
    (a.output / "results.md").write_text(md, encoding="utf-8")
    print("\n" + md)


if __name__ == "__main__":
    main()
