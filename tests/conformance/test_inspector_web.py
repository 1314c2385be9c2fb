"""The MCP Inspector's web UI reaches a taskloom server without any --allow-origin.

The page in the browser talks only to the Inspector's own backend (`/api/mcp/*`, guarded by its
token); the backend connects to the MCP server with Node's fetch, which sends no Origin. So the
server's Origin rule (its own origin, or --allow-origin) does not stand in the Inspector's way.
Here the backend is driven as the page drives it, over streamable HTTP and SSE, and the task it
creates is read back from the database.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx2
import pytest
from mcp_types.version import LATEST_HANDSHAKE_VERSION

from tests.conformance.conftest import NodeTools
from tests.security.common import rows
from tests.server.test_transports import free_port, serving, terminate

API_TOKEN = "inspector-api-token-for-tests"
START_DEADLINE = 60.0  # seconds for the Inspector's web server to come up (~3 s quiet)


@contextmanager
def inspector_web(node_tools: NodeTools, tmp_path: Path) -> Iterator[str]:
    """The Inspector's web server on free ports; yields its base URL."""
    port = free_port()
    env = {
        **node_tools.env(tmp_path),
        "CLIENT_PORT": str(port),
        "MCP_SANDBOX_PORT": str(free_port()),
        "MCP_APP_ORIGIN_PORT": "0",
        "MCP_INSPECTOR_API_TOKEN": API_TOKEN,
        "MCP_AUTO_OPEN_ENABLED": "false",
        "MCP_INSPECTOR_SECRET_STORE": "memory",
        "MCP_STORAGE_DIR": str(tmp_path / "inspector-storage"),
        "HOME": str(tmp_path),
    }
    proc = subprocess.Popen(
        node_tools.command("inspector", "--web"),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
        cwd=tmp_path,
    )
    try:
        seen = []
        for line in proc.stdout:  # it announces itself once listening; EOF if it dies
            seen.append(line)
            if "is up and running" in line:
                break
        else:
            pytest.fail(f"the Inspector exited with {proc.wait()}:\n{''.join(seen)}")
        yield f"http://127.0.0.1:{port}"
    finally:
        terminate(proc)
        proc.stdout.close()


@pytest.mark.parametrize("transport", ["http", "sse"])
async def test_the_inspector_web_ui_connects_and_calls_a_tool_with_no_allow_origin(node_tools, tmp_path, transport):
    db = tmp_path / "t.db"
    with serving(tmp_path, transport, db) as (url, _, log), inspector_web(node_tools, tmp_path) as web:
        # What the page sends: its own origin, and the backend's token.
        headers = {"origin": web, "x-mcp-remote-auth": f"Bearer {API_TOKEN}"}
        config = {"type": "streamable-http" if transport == "http" else "sse", "url": url}
        async with httpx2.AsyncClient(base_url=web, headers=headers, timeout=30) as page:
            connected = await page.post("/api/mcp/connect", json={"config": config})
            assert connected.status_code == 200, connected.text
            session = connected.json()["sessionId"]

            async def send(message: dict[str, Any]) -> None:
                sent = await page.post("/api/mcp/send", json={"sessionId": session, "message": message})
                assert sent.json() == {"ok": True}, (message, sent.text)

            hello = {"name": "web-ui", "version": "0"}
            params = {"protocolVersion": LATEST_HANDSHAKE_VERSION, "capabilities": {}, "clientInfo": hello}
            await send({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": params})
            await send({"jsonrpc": "2.0", "method": "notifications/initialized"})
            create = {"name": "task_create", "arguments": {"tasks": [{"title": "from the web UI"}]}}
            await send({"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": create})
        assert "Invalid Origin" not in log.read_text()
    assert rows(db, "SELECT title FROM tasks") == [("from the web UI",)]
