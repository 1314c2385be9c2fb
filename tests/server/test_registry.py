"""The tool registry as agents see it in tools/list: names, titles, descriptions, annotations,
schemas and profiles, and tools.md kept in step with it."""

from __future__ import annotations

import inspect
from pathlib import Path

import anyio
import pytest
from mcp import Client

from taskloom.cli.main import tools_markdown
from taskloom.config import Settings
from taskloom.server import build_server
from taskloom.server.tools import ALL
from taskloom.services.app import Taskloom
from tests.conftest import call, call_error

TOOLS_MD = Path(__file__).resolve().parents[2] / "tools.md"

DOCUMENTED = [
    "agent_init",
    "agent_list",
    "role_define",
    "role_list",
    "project_status",
    "sprint_create",
    "sprint_list",
    "stream_create",
    "stream_list",
    "stream_get",
    "plan_import",
    "graph_get",
    "task_create",
    "task_get",
    "task_list",
    "task_update",
    "task_note",
    "task_context",
    "task_claim",
    "task_heartbeat",
    "task_done",
    "task_fail",
    "task_release",
    "task_block",
    "task_unblock",
    "task_review",
    "task_status_bulk",
    "message_send",
    "message_inbox",
    "message_ack",
    "memory_set",
    "memory_get",
    "memory_list",
    "memory_delete",
    "activity_feed",
    "agent_log",
    "artifacts_upload",
    "artifacts_get",
    "artifacts_list",
    "artifacts_link",
    "artifacts_unlink",
    "artifacts_gc",
    "files_reserve",
    "files_release",
    "search",
]
READ_ONLY = {
    "agent_list",
    "role_list",
    "activity_feed",
    "project_status",
    "sprint_list",
    "stream_list",
    "stream_get",
    "graph_get",
    "task_get",
    "task_list",
    "memory_get",
    "memory_list",
    "artifacts_get",
    "artifacts_list",
    "search",
}
WORKER = {
    "agent_init",
    "task_claim",
    "task_heartbeat",
    "task_note",
    "task_context",
    "task_done",
    "task_fail",
    "task_release",
    "task_block",
    "task_get",
    "message_send",
    "message_inbox",
    "memory_set",
    "memory_get",
    "memory_list",
    "memory_delete",
    "artifacts_upload",
    "files_reserve",
}
ORCHESTRATOR = [
    t for t in DOCUMENTED if t not in {"task_claim", "task_heartbeat", "task_done", "task_fail", "task_release"}
]
SIGNATURES = {t.name: inspect.signature(t.fn) for t in ALL}


async def listed(client: Client) -> dict:
    return {t.name: t for t in (await client.list_tools()).tools}


