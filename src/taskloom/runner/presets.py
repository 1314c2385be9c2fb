"""How each agent CLI is started headless for one job, and what its output says at the end.

`build` turns settings and a job into a Spawn: the argv (a list, never a shell line), the child's
whole environment, and the files to write first (the prompt, and an MCP config that reaches this
database as the worker agent). `OutputReader` reads the agent's log line by line for its final
report (Claude's stream-json `result` event, Codex's `turn.*`, OpenCode's `step_finish`/`error`).

Each preset ends its options with `--` and puts the prompt after it: every one of these CLIs takes
a prompt starting with "-" for an option and stops at once ("unknown option").
"""

from __future__ import annotations

import json
import math
import os
import re
import shlex
import shutil
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from taskloom.errors import TooLarge
from taskloom.runner.settings import AgentSettings, split_template

MCP_NAME = "taskloom"  # the server's name in every config: Claude's tools are mcp__taskloom__*
PROMPT_FILE = "prompt.md"
MCP_FILE = "mcp.json"
CLAUDE_MAX_TURNS = 200  # the claude preset's --max-turns when the settings name none
TOKEN_ENV = "TASKLOOM_AGENT_TOKEN"  # the run's own token, for configs that read it from the environment
MAX_ARG_BYTES = 128 * 1024 - 1  # Linux refuses one longer argument (MAX_ARG_STRLEN) with E2BIG
MAX_ERROR = 500  # characters of an agent's error kept in the Outcome
# Headless Claude Code authenticates with these (and is kept quiet by the last); the other
# CLAUDE_CODE_* that a parent session exports (entry point, IDE port, ...) make a child claude
# behave as its sub-session, or hang at start.
KEEP_CLAUDE_ENV = frozenset({
    "CLAUDE_CODE_OAUTH_TOKEN", "CLAUDE_CODE_USE_BEDROCK", "CLAUDE_CODE_USE_VERTEX",
    "CLAUDE_CODE_SKIP_BEDROCK_AUTH", "CLAUDE_CODE_SKIP_VERTEX_AUTH", "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC",
})
# Set by the runner for each job; an inherited value would name another job or database.
JOB_ENV = ("TASKLOOM_AGENT", "TASKLOOM_DB", "TASKLOOM_URL", "TASKLOOM_PROJECT", "TASKLOOM_TASK", "TASKLOOM_STREAM")
SECRET_NAME = re.compile(r"TOKEN|SECRET|PASSWORD|API_?KEY|CREDENTIAL", re.IGNORECASE)


@dataclass(frozen=True)
class Connection:
    """How a worker reaches this taskloom."""

    db: str  # the database path (stdio: `taskloom serve --profile worker --db ...`)
    project: str
    taskloom: tuple[str, ...]  # the argv prefix that runs taskloom (see taskloom_command)
    url: str | None = None  # HTTP: the server's /mcp URL ...
    token: str | None = None  # ... and a per-agent token minted for the run


@dataclass(frozen=True)
class Job:
    agent: str
    task: str | None  # task code, e.g. "T-12"
    stream: str | None  # stream code
    prompt: str  # the worker_instructions text
    workdir: Path
    run_dir: Path  # where this worker's prompt file and MCP config go


@dataclass(frozen=True)
class Spawn:
    argv: list[str]
    env: dict[str, str]  # the child's complete environment
    cwd: Path
    files: dict[Path, str]  # written (0600) before spawning: write_files
    secrets: tuple[str, ...] = ()  # values describe() never shows (the run's token)


@dataclass
class Outcome:
    result_seen: bool = False  # the agent reported its end (claude's `result` event, ...)
    error: str | None = None  # e.g. "Not logged in · Please run /login" (a result with is_error true)
    cost_usd: float | None = None
    turns: int | None = None
    result: str | None = None  # the agent's final text, when it succeeded


