"""`taskloom run`, `taskloom workers`, `taskloom logs`: the runner and what it shows."""

from __future__ import annotations

import argparse
import json
import os
import secrets
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio

from taskloom.errors import InvalidInput, NotFound
from taskloom.services.app import Taskloom
from taskloom.store import backends

DEFAULT_MAX_WORKERS = 4
FOLLOW_LOOK = 0.5  # seconds between looks at a followed log: a file offers no event to wait on


def add_parser(sub: Any, common: Callable[[argparse.ArgumentParser], None]) -> None:
    run = sub.add_parser("run", help="start and supervise headless agents for ready work")
    common(run)
    run.add_argument("--per", choices=["task", "stream"], default="task",
                     help="one worker per ready task (default), or per ready stream, which it drains")
    run.add_argument("--max-workers", type=int, default=DEFAULT_MAX_WORKERS,
                     help=f"live workers at most (default {DEFAULT_MAX_WORKERS})")
    run.add_argument("--role", help="only this role's work")
    run.add_argument("--agent", dest="preset", choices=["claude", "opencode", "codex"],
                     help="the agent preset for every role without its own (default claude)")
    run.add_argument("--agent-cmd", metavar="TEMPLATE",
                     help="run this command instead of a preset; placeholders {prompt} {prompt_file} {mcp_config} "
                     "{agent} {task} {stream} {workdir}")
    run.add_argument("--model", help="the model for every preset that takes one")
    run.add_argument("--max-turns", type=int, help="turns per worker (claude)")
    run.add_argument("--worker-timeout", type=float, metavar="SECONDS", help="stop a worker's whole group after this")
    run.add_argument("--grace", type=float, default=10.0, metavar="SECONDS",
                     help="between SIGTERM and SIGKILL when a worker is stopped (default 10)")
    run.add_argument("--backoff", type=float, default=5.0, metavar="SECONDS",
                     help="wait before a unit's next worker after one that did not finish it; doubles each time "
                     "(default 5)")
    run.add_argument("--result-grace", type=float, default=30.0, metavar="SECONDS",
                     help="stop an agent still running this long after it reported its result (default 30)")
    run.add_argument("--config", type=Path, metavar="FILE",
                     help="runner settings per role (default .taskloom/runner.toml, if present)")
    run.add_argument("--plan", type=Path, metavar="FILE", help="a plan file whose `runner:` section holds the settings")
    run.add_argument("--workdir", type=Path, default=None, help="where workers run (default: the current directory)")
    run.add_argument("--url", metavar="URL",
                     help="workers reach this taskloom HTTP server (its /mcp URL) instead of a stdio server of "
                     "their own, each with a token minted for its run and revoked after it (needs --tokens)")
    run.add_argument("--tokens", metavar="FILE",
                     help="with --url: the server's tokens file (TASKLOOM_TOKENS_FILE)")
    run.add_argument("--worktrees", action="store_true",
                     help="give each worker a git worktree of --workdir on its own branch (taskloom/<task>); "
                     "a failed worker's is kept for inspection")
    run.add_argument("--until-idle", action="store_true",
                     help="exit when the project is finished (0) or nothing more can run (3)")
    run.add_argument("--dry-run", action="store_true",
                     help="print the argv and environment each spawn would get, and start nothing")

    workers = sub.add_parser("workers", help="the runner's workers: agent, task, pid, uptime, restarts, last log line")
    common(workers)
    workers.add_argument("--all", action="store_true", help="recent ended runs too")
    workers.add_argument("--json", action="store_true", help="machine-readable output")

    logs = sub.add_parser("logs", help="a worker's log (its latest run)")
    common(logs)
    logs.add_argument("agent", help="the worker's agent name, as `taskloom workers` shows it")
    logs.add_argument("-f", "--follow", action="store_true", help="keep printing until the run ends")


async def run(app: Taskloom, args: argparse.Namespace) -> int:
    if args.command == "workers":
        return await _workers(app, args)
    if args.command == "logs":
        return await _logs(app, args)
    return await _run(app, args)


