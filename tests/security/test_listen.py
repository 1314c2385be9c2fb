"""2026-07-28 `subscriptions/listen` is held to the checks a read gets, over a real streamable HTTP server.

A per-agent token listens to its own inbox only, and an unknown resource is refused, with
exactly the error `resources/read` gives for the same URI. A legitimate listen still hears
about each change. The SDK's own client speaks the 2026 protocol (its default "auto" mode).
"""

from __future__ import annotations

from collections.abc import Iterator

import anyio
import pytest
from mcp import MCPError

from tests.security.common import TOKENS, agent_tokens_file, connect, serving_tokens
from tests.server.test_transports import ok

NOTIFY_DEADLINE = 10.0  # seconds; only bounds a broken test (push is ~0.02 s)


@pytest.fixture(scope="module")
def url(tmp_path_factory) -> Iterator[str]:
    tmp = tmp_path_factory.mktemp("listen")
    with serving_tokens(tmp, "http", tmp / "t.db", agent_tokens_file(tmp)) as (url, _, _):
        yield url


async def read_error(url: str, token: str, uri: str) -> tuple[int, str]:
    async with connect(url, "http", token) as client:
        with pytest.raises(MCPError) as refused:
            await client.read_resource(uri)
    return refused.value.error.code, refused.value.error.message


async def listen_error(url: str, token: str, *uris: str) -> tuple[int, str] | str:
    async with connect(url, "http", token) as client:
        try:
            async with client.listen(resource_subscriptions=list(uris)):
                return "accepted"
        except MCPError as exc:
            return exc.error.code, exc.error.message


async def test_a_per_agent_token_cannot_listen_to_another_agents_inbox(url: str):
    for name in ("alice", "bob"):
        async with connect(url, "http", TOKENS[name]) as client:
            await ok(client.call_tool, "agent_init")
    bobs = "taskloom://agents/bob/inbox"
    refused = await listen_error(url, TOKENS["alice"], "taskloom://agents/alice/inbox", bobs)
    assert refused == await read_error(url, TOKENS["alice"], bobs)
    assert "cannot read bob's inbox" in refused[1]


@pytest.mark.parametrize(
    "uri", ["taskloom://tasks/NOPE", "taskloom://streams/NOPE", "taskloom://agents/nobody/inbox", "taskloom://nope"]
)
async def test_listening_to_an_unknown_resource_is_refused_as_reading_it_is(url: str, uri: str):
    refused = await listen_error(url, TOKENS["carol"], "taskloom://status", uri)
    assert refused == await read_error(url, TOKENS["carol"], uri)


async def test_a_per_agent_token_listening_to_its_own_inbox_hears_of_each_new_message(url: str):
    async with connect(url, "http", TOKENS["bob"]) as bob:
        await ok(bob.call_tool, "agent_init")
        code = (await ok(bob.call_tool, "task_create", tasks=[{"title": "watched"}]))["tasks"][0]["code"]
        async with connect(url, "http", TOKENS["carol"]) as carol:
            await ok(carol.call_tool, "agent_init")
            watched = ["taskloom://agents/bob/inbox", f"taskloom://tasks/{code}"]
            async with bob.listen(resource_subscriptions=watched) as updates:
                await ok(carol.call_tool, "message_send", to="bob", body="are you there?")
                with anyio.fail_after(NOTIFY_DEADLINE):
                    assert str((await updates.__anext__()).uri) == "taskloom://agents/bob/inbox"
                await ok(carol.call_tool, "task_note", task=code, body="a note")
                with anyio.fail_after(NOTIFY_DEADLINE):
                    assert str((await updates.__anext__()).uri) == f"taskloom://tasks/{code}"
