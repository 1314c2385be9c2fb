"""Tool results are built once (server/results.py), and say exactly what the SDK's way said.

The reference is the SDK's own conversion (`FuncMetadata.convert_result`) of the same return
value, with the text copy taskloom made of it before: the recursive prune below, as it was.
"""

from __future__ import annotations

from typing import Any

import pydantic_core
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from mcp.server import runner
from mcp.server.mcpserver.utilities import func_metadata
from mcp.types import CallToolResult, TextContent

from taskloom.models.forms import Formed
from taskloom.server import results
from taskloom.server.tools import PROFILES, sdk_tools
from tests.conftest import call

pytestmark = pytest.mark.anyio


def reference_text(structured: dict[str, Any]) -> str:
    """The text copy before results.py, verbatim."""

    def prune(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: prune(v) for k, v in value.items() if v is not None and v != "" and v != [] and v != {}}
        if isinstance(value, list):
            return [prune(v) for v in value]
        return value

    return pydantic_core.to_json(prune(structured)).decode()


def wire(result: Any) -> str:
    return result.model_dump_json(by_alias=True, exclude_none=True)


@pytest.fixture
def compared(monkeypatch: pytest.MonkeyPatch) -> dict[str, list[str]]:
    """Every result the server builds, beside the SDK's: tool -> [how it was built, ...]; a
    mismatch fails the call's test at once."""
    seen: dict[str, list[str]] = {}
    fast = results.to_result

    def checked(tool: Any, value: Any) -> Any:
        ours = fast(tool, value)
        theirs = tool.fn_metadata.convert_result(value)
        theirs.content = [TextContent(type="text", text=reference_text(theirs.structured_content))]
        assert wire(ours) == wire(theirs), tool.name
        path = "once" if type(value) is tool.fn_metadata.output_model else "sdk"
        seen.setdefault(tool.name, []).append(path)
        return ours

    monkeypatch.setattr(results, "to_result", checked)
    return seen


async def session(client: Any) -> None:
    """One agent's working session touching every tool, with results that have nulls, empties,
    nested lists and notes in them."""
    await call(client, "agent_init", agent="ann", role="backend", capabilities=["python"])
    await call(client, "role_define", role={"slug": "backend", "definition": "APIs"})
    await call(client, "sprint_create", code="S1", title="Sprint one")
    await call(client, "stream_create", code="API", name="The API")
    await call(client, "plan_import", tasks=[
        {"code": "T-1", "title": "Schema", "stream": "API", "labels": ["db"]},
        {"code": "T-2", "title": "Endpoints", "depends_on": ["T-1"], "acceptance": "tests pass"},
        {"code": "T-3", "title": "Docs", "depends_on": ["T-1"], "requires_review": True},
    ])
    await call(client, "task_create", tasks=[{"code": "T-4", "title": "Spare", "description": ""}])
    for tool in ("project_status", "sprint_list", "stream_list", "role_list", "agent_list", "graph_get"):
        await call(client, tool)
    await call(client, "stream_get", stream="API")
    await call(client, "task_list", status=["ready", "waiting"])
    await call(client, "task_update", task="T-4", priority=3, labels=["spare"], sprint="S1")
    await call(client, "task_claim", task="T-1")
    await call(client, "task_heartbeat", task="T-1")
    await call(client, "task_note", task="T-1", body="Chose SQLite", kind="decision")
    await call(client, "task_context", task="T-1", text="## Briefing\nsee ADR-1")
    up = (await call(client, "artifacts_upload", name="schema.sql", content="CREATE TABLE t (id);", links=["task:T-1"]))["artifact"]
    await call(client, "artifacts_get", artifact=up["uri"])
    await call(client, "artifacts_list")
    await call(client, "artifacts_link", artifact=up["uri"], links=["project"])
    await call(client, "artifacts_unlink", artifact=up["uri"], links=["project"])
    await call(client, "artifacts_gc", dry_run=True)
    await call(client, "files_reserve", paths=["src/db/**"], task="T-1")
    await call(client, "files_release")
    await call(client, "task_done", task="T-1", summary="Schema in src/db", artifacts=[up["uri"]])
    await call(client, "task_get", task="T-2")
    await call(client, "task_claim")
    await call(client, "task_block", task="T-2", reason="Which auth?")
    await call(client, "task_unblock", task="T-2", answer="Tokens")
    await call(client, "task_fail", task="T-2", reason="flaky")
    await call(client, "task_claim", task="T-2")
    await call(client, "task_release", task="T-2")
    await call(client, "task_claim", task="T-3")
    await call(client, "task_done", task="T-3", summary="Docs written")
    await call(client, "task_review", task="T-3", approve=True)
    await call(client, "task_claim", role="nobody")  # nothing ready for it: the outlook result
    await call(client, "task_status_bulk", tasks=["T-4"], status="backlog")
    sent = await call(client, "message_send", agent="bob", to="ann", body="Look at T-2", ack_required=True)
    await call(client, "message_inbox")
    await call(client, "message_ack", ids=[sent["id"]])
    await call(client, "memory_set", key="db", value="sqlite")
    await call(client, "memory_get", key="db")
    await call(client, "memory_list")
    await call(client, "memory_delete", key="db")
    await call(client, "agent_log", text="halfway", task="T-2")
    await call(client, "activity_feed")
    await call(client, "search", query="schema", agent="ann")


async def test_every_tool_builds_its_result_once_and_says_what_the_sdks_conversion_said(client, compared):
    await session(client)
    assert set(compared) == PROFILES["all"], sorted(PROFILES["all"] - set(compared))
    # Every tool returns its declared model itself, so no result goes the SDK's longer way.
    assert {tool for tool, paths in compared.items() if "sdk" in paths} == set()


