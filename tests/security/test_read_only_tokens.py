"""Read-only tokens (`"access": "read"`, made by `taskloom token new --read-only`) over a real server.

A real `taskloom serve` with a tokens file, called with the SDK's own clients. The tools the
server lists as read-only (readOnlyHint) answer as for any token; every other tool is refused
with `read_only` before it runs, and the database file is byte-for-byte what it was: no task, no
message, no agent row, not even a presence sighting. The tool list is taken from the wire, so a
tool added later is covered without touching this file.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from mcp import Client
from mcp.shared.exceptions import MCPError

from taskloom.clock import ManualClock
from taskloom.config import Settings
from taskloom.server import build_server
from taskloom.server.errors import error_of
from taskloom.services.app import Taskloom
from tests.security.common import TOKENS, connect, entry, rows, serving_tokens, session, write_tokens
from tests.server.test_errors_and_limits import dump
from tests.server.test_transports import PROJECT, ok

WRITER, READER, ANY_READER = TOKENS["bob"], TOKENS["alice"], TOKENS["carol"]
WATCHER = "dave-token-0123456789abcdef"  # read-only, used by one test only, so no other call saw dave


@pytest.fixture(scope="module", params=["http", "sse"])
def served(request, tmp_path_factory) -> Iterator[tuple[str, str, Path]]:
    """One server per transport for this module: (transport, url, db)."""
    tmp = tmp_path_factory.mktemp(request.param)
    db = tmp / "t.db"
    tokens = write_tokens(
        tmp / "tokens",
        entry(WRITER, "bob", access="write"),
        entry(READER, "alice", access="read"),
        entry(ANY_READER, access="read"),  # unbound: any agent, still read-only
        entry(WATCHER, "dave", access="read"),
    )
    with serving_tokens(tmp, request.param, db, tokens) as (url, _, _):
        yield request.param, url, db


async def set_up_work(url: str, transport: str) -> str:
    """A write token lays out something to read (and to try to change): a task bob holds, a message."""
    async with session(url, transport, WRITER) as bob:
        await ok(bob, "agent_init")
        code = (await ok(bob, "task_create", tasks=[{"title": "read me"}, {"title": "waiting"}]))["tasks"][0]["code"]
        await ok(bob, "task_claim", task=code)
        await ok(bob, "message_send", to="all", body="for everyone")
        await ok(bob, "memory_set", key="k", value="v")
    return code


async def join(db: Path, name: str) -> None:
    """Register `name`, last seen an hour ago, from outside the server process (an in-process
    server on the same file): a sighting the served process recorded now would show in the file."""
    clock = ManualClock(time.time() - 3600)
    app = await Taskloom.open(Settings(db_path=db, project=PROJECT, default_agent=name), clock)
    try:
        async with Client(build_server(app), mode="legacy") as other:
            await ok(other.call_tool, "agent_init")
    finally:
        await app.close()


async def test_a_read_only_token_is_refused_every_tool_not_annotated_read_only_and_changes_nothing(served):
    transport, url, db = served
    code = await set_up_work(url, transport)
    before = dump(db)
    eras = [False, True] if transport == "http" else [False]  # stateless 2026-era and handshake-era HTTP
    for token in (READER, ANY_READER):
        for handshake in eras:
            async with connect(url, transport, token, handshake=handshake) as client:
                tools = (await client.list_tools()).tools
                writes = [t.name for t in tools if not (t.annotations and t.annotations.read_only_hint)]
                reads = [t.name for t in tools if t.annotations and t.annotations.read_only_hint]
                assert len(writes) > 20 and "task_list" in reads and "task_create" in writes
                for tool in [t.name for t in tools]:
                    result = await client.call_tool(tool, {})
                    error = error_of(result) or {}
                    if tool in reads:
                        assert error.get("code") != "read_only", (tool, error)
                    else:
                        assert error.get("code") == "read_only", (tool, result)
                        assert "may only read" in error["message"] and tool in error["message"]
                        assert "taskloom token new" in error["hint"]
                        assert result.content[0].text.startswith("read_only: ")
                # Well-formed calls are refused too: what is refused is the write, not the arguments.
                for tool, args in [
                    ("task_create", {"tasks": [{"title": "sneaked in"}]}),
                    ("task_done", {"task": code, "summary": "not mine to finish", "agent": "bob"}),
                    ("task_claim", {}),
                    ("message_send", {"to": "bob", "body": "hello"}),
                    ("message_inbox", {}),  # it marks messages read
                    ("agent_init", {}),
                    ("memory_set", {"key": "k", "value": "overwritten"}),
                ]:
                    result = await client.call_tool(tool, args)
                    assert (error_of(result) or {}).get("code") == "read_only", (tool, result)
    assert dump(db) == before


async def test_a_read_only_token_reads_tools_and_resources_as_any_token_does_and_leaves_no_trace(served):
    transport, url, db = served
    code = await set_up_work(url, transport)
    await join(db, "dave")
    before = dump(db)
    async with connect(url, transport, WATCHER) as dave:
        got = (await ok(dave.call_tool, "task_get", task=code))["task"]
        assert (got["code"], got["claimed_by"]) == (code, "bob")
        assert code in [t["code"] for t in (await ok(dave.call_tool, "task_list"))["tasks"]]
        await ok(dave.call_tool, "project_status")
        assert "bob" in [a["name"] for a in (await ok(dave.call_tool, "agent_list"))["agents"]]
        await ok(dave.call_tool, "graph_get")
        await ok(dave.call_tool, "activity_feed")
        resource = await dave.read_resource(f"taskloom://tasks/{code}")
        assert "read me" in " ".join(c.text for c in resource.contents)
    # No sighting of dave either: a read-only token writes nothing at all.
    assert dump(db) == before


async def test_a_read_only_token_reads_the_completion_report_but_may_not_save_it(served):
    transport, url, db = served
    await set_up_work(url, transport)
    before = dump(db)
    async with connect(url, transport, READER) as alice:
        report = (await alice.get_prompt("completion_report", {})).messages[0].content.text
        assert report.startswith("# Completion report: project")
        with pytest.raises(MCPError) as refused:
            await alice.get_prompt("completion_report", {"save": "yes"})
        assert refused.value.message.startswith("read_only: save=yes stores an artifact")
    assert dump(db) == before


async def test_a_write_token_on_the_same_server_still_writes(served):
    transport, url, db = served
    code = await set_up_work(url, transport)
    async with session(url, transport, WRITER) as bob:
        await ok(bob, "task_done", task=code, summary="done by the write token")
    assert rows(db, "SELECT status FROM tasks WHERE code = ?", code) == [("done",)]
