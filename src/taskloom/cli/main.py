"""Entry point for the `taskloom` console script."""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import os
import sys
from pathlib import Path

import anyio

from taskloom import __version__
from taskloom.cli import archive, artifacts, completion, dashboard, runner, search, timesheet, watch
from taskloom.cli import copy as copy_command
from taskloom.config import (
    ARTIFACT_MAX_BYTES,
    ARTIFACT_QUOTA_BYTES,
    DB_PATIENCE,
    DEFAULT_DB,
    ESCALATION_ROLE,
    Settings,
    resolve_allow_origins,
    resolve_db_patience,
    resolve_db_value,
    resolve_http_timeout,
    resolve_lease,
    resolve_max_wait,
    resolve_project,
    resolve_roots,
    resolve_size,
    resolve_tokens_file,
)
from taskloom.errors import InvalidInput, NotFound, TaskloomError, from_validation
from taskloom.store import backends

DB_HELP = "SQLite file, sqlite:///PATH or postgresql://USER@HOST/DB (default .taskloom/taskloom.db, or TASKLOOM_DB)"
# Commands that only read: they never create a database file or a project.
READ_ONLY = {"status", "watch", "projects", "workers", "logs", "search", ("artifacts", "ls"), ("artifacts", "get")}


def _database(args: argparse.Namespace) -> Settings:
    db = backends.locate(resolve_db_value(args.db))
    patience = resolve_db_patience() if db.url else DB_PATIENCE
    return Settings(db_path=db.path or DEFAULT_DB, db_url=db.url, db_patience=patience)


def _settings(args: argparse.Namespace) -> Settings:
    return dataclasses.replace(
        _database(args),
        project=resolve_project(getattr(args, "project", None)),
        lease_seconds=resolve_lease(getattr(args, "lease_seconds", None)),
        default_agent=os.environ.get("TASKLOOM_AGENT") or None,
        profile=getattr(args, "profile", "all"),
        escalation_role=os.environ.get("TASKLOOM_ESCALATION_ROLE") or ESCALATION_ROLE,
        artifact_max_bytes=resolve_size("TASKLOOM_ARTIFACT_MAX_BYTES", ARTIFACT_MAX_BYTES),
        artifact_quota_bytes=resolve_size("TASKLOOM_ARTIFACT_QUOTA_BYTES", ARTIFACT_QUOTA_BYTES),
        # A person's own shell may read any file they can; servers use --root / TASKLOOM_ROOTS.
        artifact_roots=(Path("/"),) if args.command == "artifacts" else resolve_roots(getattr(args, "root", None)),
        max_wait=resolve_max_wait(getattr(args, "max_wait", None)),
    )


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--db", help=DB_HELP)
    p.add_argument("--project", help="project name (default TASKLOOM_PROJECT, or the current directory's name)")


