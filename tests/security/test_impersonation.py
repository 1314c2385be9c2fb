"""Per-agent tokens fix the caller's identity over streamable HTTP and SSE: agent A's token cannot act as B.

Real `taskloom serve` processes with a tokens file; the SDK's own clients present the tokens. The
server's TASKLOOM_AGENT default (`wire-agent`) is set too, so a call that acts as the token's agent
shows that the identity came from the token and not from the process's default. A valid token
does not get a foreign Host or Origin past the DNS-rebinding check either (the existing rebinding
tests in tests/server run without tokens).
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from pathlib import Path

import httpx2
import pytest
from mcp import MCPError

from taskloom.server.errors import error_of
from tests.security.common import (
    JSON_IN,
    TOKENS,
    agent_tokens_file,
    bearer,
    connect,
    rows,
    serving_tokens,
    session,
)
from tests.server.test_http_security import CREATE, foreign_hosts, foreign_origins, initialize, port_of
from tests.server.test_transports import CallTool, ok


@pytest.fixture(scope="module", params=["http", "sse"])
def served(request, tmp_path_factory) -> Iterator[tuple[str, str, Path]]:
    """One server per transport for this module: (transport, url, db)."""
    tmp = tmp_path_factory.mktemp(request.param)
    db = tmp / "t.db"
    with serving_tokens(tmp, request.param, db, agent_tokens_file(tmp)) as (url, _, _):
        yield request.param, url, db


async def refused(call_tool: CallTool, tool: str, **args) -> dict:
    result = await call_tool(tool, args)
    assert result.is_error, f"{tool} as another agent succeeded: {result.structured_content}"
    return error_of(result)


async def test_agent_a_token_cannot_finish_message_or_init_as_agent_b_and_nothing_changes(served):
    transport, url, db = served
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
        # Without `agent` the call acts as alice, who never held bob's task.
        error = await refused(alice, "task_done", task=code, summary="done, says alice")
        assert error["code"] == "invalid_transition", error
        assert error["message"] == f"You never held {code}: {code} is held by bob.", error
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


async def test_a_valid_token_does_not_get_a_foreign_host_or_origin_past_the_rebinding_check(served):
    transport, url, db = served
    port = port_of(url)
    auth = bearer(TOKENS["carol"])
    refusals = [({"host": h}, 421) for h in foreign_hosts(port)] + [({"origin": o}, 403) for o in foreign_origins(port)]
    async with httpx2.AsyncClient(timeout=10) as http:
        for header, status in refusals:
            if transport == "http":
                headers, body = CREATE
                response = await http.post(url, headers={**headers, **auth, **header}, json=body)
            else:
                # A fresh connection each time: uvicorn drops the connection after a refused stream.
                async with httpx2.AsyncClient(timeout=10) as fresh:
                    response = await fresh.get(url, headers={"accept": "text/event-stream", **auth, **header})
            assert response.status_code == status, (header, response.status_code, response.text)
        if transport == "http":
            ok_response = await http.post(url, headers={**JSON_IN, **auth}, json=initialize())
            assert ok_response.status_code == 200, ok_response.text
    assert rows(db, "SELECT count(*) FROM tasks WHERE title = 'should it exist?'") == [(0,)]


async def test_a_per_agent_token_cannot_read_another_agents_inbox_resource(served):
    transport, url, _ = served
    async with session(url, transport, TOKENS["alice"]) as alice:
        await ok(alice, "agent_init")
    async with session(url, transport, TOKENS["carol"]) as carol:
        await ok(carol, "agent_init")
        await ok(carol, "message_send", to="alice", body="for alice's eyes only")
    async with connect(url, transport, TOKENS["bob"]) as bob:
        try:
            read = " ".join(c.text for c in (await bob.read_resource("taskloom://agents/alice/inbox")).contents)
        except MCPError:
            read = "refused"
    # Checked outside the client's task group, so a failure is one plain assertion.
    assert "for alice's eyes only" not in read


async def test_a_per_agent_token_cannot_subscribe_to_another_agents_inbox(served):
    transport, url, _ = served
    async with session(url, transport, TOKENS["alice"]) as alice:
        await ok(alice, "agent_init")
    async with connect(url, transport, TOKENS["bob"], handshake=True) as bob:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # resources/subscribe is handshake-era only
                await bob.subscribe_resource("taskloom://agents/alice/inbox")
            outcome = "subscribed"
        except MCPError as exc:
            outcome = exc.error.message
    assert "cannot read alice's inbox" in outcome
