"""The fuzzing rig: one real server on a real SQLite file, reset to a seeded plan before each example.

Building the MCP server costs ~120 ms (every tool's argument model), so one server serves a whole
test; each hypothesis example restores the database from a seeded template (SQLite's backup API,
through a separate connection) and connects a fresh in-memory client, so an example never depends
on the ones before it and a failure replays alone.

Every call is checked the same way (`Rig.call`): an answer within a deadline; success, or an error
whose text starts with one of our codes and carries no traceback; `internal` never; a request the
SDK client cannot even encode is counted, not failed (`unsendable`); a failed call
commits nothing (`PRAGMA data_version` read from a monitor connection: it moves exactly when
another connection commits, so a presence write after a successful call cannot confuse it); and
after any commit, the task and stream dependency graphs are still acyclic.
"""

from __future__ import annotations

import math
import os
import sqlite3
import tempfile
from collections import Counter
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import networkx as nx
from mcp import Client
from mcp.types import Tool

from taskloom.clock import ManualClock
from taskloom.config import Settings
from taskloom.errors import ALL_ERRORS, Internal, Storage
from taskloom.server import build_server
from taskloom.server.build import TaskloomMCP
from taskloom.server.errors import error_of
from taskloom.services.app import Taskloom

# Every code but `internal` (taskloom crashed) and `storage` (the file broke): no input may cause either.
CODES = frozenset(e.code for e in ALL_ERRORS) - {Internal.code, Storage.code}
CALL_DEADLINE = 20.0  # seconds: a hang detector; calls take ~1 ms, a 1 MB argument ~100 ms
START = 1_800_000_000.0  # the seeded plan's clock


class ResettableClock(ManualClock):
    """A manual clock that can be put back to the seeded plan's time for each example."""

    def set(self, now: float) -> None:
        self._now = now


@dataclass
class Stats:
    calls: int = 0
    per_tool: Counter[str] = field(default_factory=Counter)
    successes: Counter[str] = field(default_factory=Counter)
    codes: Counter[str] = field(default_factory=Counter)
    unsendable: int = 0
    slowest: tuple[float, str] = (0.0, "")

    def summary(self) -> str:
        lines = [
            (
                f"{self.calls} calls; codes {dict(self.codes.most_common())}; "
                f"unsendable {self.unsendable}; slowest {self.slowest}"
            )
        ]
        for tool in sorted(self.per_tool):
            lines.append(f"  {tool}: {self.per_tool[tool]} calls, {self.successes[tool]} ok")
        return "\n".join(lines)


@dataclass(frozen=True)
class Outcome:
    ok: bool
    code: str | None
    text: str
    structured: dict[str, Any] | None


def has_surrogate(value: Any) -> bool:
    if isinstance(value, str):
        return any("\ud800" <= c <= "\udfff" for c in value)
    if isinstance(value, dict):
        return any(has_surrogate(k) or has_surrogate(v) for k, v in value.items())
    if isinstance(value, list):
        return any(has_surrogate(v) for v in value)
    return False


def short(value: Any, limit: int = 300) -> str:
    text = repr(value)
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} chars)"


