"""The MCP Inspector CLI, a real third-party client, drives a real taskloom server.

Over stdio (the Inspector spawns `taskloom serve` itself, once per call, on one database file)
and over streamable HTTP (one `taskloom serve --transport http` process): list the tools, then
create two tasks, claim the first and finish it (which readies the second), reading the
Inspector's JSON output at every step.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from taskloom.server.tools import PROFILES
from tests.conformance.conftest import NodeTools
from tests.server.test_transports import PROJECT, TASKLOOM, serving

CALL_DEADLINE = 60  # seconds for one Inspector run (node start, server start, one request): ~3 s quiet
AGENT = "inspector-agent"

Inspect = Callable[..., dict[str, Any]]


def inspector(node_tools: NodeTools, tmp_path: Path, target: list[str]) -> Inspect:
    def inspect(method: str, *args: str) -> dict[str, Any]:
        run = subprocess.run(
            node_tools.command("inspector", "--cli", *target, "--method", method, *args),
            check=False,
            capture_output=True,
            text=True,
            timeout=CALL_DEADLINE,
            env=node_tools.env(tmp_path),
            cwd=tmp_path,
        )
        assert run.returncode == 0, f"{method} {args} exited {run.returncode}:\n{run.stdout}{run.stderr}"
        return json.loads(run.stdout)

    return inspect


@pytest.fixture(params=["stdio", "http"])
def inspect(request, tmp_path: Path, node_tools: NodeTools) -> Iterator[Inspect]:
    db = tmp_path / "inspector.db"
    if request.param == "stdio":
        command = [TASKLOOM, "serve", "--transport", "stdio", "--db", str(db), "--project", PROJECT]
        yield inspector(node_tools, tmp_path, ["-e", f"TASKLOOM_AGENT={AGENT}", *command])
        return
    with serving(tmp_path, "http", db, agent=AGENT) as (url, proc, _):
        yield inspector(node_tools, tmp_path, [url])
        assert proc.poll() is None


def call_tool(inspect: Inspect, name: str, **args: str) -> dict[str, Any]:
    tool_args = [f"{key}={value}" for key, value in args.items()]
    result = inspect("tools/call", "--tool-name", name, *(["--tool-arg", *tool_args] if tool_args else []))
    assert result["isError"] is False, result
    return result["structuredContent"]


def test_the_inspector_lists_every_tool_with_no_error_grade_schema_problem(inspect):
    # --strict exits 6 on an error-severity schema portability problem (warnings are allowed).
    listed = inspect("tools/list", "--strict")
    assert {tool["name"] for tool in listed["tools"]} == PROFILES["all"]
    for tool in listed["tools"]:
        assert tool["description"] and tool["inputSchema"]["type"] == "object", tool["name"]


def test_the_inspector_creates_claims_and_finishes_a_task(inspect):
    plan = [{"code": "INSP", "title": "by the Inspector"}, {"title": "follow-up", "depends_on": ["INSP"]}]
    made = call_tool(inspect, "task_create", tasks=json.dumps(plan))
    first, follow_up = made["tasks"]
    assert (first["code"], first["title"], first["status"]) == ("INSP", "by the Inspector", "ready")
    assert follow_up["status"] == "waiting"

    claim = call_tool(inspect, "task_claim", task="INSP")
    assert claim["claimed"] is True
    assert claim["detail"]["task"]["claimed_by"] == AGENT  # the agent the server was started as
    assert claim["detail"]["task"]["status"] == "in_progress"

    done = call_tool(inspect, "task_done", task="INSP", summary="finished through the Inspector CLI")
    assert done["task"]["status"] == "done"
    assert done["unblocked"] == [follow_up["code"]]


@pytest.mark.parametrize("profile", sorted(PROFILES))
def test_the_inspector_finds_no_schema_portability_problem_in_any_profile(profile, tmp_path, node_tools):
    # --strict reports every finding, warnings included, in the JSON envelope's schemaFindings;
    # with none at all the Inspector prints no "Schema portability" line either.
    db = tmp_path / "portability.db"
    command = [TASKLOOM, "serve", "--transport", "stdio", "--db", str(db), "--project", PROJECT, "--profile", profile]
    envelope = inspector(node_tools, tmp_path, command)("tools/list", "--strict", "--format", "json")
    assert {tool["name"] for tool in envelope["result"]["tools"]} == PROFILES[profile]
    findings = [
        (found["toolName"], f["severity"], f["schema"], f["path"], f["rule"])
        for found in envelope.get("schemaFindings", [])
        for f in found["findings"]
    ]
    assert findings == []
