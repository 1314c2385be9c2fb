"""`logging/setLevel` and `completion/complete`, through real MCP clients.

Logging: the capability is advertised, and the level a connection sets really filters what
`ctx.log`/`ctx.info`/... sends to that connection and no other. Completion: task codes, stream
codes and agent names complete from the database by prefix for our prompts' arguments and our
resource templates' parameters, at most 100 at a time; anything else gets no suggestions.
One test runs the real `taskloom serve` over stdio.
"""

from __future__ import annotations

import warnings
from typing import Any

import pytest
from mcp import Client
from mcp.server.mcpserver import Context
from mcp.shared.exceptions import MCPDeprecationWarning, MCPError
from mcp.types import (
    INVALID_PARAMS,
    LoggingMessageNotificationParams,
    PromptReference,
    ResourceTemplateReference,
)

from taskloom.server import build_server
from taskloom.server.protocol import LEVELS
from tests.conftest import call
from tests.server.test_transports import stdio_params

# The SDK marks the whole logging capability deprecated (the 2026-07-28 era drops it); handshake-era
# clients, which is every client today, still use it.
pytestmark = pytest.mark.filterwarnings("ignore::mcp.shared.exceptions.MCPDeprecationWarning")


def prompt_ref(name: str) -> PromptReference:
    return PromptReference(type="ref/prompt", name=name)


def template_ref(uri: str) -> ResourceTemplateReference:
    return ResourceTemplateReference(type="ref/resource", uri=uri)


async def complete(client: Client, ref: Any, name: str, value: str, **context: str) -> tuple[list[str], bool]:
    result = await client.complete(ref, {"name": name, "value": value}, context or None)
    return result.completion.values, bool(result.completion.has_more)


# ------------------------------------------------------------------------------------------ logging


@pytest.fixture
def probe_server(app):
    """Our server plus one tool that logs once at every level (no taskloom tool logs at every level)."""
    server = build_server(app)

    @server.tool(name="log_probe")
    async def log_probe(ctx: Context) -> str:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", MCPDeprecationWarning)
            for level in LEVELS:
                await ctx.log(level, f"at {level}")
        return "logged"

    return server


def collector() -> tuple[list[str], Any]:
    seen: list[str] = []

    async def on_log(params: LoggingMessageNotificationParams) -> None:
        seen.append(params.level)

    return seen, on_log


async def test_the_server_advertises_logging_and_completions(client):
    capabilities = client.server_capabilities
    assert capabilities.logging is not None
    assert capabilities.completions is not None


async def test_set_level_answers_an_empty_result(client):
    result = await client.set_logging_level("info")
    assert result.model_dump(exclude_none=True) == {}


async def test_a_set_level_drops_every_log_message_below_it_and_a_later_one_reopens_them(probe_server):
    seen, on_log = collector()
    async with Client(probe_server, mode="legacy", logging_callback=on_log) as client:
        await client.call_tool("log_probe", {})
        assert seen == list(LEVELS)  # before any setLevel the server may send everything

        seen.clear()
        await client.set_logging_level("warning")
        await client.call_tool("log_probe", {})
        assert seen == ["warning", "error", "critical", "alert", "emergency"]

        seen.clear()
        await client.set_logging_level("emergency")
        await client.call_tool("log_probe", {})
        assert seen == ["emergency"]

        seen.clear()
        await client.set_logging_level("debug")
        await client.call_tool("log_probe", {})
        assert seen == list(LEVELS)


async def test_one_connections_level_does_not_quiet_another_connection(probe_server):
    quiet_seen, quiet_log = collector()
    loud_seen, loud_log = collector()
    async with (
        Client(probe_server, mode="legacy", logging_callback=quiet_log) as quiet,
        Client(probe_server, mode="legacy", logging_callback=loud_log) as loud,
    ):
        await quiet.set_logging_level("error")
        await loud.set_logging_level("info")
        await quiet.call_tool("log_probe", {})
        await loud.call_tool("log_probe", {})
    assert quiet_seen == ["error", "critical", "alert", "emergency"]
    assert loud_seen == list(LEVELS[1:])


# ------------------------------------------------------------------------------------------ completion


async def test_task_codes_complete_by_prefix_ignoring_case_for_the_worker_prompt_and_task_template(client):
    await call(client, "task_create", tasks=[{"title": f"t{i}"} for i in range(12)])  # T-1 .. T-12
    await call(client, "task_create", tasks=[{"code": "DB-schema", "title": "schema"}])

    for ref, arg in (
        (prompt_ref("worker_instructions"), "task"),
        (template_ref("taskloom://tasks/{code}"), "code"),
    ):
        values, more = await complete(client, ref, arg, "t-1")
        assert values == ["T-1", "T-10", "T-11", "T-12"] and not more
        values, _ = await complete(client, ref, arg, "db")
        assert values == ["DB-schema"]
        values, _ = await complete(client, ref, arg, "")
        assert len(values) == 13
        assert await complete(client, ref, arg, "nothing-like-it") == ([], False)


