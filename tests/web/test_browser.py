"""The dashboard in a real browser: Debian's headless Chromium, driven by Playwright by path (no
browser is ever downloaded), against a real `taskloom serve --transport http` process. Changes are
made by a real MCP client, another process as far as the server knows, and must reach the open
page live: no reload, under the strict CSP, with nothing in the console.

CI sets TASKLOOM_REQUIRE_BROWSER=1, so a missing browser or driver fails there instead of
skipping. TASKLOOM_SCREENSHOTS=1 writes the README's screenshots to docs/screenshots/.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client

from tests.server.test_transports import PROJECT, TASKLOOM, serving
from tests.web.conftest import EXAMPLES

REQUIRE = "TASKLOOM_REQUIRE_BROWSER"
ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "docs" / "screenshots"
# The headless shell starts faster and draws the same pages; the full browser also works.
CANDIDATES = ("chromium-headless-shell", "chromium")
LIVE_MS = 8_000  # a change must reach the page well within this (the feed is patient: ~1.25 s)


def _missing(why: str) -> None:
    if os.environ.get(REQUIRE) == "1":
        pytest.fail(f"{REQUIRE}=1 but {why}")
    pytest.skip(why)


def chromium_path() -> str:
    path = os.environ.get("TASKLOOM_CHROMIUM") or next(filter(None, map(shutil.which, CANDIDATES)), None)
    if path is None:
        _missing("no Chromium: apt-get install chromium-headless-shell (or chromium), or set TASKLOOM_CHROMIUM")
    return path


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing("playwright is not installed: `pip install -e '.[test]'`")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium_path(), headless=True)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def server(tmp_path: Path) -> Iterator[str]:
    """A real HTTP server over the example plan; yields the MCP URL."""
    db = tmp_path / "team.db"
    subprocess.run([TASKLOOM, "import", str(EXAMPLES / "plan.yaml"), "--db", str(db), "--project", PROJECT],
                   check=True, capture_output=True)
    with serving(tmp_path, "http", db) as (url, _proc, _log):
        yield url


@pytest.fixture
def page(server: str, browser: Any, tmp_path: Path) -> Iterator[Any]:
    # After `server` (so it closes first): an open page holds an event stream the server waits on.
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.errors = []  # type: ignore[attr-defined]
    page.on("console", lambda m: page.errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: page.errors.append(str(e)))
    try:
        yield page
    finally:
        page.screenshot(path=tmp_path / "last.png", full_page=True)
        context.close()


def shot(page: Any, name: str, tmp_path: Path, **kw: Any) -> None:
    target = SHOTS if os.environ.get("TASKLOOM_SCREENSHOTS") == "1" else tmp_path
    target.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=target / name, **kw)


def mcp(url: str, *calls: tuple[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """Tool calls from another process's point of view: a real MCP client over HTTP, acting as the
    server's default agent (`serving` sets it: wire-agent)."""

    async def run() -> list[dict[str, Any]]:
        out = []
        async with Client(url) as client:
            for name, args in calls:
                result = await client.call_tool(name, args)
                assert not result.is_error, (name, result.content)
                out.append(result.structured_content)
        return out

    # Playwright's sync API keeps an event loop on this thread: the client runs on its own.
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(anyio.run, run).result(timeout=60)


def go_live(page: Any, url: str) -> None:
    page.goto(url)
    page.wait_for_selector("body[data-live='1']", timeout=LIVE_MS)
    # Marks a reload (a new window) would lose.
    page.evaluate("() => { window.__same = 1; }")


def node_status(code: str) -> str:
    return f"() => (document.querySelector('a[href=\"/ui/task/{code}\"] g.node') || {{}}).classList"


def test_the_overview_shows_a_task_turn_done_live_after_tool_calls_from_another_process(server, page, tmp_path):
    base = server.removesuffix("/mcp")
    go_live(page, base + "/ui/")
    assert "s-ready" in page.get_attribute('a[href="/ui/task/EXP-1"] g.node', "class")
    done_before = page.text_content("#counts")
    page.screenshot(path=tmp_path / "overview-before.png", full_page=True)

    mcp(server, ("task_claim", {"task": "EXP-1"}),
        ("task_done", {"task": "EXP-1", "summary": "docs/export-schema.md lists every column."}))

    page.wait_for_function(
        "() => document.querySelector('a[href=\"/ui/task/EXP-1\"] g.node').classList.contains('s-done')",
        timeout=LIVE_MS,
    )
    page.wait_for_function("() => document.querySelector('#activity').textContent.includes('task.done')",
                           timeout=LIVE_MS)
    page.wait_for_function(
        "() => document.querySelector('a[href=\"/ui/task/EXP-2\"] g.node').classList.contains('s-ready')",
        timeout=LIVE_MS,
    )
    assert page.text_content("#counts") != done_before
    assert page.evaluate("() => window.__same") == 1  # no reload
    shot(page, "overview.png", tmp_path, full_page=True)
    assert not page.errors, page.errors  # the CSP refused nothing


def test_a_person_answers_a_blocker_from_the_task_page_and_the_agent_gets_the_answer(server, page, tmp_path):
    base = server.removesuffix("/mcp")
    mcp(server, ("task_claim", {"task": "EXP-1"}))
    page.goto(base + "/ui/login")  # an open dashboard asks who acts: the answer carries the name
    page.fill("#name", "alice")
    page.click("button[type=submit]")
    page.wait_for_url("**/ui/")
    go_live(page, base + "/ui/task/EXP-1")
    page.wait_for_selector("#task-status.s-in_progress")

    mcp(server, ("task_block", {"task": "EXP-1", "reason": "Dates as ISO 8601 or as the locale shows them?"}))

    page.wait_for_selector("#answer", timeout=LIVE_MS)  # the form arrived live with the blocker
    assert page.evaluate("() => window.__same") == 1
    page.fill("#answer", "ISO 8601 in UTC, always.")
    shot(page, "task.png", tmp_path, full_page=True)
    page.click("#unblock")
    page.wait_for_selector("#task-status.s-in_progress", timeout=LIVE_MS)

    [got, inbox] = mcp(server, ("task_get", {"task": "EXP-1"}), ("message_inbox", {}))
    assert got["task"]["status"] == "in_progress" and got["task"]["claimed_by"] == "wire-agent"
    assert any("ISO 8601 in UTC" in m["body"] and m["sender"] == "alice" for m in inbox["messages"]), inbox
    assert not page.errors, page.errors


def test_a_stream_too_big_to_draw_task_by_task_is_one_node_and_opens_to_its_tasks(server, page, tmp_path):
    base = server.removesuffix("/mcp")
    tasks = [{"title": f"Load fixture {i}", "stream": "export-core"} for i in range(320)]
    mcp(server, ("task_create", {"tasks": tasks[:200]}), ("task_create", {"tasks": tasks[200:]}))
    page.goto(base + "/ui/")
    node = page.wait_for_selector('a[href="/ui/?stream=export-core"] g.node')
    assert "k-stream" in node.get_attribute("class")
    shot(page, "graph.png", tmp_path, full_page=True)
    page.click('a[href="/ui/?stream=export-core"]')
    page.wait_for_url("**/ui/?stream=export-core")
    assert "Stream export-core" in page.text_content("#graph")
    assert not page.errors, page.errors
    assert time.monotonic()
