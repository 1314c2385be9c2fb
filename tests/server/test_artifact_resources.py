"""Artifacts as MCP resources, read by the SDK's client from real `taskloom serve` processes.

Over stdio and over streamable HTTP alike: `resources/templates/list` names
`taskloom://artifacts/{sha256}`; a text artifact reads back as text and a binary one as a blob,
each with the artifact's own mimeType (not the template's); text-typed bytes that are not UTF-8
come back as a blob rather than mangled; an unknown or malformed artifact URI is an error
answer, and the server keeps serving.
"""

from __future__ import annotations

import base64

import pytest
from mcp import Client, MCPError

from tests.server.test_transports import serving, stdio_params

REPORT = "# Findings\n\nAll green ✓\n"
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256))
NOT_UTF8 = b"caf\xe9 \xff\xfe"


async def upload(client: Client, name: str, **source: str) -> dict:
    result = await client.call_tool("artifacts_upload", {"name": name, **source})
    assert not result.is_error, result.content
    return result.structured_content["artifact"]


async def read(client: Client, uri: str):
    [content] = (await client.read_resource(uri)).contents
    return content


async def resources_behave(client: Client) -> None:
    templates = (await client.list_resource_templates()).resource_templates
    assert "taskloom://artifacts/{sha256}" in {t.uri_template for t in templates}

    report = await upload(client, "report.md", content=REPORT)
    png = await upload(client, "shot.png", content_base64=base64.b64encode(PNG).decode())
    odd = await upload(client, "latin1.txt", content_base64=base64.b64encode(NOT_UTF8).decode())

    text = await read(client, report["uri"])
    assert (text.text, text.mime_type, str(text.uri)) == (REPORT, "text/markdown", report["uri"])

    blob = await read(client, png["uri"])
    assert not hasattr(blob, "text")
    assert (base64.b64decode(blob.blob), blob.mime_type) == (PNG, "image/png")

    mislabelled = await read(client, odd["uri"])
    assert (base64.b64decode(mislabelled.blob), mislabelled.mime_type) == (NOT_UTF8, "text/plain")

    for bad in ("taskloom://artifacts/" + "0" * 64, "taskloom://artifacts/NOT-A-DIGEST"):
        with pytest.raises(MCPError) as caught:
            await client.read_resource(bad)
        assert "Traceback" not in str(caught.value)
    with pytest.raises(MCPError) as unknown:
        await client.read_resource("taskloom://artifacts/" + "0" * 64)
    assert "not_found" in str(unknown.value)

    # Still serving after the errors.
    assert (await read(client, report["uri"])).text == REPORT


async def test_a_stdio_server_serves_artifacts_as_resources_with_their_own_mime_types(tmp_path):
    async with Client(stdio_params(tmp_path, tmp_path / "t.db", "stdio-agent")) as client:
        await resources_behave(client)


async def test_a_streamable_http_server_serves_artifacts_as_resources_with_their_own_mime_types(tmp_path):
    with serving(tmp_path, "http", tmp_path / "t.db", agent="http-agent") as (url, proc, log):
        async with Client(url) as client:
            await resources_behave(client)
        assert proc.poll() is None
    assert "Traceback" not in log.read_text(), log.read_text()
