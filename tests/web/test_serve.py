"""The dashboard on real servers: `taskloom serve --transport http` serves it at /ui beside /mcp,
and `taskloom dashboard` serves it alone; bad flags and databases are clear errors."""

from __future__ import annotations

import subprocess
import sys

import httpx2 as httpx
from mcp import Client

from tests.server.test_transports import PROJECT, TASKLOOM, serving
from tests.web.conftest import EXAMPLES


def _taskloom(*args: str, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run([TASKLOOM, *args], check=False, capture_output=True, text=True, timeout=60, cwd=cwd)


async def test_one_http_server_serves_mcp_and_the_dashboard(tmp_path):
    db = tmp_path / "t.db"
    assert _taskloom("import", str(EXAMPLES / "plan.yaml"), "--db", str(db), "--project", PROJECT).returncode == 0
    with serving(tmp_path, "http", db) as (url, _proc, _log):
        base = url.removesuffix("/mcp")
        async with httpx.AsyncClient(base_url=base, timeout=10) as http:
            bare = await http.get("/")
            assert bare.status_code == 307 and bare.headers["location"] == "/ui/"
            page = await http.get("/ui/")
            assert page.status_code == 200 and "export-core" in page.text
        async with Client(url) as client:
            listed = await client.call_tool("task_list", {})
            assert not listed.is_error and listed.structured_content["total"] == 4


async def test_with_a_token_the_dashboard_asks_to_sign_in_and_mcp_still_needs_the_bearer(tmp_path):
    db = tmp_path / "t.db"
    with serving(tmp_path, "http", db, token="s3cret-token-for-tests") as (url, _proc, _log):
        base = url.removesuffix("/mcp")
        async with httpx.AsyncClient(base_url=base, timeout=10) as http:
            assert (await http.get("/ui/")).status_code == 303
            assert (await http.post("/mcp", json={})).status_code == 401
            signed = await http.post("/ui/login", data={"token": "s3cret-token-for-tests", "name": "alice"},
                                     headers={"origin": base})
            assert signed.status_code == 303
            assert (await http.get("/ui/")).status_code == 200


def test_dashboard_refuses_bad_input_with_a_clear_error(tmp_path):
    db = tmp_path / "t.db"
    missing = _taskloom("dashboard", "--db", str(db), "--port", "0")
    assert missing.returncode == 2 and "No taskloom database" in missing.stderr and "Traceback" not in missing.stderr
    assert not db.exists()
    _taskloom("import", str(EXAMPLES / "plan.yaml"), "--db", str(db), "--project", PROJECT)
    port = _taskloom("dashboard", "--db", str(db), "--project", PROJECT, "--port", "70000")
    assert port.returncode == 2 and "not a TCP port" in port.stderr
    exposed = _taskloom("dashboard", "--db", str(db), "--project", PROJECT, "--host", "0.0.0.0", "--port", "0")
    assert exposed.returncode == 2 and "without a token" in exposed.stderr
    project = _taskloom("dashboard", "--db", str(db), "--project", "typo", "--port", "0")
    assert project.returncode == 2 and "typo" in project.stderr and "Traceback" not in project.stderr
    broken = tmp_path / "broken.db"
    broken.write_bytes(b"this is not a database" * 100)
    bad = _taskloom("dashboard", "--db", str(broken), "--port", "0")
    assert bad.returncode == 2 and "Traceback" not in bad.stderr, bad.stderr
    assert broken.read_bytes() == b"this is not a database" * 100
    assert sys.executable


async def test_sigterm_with_three_dashboards_listening_stops_the_server_within_two_seconds(tmp_path):
    import signal
    import time

    import anyio

    db = tmp_path / "t.db"
    with serving(tmp_path, "http", db) as (url, proc, log):
        base = url.removesuffix("/mcp")
        async with httpx.AsyncClient(base_url=base, timeout=10) as http, anyio.create_task_group() as tg:
            opened = anyio.Event()
            count = 0

            async def listen() -> None:
                nonlocal count
                async with http.stream("GET", "/ui/events?r=overview,activity") as events:
                    assert events.status_code == 200
                    count += 1
                    if count == 3:
                        opened.set()
                    async for _ in events.aiter_lines():
                        pass

            for _ in range(3):
                tg.start_soon(listen)
            with anyio.fail_after(10):
                await opened.wait()
            started = time.monotonic()
            proc.send_signal(signal.SIGTERM)
            code = await anyio.to_thread.run_sync(proc.wait, 10)
            took = time.monotonic() - started
    # uvicorn re-raises the signal once it has shut down, so the exit status says SIGTERM.
    assert code in (0, -signal.SIGTERM) and took < 2.0, (code, took)
    assert "Traceback" not in log.read_text()
