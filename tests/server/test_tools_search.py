"""The search tool over MCP: its answer's shape, the caller's visibility, and bad arguments as
tool errors with a code."""

from __future__ import annotations

from tests.conftest import call, call_error


async def test_search_answers_ranked_hits_with_snippets_and_only_the_callers_messages(client):
    await call(client, "agent_init", agent="alice", role="dev")
    await call(client, "agent_init", agent="bob", role="qa")
    await call(client, "task_create", tasks=[{"code": "A", "title": "index-bug in the lease table"}], agent="alice")
    await call(client, "message_send", to="alice", body="the lease index is rebuilt", agent="bob")

    mine = await call(client, "search", query='index-bug "lease" table.', agent="carol")
    assert [(h["kind"], h["id"], h["task"]) for h in mine["hits"]] == [("task", "A", "A")]
    assert "**" in mine["hits"][0]["snippet"] and mine["hits"][0]["status"] == "ready"

    assert {h["kind"] for h in (await call(client, "search", query="lease index", agent="alice"))["hits"]} == \
        {"task", "message"}
    assert {h["kind"] for h in (await call(client, "search", query="lease index", agent="carol"))["hits"]} == {"task"}


async def test_a_bad_filter_is_a_tool_error_with_a_code(client):
    err = await call_error(client, "search", query="x", stream="nope", agent="alice")
    assert err["code"] == "not_found"
    err = await call_error(client, "search", query="x", limit=500, agent="alice")
    assert err["code"] == "invalid_input"
