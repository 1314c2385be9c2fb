"""Protocol methods `MCPServer` leaves out: `logging/setLevel` and `completion/complete`.

Logging: a client's `logging/setLevel` holds for its connection. `MCPServer` would deliver every
`ctx.info`/`ctx.warning`/... whatever level was asked for, so a middleware narrows each request's
session to the levels at or above the one its connection set (handshake era only: the
2026-07-28 era has no `logging/setLevel` and opts in per request instead).

Completion: prompt arguments and resource-template parameters that name something in the
database complete from it by case-insensitive prefix: task codes, stream codes, agent names.
Anything else (an argument we don't complete, a prompt or template we don't have) gets no
suggestions rather than an error: completion is a typing aid, and the SDK answers the same way
when no handler claims a reference.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import Any

from mcp.server.mcpserver import MCPServer
from mcp.types import (
    Completion,
    CompletionArgument,
    CompletionContext,
    EmptyResult,
    LoggingLevel,
    PromptReference,
    ResourceTemplateReference,
    SetLevelRequestParams,
)

from taskloom.services.app import Taskloom
from taskloom.services.common import Scope
from taskloom.store.base import Tx

LEVELS: tuple[LoggingLevel, ...] = (
    "debug", "info", "notice", "warning", "error", "critical", "alert", "emergency"
)
MAX_VALUES = 100  # the spec's cap on completion values per response
# Agents an agent-name completion looks through, most recently seen first. A bound, not -1 ("all"):
# PostgreSQL refuses a negative LIMIT.
AGENTS_SCANNED = 100_000

# (reference, argument) -> what the argument names. A reference is a prompt name or a template URI.
COMPLETES: dict[tuple[str, str], str] = {
    ("worker_instructions", "agent"): "agent",
    ("worker_instructions", "task"): "task",
    ("worker_instructions", "stream"): "stream",
    ("completion_report", "sprint"): "sprint",
    ("completion_report", "stream"): "stream",
    ("taskloom://tasks/{code}", "code"): "task",
    ("taskloom://streams/{code}", "code"): "stream",
    ("taskloom://agents/{name}/inbox", "name"): "agent",
}


def at_or_above(level: LoggingLevel) -> frozenset[LoggingLevel]:
    return frozenset(LEVELS[LEVELS.index(level) :])


class LogLevels:
    """The level each connection asked for with `logging/setLevel`; forgotten with the connection."""

    def __init__(self) -> None:
        self._levels: weakref.WeakKeyDictionary[Any, LoggingLevel] = weakref.WeakKeyDictionary()

    async def on_set_level(self, ctx: Any, params: SetLevelRequestParams) -> EmptyResult:
        self._levels[_connection(ctx.session)] = params.level
        return EmptyResult()

    async def middleware(self, ctx: Any, call_next: Callable[[Any], Any]) -> Any:
        level = self._levels.get(_connection(ctx.session))
        if level is not None:
            # The session's own gate (private in SDK 2.3, pinned by tests/server/test_protocol.py):
            # send_log_message drops any level not in it.
            session = ctx.session
            session._allowed_log_levels = session._allowed_log_levels & at_or_above(level)
        return await call_next(ctx)


def _connection(session: Any) -> Any:
    # What lasts as long as the client's connection (build.connection_of; importing it would be circular).
    return getattr(session, "_connection", session)


def register(server: MCPServer[Any]) -> None:
    """Serve `logging/setLevel` and `completion/complete` on `server` (a `TaskloomMCP`)."""
    app: Taskloom = server.app  # type: ignore[attr-defined]
    levels = LogLevels()
    lowlevel = server._lowlevel_server
    lowlevel.add_request_handler("logging/setLevel", SetLevelRequestParams, levels.on_set_level)
    lowlevel.middleware.append(levels.middleware)

    @server.completion()
    async def complete(
        ref: PromptReference | ResourceTemplateReference,
        argument: CompletionArgument,
        context: CompletionContext | None,
    ) -> Completion:
        key = ref.name if isinstance(ref, PromptReference) else ref.uri
        kind = COMPLETES.get((key, argument.name))
        if kind is None:
            return Completion(values=[])
        given = (context.arguments if context else None) or {}
        matches = await app.read(_candidates, kind, argument.value, given.get("stream") or None)
        return Completion(values=matches[:MAX_VALUES], has_more=len(matches) > MAX_VALUES)


def _candidates(tx: Tx, scope: Scope, kind: str, prefix: str, stream: str | None) -> list[str]:
    """Up to MAX_VALUES + 1 names of `kind` starting with `prefix` (one extra says there are more)."""
    wanted = prefix.casefold()
    if kind in ("stream", "sprint"):
        if kind == "stream":
            rows = tx.all("stream_list", {"project": scope.project_id})
        else:
            rows = tx.all("sprint_list", {"project": scope.project_id})
        return [r["code"] for r in rows if r["code"].casefold().startswith(wanted)][: MAX_VALUES + 1]
    if kind == "agent":
        # Most recently seen first: the agent one is most likely to mean.
        rows = tx.all("agent_list", {"project": scope.project_id, "name": None, "limit": AGENTS_SCANNED})
        return [r["name"] for r in rows if r["name"].casefold().startswith(wanted)][: MAX_VALUES + 1]
    return _task_codes(tx, scope, wanted, stream)


def _task_codes(tx: Tx, scope: Scope, wanted: str, stream: str | None) -> list[str]:
    """Task codes in creation order, narrowed to a stream when the prompt's `stream` is already given."""
    stream_id = None
    if stream is not None:
        row = tx.one("stream_by_code", {"project": scope.project_id, "code": stream})
        if row is None:
            return []
        stream_id = row["id"]
    escaped = wanted.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    params = {"project": scope.project_id, "stream_id": stream_id, "pattern": escaped + "%", "limit": MAX_VALUES + 1}
    return [r["code"] for r in tx.all("task_codes_with_prefix", params)]
