"""Request bodies over the limit get 413 before they are parsed, and the server keeps serving.

The limit is `request_body_limit(TASKLOOM_ARTIFACT_MAX_BYTES)` (room for the largest artifact as
base64 plus the JSON-RPC envelope); a small artifact limit keeps the bodies cheap. A body of
exactly the limit carries the largest artifact through; one byte more is refused, whether the
client declares its length or streams it chunked. Real `taskloom serve` processes, raw httpx2.
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import AsyncIterator

import httpx2

from taskloom.server.run import request_body_limit
from tests.security.common import JSON_IN, rows
from tests.server.test_http_security import initialize, modern_call
from tests.server.test_transports import _next_event, serving, sse_endpoint

MAX_ARTIFACT = 3000
LIMIT = request_body_limit(MAX_ARTIFACT)
ENV = {"TASKLOOM_ARTIFACT_MAX_BYTES": str(MAX_ARTIFACT)}


def padded(body: dict, size: int) -> bytes:
    """The JSON of `body` followed by spaces (still valid JSON) to exactly `size` bytes."""
    raw = json.dumps(body).encode()
    assert len(raw) <= size
    return raw + b" " * (size - len(raw))


def upload_call() -> tuple[dict[str, str], dict]:
    content = base64.b64encode(os.urandom(MAX_ARTIFACT)).decode()  # the largest artifact allowed
    return modern_call("artifacts_upload", {"name": "big.bin", "content_base64": content})


async def chunks(data: bytes, size: int = 16 * 1024) -> AsyncIterator[bytes]:
    for i in range(0, len(data), size):
        yield data[i : i + size]


def assert_too_large(response: httpx2.Response) -> None:
    assert response.status_code == 413, (response.status_code, response.text[:200])
    assert "too large" in response.text and "jsonrpc" not in response.text


async def test_streamable_http_refuses_a_body_one_byte_over_the_limit_and_serves_one_at_the_limit(tmp_path):
    db = tmp_path / "t.db"
    with serving(tmp_path, "http", db, env=ENV) as (url, _, _):
        headers, body = upload_call()
        status_headers, status_body = modern_call("project_status", {})
        async with httpx2.AsyncClient(timeout=10) as http:
            # Declared too long: refused on the headers. Streamed too long: refused as it arrives.
            assert_too_large(await http.post(url, headers=headers, content=padded(body, LIMIT + 1)))
            assert_too_large(await http.post(url, headers=headers, content=chunks(padded(body, LIMIT + 1))))
            # The same client (and connection pool) goes on being served.
            after = await http.post(url, headers=status_headers, json=status_body)
            assert after.status_code == 200, after.text
            assert rows(db, "SELECT count(*) FROM artifacts") == [(0,)]

            at_limit = await http.post(url, headers=headers, content=padded(body, LIMIT))
            assert at_limit.status_code == 200, at_limit.text[:300]
            result = at_limit.json()["result"]
            assert not result.get("isError"), result
            assert result["structuredContent"]["artifact"]["size"] == MAX_ARTIFACT
            streamed = await http.post(url, headers=headers, content=chunks(padded(body, LIMIT)))
            assert streamed.status_code == 200 and streamed.json()["result"]["structuredContent"]["new"] is False
        assert rows(db, "SELECT count(*) FROM artifacts") == [(1,)]


async def test_an_sse_message_post_over_the_limit_gets_413_and_the_session_goes_on_at_the_limit(tmp_path):
    with serving(tmp_path, "sse", tmp_path / "t.db", env=ENV) as (url, _, _):
        base = url.removesuffix("/sse")
        async with (
            httpx2.AsyncClient(base_url=base, timeout=10) as http,
            sse_endpoint(http) as (endpoint, lines),
        ):
            assert_too_large(await http.post(endpoint, headers=JSON_IN, content=padded(initialize(), LIMIT + 1)))
            response = await http.post(endpoint, headers=JSON_IN, content=padded(initialize(), LIMIT))
            assert response.status_code == 202, response.text
            event, data = await _next_event(lines)
            assert event == "message" and json.loads(data)["result"]["serverInfo"]["name"] == "taskloom"