async def _run(app: Taskloom, args: argparse.Namespace) -> int:
    from taskloom.runner import presets, settings
    from taskloom.runner.supervisor import Options, Supervisor

    if args.max_workers < 1:
        raise InvalidInput(f"--max-workers {args.max_workers} is less than 1.", hint="Give 1 or more.")
    config = settings.load(_toml(args.config), _plan_runner(args.plan), _overrides(args), plan_source=args.plan)
    connection = presets.Connection(
        db=backends.given(app.settings), project=app.settings.project, taskloom=presets.taskloom_command(),
        url=args.url,
    )
    tokens_file = _tokens_for(args)
    workdir = (args.workdir or Path.cwd()).resolve()
    if not workdir.is_dir():
        raise InvalidInput(f"--workdir {workdir} is not a directory.", hint="Give an existing directory.")
    runner = f"{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(2)}"
    run_dir = app.settings.db_path.resolve().parent / "runs" / runner
    trees = None
    if args.worktrees:
        from taskloom.runner.worktrees import Worktrees

        trees = Worktrees(workdir)
        await anyio.to_thread.run_sync(trees.prepare)  # not a git checkout: said before any worker starts
    if args.dry_run:
        return await _dry_run(app, args, config, connection, workdir, run_dir, trees)
    options = Options(
        per=args.per, max_workers=args.max_workers, role=args.role, until_idle=args.until_idle,
        grace=args.grace, worker_timeout=args.worker_timeout, backoff=args.backoff, result_grace=args.result_grace,
    )
    for flag, value in (("--grace", args.grace), ("--backoff", args.backoff), ("--result-grace", args.result_grace)):
        if value < 0:
            raise InvalidInput(f"{flag} {value:g} is negative.", hint=f"Give {flag} 0 or more seconds.")
    if args.worker_timeout is not None and args.worker_timeout <= 0:
        raise InvalidInput(f"--worker-timeout {args.worker_timeout:g} is not positive.", hint="Give seconds > 0.")
    run_dir.mkdir(parents=True, exist_ok=True)
    print(f"taskloom run {runner}: up to {args.max_workers} workers, logs in {run_dir}", file=sys.stderr, flush=True)
    summary = await Supervisor(app, config, connection, run_dir, workdir, options, trees, tokens_file).run()
    said = f"{summary.started} started, {summary.done} done, {summary.handed_back} handed back"
    if summary.outlook == "finished":
        print(f"taskloom run: the project is finished ({said}).", file=sys.stderr)
    elif summary.exit_code == 3:
        left = ", ".join(f"{n} {s}" for s, n in sorted(summary.left.items()))
        why = "only paused agent presets could run what is ready" if summary.outlook == "paused" else (
            "what is left is blocked, in review, failed or waiting on those")
        print(f"taskloom run: nothing more can run: {why} ({left}); {said}.", file=sys.stderr)
    else:
        print(f"taskloom run: stopped ({said}).", file=sys.stderr)
    for preset, error in summary.paused.items():
        print(f"taskloom run: the {preset} preset was paused: {error}", file=sys.stderr)
    return summary.exit_code


async def _dry_run(app, args, config, connection, workdir: Path, run_dir: Path, trees) -> int:
    from taskloom.runner import presets, worktrees
    from taskloom.runner.supervisor import closing_words
    from taskloom.services import briefing, runs

    units = await app.read(runs.ready_units, args.per, args.role)
    if not units:
        print("taskloom run --dry-run: nothing is ready to start.")
        return 0
    for n, (unit, _) in enumerate(units[: args.max_workers], 1):
        agent = f"{run_dir.name}-w{n}"
        where, env, branch, tree = workdir, dict(os.environ), None, ""
        if trees is not None:
            name, branch = worktrees.unit_names(unit.task, unit.stream)
            where, tree = trees.root / name, trees.describe(name, branch) + "\n"
            env = worktrees.worker_env(env, where, branch)
        prompt = await app.read(briefing.worker_instructions, unit.task, unit.stream, agent=agent)
        job = presets.Job(agent=agent, task=unit.task, stream=unit.stream,
                          prompt=prompt + closing_words(unit, branch), workdir=where, run_dir=run_dir / agent)
        spawn = presets.build(config.for_task(unit.role, unit.labels), job, connection, env)
        print(f"# {unit.name}\n{tree}{presets.describe(spawn, dict(os.environ))}\n")
    return 0