class Rig:
    def __init__(self, folder: Path, app: Taskloom, server: TaskloomMCP, clock: ResettableClock) -> None:
        self.folder = folder
        self.app = app
        self.server = server
        self.clock = clock
        self.db_path = app.settings.db_path
        self.template = folder / "template.db"
        self.monitor = sqlite3.connect(self.db_path, isolation_level=None, check_same_thread=False)
        self.stats = Stats()
        self.tools: list[Tool] = []  # as the live server lists them

    @classmethod
    @asynccontextmanager
    async def open(cls, seed: Callable[[Client], Any]) -> AsyncIterator[Rig]:
        with tempfile.TemporaryDirectory(prefix="taskloom-fuzz-") as tmp:
            folder = Path(tmp)
            (folder / "artifacts").mkdir()
            (folder / "artifacts" / "report.md").write_text("# a file a path upload may read\n")
            clock = ResettableClock(START)
            settings = Settings(
                db_path=folder / "live.db",
                project="fuzz",
                lease_seconds=600.0,
                default_agent="alice",  # holds tasks in the seeded plan, so calls without `agent` can succeed
                # Whatever a fuzzed path names, the server may read nothing outside this folder.
                artifact_roots=(folder / "artifacts",),
                # Fuzzed wait_seconds wait for real, so each is cut to a blink: the waits still run.
                max_wait=0.05,
            )
            app = await Taskloom.open(settings, clock)
            try:
                rig = cls(folder, app, build_server(app), clock)
                try:
                    async with Client(rig.server, mode="legacy") as client:
                        rig.tools = list((await client.list_tools()).tools)
                        await seed(client)
                    rig._save_template()
                    yield rig
                finally:
                    rig.monitor.close()
            finally:
                await app.close()

    def _save_template(self) -> None:
        target = sqlite3.connect(self.template)
        try:
            self.monitor.backup(target)
        finally:
            target.close()

    @asynccontextmanager
    async def session(self) -> AsyncIterator[Client]:
        """The seeded plan, at its own time, on a new connection (so no agent is bound yet)."""
        source = sqlite3.connect(self.template)
        try:
            source.backup(self.monitor)
        finally:
            source.close()
        self.clock.set(START)
        async with Client(self.server, mode="legacy") as client:
            yield client
            # The session survived everything sent to it.
            with anyio.fail_after(CALL_DEADLINE):
                assert not (await client.call_tool("project_status", {})).is_error
        problems = self.monitor.execute("PRAGMA foreign_key_check").fetchall()
        assert problems == [], f"foreign keys broken: {problems[:5]}"

    def data_version(self) -> int:
        return self.monitor.execute("PRAGMA data_version").fetchone()[0]

    def graph_cycles(self) -> list[str]:
        """Which dependency graphs (tasks, streams, parents) have a cycle; [] when all are DAGs."""
        found = []
        for name, sql in (
            ("task_deps", "SELECT task_id, depends_on_id FROM task_deps"),
            ("stream_deps", "SELECT stream_id, depends_on_id FROM stream_deps"),
            ("parents", "SELECT id, parent_id FROM tasks WHERE parent_id IS NOT NULL"),
        ):
            graph = nx.DiGraph(self.monitor.execute(sql).fetchall())
            if not nx.is_directed_acyclic_graph(graph):
                found.append(f"{name}: {nx.find_cycle(graph)}")
        return found

    async def call(self, client: Client, tool: str, args: dict[str, Any] | None) -> Outcome:
        """One call, checked; raises AssertionError naming the call on any breach."""
        where = f"{tool}({short(args)})"
        before = self.data_version()
        started = anyio.current_time()
        try:
            with anyio.fail_after(CALL_DEADLINE):
                result = await client.call_tool(tool, args)
        except TimeoutError:
            raise AssertionError(f"no answer within {CALL_DEADLINE} s: {where}") from None
        except UnicodeEncodeError:
            # The SDK client serialises a request to JSON form before sending, and a lone
            # surrogate in a nested object key cannot be: the request never left the client.
            assert has_surrogate(args), f"the client could not encode {where}"
            self.stats.unsendable += 1
            assert self.data_version() == before
            return Outcome(False, None, "unsendable", None)
        except Exception as exc:  # the session itself broke: the worst outcome, reported whole
            raise AssertionError(f"the call raised {exc!r}: {where}") from exc
        elapsed = anyio.current_time() - started
        self.stats.calls += 1
        self.stats.per_tool[tool] += 1
        self.stats.slowest = max(self.stats.slowest, (round(elapsed, 3), where[:120]))
        text = result.content[0].text if result.content and hasattr(result.content[0], "text") else ""
        assert "Traceback" not in text and 'File "' not in text, f"traceback text from {where}: {text[:500]}"
        if result.is_error:
            code = text.split(":", 1)[0]
            self.stats.codes[code] += 1
            assert code in CODES, f"error code {code!r} from {where}: {text[:500]}"
            err = error_of(result)
            assert err is not None and err["code"] == code, f"_meta error missing or different: {where}"
            assert self.data_version() == before, f"a failed call changed the database: {where}: {text[:300]}"
            return Outcome(False, code, text, None)
        self.stats.successes[tool] += 1
        assert isinstance(result.structured_content, dict), f"no structured result from {where}"
        if self.data_version() != before:
            cycles = self.graph_cycles()
            assert cycles == [], f"{where} left a dependency cycle: {cycles}"
        return Outcome(True, None, text, result.structured_content)


