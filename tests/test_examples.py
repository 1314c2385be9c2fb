"""The examples work as shipped: the plan imports, the client configs start real servers, the demo finishes.

Everything here runs real processes on real SQLite files: the `taskloom` console script, stdio and
streamable HTTP servers, and examples/agents_demo.py with its worker processes.
"""

from __future__ import annotations

import json
import re
import shutil
import socket
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import anyio
import pytest
import yaml
from mcp import Client, StdioServerParameters

from taskloom.cli.main import parser as cli_parser
from taskloom.models import Plan
from taskloom.server.tools import PROFILES

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
PLAN = EXAMPLES / "plan.yaml"
DEMO = EXAMPLES / "agents_demo.py"


def taskloom_exe() -> str:
    exe = Path(sys.executable).parent / "taskloom"
    if exe.exists():
        return str(exe)
    found = shutil.which("taskloom")
    assert found, "the taskloom console script is not installed next to this Python nor on PATH"
    return found


def taskloom(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [taskloom_exe(), *args], check=False, capture_output=True, text=True, timeout=60, cwd=cwd
    )


def plan_codes() -> list[str]:
    return [t["code"] for t in yaml.safe_load(PLAN.read_text(encoding="utf-8"))["tasks"]]


def status_json(db: Path, project: str) -> dict[str, Any]:
    out = taskloom("status", "--json", "--db", str(db), "--project", project)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def wait_for_port(port: int, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            stream = await anyio.connect_tcp("127.0.0.1", port)
        except OSError:
            assert time.monotonic() < deadline, f"nothing listens on port {port}"
            await anyio.sleep(0.05)
        else:
            await stream.aclose()
            return


async def call(client: Client, tool: str, **args: Any) -> dict[str, Any]:
    result = await client.call_tool(tool, args)
    assert not result.is_error, f"{tool} failed: {result.content[0].text}"
    return result.structured_content


# --------------------------------------------------------------------------------------------
# examples/plan.yaml
# --------------------------------------------------------------------------------------------


def test_the_example_plan_is_a_diamond_whose_last_task_sits_in_a_stream_after_the_first():
    plan = Plan.model_validate(yaml.safe_load(PLAN.read_text(encoding="utf-8")))
    tasks = {t.code: t for t in plan.tasks}
    roots = [c for c, t in tasks.items() if not t.depends_on]
    assert len(roots) == 1
    [a] = roots
    middle = sorted(c for c, t in tasks.items() if t.depends_on == [a])
    assert len(middle) == 2
    [z] = [c for c in tasks if c not in (a, *middle)]
    assert sorted(tasks[z].depends_on) == middle

    first, second = plan.streams
    assert second.depends_on == [first.code]
    assert {tasks[c].stream for c in (a, *middle)} == {first.code}
    assert tasks[z].stream == second.code
    for t in plan.tasks:
        assert t.key and t.role and t.acceptance.strip(), f"{t.code} lacks a key, role or acceptance criteria"
    assert len({t.priority for t in plan.tasks}) > 1


def test_the_example_plan_imports_cleanly_and_importing_it_again_creates_nothing(tmp_path):
    db = tmp_path / "plan.db"
    first = taskloom("import", str(PLAN), "--db", str(db), "--project", "reports")
    assert first.returncode == 0, first.stderr
    assert "4 tasks created, 0 already there, 4 dependencies, 2 streams, 1 sprints; 1 ready now" in (
        first.stdout
    )

    again = taskloom("import", str(PLAN), "--db", str(db), "--project", "reports")
    assert again.returncode == 0, again.stderr
    assert "0 tasks created, 4 already there, 0 dependencies" in again.stdout

    board = status_json(db, "reports")
    assert board["total"] == 4
    assert board["counts"] == {"ready": 1, "waiting": 3}
    assert [(s["code"], s["status"]) for s in board["streams"]] == [
        ("export-core", "ready"),
        ("export-release", "waiting"),
    ]


# --------------------------------------------------------------------------------------------
# Client configurations (tests/clients runs the real Claude Code and OpenCode CLIs on them)
# --------------------------------------------------------------------------------------------

ROLES = ("worker", "orchestrator")
CONFIG_FILES = {"claude-code": ".mcp.json", "opencode": "opencode.json"}


def config_path(client: str, kind: str) -> Path:
    return EXAMPLES / client / kind / CONFIG_FILES[client]


def servers(client: str, kind: str) -> dict[str, dict[str, Any]]:
    """The servers of one example file, under the key each client keeps them."""
    config = json.loads(config_path(client, kind).read_text(encoding="utf-8"))
    if client == "opencode":
        assert config["$schema"] == "https://opencode.ai/config.json"
        return config["mcp"]
    return config["mcpServers"]


def stdio_entries() -> list[tuple[str, str, list[str], dict[str, str]]]:
    """(client, role, argv, env) of the one stdio server in each worker and orchestrator config."""
    out = []
    for client in CONFIG_FILES:
        for role in ROLES:
            [entry] = servers(client, role).values()
            if client == "opencode":
                out.append((client, role, list(entry["command"]), entry.get("environment", {})))
            else:
                out.append((client, role, [entry["command"], *entry["args"]], entry.get("env", {})))
    return out


def test_each_client_has_a_worker_an_orchestrator_and_an_http_config_of_one_server_each():
    """One server per file: a session loads every server in its config, and each lists its tools."""
    shipped = {p.relative_to(EXAMPLES).as_posix() for p in EXAMPLES.rglob("*.json")}
    assert shipped == {
        f"{client}/{kind}/{name}" for client, name in CONFIG_FILES.items() for kind in (*ROLES, "http")
    }
    for client in CONFIG_FILES:
        for kind in (*ROLES, "http"):
            assert list(servers(client, kind)) == ["taskloom"], f"{client}/{kind}"
    for client, role, argv, env in stdio_entries():
        assert argv[:2] == ["taskloom", "serve"], f"{client}/{role}"
        assert argv[argv.index("--profile") + 1] == role, f"{client}/{role}"
        assert env.get("TASKLOOM_AGENT"), f"{client}/{role} has no TASKLOOM_AGENT"
    for client in CONFIG_FILES:
        agents = [env["TASKLOOM_AGENT"] for c, _, _, env in stdio_entries() if c == client]
        assert len(set(agents)) == len(agents), f"{client}'s worker and orchestrator share a name"


def test_the_http_configs_send_the_token_from_the_environment_and_opencode_entries_are_enabled():
    [claude] = servers("claude-code", "http").values()
    [opencode] = servers("opencode", "http").values()
    assert (claude["type"], opencode["type"]) == ("http", "remote")
    # Each client's own syntax for an environment variable, so no token is written in the file.
    assert claude["headers"] == {"Authorization": "Bearer ${TASKLOOM_TOKEN}"}
    assert opencode["headers"] == {"Authorization": "Bearer {env:TASKLOOM_TOKEN}"}
    assert opencode["oauth"] is False  # a 401 means a wrong token here, not an OAuth sign-in
    for kind in (*ROLES, "http"):
        [entry] = servers("opencode", kind).values()
        assert entry["enabled"] is True
        # OpenCode's default is 5 s for the server's start and each request, short for a busy machine.
        assert entry["timeout"] >= 30_000


async def test_the_http_entries_point_at_the_streamable_http_endpoint_taskloom_serves_by_default(tmp_path):
    defaults = cli_parser().parse_args(["serve"])
    url = f"http://{defaults.host}:{defaults.port}/mcp"
    for client in CONFIG_FILES:
        [entry] = servers(client, "http").values()
        assert entry["url"] == url, client

    # Serve on a free port instead of the default one, which may be taken; the path is what matters.
    port = free_port()
    server = subprocess.Popen(
        [taskloom_exe(), "serve", "--transport", "http", "--port", str(port),
         "--db", str(tmp_path / "http.db"), "--project", "reports"],
        stderr=subprocess.PIPE, text=True,
    )
    try:
        banner = next((line for line in server.stderr if "serving" in line), "(server exited)")
        assert banner.rstrip().endswith(f":{port}/mcp"), banner
        await wait_for_port(port)
        async with Client(url.replace(f":{defaults.port}/", f":{port}/")) as client:
            tools = {t.name for t in (await client.list_tools()).tools}
        assert tools == set(PROFILES["all"])
    finally:
        server.terminate()
        server.wait(timeout=10)
        server.stderr.close()


async def test_every_stdio_config_starts_a_server_with_its_profile_and_acts_as_its_agent(tmp_path):
    """Run each config's command as the client would, in a project directory, against one imported plan."""
    entries = stdio_entries()
    args = entries[0][2]
    project = args[args.index("--project") + 1]
    db = args[args.index("--db") + 1]
    for client, role, a, _ in entries:
        where = (a[a.index("--db") + 1], a[a.index("--project") + 1])
        assert where == (db, project), f"{client}/{role} uses another store"
    imported = taskloom("import", str(PLAN), "--db", db, "--project", project, cwd=tmp_path)
    assert imported.returncode == 0, imported.stderr

    async def check(client: str, role: str, argv: list[str], env: dict[str, str]) -> None:
        params = StdioServerParameters(command=taskloom_exe(), args=argv[1:], env=env, cwd=tmp_path)
        async with Client(params) as session:
            tools = {t.name for t in (await session.list_tools()).tools}
            assert tools == set(PROFILES[role])
            if "project_status" in tools:
                board = await call(session, "project_status")
                assert (board["project"], board["total"]) == (project, 4)
            await call(session, "task_note", task="EXP-1", body=f"{client} {role} checking in")

    async with anyio.create_task_group() as tg:
        for entry in entries:
            tg.start_soon(check, *entry)

    reader = StdioServerParameters(
        command=taskloom_exe(), args=["serve", "--db", db, "--project", project], cwd=tmp_path
    )
    async with Client(reader) as session:
        notes = (await call(session, "task_get", task="EXP-1"))["notes"]
    by_body = {n["body"]: n["agent"] for n in notes}
    for client, role, _, env in entries:
        assert by_body[f"{client} {role} checking in"] == env["TASKLOOM_AGENT"]


# --------------------------------------------------------------------------------------------
# examples/agents_demo.py
# --------------------------------------------------------------------------------------------

LINE = re.compile(r"^\s*[\d.]+s\s+(?P<agent>\S+)\s+(?P<verb>claimed|finished)\s+(?P<code>\S+)")


@pytest.mark.slow
async def test_the_agents_demo_finishes_in_time_with_every_task_claimed_and_done_exactly_once(tmp_path):
    db = tmp_path / "demo.db"
    started = time.monotonic()
    run = subprocess.run(
        [sys.executable, str(DEMO), "--db", str(db), "--project", "demo-test"],
        check=False, capture_output=True, text=True, timeout=90,
    )
    elapsed = time.monotonic() - started
    assert run.returncode == 0, run.stdout + run.stderr
    assert elapsed < 30, f"the demo took {elapsed:.1f}s"

    events = [m.groupdict() for m in map(LINE.match, run.stdout.splitlines()) if m]
    claimed = {e["code"]: e["agent"] for e in events if e["verb"] == "claimed"}
    finished = {e["code"]: e["agent"] for e in events if e["verb"] == "finished"}
    codes = plan_codes()
    assert Counter(e["code"] for e in events if e["verb"] == "claimed") == Counter(codes)
    assert Counter(e["code"] for e in events if e["verb"] == "finished") == Counter(codes)
    assert claimed == finished, "each task is finished by the agent that claimed it"
    assert len(set(finished.values())) > 1, "the work is shared"
    assert "Total  [####################] 4/4 closed" in run.stdout

    board = status_json(db, "demo-test")
    assert board["counts"] == {"done": 4} and board["total"] == 4

    # The store agrees with what the demo printed: holder, summary and the agent's own progress note.
    reader = StdioServerParameters(
        command=taskloom_exe(), args=["serve", "--db", str(db), "--project", "demo-test"]
    )
    async with Client(reader) as client:
        for code in codes:
            task = await call(client, "task_get", task=code)
            agent = finished[code]
            assert task["task"]["status"] == "done"
            assert task["task"]["claimed_by"] == agent
            assert f"done by {agent}" in task["task"]["summary"]
            assert task["task"]["attempts"] == 0
            progress = [n for n in task["notes"] if n["kind"] == "progress"]
            assert [n["agent"] for n in progress] == [agent]


def test_the_agents_demo_exits_non_zero_when_the_plan_cannot_complete(tmp_path):
    plan = tmp_path / "parked.yaml"
    plan.write_text(
        "tasks:\n"
        "  - {code: P-1, title: can be done, role: dev}\n"
        "  - {code: P-2, title: parked until someone decides, role: dev, backlog: true}\n",
        encoding="utf-8",
    )
    run = subprocess.run(
        [sys.executable, str(DEMO), "--plan", str(plan), "--db", str(tmp_path / "parked.db"),
         "--agents", "1"],
        check=False, capture_output=True, text=True, timeout=60,
    )
    assert run.returncode == 1, run.stdout + run.stderr
    assert "alice  finished P-1" in run.stdout
    assert "the plan cannot move on by itself" in run.stdout
    assert "FAILED: P-2 was claimed 0 and finished 0 times" in run.stdout
    assert status_json(tmp_path / "parked.db", "demo")["counts"] == {"backlog": 1, "done": 1}


def test_the_blocker_demo_gets_a_blocked_task_answered_and_done_across_two_agent_processes(tmp_path):
    demo = ROOT / "examples" / "blocker_demo.py"
    run = subprocess.run(
        [sys.executable, str(demo), "--db", str(tmp_path / "b.db")],
        check=False, capture_output=True, text=True, timeout=120, cwd=tmp_path,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    lines = run.stdout.splitlines()
    assert "boss | notified: '[blocker] T-1: Write the first migration' from ada" in lines
    assert " ada | notified: boss says 'Use PostgreSQL 16; the migration tool is alembic.'" in lines
    assert " ada | T-1 done" in lines
    assert lines[-1] == "board: {'done': 1}"


def test_the_artifacts_demo_hands_a_report_to_the_dependent_tasks_agent_through_its_uri(tmp_path):
    demo = ROOT / "examples" / "artifacts_demo.py"
    run = subprocess.run(
        [sys.executable, str(demo), "--db", str(tmp_path / "a.db")],
        check=False, capture_output=True, text=True, timeout=120, cwd=tmp_path,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    lines = run.stdout.splitlines()
    assert " ada | finished T-1 with the artifact attached" in lines
    assert any(line.startswith(" bob | sees design.md from T-1: taskloom://artifacts/") for line in lines)
    assert " bob | read it as text/markdown: '# Parser design'" in lines
    assert lines[-1] == " bob | finished T-2"


# --------------------------------------------------------------------------------------------
# examples/runner_demo.py: `taskloom run` with examples/scripted_agent.py as the workers
# --------------------------------------------------------------------------------------------

RUNNER_DEMO = EXAMPLES / "runner_demo.py"
TEAM_PLAN = EXAMPLES / "team_plan.yaml"
RUN_ROW = re.compile(r"^(?P<agent>w\d+)\s+(?P<work>\S+)\s+[\d.]+\s+\S+\s+(?P<outcome>\w+)\s+(?P<exit>\S+)$")


def team_plan_codes() -> list[str]:
    return [t["code"] for t in yaml.safe_load(TEAM_PLAN.read_text(encoding="utf-8"))["tasks"]]


def test_the_team_plan_has_three_streams_of_two_tasks_and_one_task_ready_at_first(tmp_path):
    plan = Plan.model_validate(yaml.safe_load(TEAM_PLAN.read_text(encoding="utf-8")))
    assert Counter(t.stream for t in plan.tasks) == {s.code: 2 for s in plan.streams} and len(plan.streams) == 3
    imported = taskloom("import", str(TEAM_PLAN), "--db", str(tmp_path / "t.db"), "--project", "team")
    assert imported.returncode == 0, imported.stderr
    assert "6 tasks created, 0 already there, 7 dependencies, 3 streams, 0 sprints; 1 ready now" in imported.stdout


@pytest.mark.slow
def test_the_runner_demo_finishes_the_plan_with_each_task_done_by_one_run_and_the_crash_retried(tmp_path):
    from tests.runner.test_run import survivors

    project = tmp_path / "project"
    run = subprocess.run(
        [sys.executable, str(RUNNER_DEMO), "--dir", str(project)],
        check=False, capture_output=True, text=True, timeout=180, cwd=tmp_path,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    lines = run.stdout.splitlines()
    runs = [m.groupdict() for m in map(RUN_ROW.match, lines) if m]
    done = [r for r in runs if r["outcome"] == "done"]
    assert Counter(r["work"] for r in done) == Counter(team_plan_codes())
    assert {r["exit"] for r in done} == {"0"}
    assert [(r["work"], r["outcome"], r["exit"]) for r in runs if r["outcome"] != "done"] == [
        ("API-2", "handed_back", "3")
    ]
    assert [r["agent"] for r in runs] == [f"w{n}" for n in range(1, 8)]
    assert any(line.startswith("  w") and "exited with code 3" in line and "crashing on purpose" in line
               for line in lines)
    assert "taskloom run: the project is finished (7 started, 6 done, 1 handed back)." in lines
    assert "Total  [####################] 6/6 closed   done 6" in lines
    assert lines[-1] == "plan finished: 6 tasks done by 7 runs (1 handed back and retried)"

    # The store the demo kept agrees: each task done once, API-2 with the one attempt its crash used.
    db = project / ".taskloom" / "taskloom.db"
    assert status_json(db, "todo-app")["counts"] == {"done": 6}
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        attempts = dict(conn.execute("SELECT code, attempts FROM tasks").fetchall())
        linked = conn.execute("SELECT count(*) FROM artifact_links WHERE kind = 'task'").fetchone()[0]
    finally:
        conn.close()
    assert attempts == {code: int(code == "API-2") for code in team_plan_codes()}
    assert linked == 6
    assert survivors(tmp_path) == []


def test_the_runner_demo_exits_non_zero_when_the_run_does_not_finish_the_plan(tmp_path):
    run = subprocess.run(
        [sys.executable, str(RUNNER_DEMO), "--dir", str(tmp_path / "p"), "--max-workers", "0"],
        check=False, capture_output=True, text=True, timeout=120, cwd=tmp_path,
    )
    assert run.returncode == 1, run.stdout + run.stderr
    assert "taskloom: invalid_input" in run.stdout  # the runner's own error, passed through
    assert "FAILED: taskloom run exited 2, not 0 (finished)" in run.stdout
    assert "FAILED: API-1 was finished by 0 runs (want 1)" in run.stdout
    assert "FAILED: the board shows {'ready': 1, 'waiting': 5}, not all 6 tasks done" in run.stdout
