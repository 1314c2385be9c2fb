"""Each command imports only what it needs (issue 17, goal 5: `taskloom status` starts in 0.3 s).

The MCP SDK alone costs about a second of CPU to import, networkx and the dashboard's templates
a tenth each: a command that reads the board or a token must not pay for them, and a stdio
server (one per agent's client) must not load the dashboard only HTTP serves. Each test runs
the console script's own `main` in a fresh interpreter on a real database, then lists which of
the heavy packages it loaded.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from taskloom.services.app import Taskloom

# What a command that reads the board, the database or a token never needs.
SERVER_STACK = ("mcp", "mcp_types", "starlette", "uvicorn", "sse_starlette", "httpx", "httpx2")
DRAWING = ("networkx", "jinja2", "markdown_it", "rich", "yaml", "psycopg", "taskloom.web", "taskloom.server.build")

PROBE = """
import json, sys
from taskloom.cli.main import main

code = main(sys.argv[2:])
loaded = sorted({m for m in sys.modules for p in json.loads(sys.argv[1]) if m == p or m.startswith(p + ".")})
print(json.dumps({"code": code, "loaded": loaded}), file=sys.stderr)
"""


def loaded_by(cwd: Path, heavy: tuple[str, ...], *argv: str, code: int = 0) -> list[str]:
    """Run `taskloom ARGV` in a fresh interpreter; the heavy packages it imported."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TASKLOOM_")}
    run = subprocess.run(
        [sys.executable, "-c", PROBE, json.dumps(heavy), *argv],
        capture_output=True, text=True, timeout=60, cwd=cwd, env=env, stdin=subprocess.DEVNULL, check=False,
    )
    last = (run.stderr.strip().splitlines() or [""])[-1]
    assert last.startswith(f'{{"code": {code},'), run.stderr
    report = json.loads(last)
    return report["loaded"]


@pytest.mark.parametrize(
    "argv",
    [
        ("status",),
        ("status", "--json"),
        ("projects",),
        ("check",),
        ("watch", "--once"),
        ("search", "anything"),
        ("search", "--json", "anything"),
        ("report", "time"),
    ],
    ids=" ".join,
)
async def test_a_command_that_reads_the_database_imports_no_server_stack(app: Taskloom, tmp_path: Path, argv):
    db = str(app.settings.db_path)
    project = ("--project", app.settings.project) if argv[0] != "check" and argv[0] != "projects" else ()
    # rich draws `watch`, so only it may load rich.
    allowed = {"rich"} if argv[0] == "watch" else set()
    heavy = tuple(p for p in SERVER_STACK + DRAWING if p not in allowed)
    assert loaded_by(tmp_path, heavy, *argv, "--db", db, *project) == []


def test_token_commands_import_no_server_stack(tmp_path: Path):
    tokens = str(tmp_path / "tokens.jsonl")
    assert loaded_by(tmp_path, SERVER_STACK + DRAWING, "token", "new", "--tokens", tokens) == []
    assert loaded_by(tmp_path, SERVER_STACK + DRAWING, "token", "list", "--tokens", tokens) == []


async def test_a_stdio_server_does_not_load_the_dashboard(app: Taskloom, tmp_path: Path):
    # stdin at EOF: the server starts, opens the database, serves stdio, sees its client gone, exits.
    # Neither rich (the SDK's MCPServer would log through it), nor psutil and our HTTP hardening
    # (HTTP transports only): each is resident memory an idle stdio server carries (issue 17).
    # Nor uvicorn (with click and multiprocessing): the SDK only tries to import it, for HTTP.
    # The rest of the SDK's web stack (starlette, sse_starlette, httpx2, cryptography) stays: its
    # server modules import it by name. Nor the archive and runner code only other commands use.
    argv = ("serve", "--transport", "stdio", "--db", str(app.settings.db_path), "--project", app.settings.project)
    heavy = (
        "jinja2", "markdown_it", "networkx", "yaml", "taskloom.web", "rich", "psutil", "taskloom.server.http",
        "uvicorn", "click", "multiprocessing", "tarfile", "taskloom.services.archive", "taskloom.services.runs",
    )
    assert loaded_by(tmp_path, heavy, *argv) == []


def test_a_module_kept_out_during_the_sdk_import_imports_normally_afterwards(tmp_path: Path, monkeypatch):
    from taskloom.server.unimportable import unimportable

    (tmp_path / "taskloom_probe_mod.py").write_text("VALUE = 1\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with unimportable("taskloom_probe_mod"), pytest.raises(ImportError):
        __import__("taskloom_probe_mod")
    assert __import__("taskloom_probe_mod").VALUE == 1
    del sys.modules["taskloom_probe_mod"]


@pytest.mark.parametrize(
    "argv",
    [
        ("serve", "--lease-seconds", "-5"),
        ("dashboard", "--port", "70000"),
        ("dashboard", "--db", "missing.db"),
    ],
    ids=" ".join,
)
def test_a_server_command_with_a_bad_flag_is_refused_before_the_server_stack_loads(tmp_path: Path, argv):
    assert loaded_by(tmp_path, SERVER_STACK + DRAWING, *argv, code=2) == []