async def test_at_most_100_task_codes_come_back_and_has_more_says_there_are_others(client):
    for _ in range(3):
        await call(client, "task_create", tasks=[{"title": "x"} for _ in range(50)])  # T-1 .. T-150

    values, more = await complete(client, template_ref("taskloom://tasks/{code}"), "code", "T-")
    assert len(values) == 100 and more
    assert values[:3] == ["T-1", "T-2", "T-3"]  # creation order
    values, more = await complete(client, template_ref("taskloom://tasks/{code}"), "code", "t-14")
    assert values == ["T-14", *[f"T-{n}" for n in range(140, 150)]] and not more


async def test_the_worker_prompts_task_narrows_to_the_stream_already_chosen(client):
    await call(client, "stream_create", code="api", name="API")
    await call(client, "stream_create", code="web", name="Web")
    await call(client, "task_create", tasks=[{"title": "a", "stream": "api"}])
    await call(client, "task_create", tasks=[{"title": "b", "stream": "web"}])
    ref = prompt_ref("worker_instructions")

    assert (await complete(client, ref, "task", "T", stream="web"))[0] == ["T-2"]
    assert (await complete(client, ref, "task", "T"))[0] == ["T-1", "T-2"]
    assert await complete(client, ref, "task", "T", stream="no-such-stream") == ([], False)


async def test_stream_codes_complete_for_the_worker_prompt_and_the_stream_template(client):
    for code in ("api", "apps", "web"):
        await call(client, "stream_create", code=code, name=code)
    for ref, arg in (
        (prompt_ref("worker_instructions"), "stream"),
        (template_ref("taskloom://streams/{code}"), "code"),
    ):
        assert (await complete(client, ref, arg, "AP"))[0] == ["api", "apps"]
        assert (await complete(client, ref, arg, "w"))[0] == ["web"]


async def test_sprint_and_stream_codes_complete_for_the_completion_report(client):
    for code in ("S1", "S2", "T1"):
        await call(client, "sprint_create", code=code, title=code)
    await call(client, "stream_create", code="api", name="api")
    assert (await complete(client, prompt_ref("completion_report"), "sprint", "s"))[0] == ["S1", "S2"]
    assert (await complete(client, prompt_ref("completion_report"), "stream", "a"))[0] == ["api"]
    assert (await complete(client, prompt_ref("completion_report"), "save", "y"))[0] == []


async def test_agent_names_complete_for_the_worker_prompt_and_the_inbox_template(client):
    for name in ("ada", "adam", "grace"):
        await call(client, "agent_init", agent=name)
    for ref, arg in (
        (prompt_ref("worker_instructions"), "agent"),
        (template_ref("taskloom://agents/{name}/inbox"), "name"),
    ):
        assert sorted((await complete(client, ref, arg, "ad"))[0]) == ["ada", "adam"]
        assert (await complete(client, ref, arg, "g"))[0] == ["grace"]


async def test_what_we_do_not_complete_gets_an_empty_list_not_an_error(client):
    await call(client, "task_create", tasks=[{"title": "x"}])
    for ref, arg in (
        (prompt_ref("orchestrator_brief"), "anything"),
        (prompt_ref("worker_instructions"), "mood"),
        (prompt_ref("no_such_prompt"), "task"),
        (template_ref("taskloom://status"), "code"),
        (template_ref("test://template/{id}/data"), "id"),
    ):
        assert await complete(client, ref, arg, "T") == ([], False), (ref, arg)


async def test_a_stdio_server_process_advertises_both_and_completes_from_its_database(tmp_path):
    params = stdio_params(tmp_path, tmp_path / "t.db", "stdio-agent")
    async with Client(params, mode="legacy") as client:
        assert client.server_capabilities.logging is not None
        assert client.server_capabilities.completions is not None
        await client.set_logging_level("error")
        await call(client, "task_create", tasks=[{"title": "over the wire"}])
        ref = template_ref("taskloom://tasks/{code}")
        assert await complete(client, ref, "code", "t") == (["T-1"], False)


# ---------------------------------------------------------------------------------- found by the suite


@pytest.mark.parametrize("mode", ["legacy", "auto"])
async def test_an_unknown_prompt_is_an_invalid_params_error_naming_our_prompts(app, mode):
    async with Client(build_server(app), mode=mode) as client:
        with pytest.raises(MCPError) as raised:
            await client.get_prompt("no_such_prompt", {})
    assert raised.value.error.code == INVALID_PARAMS
    assert "worker_instructions" in raised.value.error.message
