"""`taskloom run` with the real `claude` preset (the pinned Claude Code CLI), without credentials.

Expired or missing auth is the runner's likeliest real failure: every `claude -p` then answers at
once with a stream-json `result` event, `is_error: true`, "Not logged in". One runner drives that
through a real project of three tasks, one worker at a time, and the tests read what it left: the
runs rows with the reason, the tasks handed back (no attempt used: claude never began; none left in progress), the
`claude` preset paused after three failures in a row with a message to the escalation role, and
`--until-idle` ending with exit 3. The workers' own logs show that the per-run `--mcp-config`
gave Claude the taskloom server with the worker profile's tools.

The runner finds the pinned CLI through `.taskloom/runner.toml` (`[defaults] executable = ...`),
as a user with Claude Code outside PATH would, and runs with a throwaway HOME and no ANTHROPIC_*
or CLAUDE* variables (tests.clients.conftest.Cli), so it can never log in.
"""

from __future__ import annotations

import json
import signal
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from mcp import Client, StdioServerParameters

from taskloom.domain.runs import PAUSE_AFTER
from taskloom.server.tools import PROFILES
from tests.clients.conftest import Cli, find_cli
from tests.runner.test_run import TASKLOOM, rows, survivors

PROJECT = "real"
CODES = ("T-1", "T-2", "T-3")
NOT_LOGGED_IN = "Not logged in"
BOUND = 240.0  # seconds for the whole run: three `claude -p` of a few seconds each, one at a time


@dataclass(frozen=True)
class Ran:
    root: Path
    db: Path
    claude: Path
    code: int
    stderr: str


def run_bounded(argv: list[str], env: dict[str, str], cwd: Path) -> tuple[int, str]:
    """Run the runner to its end; past BOUND it gets SIGTERM (so it stops its workers), then SIGKILL."""
    with subprocess.Popen(argv, env=env, cwd=cwd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE, text=True) as runner:
        try:
            _, err = runner.communicate(timeout=BOUND)
        except subprocess.TimeoutExpired:
            runner.send_signal(signal.SIGTERM)
            try:
                _, err = runner.communicate(timeout=30)
            except subprocess.TimeoutExpired:
                runner.kill()
                _, err = runner.communicate()
            pytest.fail(f"taskloom run was still running after {BOUND:g}s (a respawn loop?):\n{err}")
    return runner.returncode, err


def real_run(root: Path, max_workers: int) -> Ran:
    """One `taskloom run --until-idle` with the claude preset over three ready tasks."""
    home = root / "home"
    (home / ".claude").mkdir(parents=True)
    claude = Cli(find_cli("claude"), home)
    project = root / "project"
    (project / ".taskloom").mkdir(parents=True)
    db = project / ".taskloom" / "taskloom.db"
    plan = root / "plan.yaml"
    plan.write_text(yaml.safe_dump({"tasks": [{"code": c, "title": f"Say hello {c}"} for c in CODES]}))
    env = claude.env()
    imported = subprocess.run([TASKLOOM, "import", str(plan), "--db", str(db), "--project", PROJECT],
                              check=False, capture_output=True, text=True, env=env, timeout=60)
    assert imported.returncode == 0, imported.stderr
    # The runner's default settings file, in the directory it runs in.
    (project / ".taskloom" / "runner.toml").write_text(f'[defaults]\nexecutable = {json.dumps(str(claude.exe))}\n')
    # A short backoff, so that a respawn loop would show.
    argv = [TASKLOOM, "run", "--db", str(db), "--project", PROJECT, "--until-idle", "--max-workers", str(max_workers),
            "--backoff", "0.2", "--grace", "1"]
    code, err = run_bounded(argv, env, project)
    return Ran(root, db, claude.exe, code, err)


@pytest.fixture(scope="module")
def ran(tmp_path_factory) -> Ran:
    """One worker at a time, so the count of runs is exact."""
    return real_run(tmp_path_factory.mktemp("real-runner"), max_workers=1)


def init_event(log: Path) -> dict[str, Any]:
    for line in log.read_text(encoding="utf-8").splitlines():
        if line.startswith("{"):
            event = json.loads(line)
            if event.get("type") == "system" and event.get("subtype") == "init":
                return event
    raise AssertionError(f"no system/init event in {log}:\n{log.read_text()[:2000]}")


def test_until_idle_exits_3_saying_the_claude_preset_was_paused(ran):
    assert ran.code == 3, ran.stderr
    assert "nothing more can run: only paused agent presets could run what is ready (3 ready)" in ran.stderr
    assert f"the claude preset was paused: {NOT_LOGGED_IN}" in ran.stderr
    assert "Traceback" not in ran.stderr


