"""The claude preset against the real Claude Code CLI (the pinned `@anthropic-ai/claude-code`).

It runs here without credentials, which is enough to check the three things the runner relies on:
its option parser takes the preset's argv (an unknown option fails at once); the per-run MCP
config reaches a real taskloom database (`claude mcp list` says Connected); and a `claude -p`
that cannot log in ends with a stream-json `result` event that OutputReader reads as the error.
Each claude runs with a throwaway HOME (tests.clients.conftest.Cli), so nothing leaks between tests.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from taskloom.runner.presets import Connection, Job, OutputReader, Spawn, build, taskloom_command, write_files
from taskloom.runner.settings import AgentSettings
from tests.clients.conftest import ANSI, Cli, claude_cli, kill_group
from tests.clients.test_claude_code import CONNECTED, LINE
from tests.server.test_transports import serving
from tests.test_cli import taskloom

RUN_DEADLINE = 60  # seconds for one `claude -p`; without credentials it answers in about one
TOKEN = "tl-run-token-0123456789abcdef"
PROJECT = "real"


@pytest.fixture
def claude(tmp_path: Path) -> Cli:
    return claude_cli(tmp_path / "home")


@pytest.fixture
def db(tmp_path: Path) -> Path:
    """A real taskloom database with one ready task."""
    path, plan = tmp_path / "taskloom.db", tmp_path / "plan.yaml"
    plan.write_text(yaml.safe_dump({"tasks": [{"code": "T-1", "title": "Say hello"}]}), encoding="utf-8")
    run = taskloom("import", "--db", str(path), "--project", PROJECT, str(plan))
    assert run.returncode == 0, run
    return path


def spawn_for(claude: Cli, tmp_path: Path, conn: Connection, prompt: str = "Work on T-1.", **settings) -> Spawn:
    workdir = tmp_path / "work"
    workdir.mkdir(exist_ok=True)
    job = Job(agent="worker-1", task="T-1", stream=None, prompt=prompt, workdir=workdir,
              run_dir=tmp_path / "runs" / "r1" / "worker-1")
    spawn = build(AgentSettings(executable=str(claude.exe), **settings), job, conn, claude.env())
    write_files(spawn)
    return spawn


def run_headless(spawn: Spawn) -> tuple[int, str]:
    """Run the spawn as the runner would (own session, stdin closed); its exit code and output."""
    proc = subprocess.Popen(spawn.argv, cwd=spawn.cwd, env=spawn.env, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        out, _ = proc.communicate(timeout=RUN_DEADLINE)
    finally:
        kill_group(proc)
    return proc.returncode, out


def mcp_list(claude: Cli, spawn: Spawn) -> dict[str, tuple[str, str]]:
    """`claude mcp list` over the per-run config, as a project's .mcp.json: `mcp list` ignores --mcp-config."""
    [config] = [path for path in spawn.files if path.suffix == ".json"]
    shutil.copy(config, spawn.cwd / ".mcp.json")
    out = ANSI.sub("", claude.run(spawn.cwd, "mcp", "list"))
    return {m["name"]: (m["target"], m["status"]) for m in map(LINE.match, out.splitlines()) if m}


def test_claude_connects_to_the_real_database_with_the_per_run_stdio_config(claude, tmp_path, db):
    spawn = spawn_for(claude, tmp_path, Connection(db=str(db), project=PROJECT, taskloom=taskloom_command()))
    target, status = mcp_list(claude, spawn)["taskloom"]
    assert target.startswith(f"{taskloom_command()[0]} serve --profile worker --db {db} --project {PROJECT}"), target
    assert status == CONNECTED


def test_claude_reaches_the_http_server_with_the_runs_token_in_the_per_run_config(claude, tmp_path, db):
    with serving(tmp_path, "http", db, token=TOKEN) as (url, proc, _):
        conn = Connection(db=str(db), project=PROJECT, taskloom=taskloom_command(), url=url, token=TOKEN)
        assert mcp_list(claude, spawn_for(claude, tmp_path, conn))["taskloom"] == (f"{url} (HTTP)", CONNECTED)
        wrong = Connection(db=str(db), project=PROJECT, taskloom=taskloom_command(), url=url, token="not-it")
        refused = mcp_list(claude, spawn_for(claude, tmp_path, wrong))["taskloom"][1]
        assert refused.startswith("✘") and "401" in refused, refused
        assert proc.poll() is None


VARIANTS = {
    "default": {},
    "every setting": {
        "model": "sonnet", "max_turns": 3, "args": ("--permission-mode", "acceptEdits"),
        "allowed_tools": ("mcp__taskloom__*", "Read", "Bash(git log:*)"),
        "prompt": "--model is not an option here: work on T-1.",
    },
}


@pytest.mark.parametrize("variant", VARIANTS)
def test_claude_takes_the_presets_argv_and_without_credentials_reports_not_logged_in(variant, claude, tmp_path, db):
    spawn = spawn_for(claude, tmp_path, Connection(db=str(db), project=PROJECT, taskloom=taskloom_command()),
                      **VARIANTS[variant])
    code, out = run_headless(spawn)
    assert "unknown option" not in out and "error:" not in out.splitlines()[0], out
    reader = OutputReader("claude")
    for line in out.splitlines():
        reader.feed(line)
    outcome = reader.outcome
    assert outcome.result_seen, out
    assert outcome.error and "Not logged in" in outcome.error, out
    assert outcome.turns == 1 and outcome.cost_usd == 0.0
    # The init event shows the per-run config was read: the one server, and no other.
    init = json.loads(out.splitlines()[0])
    assert init["type"] == "system" and [s["name"] for s in init["mcp_servers"]] == ["taskloom"], init
    assert code in (0, 1), out  # 1 in 2.1.332; the outcome, not the code, says what happened


def test_an_option_claude_does_not_know_fails_at_once_so_the_check_above_can_fail(claude, tmp_path, db):
    spawn = spawn_for(claude, tmp_path, Connection(db=str(db), project=PROJECT, taskloom=taskloom_command()),
                      args=("--no-such-flag",))
    code, out = run_headless(spawn)
    assert code != 0 and "unknown option '--no-such-flag'" in out, out
    reader = OutputReader("claude")
    for line in out.splitlines():
        reader.feed(line)
    assert not reader.outcome.result_seen
