#!/usr/bin/env python3
"""`taskloom run` starting and supervising a team of agent processes through a plan.

    python examples/runner_demo.py                  # a temporary project, removed afterwards
    python examples/runner_demo.py --dir demo-run   # keep the project to look around in it
    python examples/runner_demo.py --per stream     # one worker per stream instead of per task

What happens:

1. `taskloom import examples/team_plan.yaml` lays out six tasks in three streams in a new project.
2. `taskloom run --until-idle --max-workers 3 --agent-cmd "..."` starts one worker process per
   ready task, at most three at a time, each with its own agent name, MCP config and prompt.
   The worker is examples/scripted_agent.py, a stand-in for Claude Code (`claude -p`) that does
   its task through taskloom's MCP tools without thinking about it. Leave out `--agent-cmd` and
   the runner starts real Claude Code workers the same way.
3. One worker crashes on purpose the first time it works on API-2 (`--crash-once API-2`): the
   runner hands the task back with a note, uses one attempt, and starts a new worker for it
   after the backoff.
4. The runner exits when the project is finished. This script prints who did what (the runs
   the runner recorded, as `taskloom workers --all` shows them) and the `taskloom status`
   board, and exits 0 only if every task is done, by exactly one run.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
PLAN = HERE / "team_plan.yaml"
AGENT = HERE / "scripted_agent.py"
PROJECT = "todo-app"
DEADLINE = 120.0  # seconds for the whole run; a healthy one takes a few dozen at most


def taskloom_command() -> list[str]:
    """The `taskloom` console script next to this Python, else on PATH, else the module itself."""
    exe = Path(sys.executable).parent / "taskloom"
    if exe.exists():
        return [str(exe)]
    found = shutil.which("taskloom")
    if found:
        return [found]
    return [sys.executable, "-c", "import sys; from taskloom.cli.main import main; sys.exit(main())"]


def agent_command(state: Path, crash: str | None) -> str:
    """The --agent-cmd template: the runner fills in {mcp_config} and {prompt_file} for each worker."""
    argv = [sys.executable, str(AGENT), "--mcp", "{mcp_config}", "--prompt", "{prompt_file}"]
    if crash:
        argv += ["--crash-once", crash, "--state", str(state)]
    # The runner splits the template like a shell, then fills in each placeholder inside its word.
    return " ".join(a if a.startswith("{") else shlex.quote(a) for a in argv)


def show_runs(runs: list[dict[str, Any]], prefix: str) -> None:
    """One line per run, in start order; START is seconds after the first worker started."""
    t0 = runs[0]["started_at"] if runs else 0.0
    print(f"{'AGENT':6} {'WORK':7} {'START':>6} {'SECONDS':>7}  {'OUTCOME':12} EXIT")
    for r in runs:
        seconds = f"{r['ended_at'] - r['started_at']:.1f}" if r["ended_at"] else "-"
        exit_code = "-" if r["exit_code"] is None else str(r["exit_code"])
        print(f"{r['agent'].removeprefix(prefix):6} {r['task'] or r['stream']:7} {r['started_at'] - t0:6.1f} "
              f"{seconds:>7}  {r['outcome'] or 'running':12} {exit_code}")
    for r in runs:
        if r["outcome"] != "done" and r["reason"]:
            print(f"  {r['agent'].removeprefix(prefix)}: {r['reason']}")


def plan_codes() -> list[str]:
    import yaml

    return [t["code"] for t in yaml.safe_load(PLAN.read_text(encoding="utf-8"))["tasks"]]


def check(run_code: int, runs: list[dict[str, Any]], board: dict[str, Any], codes: list[str], per: str) -> list[str]:
    problems = []
    if run_code != 0:
        problems.append(f"taskloom run exited {run_code}, not 0 (finished)")
    if per == "task":  # a stream's worker finishes several tasks in one run
        done_runs = Counter(r["task"] for r in runs if r["outcome"] == "done")
        for code in codes:
            if done_runs[code] != 1:
                problems.append(f"{code} was finished by {done_runs[code]} runs (want 1)")
    if board["counts"] != {"done": len(codes)}:
        problems.append(f"the board shows {board['counts']}, not all {len(codes)} tasks done")
    return problems


def main() -> int:
    p = argparse.ArgumentParser(description="Run examples/team_plan.yaml with `taskloom run` and a scripted agent.")
    p.add_argument("--dir", type=Path, help="a new directory for the project, kept afterwards (default: a temporary one)")
    p.add_argument("--per", choices=["task", "stream"], default="task", help="one worker per task (default) or stream")
    p.add_argument("--max-workers", type=int, default=3, help="live workers at most (default 3)")
    p.add_argument("--crash-once", default="API-2", metavar="CODE",
                   help="the task whose first worker crashes (default API-2; '' for none)")
    args = p.parse_args()
    if args.dir and args.dir.exists() and any(args.dir.iterdir()):
        print(f"{args.dir} is not empty: give --dir a new directory", file=sys.stderr)
        return 2

    with tempfile.TemporaryDirectory(prefix="taskloom-run-demo-") as tmp:
        project = (args.dir or Path(tmp)).resolve()
        project.mkdir(parents=True, exist_ok=True)
        db = project / ".taskloom" / "taskloom.db"
        tl = taskloom_command()
        where = ["--db", str(db), "--project", PROJECT]
        # Our own TASKLOOM_* settings (a database, a project) must not reach the run: the flags say it all.
        env = {k: v for k, v in os.environ.items() if not k.startswith("TASKLOOM_")}

        def taskloom(*argv: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run([*tl, *argv, *where], capture_output=True, text=True, env=env, cwd=project,
                                  timeout=60, check=False)

        print(f"project {PROJECT} in {project}\n", flush=True)
        imported = taskloom("import", str(PLAN))
        print(f"$ taskloom import {PLAN.relative_to(HERE.parent)}\n{(imported.stdout + imported.stderr).strip()}\n")
        if imported.returncode != 0:
            return 1

        cmd = agent_command(project / ".taskloom" / "demo-state", args.crash_once or None)
        run_argv = ["run", "--until-idle", "--per", args.per, "--max-workers", str(args.max_workers),
                    "--backoff", "0.5", "--grace", "2", "--agent-cmd", cmd]
        print(f"$ taskloom {shlex.join(run_argv[:-1])} {shlex.quote(cmd)}", flush=True)
        started = time.monotonic()
        # The runner's own output (its start line and the summary at the end) goes straight through.
        ran = subprocess.run([*tl, *run_argv, *where], env=env, cwd=project, timeout=DEADLINE, check=False,
                             stdout=sys.stdout, stderr=sys.stdout)
        print(f"(exit {ran.returncode} after {time.monotonic() - started:.1f}s)\n")

        workers = taskloom("workers", "--all", "--json")
        runs = sorted(json.loads(workers.stdout or "[]"), key=lambda r: r["id"])
        prefix = runs[0]["agent"].rsplit("-", 1)[0] + "-" if runs else ""
        print(f"Who did what (runner {prefix.rstrip('-')}; agent names are <runner>-w<N>):")
        show_runs(runs, prefix)
        print()
        board = taskloom("status")
        print(board.stdout.rstrip())
        codes = plan_codes()
        problems = check(ran.returncode, runs, json.loads(taskloom("status", "--json").stdout), codes, args.per)
        if args.dir and runs:
            print(f"\nLook around: cd {project} && {shlex.join(tl)} logs {runs[0]['agent']} --project {PROJECT}")
    print()
    for problem in problems:
        print(f"FAILED: {problem}")
    if problems:
        return 1
    handed = sum(1 for r in runs if r["outcome"] == "handed_back")
    print(f"plan finished: {len(codes)} tasks done by {len(runs)} runs ({handed} handed back and retried)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