def test_each_run_is_recorded_as_handed_back_with_the_not_logged_in_reason_and_no_more_are_started(ran):
    runs = rows(ran.db, "SELECT r.*, t.code FROM runs r JOIN tasks t ON t.id = r.task_id ORDER BY r.id")
    # Paused after the third failure in a row: not one more spawn, however short the backoff.
    assert len(runs) == PAUSE_AFTER, [tuple(r) for r in runs]
    for r in runs:
        assert r["preset"] == "claude"
        assert r["outcome"] == "handed_back" and r["ended_at"] is not None
        assert r["reason"].startswith(NOT_LOGGED_IN), r["reason"]
        assert r["exit_code"] in (0, 1)  # 1 in 2.1.332: the result event, not the code, says what happened
        assert (r["turns"], r["cost_usd"]) == (1, 0.0)
        assert json.loads(r["argv"])[:2] == [str(ran.claude), "-p"]
        assert Path(r["log_path"]).is_file()


def test_the_tasks_are_handed_back_without_using_an_attempt_and_none_is_left_in_progress(ran):
    """Claude failed before its first tool call: the tasks were never tried, so a credentials
    problem does not burn their attempts (and fail them for good)."""
    tasks = rows(ran.db, "SELECT code, status, attempts, claimed_by, lease_expires_at FROM tasks ORDER BY id")
    assert [(t["status"], t["claimed_by"], t["lease_expires_at"]) for t in tasks] == [("ready", None, None)] * len(CODES)
    assert [t["attempts"] for t in tasks] == [0] * len(CODES)
    notes = rows(ran.db, "SELECT body FROM notes WHERE body LIKE 'Released:%'")
    assert len(notes) == PAUSE_AFTER
    assert all(f"The agent failed before it began: {NOT_LOGGED_IN}" in n["body"] for n in notes), [
        n["body"] for n in notes]


async def test_the_orchestrator_is_told_once_that_the_agent_cannot_start(ran):
    reader = StdioServerParameters(
        command=TASKLOOM, args=["serve", "--profile", "orchestrator", "--db", str(ran.db), "--project", PROJECT],
        env={"TASKLOOM_AGENT": "boss"},
    )
    async with Client(reader) as client:
        await client.call_tool("agent_init", {"role": "orchestrator"})
        inbox = await client.call_tool("message_inbox", {"limit": 50})
    assert not inbox.is_error, inbox.content
    escalations = [m for m in inbox.structured_content["messages"] if m["kind"] == "escalation"]
    assert len(escalations) == 1, escalations
    [msg] = escalations
    assert msg["to"] == "role:orchestrator" and msg["ack_required"] is True
    assert msg["subject"].startswith(f"[runner] agent cannot start: {NOT_LOGGED_IN}"), msg
    assert "paused the 'claude' agent preset" in msg["body"]


def test_each_workers_init_event_lists_the_taskloom_server_connected_with_the_worker_tools(ran):
    """The per-run --mcp-config with --strict-mcp-config: the one taskloom server, the worker profile's
    tools, as Claude names them (mcp__taskloom__*), and no other MCP server."""
    logs = [Path(r["log_path"]) for r in rows(ran.db, "SELECT log_path FROM runs ORDER BY id")]
    assert len(logs) == PAUSE_AFTER
    for log in logs:
        init = init_event(log)
        assert [(s["name"], s["status"]) for s in init["mcp_servers"]] == [("taskloom", "connected")], init
        mcp_tools = {t for t in init["tools"] if t.startswith("mcp__")}
        assert mcp_tools == {f"mcp__taskloom__{name}" for name in PROFILES["worker"]}, sorted(mcp_tools)
        assert init["cwd"] == str(ran.db.parent.parent)  # the runner's --workdir default: where it runs
        assert init["apiKeySource"] == "none"


def test_no_process_of_the_run_survives_it(ran):
    assert survivors(ran.root) == []


def test_with_three_workers_at_once_none_starts_after_the_pause(tmp_path):
    """Workers already running when the preset is paused still fail, but no new one starts."""
    workers = 3
    ran = real_run(tmp_path, max_workers=workers)
    assert ran.code == 3, ran.stderr
    runs = rows(ran.db, "SELECT started_at, outcome, reason FROM runs ORDER BY id")
    assert PAUSE_AFTER <= len(runs) <= PAUSE_AFTER + workers - 1, [tuple(r) for r in runs]
    assert all(r["outcome"] == "handed_back" and r["reason"].startswith(NOT_LOGGED_IN) for r in runs)
    [paused_at] = [m["created_at"] for m in rows(ran.db, "SELECT created_at FROM messages WHERE kind = 'escalation'")]
    assert max(r["started_at"] for r in runs) < paused_at
    assert rows(ran.db, "SELECT count(*) AS n FROM tasks WHERE status = 'in_progress'")[0]["n"] == 0
    assert survivors(tmp_path) == []