def build(settings: AgentSettings, job: Job, conn: Connection, base_env: Mapping[str, str]) -> Spawn:
    """The exact process to start for `job` under `settings`; nothing is written or run yet."""
    prompt_file, mcp_file = job.run_dir / PROMPT_FILE, job.run_dir / MCP_FILE
    env = worker_env(job, conn, base_env)
    files = {prompt_file: job.prompt, mcp_file: json.dumps(_claude_config(job, conn), indent=2) + "\n"}
    argv = _PRESETS[settings.preset](settings, job, conn, env, _Files(prompt_file, mcp_file))
    for i, arg in enumerate(argv):
        if len(arg.encode("utf-8", "surrogateescape")) > MAX_ARG_BYTES:
            raise TooLarge(
                f"Argument {i} of the {settings.preset} command for {job.agent} is {len(arg.encode())} bytes; "
                f"the system takes at most {MAX_ARG_BYTES + 1} in one argument.",
                hint="Shorten the task's text, or use preset \"command\" with {prompt_file} instead of {prompt}.",
            )
    return Spawn(argv, env, job.workdir, files, tuple(s for s in (conn.token,) if s))


def worker_env(job: Job, conn: Connection, base_env: Mapping[str, str]) -> dict[str, str]:
    """`base_env` without a parent Claude session's variables and taskloom's tokens, plus the job's."""
    env = {k: v for k, v in base_env.items() if not _dropped(k)}
    env["TASKLOOM_AGENT"] = job.agent
    env["TASKLOOM_PROJECT"] = conn.project
    if conn.url:
        env["TASKLOOM_URL"] = conn.url
        if conn.token:
            env[TOKEN_ENV] = conn.token
    else:
        env["TASKLOOM_DB"] = _db(conn)
    if job.task:
        env["TASKLOOM_TASK"] = job.task
    if job.stream:
        env["TASKLOOM_STREAM"] = job.stream
    return env


def write_files(spawn: Spawn) -> None:
    """Write the spawn's files, readable by this user only (the MCP config may hold a token)."""
    for path, text in spawn.files.items():
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            os.fchmod(fd, 0o600)  # an existing file keeps its mode through O_CREAT
            f.write(text)


def taskloom_command() -> tuple[str, ...]:
    """The argv prefix that runs this taskloom: the console script beside this Python, else on PATH."""
    beside = Path(sys.executable).parent / "taskloom"
    if beside.is_file() and os.access(beside, os.X_OK):
        return (str(beside),)
    found = shutil.which("taskloom")
    if found:
        return (found,)
    return (sys.executable, "-c", "import sys; from taskloom.cli.main import main; sys.exit(main())")


def describe(spawn: Spawn, base_env: Mapping[str, str] | None = None) -> str:
    """What --dry-run prints: the argv (shell-quoted), cwd, environment and files, secrets masked.

    With `base_env`, the environment is shown as what the runner changed in it.
    """
    def hide(text: str) -> str:
        for secret in spawn.secrets:
            text = text.replace(secret, "***")
        return text

    def value(name: str, v: str) -> str:
        return "***" if SECRET_NAME.search(name) else shlex.quote(hide(v))

    lines = [f"argv: {hide(shlex.join(spawn.argv))}", f"cwd: {spawn.cwd}"]
    if base_env is None:
        lines.append("env:")
        lines += [f"  {k}={value(k, v)}" for k, v in sorted(spawn.env.items())]
    else:
        lines.append("env (changes to the runner's own):")
        lines += [f"  {k}={value(k, v)}" for k, v in sorted(spawn.env.items()) if base_env.get(k) != v]
        lines += [f"  unset {k}" for k in sorted(base_env) if k not in spawn.env]
    lines.append("files:")
    for path, text in spawn.files.items():
        lines.append(f"  {path} (0600, {len(text.encode())} bytes)")
        if path.suffix == ".json":
            lines += [f"    {line}" for line in hide(text).splitlines()]
    return "\n".join(lines)


# --- the presets ------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Files:
    prompt: Path
    mcp: Path


Builder = Callable[[AgentSettings, Job, Connection, dict[str, str], _Files], list[str]]


def _claude(s: AgentSettings, job: Job, conn: Connection, env: dict[str, str], files: _Files) -> list[str]:
    argv = [s.executable or "claude", "-p", "--mcp-config", str(files.mcp), "--strict-mcp-config"]
    if s.allowed_tools:  # variadic: it ends at the next option
        argv += ["--allowedTools", *s.allowed_tools]
    argv += ["--output-format", "stream-json", "--verbose"]
    argv += ["--max-turns", str(s.max_turns or CLAUDE_MAX_TURNS)]
    if s.model:
        argv += ["--model", s.model]
    return [*argv, *s.args, "--", job.prompt]


