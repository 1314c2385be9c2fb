#!/usr/bin/env python3
"""A team of agents working one plan through taskloom, each a separate OS process.

    python examples/agents_demo.py                 # 3 agents, a fresh temporary database
    python examples/agents_demo.py --agents 5 --db demo.db --project reports

What happens:

1. Every agent is this same script run again in worker mode, in its own process. Each one starts
   its own `taskloom serve` over stdio with TASKLOOM_AGENT set to its name, exactly as an MCP
   client such as Claude Code or OpenCode would, and talks to it with the MCP Python SDK.
2. While they connect, `taskloom import examples/plan.yaml` lays the plan out in the SQLite file;
   once it is in and every agent is connected, they all start together.
3. Workers loop: task_claim (for their role, or anything), task_note progress, "work", then
   task_done with a summary. When nothing is claimable but work is still open, they wait a
   little and try again; when the project is all closed, they stop.
4. This process prints who did what, in order, then the `taskloom status` board, and exits 0
   only if every task was claimed and finished exactly once and the board shows them all done.

Real agents would be LLMs reading the claimed task's description, acceptance criteria and the
summaries its dependencies left; here the "work" is a short sleep.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import queue
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
DEFAULT_PLAN = HERE / "plan.yaml"
NAMES = ["alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi"]
CLOSED = ("done", "cancelled")


def taskloom_command() -> list[str]:
    """The `taskloom` console script next to this Python, else on PATH, else the module itself."""
    exe = Path(sys.executable).parent / ("taskloom.exe" if os.name == "nt" else "taskloom")
    if exe.exists():
        return [str(exe)]
    found = shutil.which("taskloom")
    if found:
        return [found]
    return [sys.executable, "-c", "import sys; from taskloom.cli.main import main; sys.exit(main())"]


# --------------------------------------------------------------------------------------------
# Worker mode: one agent, one MCP client, one `taskloom serve` over stdio.
# --------------------------------------------------------------------------------------------


def emit(t0: float, **event: Any) -> None:
    """One JSON line on stdout for the parent; writes this short are atomic on a pipe."""
    event["t"] = round(time.time() - t0, 3)
    print(json.dumps(event), flush=True)


async def call(client: Any, tool: str, args: dict[str, Any]) -> dict[str, Any]:
    result = await client.call_tool(tool, args)
    if result.is_error:
        text = result.content[0].text if result.content else "(no text)"
        raise RuntimeError(f"{tool} failed: {text}")
    return result.structured_content


def summary_for(agent: str, task: dict[str, Any], inputs: list[dict[str, Any]]) -> str:
    criteria = [line for line in task["acceptance"].splitlines() if line.strip().startswith("- ")]
    used = f" Built on {', '.join(d['code'] for d in inputs)}." if inputs else ""
    return f"{task['title']}: done by {agent}; {len(criteria)} acceptance criteria checked.{used}"


async def work(args: argparse.Namespace) -> int:
    from mcp import Client, StdioServerParameters

    cmd = taskloom_command()
    # Workers here run the full tool set because they call project_status to learn whether the
    # whole plan is closed; the worker profile (see examples/*/ configs) has no read of the
    # project, only of single tasks.
    params = StdioServerParameters(
        command=cmd[0],
        args=[*cmd[1:], "serve", "--db", args.db, "--project", args.project, "--profile", "all"],
        env={"TASKLOOM_AGENT": args.worker},
    )
    t0, me = args.t0, args.worker
    claim_args = {"role": args.role} if args.role else {}
    # When the parent stops us (SIGTERM), unwind through `async with Client` so that our server
    # sees its stdin close and exits cleanly, instead of being orphaned.
    with contextlib.suppress(NotImplementedError):  # no loop signal handlers on Windows
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, asyncio.current_task().cancel)
    async with Client(params) as client:
        emit(t0, agent=me, event="ready", role=args.role)
        # Start together: the parent says "go" once every agent is connected, so that the first
        # one up does not take all the work while the others are still starting.
        await asyncio.to_thread(sys.stdin.readline)
        while True:
            if time.time() > args.deadline:
                emit(t0, agent=me, event="timeout")
                return 1
            got = await call(client, "task_claim", claim_args)
            if got["claimed"]:
                task = got["detail"]["task"]
                inputs = [d for d in got["detail"]["dependencies"] if d["outcome"] == "done"]
                emit(t0, agent=me, event="claimed", code=task["code"], title=task["title"],
                     role=task["role"], priority=task["priority"], inputs=[d["code"] for d in inputs])
                body = "Started."
                if inputs:
                    body += " Read what " + ", ".join(f"{d['code']} left: {d['summary']!r}" for d in inputs)
                await call(client, "task_note", {"task": task["code"], "kind": "progress", "body": body})
                emit(t0, agent=me, event="note", code=task["code"], body="progress: started")
                await asyncio.sleep(args.work_seconds)  # the actual work would happen here
                summary = summary_for(me, task, inputs)
                done = await call(client, "task_done", {"task": task["code"], "summary": summary})
                emit(t0, agent=me, event="finished", code=task["code"], summary=summary,
                     unblocked=done["unblocked"], status=done["task"]["status"])
                continue
            status = await call(client, "project_status", {})
            counts = status["counts"]
            still_open = status["total"] - sum(counts.get(s, 0) for s in CLOSED)
            if still_open == 0:
                emit(t0, agent=me, event="stop", reason="all tasks closed")
                return 0
            if not any(counts.get(s, 0) for s in ("ready", "in_progress", "review")):
                # Nothing is being worked on or can be claimed, so what still waits waits on failed,
                # blocked or parked work: nothing will move without a person.
                emit(t0, agent=me, event="stuck", counts=counts)
                return 1
            await asyncio.sleep(args.poll_seconds)


def worker_main(args: argparse.Namespace) -> int:
    try:
        return asyncio.run(work(args))
    except (asyncio.CancelledError, KeyboardInterrupt):
        return 1
    except Exception as exc:  # report it to the parent as an event, then fail
        try:
            emit(args.t0, agent=args.worker, event="error", error=f"{type(exc).__name__}: {exc}")
        except OSError:
            pass  # the parent is gone
        return 1


# --------------------------------------------------------------------------------------------
# Parent mode: import, start the team, narrate, check.
# --------------------------------------------------------------------------------------------


def plan_tasks(plan: Path) -> list[dict[str, Any]]:
    import yaml

    data = yaml.safe_load(plan.read_text(encoding="utf-8")) or {}
    return list(data.get("tasks", []))


def team(n: int, roles: list[str]) -> list[tuple[str, str | None]]:
    """Names and roles: one specialist per plan role if there are enough agents, the rest take anything."""
    names = [NAMES[i] if i < len(NAMES) else f"agent-{i + 1}" for i in range(n)]
    specialists = roles if n >= len(roles) else []
    return [(name, specialists[i] if i < len(specialists) else None) for i, name in enumerate(names)]


def describe(ev: dict[str, Any]) -> str | None:
    who, what = f"{ev['agent']:<6}", ev["event"]
    if what == "ready":
        return f"{who} connected (claims {ev['role'] or 'any role'})"
    if what == "claimed":
        after = f"  after {', '.join(ev['inputs'])}" if ev["inputs"] else ""
        tag = f"[{ev['role'] or 'any'}, P{ev['priority']}]"
        return f"{who} claimed  {ev['code']:<6} {ev['title']}  {tag}{after}"
    if what == "note":
        return f"{who} noted    {ev['code']:<6} {ev['body']}"
    if what == "finished":
        freed = f"  -> ready: {', '.join(ev['unblocked'])}" if ev["unblocked"] else ""
        return f"{who} finished {ev['code']:<6} ({ev['status']}){freed}"
    if what == "stop":
        return f"{who} stopped: {ev['reason']}"
    if what == "stuck":
        return f"{who} stopped: the plan cannot move on by itself {ev['counts']}"
    if what == "timeout":
        return f"{who} gave up: out of time"
    if what == "error":
        return f"{who} ERROR {ev['error']}"
    return None


def pump(name: str, stream: Any, out: queue.Queue) -> None:
    for line in stream:
        out.put((name, line))
    out.put((name, None))


def run_team(
    args: argparse.Namespace, db: str, crew: list[tuple[str, str | None]], prepare: Callable[[], bool]
) -> tuple[list[dict], dict[str, int | None]] | None:
    """Start the agents, run `prepare` (the import) while they connect, then let them go together.

    Returns None, with every agent stopped, if `prepare` fails. Opening one new database from
    several processes at once is safe: schema creation runs under BEGIN IMMEDIATE.
    """
    t0 = time.time()
    deadline = t0 + args.timeout
    procs: dict[str, subprocess.Popen] = {}
    lines: queue.Queue = queue.Queue()
    events: list[dict[str, Any]] = []
    try:
        for name, role in crew:
            cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", name, "--db", db,
                   "--project", args.project, "--t0", repr(t0), "--deadline", repr(deadline),
                   "--work-seconds", str(args.work_seconds), "--poll-seconds", str(args.poll_seconds)]
            if role:
                cmd += ["--role", role]
            procs[name] = subprocess.Popen(
                cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1
            )
            threading.Thread(target=pump, args=(name, procs[name].stdout, lines), daemon=True).start()
        if not prepare():
            return None
        open_streams = len(procs)
        waiting_to_start: set[str] | None = set(procs)
        while open_streams:
            if waiting_to_start is not None and not waiting_to_start:
                for proc in procs.values():
                    if proc.poll() is None:
                        try:
                            proc.stdin.write("go\n")
                            proc.stdin.flush()
                        except OSError:
                            pass  # it died; its exit code tells
                print(f"{time.time() - t0:6.2f}s  -- all {len(procs)} agents connected: go --", flush=True)
                waiting_to_start = None
            try:
                name, line = lines.get(timeout=max(0.1, deadline + 5 - time.time()))
            except queue.Empty:
                late = time.time() - t0
                print(f"{late:6.2f}s  -- out of time ({args.timeout:g}s): stopping the agents --", flush=True)
                break
            if line is None:
                open_streams -= 1
                if waiting_to_start is not None:
                    waiting_to_start.discard(name)
                continue
            try:
                ev = json.loads(line)
            except ValueError:
                print(f"{name}: {line.rstrip()}")
                continue
            events.append(ev)
            if ev["event"] in ("ready", "error") and waiting_to_start is not None:
                waiting_to_start.discard(name)
            text = describe(ev)
            if text:
                print(f"{ev['t']:6.2f}s  {text}", flush=True)
        codes: dict[str, int | None] = {}
        for name, proc in procs.items():
            try:
                codes[name] = proc.wait(timeout=max(0.1, deadline + 5 - time.time()))
            except subprocess.TimeoutExpired:
                codes[name] = None  # still running: stopped below
        return events, codes
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()


def check(
    events: list[dict], codes: dict[str, int | None], tasks: list[dict[str, Any]], board: dict[str, Any]
) -> list[str]:
    """What went wrong, if anything: every plan task claimed once, finished once, and done on the board."""
    problems = []
    for name, rc in codes.items():
        if rc is None:
            problems.append(f"worker {name} was still running at the deadline and was stopped")
        elif rc != 0:
            problems.append(f"worker {name} exited with {rc}")
    claimed = Counter(e["code"] for e in events if e["event"] == "claimed")
    finished = Counter(e["code"] for e in events if e["event"] == "finished")
    # Plan tasks named only by key get a T-<n> code at import; those are checked by count.
    named = [t["code"] for t in tasks if t.get("code")]
    for code in sorted(set(named) | set(claimed) | set(finished)):
        if claimed[code] != 1 or finished[code] != 1:
            problems.append(
                f"{code} was claimed {claimed[code]} and finished {finished[code]} times (want 1 and 1)"
            )
    if len(finished) != len(tasks):
        problems.append(f"{len(finished)} different tasks were finished; the plan has {len(tasks)}")
    done = board["counts"].get("done", 0)
    if done != len(tasks) or board["total"] != len(tasks):
        problems.append(f"the board shows {done} of {board['total']} tasks done; the plan has {len(tasks)}")
    return problems


def main_parent(args: argparse.Namespace) -> int:
    # Stopped from outside: unwind like Ctrl-C, so that the agents are stopped too.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    if args.db and Path(args.db).exists():
        print(f"{args.db} already exists: give --db a new file, since the demo checks that this run "
              "does every task of the plan, once", file=sys.stderr)
        return 2
    tl = taskloom_command()
    tasks = plan_tasks(args.plan)
    roles = list(dict.fromkeys(t["role"] for t in tasks if t.get("role")))
    crew = team(args.agents, roles)
    with tempfile.TemporaryDirectory(prefix="taskloom-demo-") as tmp:
        db = str(Path(args.db).resolve()) if args.db else str(Path(tmp) / "taskloom.db")
        where = ["--db", db, "--project", args.project]
        print(f"database {db}, project {args.project}")

        def import_plan() -> bool:
            imported = subprocess.run([*tl, "import", str(args.plan), *where], capture_output=True, text=True)
            print((imported.stdout + imported.stderr).strip())
            members = ", ".join(f"{n} ({r or 'any'})" for n, r in crew)
            print(f"team: {members}\n", flush=True)
            return imported.returncode == 0

        started = time.time()
        ran = run_team(args, db, crew, import_plan)
        if ran is None:
            print("FAILED: the plan did not import")
            return 1
        events, codes = ran
        elapsed = time.time() - started
        print()
        # The board for people and the same status as JSON for the check, fetched side by side.
        board = subprocess.Popen(
            [*tl, "status", *where], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        as_json = subprocess.run(
            [*tl, "status", "--json", *where], capture_output=True, text=True, check=True
        )
        print(board.communicate()[0].rstrip())
        problems = check(events, codes, tasks, json.loads(as_json.stdout))
    print()
    if problems:
        for p in problems:
            print(f"FAILED: {p}")
        return 1
    by = Counter(e["agent"] for e in events if e["event"] == "finished")
    print(f"plan complete in {elapsed:.1f}s: {len(tasks)} tasks, each claimed and finished once "
          f"({', '.join(f'{a} {n}' for a, n in sorted(by.items()))})")
    return 0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        description="Run a team of MCP agents through examples/plan.yaml with taskloom."
    )
    p.add_argument("--agents", type=int, default=3, help="how many agents (default 3)")
    p.add_argument("--db", help="new SQLite file to create and keep (default: a temporary one)")
    p.add_argument("--project", default="demo", help="project name (default demo)")
    p.add_argument("--plan", type=Path, default=DEFAULT_PLAN, help="plan to import (default: plan.yaml here)")
    p.add_argument("--timeout", type=float, default=20.0, help="seconds the team gets (default 20)")
    p.add_argument("--work-seconds", type=float, default=0.3, help="pretend work per task (default 0.3)")
    p.add_argument("--poll-seconds", type=float, default=0.2, help="wait before claiming again (default 0.2)")
    # Worker mode, used by the parent when it starts each agent.
    p.add_argument("--worker", help=argparse.SUPPRESS)
    p.add_argument("--role", help=argparse.SUPPRESS)
    p.add_argument("--t0", type=float, help=argparse.SUPPRESS)
    p.add_argument("--deadline", type=float, help=argparse.SUPPRESS)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.worker:
        return worker_main(args)
    if args.agents < 1:
        parser().error("--agents must be at least 1")
    return main_parent(args)


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BrokenPipeError:  # e.g. piped into `head`; the workers are already stopped
        sys.stderr.close()
        sys.exit(1)