class _Parser(argparse.ArgumentParser):
    """argparse, but a bad flag is one line like every other error (subcommands inherit the class)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        where = "" if self.prog == "taskloom" else f"{self.prog}: "  # the line already starts "taskloom:"
        err = InvalidInput(f"{where}{message}.", hint=f"See `{self.prog} --help`.")
        self.exit(2, f"taskloom: {err}\n")


def parser() -> argparse.ArgumentParser:
    root = _Parser(prog="taskloom", description="Task coordination for teams of LLM agents, over MCP.")
    root.add_argument("--version", action="version", version=f"taskloom {__version__}")
    sub = root.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the MCP server")
    _common(serve)
    serve.add_argument("--transport", choices=["stdio", "sse", "http"], default="stdio")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8765)
    serve.add_argument("--token", default=os.environ.get("TASKLOOM_TOKEN"), help="bearer token for HTTP (TASKLOOM_TOKEN)")
    serve.add_argument(
        "--tokens", metavar="FILE",
        help="tokens file (TASKLOOM_TOKENS_FILE): hashed, per-agent, expiring bearer tokens made with "
        "`taskloom token new`; re-read when it changes",
    )
    serve.add_argument(
        "--http-timeout", type=float, metavar="SECONDS",
        help="HTTP clients must send a request's head within this (its body too, at >= 16 KiB/s); idle "
        "kept-alive connections close after min(5, this) (default 20, or TASKLOOM_HTTP_TIMEOUT)",
    )
    serve.add_argument(
        "--allow-host", action="append", default=[], metavar="NAME",
        help="another Host name clients may use (DNS-rebinding protection); repeatable",
    )
    serve.add_argument(
        "--allow-origin", action="append", default=[], metavar="ORIGIN",
        help="a web page origin (scheme://host[:port]) whose browser requests are accepted besides the "
        "server's own; repeatable (TASKLOOM_ALLOW_ORIGINS, comma-separated)",
    )
    serve.add_argument("--profile", choices=["worker", "orchestrator", "all"], default="all")
    serve.add_argument("--lease-seconds", type=float, help="claim lease length (default 900, or TASKLOOM_LEASE_SECONDS)")
    serve.add_argument(
        "--max-wait", type=float, metavar="SECONDS",
        help="the longest a task_claim or message_inbox call may wait (wait_seconds) for work or mail; keep it "
        "under your clients' tool-call timeout (default 50, or TASKLOOM_MAX_WAIT)",
    )
    serve.add_argument(
        "--root", action="append", metavar="DIR",
        help="a directory artifacts_upload(path=...) may read; repeatable (TASKLOOM_ROOTS). Default: the "
        "current directory over stdio, none over HTTP",
    )

    status = sub.add_parser("status", help="print the project's status board")
    _common(status)
    status.add_argument("--json", action="store_true", help="machine-readable output")

    projects = sub.add_parser("projects", help="list the database's projects with their tasks per status")
    projects.add_argument("--db", help=DB_HELP)
    projects.add_argument("--json", action="store_true", help="machine-readable output")

    check = sub.add_parser(
        "check", help="check the database file: integrity, foreign keys, schema version (exit 1 if damaged)"
    )
    check.add_argument("--db", help=DB_HELP)
    check.add_argument("--json", action="store_true", help="machine-readable output")

    imp = sub.add_parser(
        "import", help="import a plan (JSON or YAML, the shape of plan_import), or load an archive that "
        "`taskloom export` wrote (a .tar or .tar.gz, known by its first bytes) into an empty database",
    )
    _common(imp)
    imp.add_argument("file", type=Path)
    archive.add_parsers(sub, DB_HELP)

    report = sub.add_parser(
        "report", help="a completion report (Markdown) of a sprint, a stream or the project; `report time` for where the time went"
    )
    _common(report)
    completion.add_arguments(report)
    # `report time` repeats the flags it shares with `report` (argparse lets a subcommand's defaults
    # overwrite its parent's values), so they go after the subcommand: `taskloom report time --sprint S`.
    timesheet.add_parser(report.add_subparsers(dest="report_what", required=False), _common)

    copy_command.add_parser(sub)
    artifacts.add_parser(sub, _common)
    runner.add_parser(sub, _common)
    dashboard.add_parser(sub, _common)
    watch.add_parser(sub, _common)
    search.add_parser(sub, _common)

    token = sub.add_parser("token", help="manage bearer tokens for the HTTP transports")
    token_sub = token.add_subparsers(dest="token_command", required=True)
    new = token_sub.add_parser(
        "new", help="make a random token, print it once, and append its hash to the tokens file"
    )
    new.add_argument("--agent", metavar="NAME", help="the token acts as this agent only (default: any agent)")
    new.add_argument("--ttl", metavar="DURATION", help="expire after e.g. 30m, 12h, 7d, 2w (default: never)")
    new.add_argument(
        "--read-only", action="store_true", help="the token may only call read-only tools (default: read and write)"
    )
    new.add_argument("--tokens", metavar="FILE", help="the tokens file (TASKLOOM_TOKENS_FILE); created 0600")
    ls = token_sub.add_parser(
        "list", help="list the tokens file's entries: hash prefix, agent, access, created, expires"
    )
    ls.add_argument("--tokens", metavar="FILE", help="the tokens file (TASKLOOM_TOKENS_FILE)")
    ls.add_argument("--json", action="store_true", help="machine-readable output")
    revoke = token_sub.add_parser(
        "revoke", help="remove a token by its hash prefix (as `token list` shows it); a running server notices"
    )
    revoke.add_argument("prefix", help="4 or more leading hex digits of the token's hash")
    revoke.add_argument("--tokens", metavar="FILE", help="the tokens file (TASKLOOM_TOKENS_FILE)")

    tools = sub.add_parser("tools-md", help="write tools.md from the live tool registry")
    tools.add_argument("--output", "-o", type=Path, default=Path("tools.md"))
    return root


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return anyio.run(_dispatch, args) or 0
    except TaskloomError as exc:
        print(f"taskloom: {exc}", file=sys.stderr)
        return 2
    except BaseExceptionGroup as group:
        # Errors raised while the resolver task group is open arrive wrapped.
        ours, rest = group.split(TaskloomError)
        if ours is not None:
            print(f"taskloom: {_first(ours)}", file=sys.stderr)
            return 2
        # A stdio client that goes away mid-write is a normal end of the session, not a crash.
        _, other = rest.split(_HANGUPS)
        if other is None:
            return 0
        raise
    except _HANGUPS:
        return 0
    except KeyboardInterrupt:
        return 0 if args.command == "watch" else 130  # quitting the board is how it ends


_HANGUPS = (BrokenPipeError, ConnectionResetError, anyio.BrokenResourceError, anyio.ClosedResourceError)


def _first(group: BaseExceptionGroup) -> BaseException:
    exc: BaseException = group
    while isinstance(exc, BaseExceptionGroup):
        exc = exc.exceptions[0]
    return exc


async def _dispatch(args: argparse.Namespace) -> int:
    from taskloom.services.app import Taskloom

    if args.command == "serve":
        if not 0 <= args.port <= 65535:
            raise InvalidInput(f"--port {args.port} is not a TCP port.", hint="Give a port from 1 to 65535 (0: any free one).")
        # Flags and environment first: a mistake is refused before the MCP SDK (a second of CPU) loads.
        settings = _settings(args)
        origins = resolve_allow_origins(args.allow_origin)
        tokens_file = resolve_tokens_file(args.tokens)
        http_timeout = resolve_http_timeout(args.http_timeout)
        from taskloom.server.unimportable import STDIO_UNUSED, unimportable

        # The server's modules import the MCP SDK; a stdio process never serves HTTP, so what the
        # SDK only tries to import for HTTP stays out of it (issue 17: idle memory).
        with unimportable(*STDIO_UNUSED) if args.transport == "stdio" else contextlib.nullcontext():
            from taskloom.server.run import serve

        await serve(
            settings,
            args.transport,
            args.host,
            args.port,
            args.token,
            allow_hosts=args.allow_host,
            allow_origins=origins,
            tokens_file=tokens_file,
            http_timeout=http_timeout,
        )
        return 0
    if args.command == "token":
        return _token(args)
    if args.command == "tools-md":
        args.output.write_text(await tools_markdown(), encoding="utf-8")
        print(f"wrote {args.output}")
        return 0
    if args.command == "check":
        return _check(_database(args), args.json)
    if args.command == "copy":
        return await copy_command.run(args)
    if args.command == "dashboard":
        return await dashboard.run(_settings(args), args)
    if args.command == "report":
        if args.report_what == "time":
            return await timesheet.run(_settings(args), args)
        return await completion.run(_settings(args), args)
    if args.command == "export":
        return await archive.run_export(_database(args), args)
    if args.command == "backup":
        return await archive.run_backup(_database(args), args)
    if args.command == "import" and archive.is_archive(args.file):
        return await archive.run_import(_database(args), args)  # before a project is made: it must find none
    if args.command == "watch":
        watch.check_args(args)  # before the database is looked for: the mistake is in the flags
    settings = _settings(args)
    read_only = args.command in READ_ONLY or (args.command, getattr(args, "verb", None)) in READ_ONLY
    if read_only and not backends.exists(settings):
        # Opening would create an empty database (and its folder) for a mistyped path.
        raise NotFound(
            f"No taskloom database at {settings.db_path}.",
            hint="Check --db (or TASKLOOM_DB); `taskloom serve` or `taskloom import` creates one.",
        )
    if args.command == "projects":
        return await _projects(settings, args.json)
    app = await Taskloom.open(settings, create_project=not read_only)
    try:
        if not read_only:
            # Leases are expired by a running server's resolver; with none running, a writer
            # does one pass first, so dead agents' tasks go back to the queue before new work.
            # Not the full readiness reconciliation: a server's resolver does that every 30 s, and
            # on a large project it would make every command slow to start.
            from taskloom.resolver import Resolver

            await Resolver(app).run_once(reconcile=False)
        if args.command == "status":
            return await _status(app, args.json)
        if args.command == "artifacts":
            return await artifacts.run(app, args)
        if args.command == "watch":
            return await watch.run(app, args)
        if args.command == "search":
            return await search.run(app, args)
        if args.command in ("run", "workers", "logs"):
            return await runner.run(app, args)
        return await _import(app, args.file)
    finally:
        await app.close()


def _token(args: argparse.Namespace) -> int:
    from taskloom.cli import tokens

    path = resolve_tokens_file(args.tokens)
    if path is None:
        raise InvalidInput("No tokens file given.", hint="Pass --tokens FILE or set TASKLOOM_TOKENS_FILE.")
    if args.token_command == "new":
        return _token_new(path, args)
    if args.token_command == "list":
        rows = tokens.entries(path)
        print(json.dumps(rows, indent=2) if args.json else tokens.render(path, rows))
        return 0
    sha, removed = tokens.revoke(path, args.prefix)
    print(f"taskloom: revoked token {sha[: tokens.PREFIX_SHOWN]} ({removed} line(s) removed from {path}).", file=sys.stderr)
    return 0


def _token_new(path: Path, args: argparse.Namespace) -> int:
    from taskloom.server.auth import new_token, parse_ttl

    token, entry = new_token(path, args.agent, parse_ttl(args.ttl) if args.ttl else None, read_only=args.read_only)
    print(token)
    who = f"agent {entry['agent']}" if entry["agent"] else "any agent"
    until = f"until {entry['expires']}" if entry["expires"] else "with no expiry"
    kind = "a read-only token" if args.read_only else "a token"
    print(f"taskloom: added {kind} for {who}, {until}, to {path}. It is shown only this once.", file=sys.stderr)
    return 0


def _check(settings: Settings, as_json: bool) -> int:
    from taskloom.cli import reports

    report = backends.examine(settings)
    if as_json:
        print(json.dumps({**dataclasses.asdict(report), "ok": report.ok}, indent=2))
    else:
        print(reports.check(report))
    return 0 if report.ok else 1


async def _projects(settings: Settings, as_json: bool) -> int:
    from taskloom.cli import reports
    from taskloom.models.overview import ProjectList
    from taskloom.services import projects
    store = await backends.open_store(settings)
    try:
        found = ProjectList(database=backends.label(settings), projects=await store.read(projects.listing))
    finally:
        await store.close()
    print(found.model_dump_json(indent=2) if as_json else reports.projects(found))
    return 0


async def tools_markdown() -> str:
    from taskloom.cli import toolsmd
    from taskloom.server import build_server
    from taskloom.services.app import Taskloom

    app = await Taskloom.open(Settings(db_path=Path(":memory:"), project="tools-md"))
    try:
        server = build_server(app)
        # The full schemas, limits and result fields included: tools/list serves them compacted.
        return toolsmd.render(await server.full_tools())
    finally:
        await app.close()


async def _status(app, as_json: bool) -> int:
    from taskloom.cli import board
    from taskloom.services import planning, projects, runs

    def read(tx, scope):
        # One snapshot, so the board, its overdue leases and the runner's workers agree.
        return planning.project_status(tx, scope), projects.overdue_leases(tx, scope), runs.live(tx, scope)

    status, overdue, workers = await app.read(read)
    if as_json:
        print(json.dumps({**status.model_dump(mode="json"), "expired_leases": [o.model_dump() for o in overdue],
                          "workers": workers}, indent=2))
    else:
        print(board.render(status, overdue, workers))
    return 0


async def _import(app, path: Path) -> int:
    import yaml
    from pydantic import ValidationError

    from taskloom.models import Plan
    from taskloom.services import planning

    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        shown = path if path.is_absolute() else f"{path} (in {Path.cwd()})"
        print(f"taskloom: cannot read the plan {shown}: {getattr(exc, 'strerror', None) or exc}", file=sys.stderr)
        return 2
    try:
        data = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
        plan = Plan.model_validate(data or {})
    except (ValueError, yaml.YAMLError) as exc:
        cause = from_validation(exc) if isinstance(exc, ValidationError) else exc
        print(f"taskloom: {path} is not a valid plan: {cause}", file=sys.stderr)
        return 2
    if plan.runner is not None:
        from taskloom.runner import settings as runner_settings

        # Not stored, but checked now: a plan that `taskloom run` would refuse is refused here too.
        runner_settings.load(plan_runner=plan.runner, plan_source=path)
    result = await app.write(planning.import_plan, plan)
    print(
        f"imported {path}: {result.tasks_created} tasks created, {result.tasks_existing} already there, "
        f"{result.dependencies} dependencies, {result.streams} streams, {result.sprints} sprints; "
        f"{result.ready} ready now"
    )
    return 0