def _tokens_for(args: argparse.Namespace) -> Path | None:
    from taskloom.config import resolve_tokens_file

    if args.url is None:
        if args.tokens:
            raise InvalidInput("--tokens is for --url.", hint="Give --url with it, or leave it out.")
        return None
    if not args.url.startswith(("http://", "https://")):
        raise InvalidInput(f"--url {args.url} is not an http(s) URL.", hint="Give the server's URL, e.g. "
                           "http://127.0.0.1:8765/mcp.")
    path = resolve_tokens_file(args.tokens)
    if path is None:
        raise InvalidInput("--url needs the server's tokens file, to mint each run's token.",
                           hint="Pass --tokens FILE (or set TASKLOOM_TOKENS_FILE), the file the server reads.")
    return path


def _toml(path: Path | None) -> Path | None:
    if path is not None:
        if not path.is_file():
            raise NotFound(f"No runner settings file at {path}.", hint="Check --config.")
        return path
    default = Path(".taskloom") / "runner.toml"
    return default if default.is_file() else None


def _plan_runner(path: Path | None) -> Any:
    from taskloom.runner import settings

    return None if path is None else settings.read_plan_runner(path)


def _overrides(args: argparse.Namespace) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if args.agent_cmd:
        out["preset"], out["command"] = "command", args.agent_cmd
    elif args.preset:
        out["preset"] = args.preset
    for key in ("model", "max_turns"):
        if getattr(args, key) is not None:
            out[key] = getattr(args, key)
    return out


async def _workers(app: Taskloom, args: argparse.Namespace) -> int:
    from taskloom.services import runs

    rows = await app.read(runs.recent if args.all else runs.live)
    now = app.clock.now()
    for row in rows:
        row["last_line"] = _last_line(Path(row["log_path"])) if row["log_path"] else ""
        row["restarts"] = (await app.read(runs.restarts, row["task_id"], row["stream_id"]))[0]
        row["uptime_s"] = round((row["ended_at"] or now) - row["started_at"], 1)
    if args.json:
        print(json.dumps(rows, indent=2, default=str))
        return 0
    if not rows:
        print("No workers are running." if not args.all else "No runs yet.")
        return 0
    print(f"{'AGENT':28} {'WORK':14} {'PID':>7} {'UPTIME':>8} {'RESTARTS':>8}  {'STATE':12} LAST LOG LINE")
    for r in rows:
        work = r.get("holding") or r["task"] or f"stream {r['stream']}"
        state = r["outcome"] or "running"
        print(f"{r['agent'][:28]:28} {str(work)[:14]:14} {r['pid'] or '-':>7} {_span(r['uptime_s']):>8} "
              f"{r['restarts']:>8}  {state[:12]:12} {r['last_line'][:60]}")
    return 0


def _span(seconds: float) -> str:
    seconds = int(seconds)
    if seconds < 120:
        return f"{seconds}s"
    if seconds < 7200:
        return f"{seconds // 60}m"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


def _last_line(path: Path, window: int = 4096) -> str:
    try:
        with path.open("rb") as fh:
            fh.seek(max(0, path.stat().st_size - window))
            lines = [x for x in fh.read().decode("utf-8", "replace").splitlines() if x.strip()]
    except OSError:
        return ""
    return lines[-1] if lines else ""


def _read_from(path: Path, offset: int) -> bytes:
    try:
        with path.open("rb") as fh:
            fh.seek(offset if offset <= path.stat().st_size else 0)  # rotated under us: start again
            return fh.read()
    except FileNotFoundError:
        raise NotFound(f"The log {path} is gone.", hint="It was removed by hand.") from None


async def _logs(app: Taskloom, args: argparse.Namespace) -> int:
    from taskloom.services import runs

    row = await app.read(runs.latest_of, args.agent)
    if row is None:
        raise NotFound(f"No run of a worker named {args.agent}.", hint="`taskloom workers --all` lists them.")
    path = Path(row["log_path"])
    offset = 0
    while True:
        chunk = _read_from(path, offset)
        if chunk:
            sys.stdout.write(chunk.decode("utf-8", "replace"))
            sys.stdout.flush()
            offset += len(chunk)
        if not args.follow:
            return 0
        row = await app.read(runs.latest_of, args.agent)
        if row is None or row["ended_at"] is not None:
            return 0
        await anyio.sleep(FOLLOW_LOOK)