def _opencode(s: AgentSettings, job: Job, conn: Connection, env: dict[str, str], files: _Files) -> list[str]:
    # OpenCode's highest-precedence config: the job's server beside the user's own settings.
    config = {"$schema": "https://opencode.ai/config.json", "mcp": {MCP_NAME: _opencode_server(job, conn)}}
    env["OPENCODE_CONFIG_CONTENT"] = json.dumps(config)
    argv = [s.executable or "opencode", "run", "--format", "json"]
    if s.model:
        argv += ["--model", s.model]
    return [*argv, *s.args, "--", job.prompt]


def _codex(s: AgentSettings, job: Job, conn: Connection, env: dict[str, str], files: _Files) -> list[str]:
    # Codex has no config-file flag: `-c key=value` overrides, each value TOML. Its default
    # sandbox is read-only and it cancels MCP calls it would ask about, as nobody can answer.
    argv = [s.executable or "codex", "exec", "--json", "--skip-git-repo-check", "--sandbox", "workspace-write"]
    if s.model:
        argv += ["-m", s.model]
    key = f"mcp_servers.{MCP_NAME}"
    if conn.url:
        pairs = [("url", _toml(conn.url))]
        if conn.token:
            pairs.append(("bearer_token_env_var", _toml(TOKEN_ENV)))
    else:
        command, *args = _stdio_argv(conn)
        pairs = [("command", _toml(command)), ("args", _toml(args))]
        pairs.append(("env", _toml({"TASKLOOM_AGENT": job.agent})))
    pairs.append(("default_tools_approval_mode", _toml("approve")))
    for name, value in pairs:
        argv += ["-c", f"{key}.{name}={value}"]
    return [*argv, *s.args, "--", job.prompt]


def _command(s: AgentSettings, job: Job, conn: Connection, env: dict[str, str], files: _Files) -> list[str]:
    values = {
        "prompt": job.prompt,
        "prompt_file": str(files.prompt),
        "mcp_config": str(files.mcp),
        "agent": job.agent,
        "task": job.task or "",
        "stream": job.stream or "",
        "workdir": str(job.workdir),
        "model": s.model or "",
    }
    # Split first, then fill in: a value with spaces or quotes stays inside its one argument.
    return [word.format(**values) for word in split_template(s.command or "")] + list(s.args)


_PRESETS: dict[str, Builder] = {"claude": _claude, "opencode": _opencode, "codex": _codex, "command": _command}


def _stdio_argv(conn: Connection) -> list[str]:
    return [*conn.taskloom, "serve", "--profile", "worker", "--db", _db(conn), "--project", conn.project]


def _db(conn: Connection) -> str:
    # The agent starts the server in the job's workdir: a relative path would name another file.
    return conn.db if "://" in conn.db else str(Path(conn.db).absolute())


def _claude_config(job: Job, conn: Connection) -> dict[str, Any]:
    """The `mcpServers` JSON most MCP clients read (Claude's --mcp-config, the command's {mcp_config})."""
    if conn.url:
        server: dict[str, Any] = {"type": "http", "url": conn.url}
        if conn.token:
            server["headers"] = {"Authorization": f"Bearer {conn.token}"}
    else:
        command, *args = _stdio_argv(conn)
        server = {"type": "stdio", "command": command, "args": args, "env": {"TASKLOOM_AGENT": job.agent}}
    return {"mcpServers": {MCP_NAME: server}}


def _opencode_server(job: Job, conn: Connection) -> dict[str, Any]:
    if conn.url:
        server: dict[str, Any] = {"type": "remote", "url": conn.url, "enabled": True, "oauth": False}
        if conn.token:  # read from the environment by OpenCode, so the token is not in this JSON
            server["headers"] = {"Authorization": f"Bearer {{env:{TOKEN_ENV}}}"}
        return server
    env = {"TASKLOOM_AGENT": job.agent}
    return {"type": "local", "command": _stdio_argv(conn), "enabled": True, "environment": env}


_TOML_ESCAPES = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\t": "\\t", "\n": "\\n", "\f": "\\f", "\r": "\\r"}


