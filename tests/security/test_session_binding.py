"""An HTTP session belongs to the token that opened it: anyone else gets the unknown-session answer.

A real `taskloom serve` with a tokens file (alice, bob, carol) and a shared `--token`. bob opens a
session; alice (another agent's token) and a holder of the shared token know its id. Over
streamable HTTP they can neither open its GET event stream, nor POST into it, nor DELETE it; over
SSE they cannot POST to its message endpoint. Each refusal is byte for byte (status, media type,
body) what a made-up session id gets, so the answer does not even confirm the session exists.
Raw requests (httpx2) so that statuses and bodies are checked exactly.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx2
import pytest
from mcp_types.version import LATEST_HANDSHAKE_VERSION

from tests.security.common import JSON_IN, SHARED, TOKENS, agent_tokens_file, bearer, rows, serving_tokens
from tests.server.test_http_security import initialize
from tests.server.test_transports import sse_endpoint

INTRUDERS = {"another agent's token": TOKENS["alice"], "the shared token": SHARED}
Answer = tuple[int, str, bytes]  # status, content type, body


def served(tmp_path_factory, transport: str) -> Iterator[tuple[str, Path]]:
    """(url, db) of a server taking the per-agent tokens and the shared one."""
    tmp = tmp_path_factory.mktemp(transport)
    db = tmp / "t.db"
    with serving_tokens(tmp, transport, db, agent_tokens_file(tmp), token=SHARED) as (url, _, _):
        yield url, db


@pytest.fixture(scope="module")
def http_server(tmp_path_factory) -> Iterator[tuple[str, Path]]:
    yield from served(tmp_path_factory, "http")


@pytest.fixture(scope="module")
def sse_server(tmp_path_factory) -> Iterator[tuple[str, Path]]:
    yield from served(tmp_path_factory, "sse")


def call(title: str) -> dict:
    tasks = [{"title": title}]
    return {"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "task_create", "arguments": {"tasks": tasks}}}


async def answer(http: httpx2.AsyncClient, method: str, url: str, headers: dict, body: dict | None = None) -> Answer:
    """The response's status, media type and body; an event stream's body is not waited for (a
    GET stream stays open)."""
    async with http.stream(method, url, headers=headers, json=body) as response:
        media = response.headers.get("content-type", "")
        if media.startswith("text/event-stream"):
            return response.status_code, media, b"<an event stream>"
        return response.status_code, media, await response.aread()


async def open_session(http: httpx2.AsyncClient, url: str, token: str) -> dict[str, str]:
    """A handshake-era session opened with `token`: the headers its later requests carry."""
    opened = await http.post(url, headers={**JSON_IN, **bearer(token)}, json=initialize())
    assert opened.status_code == 200, opened.text
    headers = {
        **JSON_IN,
        **bearer(token),
        "mcp-session-id": opened.headers["mcp-session-id"],
        "mcp-protocol-version": LATEST_HANDSHAKE_VERSION,
    }
    done = await http.post(url, headers=headers, json={"jsonrpc": "2.0", "method": "notifications/initialized"})
    assert done.status_code == 202, done.text
    return headers


@pytest.mark.parametrize("intruder", INTRUDERS.values(), ids=INTRUDERS.keys())
async def test_another_token_gets_the_unknown_session_answer_for_a_streamable_http_session(http_server, intruder):
    url, db = http_server
    async with httpx2.AsyncClient(timeout=10) as http:
        bobs = await open_session(http, url, TOKENS["bob"])
        theirs = {**bobs, **bearer(intruder)}
        unknown = {**theirs, "mcp-session-id": uuid.uuid4().hex}
        for method, body in [("GET", None), ("POST", call("planted in bob's session")), ("DELETE", None)]:
            got = await answer(http, method, url, theirs, body)
            assert got == await answer(http, method, url, unknown, body), method
            assert got[0] == 404, got

        # bob's session is untouched and still his.
        still = await http.post(url, headers=bobs, json=call("bob's own"))
        assert still.status_code == 200 and "bob's own" in still.text, still.text
    assert rows(db, "SELECT title FROM tasks WHERE title LIKE 'planted%'") == []


async def test_the_shared_token_is_one_principal_whose_sessions_any_holder_may_use(http_server):
    url, _ = http_server
    async with httpx2.AsyncClient(timeout=10) as http:
        shared = await open_session(http, url, SHARED)
        assert (await answer(http, "POST", url, {**shared, **bearer(TOKENS["carol"])}, call("x")))[0] == 404
        # Another client presenting the same shared token is the same principal: nothing tells them apart.
        async with httpx2.AsyncClient(timeout=10) as other:
            assert (await answer(other, "POST", url, shared, call("shared work")))[0] == 200
        assert (await answer(http, "DELETE", url, shared))[0] == 200
        assert (await answer(http, "POST", url, shared, call("after the end")))[0] == 404


@pytest.mark.parametrize("intruder", INTRUDERS.values(), ids=INTRUDERS.keys())
async def test_another_token_gets_the_unknown_session_answer_for_an_sse_session(sse_server, intruder):
    url, db = sse_server
    async with (
        httpx2.AsyncClient(base_url=url.removesuffix("/sse"), timeout=10) as http,
        sse_endpoint(http, bearer(TOKENS["bob"])) as (endpoint, _lines),
    ):
        made_up = endpoint.split("session_id=")[0] + f"session_id={uuid.uuid4().hex}"
        theirs = {**JSON_IN, **bearer(intruder)}
        got = await answer(http, "POST", endpoint, theirs, call("planted in bob's session"))
        assert got == await answer(http, "POST", made_up, theirs, call("planted in bob's session"))
        assert got[0] == 404, got
        accepted = await http.post(endpoint, headers={**JSON_IN, **bearer(TOKENS["bob"])}, json=initialize())
        assert accepted.status_code == 202, accepted.text
    assert rows(db, "SELECT title FROM tasks WHERE title LIKE 'planted%'") == []
