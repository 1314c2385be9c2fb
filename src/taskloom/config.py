"""Runtime settings and how they are resolved: command line, then environment, then defaults."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, TypeVar

from taskloom.errors import InvalidInput

N = TypeVar("N", int, float)

DEFAULT_DB = Path(".taskloom") / "taskloom.db"
DEFAULT_LEASE_SECONDS = 15 * 60.0
DEFAULT_MAX_ATTEMPTS = 3
RESOLVER_INTERVAL = 1.0  # seconds between resolver passes when nothing wakes it sooner
RECONCILE_INTERVAL = 30.0  # seconds between full readiness reconciliations
BUSY_TIMEOUT_MS = 10_000  # SQLite waits this long for another process's write lock
DB_PATIENCE = 30.0  # seconds: a PostgreSQL server starting up is waited for, not refused
ONLINE_SECONDS = 120.0  # an agent seen this recently is online
OFFLINE_SECONDS = 15 * 60.0  # an agent not seen for this long is offline
ESCALATION_ROLE = "orchestrator"
ARTIFACT_MAX_BYTES = 25 * 1024 * 1024  # one artifact
ARTIFACT_QUOTA_BYTES = 1024 * 1024 * 1024  # all of one project's artifacts together
HTTP_TIMEOUT = 20.0  # seconds an HTTP client has to send a request's head (and, at a minimum rate, its body)
# Seconds a waiting call (task_claim, message_inbox with wait_seconds) may last: under the tool-call
# timeouts of the clients we serve (Claude Code gives up on a call after about 60 s).
MAX_WAIT = 50.0

Transport = Literal["stdio", "sse", "http"]
Profile = Literal["worker", "orchestrator", "all"]


@dataclass(frozen=True)
class Settings:
    db_path: Path = DEFAULT_DB  # the SQLite file, unless db_url names another database
    # A database URL (store/backends.py reads it; the CLI turns a sqlite:/// URL into db_path,
    # which artifacts and the runner use); None: the SQLite file at db_path.
    db_url: str | None = None
    project: str = "default"
    lease_seconds: float = DEFAULT_LEASE_SECONDS
    default_agent: str | None = None
    resolver_interval: float = RESOLVER_INTERVAL
    reconcile_interval: float = RECONCILE_INTERVAL
    busy_timeout_ms: int = BUSY_TIMEOUT_MS
    # Seconds to keep trying a PostgreSQL server that does not answer yet (it may be starting, or
    # restarting) before saying it cannot be reached. TASKLOOM_DB_PATIENCE.
    db_patience: float = DB_PATIENCE
    profile: Profile = "all"
    escalation_role: str = ESCALATION_ROLE
    online_seconds: float = ONLINE_SECONDS
    offline_seconds: float = OFFLINE_SECONDS
    transport: Transport = "stdio"
    artifact_max_bytes: int = ARTIFACT_MAX_BYTES
    artifact_quota_bytes: int = ARTIFACT_QUOTA_BYTES
    # Directories `artifacts_upload(path=...)` may read. None: the project directory over stdio,
    # and nothing over HTTP (a remote caller must not read the server's disk by default).
    artifact_roots: tuple[Path, ...] | None = None
    max_wait: float = MAX_WAIT
    extra: dict[str, str] = field(default_factory=dict)


def resolve_db_patience(env: dict[str, str] | None = None) -> float:
    return _resolve_seconds(None, "TASKLOOM_DB_PATIENCE", DB_PATIENCE, env)


def resolve_project(cli_value: str | None, env: dict[str, str] | None = None, cwd: Path | None = None) -> str:
    """`--project`, then `TASKLOOM_PROJECT`, then the current directory's name."""
    env = os.environ if env is None else env
    if cli_value:
        return cli_value
    if env.get("TASKLOOM_PROJECT"):
        return env["TASKLOOM_PROJECT"]
    return (cwd or Path.cwd()).resolve().name or "default"


