"""Per-agent tokens fix the caller's identity over streamable HTTP and SSE: agent A's token cannot act as B.

Real `taskloom serve` processes with a tokens file; the SDK's own clients present the tokens. The
server's TASKLOOM_AGENT default (`wire-agent`) is set too, so a call that acts as the token's agent
shows that the identity came from the token and not from the process's default.
"""

from __future__ import annotations

import pytest

from taskloom.server.errors import error_of
from tests.security.common import TOKENS, agent_tokens_file, rows, serving_tokens, session
from tests.server.test_transports import CallTool, ok


async def refused(call_tool: CallTool, tool: str, **args) -> dict:
    result = await call_tool(tool, args)
    assert result.is_error, f"{tool} as another agent succeeded: {result.structured_content}"
    return error_of(result)


@pytest.mark.parametrize("transport", ["http", "sse"])
async def test_agent_a_token_cannot_finish_message_or_init_as_agent_b_and_nothing_changes(tmp_path, transport):
    db = tmp_path / "t.db"
    with serving_tokens(tmp_path, transport, db, agent_tokens_file(tmp_path)) as (url, _, _):
        async with session(url, transport, TOKENS["bob"]) as bob:
            assert (await ok(bob, "agent_init"))["agent"]["name"] == "bob"
            code = (await ok(bob, "task_create", tasks=[{"title": "bob's work"}]))["tasks"][0]["code"]
            claim = await ok(bob, "task_claim", task=code)
            assert claim["detail"]["task"]["claimed_by"] == "bob"
            await ok(bob, "task_note", task=code, body="started")

        async with session(url, transport, TOKENS["alice"]) as alice:
            for tool, args in [
                ("task_done", {"task": code, "summary": "done, says bob", "agent": "bob"}),
                ("message_send", {"to": "alice", "body": "bob here, honestly", "agent": "bob"}),
                ("agent_init", {"agent": "bob"}),
                ("task_release", {"task": code, "agent": "bob"}),
            ]:
                error = await refused(alice, tool, **args)
                assert error["code"] == "invalid_input", error
                assert "'alice'" in error["message"] and "'bob'" in error["message"], error
                assert "Omit `agent`" in error["hint"]
            # Without `agent` the call acts as alice, who does not hold bob's task.
            error = await refused(alice, "task_done", task=code, summary="done, says alice")
            assert error["code"] == "lease_lost", error
            # Naming herself is fine, and so is omitting the name: both are alice.
            assert (await ok(alice, "agent_init", agent="alice"))["agent"]["name"] == "alice"
            await ok(alice, "message_send", to="bob", body="alice here")

        async with session(url, transport, TOKENS["bob"]) as bob:
            got = (await ok(bob, "task_get", task=code))["task"]
            assert (got["status"], got["claimed_by"]) == ("in_progress", "bob")
            await ok(bob, "task_done", task=code, summary="really done")

    assert rows(db, "SELECT sender, recipient, body FROM messages") == [("alice", "agent:bob", "alice here")]
    assert rows(db, "SELECT name FROM agents ORDER BY name") == [("alice",), ("bob",)]
    assert rows(db, "SELECT agent FROM notes") == [("bob",)]
