"""Who the caller is over stateless HTTP (2026-era clients: one POST per call, no session).

agent_init cannot bind a name to a connection that ends with the call, so the server says so in
agent_init's answer, and a later call that names no agent says what works instead of "call
agent_init". Real `taskloom serve --transport http` processes, real SDK clients, no TASKLOOM_AGENT.
"""

from __future__ import annotations

from pathlib import Path

from mcp import Client

from taskloom.server.errors import error_of
from tests.security.common import TOKENS, agent_tokens_file, connect, serving_tokens
from tests.server.test_transports import serving


async def test_agent_init_over_stateless_http_says_the_name_will_not_carry_and_what_does(tmp_path: Path):
    with serving(tmp_path, "http", tmp_path / "t.db", agent="") as (url, proc, _):
        async with Client(url, mode="auto") as client:  # auto speaks the stateless 2026 protocol here
            await client.call_tool("task_create", {"tasks": [{"title": "a"}], "agent": "boss"})
            init = await client.call_tool("agent_init", {"agent": "alice"})
            assert not init.is_error
            step = init.structured_content["next_step"]
            assert step.startswith("This connection is stateless HTTP: the name alice does not carry")
            assert "agent=<your name> on every call" in step and "taskloom token new --agent NAME" in step

            refused = await client.call_tool("task_claim", {})
            err = error_of(refused)
            assert err["code"] == "invalid_input"
            assert "cannot remember one: it is stateless HTTP" in err["message"]
            assert "agent_init" not in err["hint"]  # the caller just did that
            assert "agent=<your name> on every call" in err["hint"]
            assert "taskloom token new --agent NAME" in err["hint"]

            # What the answer says works does work.
            claimed = await client.call_tool("task_claim", {"agent": "alice"})
            assert claimed.structured_content["detail"]["task"]["claimed_by"] == "alice"
        assert proc.poll() is None


async def test_over_a_session_agent_init_binds_the_name_and_says_nothing_about_statelessness(tmp_path: Path):
    with serving(tmp_path, "http", tmp_path / "t.db", agent="") as (url, _, _):
        async with Client(url, mode="legacy") as client:
            await client.call_tool("task_create", {"tasks": [{"title": "a"}], "agent": "boss"})
            init = await client.call_tool("agent_init", {"agent": "alice"})
            assert "stateless" not in init.structured_content["next_step"]
            claimed = await client.call_tool("task_claim", {})
            assert claimed.structured_content["detail"]["task"]["claimed_by"] == "alice"
        # A new session that never called agent_init still gets the usual advice.
        async with Client(url, mode="legacy") as client:
            err = error_of(await client.call_tool("task_claim", {}))
            assert err["code"] == "invalid_input" and "agent_init" in err["hint"]


async def test_a_per_agent_token_names_the_caller_on_every_stateless_call(tmp_path: Path):
    tokens = agent_tokens_file(tmp_path)
    with serving_tokens(tmp_path, "http", tmp_path / "t.db", tokens, agent="") as (url, _, _):
        async with connect(url, "http", TOKENS["bob"]) as client:
            await client.call_tool("task_create", {"tasks": [{"title": "a"}]})
            init = await client.call_tool("agent_init", {})
            assert init.structured_content["agent"]["name"] == "bob"
            assert "stateless" not in init.structured_content["next_step"]
            claimed = await client.call_tool("task_claim", {})
            assert claimed.structured_content["detail"]["task"]["claimed_by"] == "bob"