def resolve_db_value(cli_value: str | None, env: dict[str, str] | None = None) -> str:
    """`--db`, then `TASKLOOM_DB`, then `.taskloom/taskloom.db` under the current directory, as
    given: a path or a URL (a `Path` would fold a URL's `//`). store.backends.locate reads it."""
    env = os.environ if env is None else env
    return cli_value or env.get("TASKLOOM_DB") or str(DEFAULT_DB)


def _resolve_seconds(cli_value: float | None, name: str, default: float, env: dict[str, str] | None) -> float:
    """The command-line value, then the environment variable `name`, then the default: a finite
    number of seconds above zero (a lease of 0 would expire every claim at once)."""
    env = os.environ if env is None else env
    if cli_value is not None:
        value = cli_value
    else:
        value = _number(name, env[name], float) if env.get(name) else default
    if not 0 < value < math.inf:
        label = name.removeprefix("TASKLOOM_").lower().replace("_", " ")
        raise InvalidInput(f"The {label} must be a positive number of seconds, not {value}.")
    return value


def _number(name: str, text: str, kind: type[N]) -> N:
    try:
        return kind(text)
    except ValueError:
        raise InvalidInput(
            f"{name}={text!r} is not a number.", hint=f"Set {name} to a number, or unset it for the default."
        ) from None


def resolve_lease(cli_value: float | None, env: dict[str, str] | None = None) -> float:
    return _resolve_seconds(cli_value, "TASKLOOM_LEASE_SECONDS", DEFAULT_LEASE_SECONDS, env)


def resolve_roots(cli_value: list[str] | None, env: dict[str, str] | None = None) -> tuple[Path, ...] | None:
    """`--root` (repeatable), then `TASKLOOM_ROOTS` (os.pathsep-separated); None if neither is set."""
    env = os.environ if env is None else env
    given = list(cli_value or []) or [p for p in env.get("TASKLOOM_ROOTS", "").split(os.pathsep) if p]
    return tuple(Path(p).resolve() for p in given) or None


def resolve_size(name: str, default: int, env: dict[str, str] | None = None) -> int:
    """A byte count from the environment (`TASKLOOM_ARTIFACT_MAX_BYTES`...), else the default."""
    env = os.environ if env is None else env
    value = _number(name, env[name], int) if env.get(name) else default
    if value <= 0:
        raise InvalidInput(f"{name} must be a positive number of bytes, not {value}.")
    return value


def resolve_tokens_file(cli_value: str | None, env: dict[str, str] | None = None) -> Path | None:
    """`--tokens`, then `TASKLOOM_TOKENS_FILE`; None if neither is set."""
    env = os.environ if env is None else env
    given = cli_value or env.get("TASKLOOM_TOKENS_FILE")
    return Path(given) if given else None


def resolve_http_timeout(cli_value: float | None, env: dict[str, str] | None = None) -> float:
    """`--http-timeout`, then `TASKLOOM_HTTP_TIMEOUT`, then HTTP_TIMEOUT seconds."""
    return _resolve_seconds(cli_value, "TASKLOOM_HTTP_TIMEOUT", HTTP_TIMEOUT, env)


def resolve_allow_origins(cli_value: list[str] | None, env: dict[str, str] | None = None) -> list[str]:
    """`--allow-origin` (repeatable), then `TASKLOOM_ALLOW_ORIGINS` (comma-separated: an origin's
    own colons rule out os.pathsep); empty if neither is set."""
    env = os.environ if env is None else env
    given = list(cli_value or []) or env.get("TASKLOOM_ALLOW_ORIGINS", "").split(",")
    return [o.strip() for o in given if o.strip()]


def resolve_max_wait(cli_value: float | None, env: dict[str, str] | None = None) -> float:
    """`--max-wait`, then `TASKLOOM_MAX_WAIT`, then MAX_WAIT seconds."""
    return _resolve_seconds(cli_value, "TASKLOOM_MAX_WAIT", MAX_WAIT, env)