def examples(base: int) -> int:
    """`TASKLOOM_FUZZ_EXAMPLES` multiplies every fuzz test's example count (default 1)."""
    factor = float(os.environ.get("TASKLOOM_FUZZ_EXAMPLES", "1"))
    return max(1, math.ceil(base * factor))


# ---------------------------------------------------------------- the seeded plan

TASKS = [f"T-{i}" for i in range(1, 12)]
STREAMS = ["db", "api", "ui"]
SPRINTS = ["S1"]
ROLES = ["dev", "qa", "orchestrator"]
AGENTS = ["alice", "bob", "boss", "tester"]
MEMORY_KEYS = ["notes/a", "notes/b", "decisions/db"]


async def seed_plan(client: Client) -> None:
    """A small plan with every task status, so that most tools can succeed on some codes."""

    async def ok(tool: str, **args: Any) -> dict[str, Any]:
        result = await client.call_tool(tool, args)
        assert not result.is_error, f"seeding {tool}: {result.content[0].text}"
        return result.structured_content

    for slug in ROLES:
        await ok("role_define", role={"slug": slug, "instructions": f"work as {slug}"}, agent="boss")
    await ok("agent_init", agent="alice", role="dev", capabilities=["python"])
    await ok("agent_init", agent="bob", role="qa")
    await ok("agent_init", agent="boss", role="orchestrator")
    await ok("sprint_create", code="S1", title="first", status="active")
    await ok("stream_create", code="db", name="Database")
    await ok("stream_create", code="api", depends_on=["db"])
    await ok("stream_create", code="ui", depends_on=["api"])
    await ok(
        "task_create",
        agent="boss",
        tasks=[
            {"title": "schema", "stream": "db", "sprint": "S1", "labels": ["backend"]},  # T-1 in progress
            {"title": "routes", "stream": "api", "depends_on": ["T-1"], "role": "dev"},  # T-2 waiting
            {"title": "free", "priority": 0},  # T-3 ready
            {"title": "reviewed", "requires_review": True},  # T-4 review
            {"title": "blocked"},  # T-5 blocked
            {"title": "parent"},  # T-6 waiting on its subtask
            {"title": "child", "parent": "T-6", "role": "qa"},  # T-7 ready
            {"title": "parked", "backlog": True},  # T-8 backlog
            {"title": "finished"},  # T-9 done
            {"title": "screens", "stream": "ui", "depends_on": ["T-2"]},  # T-10 waiting
            {"title": "doomed", "max_attempts": 1},  # T-11 failed
            {"title": "login", "code": "AUTH-1", "key": "k-auth", "labels": ["urgent"]},
        ],
    )
    for code in ("T-1", "T-4", "T-5", "T-9", "T-11"):
        await ok("task_claim", task=code, agent="alice")
    await ok("task_done", task="T-4", summary="please review", agent="alice")
    await ok("task_block", task="T-5", reason="which database?", agent="alice")
    await ok("task_done", task="T-9", summary="done", agent="alice")
    await ok("task_fail", task="T-11", reason="broken", retry=False, agent="alice")
    await ok("task_note", task="T-1", body="started", kind="progress", agent="alice")
    await ok("task_context", task="T-1", text="# schema\nuse sqlite", agent="alice")
    await ok("message_send", to="bob", body="hello bob", agent="alice")
    await ok("message_send", to="role:dev", body="devs, look", ack_required=True, agent="boss")
    await ok("message_send", to="task:T-1", body="thread", agent="bob")
    await ok("memory_set", key="notes/a", value="a", agent="alice")
    await ok("memory_set", key="notes/b", value="b", agent="alice")
    await ok("memory_set", key="decisions/db", value="sqlite", scope="project", agent="boss")
    await ok("agent_log", text="seeded", task="T-1", agent="boss")
    listed = {t.name for t in (await client.list_tools()).tools}
    if "artifacts_upload" in listed:
        uploaded = await ok(
            "artifacts_upload", name="report.md", content="# report\n", links=["task:T-1"], agent="alice"
        )
        from tests.fuzz.strategies import add_pool

        add_pool("artifact", [uploaded["artifact"]["uri"], uploaded["artifact"]["sha256"]])