@pytest.fixture(scope="module")
def tools(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """tools/list of the full profile, as the SDK's client reads it from a server over a real
    database (the `client` fixture's settings), read once for the ~180 tests that each check one
    tool of it: the listing is the same whichever test asks."""

    async def read() -> dict:
        path = tmp_path_factory.mktemp("registry") / "taskloom.db"
        app = await Taskloom.open(Settings(db_path=path, project="test", lease_seconds=60.0, default_agent="tester"))
        try:
            async with Client(build_server(app), mode="legacy") as client:
                return await listed(client)
        finally:
            await app.close()

    return anyio.run(read)


async def test_the_server_offers_exactly_the_documented_tools_in_order(client):
    assert [t.name for t in (await client.list_tools()).tools] == DOCUMENTED


@pytest.mark.parametrize("name", DOCUMENTED)
async def test_every_tool_has_a_title_and_a_description(tools, name):
    tool = tools[name]
    assert tool.title and tool.title.strip() and tool.title != name
    assert tool.description and len(tool.description.split()) >= 8, (
        "describe what the tool does and when to use it"
    )


@pytest.mark.parametrize("name", DOCUMENTED)
async def test_every_tool_has_annotations_consistent_with_what_it_does(tools, name):
    a = tools[name].annotations
    assert a is not None
    assert a.open_world_hint is False
    if name in READ_ONLY:
        assert a.read_only_hint is True
    else:
        # readOnlyHint defaults to false, so writers leave it out; destructiveHint defaults to
        # true, so it is always spelt.
        assert not a.read_only_hint, f"{name} writes, so it must not be marked read-only"
        assert a.destructive_hint is not None


async def test_the_read_only_tools_are_exactly_the_ones_that_only_read(tools):
    assert {n for n, t in tools.items() if t.annotations.read_only_hint} == READ_ONLY


@pytest.mark.parametrize("name", DOCUMENTED)
async def test_every_tool_has_an_input_schema_naming_each_of_its_arguments(tools, name):
    schema = tools[name].input_schema
    assert schema["type"] == "object"
    expected = {p for p in SIGNATURES[name].parameters if p != "ctx"}
    assert set(schema.get("properties", {})) == expected
    required = {
        p.name
        for p in SIGNATURES[name].parameters.values()
        if p.name != "ctx" and p.default is inspect.Parameter.empty
    }
    assert set(schema.get("required", [])) == required


@pytest.mark.parametrize("name", DOCUMENTED)
async def test_every_tool_has_an_object_output_schema(tools, name):
    schema = tools[name].output_schema
    assert schema is not None, f"{name} has no output schema"
    assert schema["type"] == "object"
    assert schema.get("properties")


async def test_a_result_carries_every_required_field_of_its_output_schema(client, tools):
    await call(client, "task_create", tasks=[{"title": "a"}])
    samples = {
        "project_status": {},
        "task_get": {"task": "T-1"},
        "task_list": {},
        "graph_get": {},
        "task_claim": {},
        "task_create": {"tasks": [{"title": "b"}]},
    }
    for name, args in samples.items():
        result = await call(client, name, **args)
        assert set(tools[name].output_schema.get("required", [])) <= set(result), name


async def test_the_worker_profile_has_exactly_its_documented_tools(app):
    async with Client(build_server(app, "worker"), mode="legacy") as worker:
        assert set(await listed(worker)) == WORKER


def _listing_size(tools: dict) -> int:
    import json

    listing = {"tools": [t.model_dump(mode="json", by_alias=True, exclude_none=True) for t in tools.values()]}
    return len(json.dumps(listing, separators=(",", ":")).encode())


# The issue's goals for what a tools/list costs an agent before it has done anything.
@pytest.mark.parametrize("profile, limit", [("worker", 10_000), ("orchestrator", 40_000), ("all", 40_000)])
async def test_each_profiles_tool_list_stays_within_its_size_budget(app, profile, limit):
    async with Client(build_server(app, profile), mode="legacy") as c:
        assert _listing_size(await listed(c)) < limit


async def test_the_worker_profile_lists_no_output_schemas_and_the_others_one_level(app):
    async with Client(build_server(app, "worker"), mode="legacy") as worker:
        assert {t.output_schema for t in (await listed(worker)).values()} == {None}
        # Results still carry structuredContent for programs.
        assert (await worker.call_tool("task_claim", {})).structured_content["claimed"] is False
    async with Client(build_server(app, "all"), mode="legacy") as full:
        claim = (await listed(full))["task_claim"].output_schema
        assert claim["properties"]["detail"] == {"anyOf": [{"type": "object"}, {"type": "null"}]}
        assert claim["required"] == ["claimed", "message"]


async def test_the_worker_profile_lists_no_titles_which_only_a_persons_ui_shows(app):
    async with Client(build_server(app, "worker"), mode="legacy") as worker:
        assert {t.title for t in (await listed(worker)).values()} == {None}
    async with Client(build_server(app, "orchestrator"), mode="legacy") as orchestrator:
        assert None not in {t.title for t in (await listed(orchestrator)).values()}


async def test_input_schemas_leave_limits_to_the_server_which_still_enforces_them(client, tools):
    assert "maxLength" not in str(tools["task_create"].input_schema)
    err = await call_error(client, "task_claim", task="T-" + "9" * 100)
    assert err["code"] in ("too_large", "invalid_input")
    assert "task" in err["message"]


async def test_the_orchestrator_profile_has_every_tool_but_the_lease_holding_ones(app):
    async with Client(build_server(app, "orchestrator"), mode="legacy") as orchestrator:
        assert list(await listed(orchestrator)) == ORCHESTRATOR


async def test_a_worker_calling_an_orchestrator_tool_gets_not_found(app):
    async with Client(build_server(app, "worker"), mode="legacy") as worker:
        err = await call_error(worker, "task_create", tasks=[{"title": "sneaky"}])
        assert err["code"] == "not_found"
        assert "task_create" in err["message"] and "'worker' profile" in err["message"]
        assert (await call(worker, "task_claim"))["claimed"] is False


async def test_tools_md_matches_the_live_registry():
    expected = await tools_markdown()
    actual = TOOLS_MD.read_text(encoding="utf-8")
    assert actual == expected, (
        "tools.md is stale: run `taskloom tools-md` in the repository root and commit the result"
    )


def test_the_readme_lists_exactly_the_worker_profiles_tools():
    import re

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    [row] = [line for line in readme.splitlines() if line.startswith("| `worker` |")]
    assert set(re.findall(r"`([a-z_]+)`", row)) - {"worker"} == WORKER