def _toml(value: Any) -> str:
    """A TOML value for Codex's `-c`: a string, a list of strings or a table of strings."""
    if isinstance(value, str):
        out = (_TOML_ESCAPES.get(c) or (f"\\u{ord(c):04X}" if ord(c) < 0x20 or ord(c) == 0x7F else c) for c in value)
        return '"' + "".join(out) + '"'
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    return "{" + ", ".join(f"{_toml(k)} = {_toml(v)}" for k, v in value.items()) + "}"


def _dropped(name: str) -> bool:
    if name == "CLAUDECODE" or name.startswith("TASKLOOM_TOKEN") or name in JOB_ENV or name == TOKEN_ENV:
        return True
    return name.startswith("CLAUDE_CODE_") and name not in KEEP_CLAUDE_ENV


# --- reading the output -----------------------------------------------------------------------


class OutputReader:
    """Reads one worker's log, line by line, for how the agent says it ended.

    Lines that are not the agent's JSON events (stderr, a stack trace, an event kind this code
    does not know) are skipped: a log line never raises.
    """

    def __init__(self, preset: str) -> None:
        self.preset = preset
        self.outcome = Outcome()
        self._read = _READERS.get(preset, _read_claude)  # a `command` agent may speak stream-json too

    def feed(self, line: str) -> None:
        text = line.strip()
        if not text.startswith("{"):
            return
        try:
            event = json.loads(text)
        except (ValueError, RecursionError):
            return
        if isinstance(event, dict):
            self._read(event, self.outcome)


def _read_claude(event: dict[str, Any], o: Outcome) -> None:
    if event.get("type") != "result":
        return
    o.result_seen = True
    o.cost_usd = _number(event.get("total_cost_usd"), o.cost_usd)
    turns = _number(event.get("num_turns"), None)
    o.turns = int(turns) if turns is not None else o.turns
    subtype = event.get("subtype")
    failed = event.get("is_error") is True or (isinstance(subtype, str) and subtype.startswith("error"))
    text = _text(event.get("result"))
    if failed:
        o.error = text or _text(event.get("errors")) or _text(subtype) or "the agent reported an error"
    else:
        o.error, o.result = None, text


def _read_codex(event: dict[str, Any], o: Outcome) -> None:
    kind = event.get("type")
    if kind == "turn.completed":
        o.result_seen, o.error, o.turns = True, None, (o.turns or 0) + 1
    elif kind == "turn.failed":
        o.result_seen, o.turns = True, (o.turns or 0) + 1
        o.error = _text(_get(event, "error", "message")) or "the turn failed"
    elif kind == "error":  # may be followed by a retry; a later completed turn clears it
        o.error = _text(event.get("message")) or "error"
    elif kind == "item.completed" and _get(event, "item", "type") == "agent_message":
        o.result = _text(_get(event, "item", "text")) or o.result


def _read_opencode(event: dict[str, Any], o: Outcome) -> None:
    kind = event.get("type")
    if kind == "step_finish":
        part = event.get("part") if isinstance(event.get("part"), dict) else {}
        cost = _number(part.get("cost"), None)
        if cost is not None:
            o.cost_usd = (o.cost_usd or 0.0) + cost
        o.turns = (o.turns or 0) + 1
        if part.get("reason") != "tool-calls":  # a step that ends without calling a tool ends the run
            o.result_seen = True
    elif kind == "text":
        o.result = _text(_get(event, "part", "text")) or o.result
    elif kind == "error":
        err = event.get("error")
        o.error = (_text(_get(err, "data", "message")) or _text(_get(err, "message")) or _text(_get(err, "name"))
                   or _text(err) or "error")


_READERS = {"claude": _read_claude, "codex": _read_codex, "opencode": _read_opencode}


def _get(value: Any, *keys: str) -> Any:
    for key in keys:
        value = value.get(key) if isinstance(value, dict) else None
    return value


def _number(value: Any, default: float | None) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return default
    return float(value)


def _text(value: Any) -> str | None:
    if isinstance(value, list):
        value = "; ".join(t for t in map(_text, value) if t)
    if not isinstance(value, str) or not value.strip():
        return None
    value = value.strip()
    return value if len(value) <= MAX_ERROR else value[: MAX_ERROR - 1] + "…"