async def test_a_task_read_or_claimed_is_answered_from_the_form_it_was_validated_from(client, compared, monkeypatch):
    """task_get and task_claim send the dicts their answer was validated from (models.forms), and
    `compared` holds that answer equal to the SDK's own dump of the model, key order included."""
    taken: list[str] = []
    real_take = Formed.take_form

    def take(model: Formed) -> Any:
        form = real_take(model)
        if form is not None:
            taken.append(type(model).__name__)
        return form

    monkeypatch.setattr(Formed, "take_form", take)
    await call(client, "plan_import", tasks=[
        {"code": "T-1", "title": "Schema", "labels": ["db", "api"], "key": "k1", "context": "## ctx"},
        {"code": "T-2", "title": "Endpoints", "depends_on": ["T-1"], "parent": None},
        {"code": "T-3", "title": "Sub", "parent": "T-2", "requires_review": True},
    ])
    await call(client, "task_claim", task="T-1")
    assert taken == ["ClaimResult"]
    taken.clear()
    await call(client, "task_note", task="T-1", body="Chose SQLite", kind="decision")
    up = (await call(client, "artifacts_upload", name="s.sql", content="x", links=["task:T-1"]))["artifact"]
    await call(client, "task_done", task="T-1", summary="Schema in src/db", artifacts=[up["uri"]])
    await call(client, "task_block", task="T-2", reason="Which auth?")
    await call(client, "task_unblock", task="T-2", answer="Tokens")
    assert taken == []  # other answers are dumped as before
    await call(client, "task_get", task="T-2")
    await call(client, "task_get", task="T-1")
    await call(client, "task_claim")
    assert taken == ["TaskDetail", "TaskDetail", "ClaimResult"]
    assert set(compared) == {"plan_import", "task_claim", "task_note", "artifacts_upload", "task_done",
                             "task_block", "task_unblock", "task_get"}


async def test_a_task_get_renders_no_text_it_throws_away(client, monkeypatch):
    await call(client, "plan_import", tasks=[{"code": "T-1", "title": "Schema", "labels": ["db"]}])
    rendered = []
    sdk_render = func_metadata._convert_to_content
    monkeypatch.setattr(func_metadata, "_convert_to_content", lambda v: rendered.append(v) or sdk_render(v))
    got = await client.call_tool("task_get", {"task": "T-1"})
    assert not got.is_error
    assert [c.text for c in got.content] == [reference_text(got.structured_content)]
    assert rendered == []  # the SDK's indent-2 copy, replaced by the compact one, is not made


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-3, 3) | st.sampled_from(["", "x", "0"]) | st.floats(allow_nan=False),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.sampled_from(["a", "b", "", "c"]), inner, max_size=4),
    max_leaves=30,
)


@given(st.dictionaries(st.sampled_from(["a", "b", "c"]), json_values, max_size=4))
@settings(max_examples=100, deadline=None)
def test_the_text_copy_drops_exactly_the_nulls_and_empties_it_dropped_before(structured):
    assert results.text_copy(structured) == reference_text(structured)


def test_a_value_that_is_not_the_declared_model_goes_the_sdks_way():
    task_get = next(t for t in sdk_tools(PROFILES["all"]) if t.name == "task_get")
    made = CallToolResult(content=[TextContent(type="text", text="not_found: no T-9")], is_error=True)
    assert results.to_result(task_get, made) is made


# What a JSON-mode dump of a model can hold: no infinities (it has made them null already).
json_ready = st.recursive(
    st.none() | st.booleans() | st.integers(-3, 3) | st.sampled_from(["", "x", "0"])
    | st.floats(allow_nan=False, allow_infinity=False),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.sampled_from(["a", "b", "", "c"]), inner, max_size=4),
    max_leaves=30,
)


@given(st.dictionaries(st.sampled_from(["a", "b", "c"]), json_ready, max_size=4))
@settings(max_examples=100, deadline=None)
def test_a_results_wire_form_is_what_the_sdks_dump_of_it_gives(structured):
    text = results.text_copy(structured)
    ours = results.Once.model_construct(
        content=[TextContent.model_construct(type="text", text=text)], structured_content=structured
    )
    theirs = CallToolResult(content=[TextContent(type="text", text=text)], structured_content=structured)
    assert ours.wire() == runner._dump_result(theirs)


async def test_a_task_get_result_reaches_the_sdk_as_its_wire_form_not_a_model_to_dump(client, monkeypatch):
    await call(client, "plan_import", tasks=[{"code": "T-1", "title": "Schema", "labels": ["db"]}])
    handed = []
    sdk_dump = runner._dump_result
    monkeypatch.setattr(runner, "_dump_result", lambda result: handed.append(type(result)) or sdk_dump(result))
    got = await client.call_tool("task_get", {"task": "T-1"})
    assert not got.is_error and got.structured_content["task"]["code"] == "T-1"
    assert dict in handed and CallToolResult not in handed and results.Once not in handed, handed


@given(st.text(max_size=20), st.dictionaries(st.sampled_from(["a", "b", "c"]), json_ready, max_size=4))
@settings(max_examples=50, deadline=None)
def test_a_result_built_by_once_of_is_field_for_field_what_model_construct_builds(text, structured):
    ours = results.Once.of(text, structured)
    theirs = results.Once.model_construct(
        content=[TextContent.model_construct(type="text", text=text)], structured_content=structured
    )
    assert ours == theirs and ours.model_fields_set == theirs.model_fields_set
    assert ours.content[0].model_fields_set == theirs.content[0].model_fields_set
    assert (ours.__pydantic_extra__, ours.__pydantic_private__) == (theirs.__pydantic_extra__, theirs.__pydantic_private__)
    assert ours.wire() == theirs.wire() and ours.model_dump() == theirs.model_dump()
