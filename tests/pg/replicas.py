"""Helpers for the multi-replica tests: `taskloom serve --transport http` processes on one
PostgreSQL database, and agents (one MCP session each) spread over them."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack, ExitStack, asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mcp import Client

from taskloom.config import Settings
from taskloom.server.errors import error_of
from tests.conftest import table_rows
from tests.server.test_transports import serving

# What ends a claim: after one of these the task may be claimed again.
CLAIM_ENDS = frozenset({"task.done", "task.review", "task.released", "task.failed", "task.cancelled",
                        "lease.expired", "task.retry"})


@dataclass
class Replica:
    url: str
    proc: Any  # subprocess.Popen
    log: Path


@dataclass
class Agent:
    name: str
    client: Client
    replica: int

    async def call(self, tool: str, **args: Any) -> Any:
        """The raw result (is_error and all): callers decide what an error means."""
        return await self.client.call_tool(tool, {**args, "agent": self.name})

    async def ok(self, tool: str, **args: Any) -> dict[str, Any]:
        result = await self.call(tool, **args)
        assert not result.is_error, f"{self.name}: {tool} failed: {result.content[0].text}"
        return result.structured_content


@contextmanager
def replicas(tmp_path: Path, db_url: str, n: int = 2, env: dict[str, str] | None = None) -> Iterator[list[Replica]]:
    """`n` HTTP server processes on one database; terminated on the way out."""
    with ExitStack() as stack:
        yield [Replica(*stack.enter_context(serving(tmp_path, "http", db_url, agent="", env=env))) for _ in range(n)]


@asynccontextmanager
async def agents(servers: list[Replica], count: int, prefix: str = "agent") -> AsyncIterator[list[Agent]]:
    """`count` agents, dealt round-robin over the replicas, each with its own MCP session."""
    try:
        async with AsyncExitStack() as stack:
            out = []
            for i in range(count):
                client = await stack.enter_async_context(Client(servers[i % len(servers)].url, mode="legacy"))
                out.append(Agent(f"{prefix}-{i}", client, i % len(servers)))
            yield out
    except BaseExceptionGroup as group:
        # Each session's task group wraps a failing assertion once more, deeper than pytest shows.
        raise _first_leaf(group) from None


def _first_leaf(group: BaseExceptionGroup) -> BaseException:
    inner: BaseException = group
    while isinstance(inner, BaseExceptionGroup):
        inner = inner.exceptions[0]
    return inner


def error_code(result: Any) -> str:
    return error_of(result)["code"]


def events(db_url: str, *kinds: str) -> list[tuple[int, str, str, str | None]]:
    """(id, kind, subject, agent) of the events of these kinds, in id order."""
    marks = ", ".join("?" for _ in kinds)
    return table_rows(Settings(db_url=db_url), f"SELECT id, kind, subject, agent FROM events WHERE kind IN ({marks}) "
                      "ORDER BY id", tuple(kinds))


def overlapping_claims(db_url: str) -> dict[str, list[str]]:
    """Tasks claimed again while a claim was still open, with their claim history: every
    task.claimed must be ended (done, released, expired...) before the next one."""
    history: dict[str, list[str]] = defaultdict(list)
    bad: set[str] = set()
    open_claim: dict[str, bool] = defaultdict(bool)
    for _, kind, subject, _ in events(db_url, "task.claimed", *CLAIM_ENDS):
        history[subject].append(kind)
        if kind == "task.claimed":
            if open_claim[subject]:
                bad.add(subject)
            open_claim[subject] = True
        else:
            open_claim[subject] = False
    return {s: history[s] for s in sorted(bad)}


def log_trouble(servers: list[Replica]) -> dict[str, str]:
    """Server logs showing a traceback: a background crash no client would see."""
    out = {}
    for s in servers:
        text = s.log.read_text(errors="replace")
        if "Traceback" in text:
            out[s.url] = text[-3000:]
    return out
