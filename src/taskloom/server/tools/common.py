"""What every tool module shares: how to reach the app, argument types, annotations."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Annotated, Any

import anyio
from mcp.server.mcpserver import Context
from mcp.types import ToolAnnotations
from mcp_types.version import HANDSHAKE_PROTOCOL_VERSIONS
from pydantic import Field

from taskloom.errors import InvalidInput, TaskloomError
from taskloom.services.app import Taskloom

# No description: agent_init documents it once, and a sentence repeated on every tool costs each
# agent about 1 KB of context.
AgentArg = Annotated[str | None, Field(max_length=100)]
# Undescribed for the same reason: every result names tasks by code (T-12), so the format is evident.
TaskArg = Annotated[str, Field(min_length=1, max_length=64)]
ReasonArg = Annotated[str | None, Field(description="why, for the next reader")]

# Hints equal to the spec's defaults (readOnly false, idempotent false) are left out; destructive
# and openWorld default to true, so they are always spelt. A read-only tool's destructive and
# idempotent hints mean nothing by the spec.
READ = ToolAnnotations(read_only_hint=True, open_world_hint=False)
WRITE = ToolAnnotations(destructive_hint=False, open_world_hint=False)
IDEMPOTENT = ToolAnnotations(idempotent_hint=True, destructive_hint=False, open_world_hint=False)
DESTRUCTIVE = ToolAnnotations(destructive_hint=True, open_world_hint=False)


@dataclass(frozen=True)
class ToolDef:
    fn: Callable[..., Any]
    title: str
    annotations: ToolAnnotations

    @property
    def name(self) -> str:
        return self.fn.__name__


def app_of(ctx: Context) -> Taskloom:
    return ctx.request_context.lifespan_context


# Undescribed beyond this: the tool's own description says what it waits for.
WaitArg = Annotated[float | None, Field(ge=0, description="if nothing yet, wait this long (max 50 s)")]


def wait_for(ctx: Context, seconds: float | None) -> float:
    """The seconds a call may wait: what it asked for, capped by the server's --max-wait."""
    return min(seconds or 0.0, app_of(ctx).settings.max_wait)


@asynccontextmanager
async def while_caller_listens(ctx: Context) -> AsyncIterator[None]:
    """Run a waiting call only while its answer can still reach the caller: the block ends,
    quietly and claiming nothing, when the caller goes away.

    stdio: the end of input (`Hangups`). Handshake-era streamable HTTP: the call's POST connection
    closing. The SDK keeps such a call running for a client that would resume the stream from an
    event store, but taskloom keeps none, so the answer is lost, and a claim made for it would hold
    a lease for nobody. (The SDK itself cancels a 2026-era call when its connection closes, and an
    SSE call's POST is answered at once, so its connection says nothing about the caller.)
    """
    server = ctx.mcp_server
    with server.hangups.guard() as gone:
        request = ctx.request_context.request
        receive = getattr(request, "receive", None)
        if (
            receive is None
            or app_of(ctx).settings.transport != "http"
            or ctx.request_context.protocol_version not in HANDSHAKE_PROTOCOL_VERSIONS
        ):
            yield
            return
        try:
            async with anyio.create_task_group() as tg:
                tg.start_soon(_end_on_disconnect, receive, gone)
                yield
                tg.cancel_scope.cancel()
        except BaseExceptionGroup as group:
            # The task group wraps what the waiting call raised; unwrapped, the call's own error
            # (not_found, storage...) reaches the caller instead of `internal`.
            if len(group.exceptions) == 1 and isinstance(group.exceptions[0], TaskloomError):
                raise group.exceptions[0] from group.exceptions[0].__cause__
            raise


async def _end_on_disconnect(receive: Callable[[], Any], gone: anyio.CancelScope) -> None:
    # The body is read by now, so the next ASGI message is the disconnect (as the SDK's own
    # 2026-era transport waits for it; uvicorn wakes every receiver).
    while (await receive()).get("type") != "http.disconnect":
        pass
    gone.cancel()


def bind_agent(ctx: Context, name: str) -> bool:
    """Remember `name` as this connection's agent, for later calls that omit `agent`; False when
    the connection ends with this call (stateless HTTP), so nothing can be remembered."""
    bind = getattr(ctx.mcp_server, "bind_agent", None)
    return bind is not None and bind(ctx.request_context, name)


def keeps_connection(request_context: Any) -> bool:
    """Whether this request's connection lasts beyond it, so a name bound to it reaches later calls.

    Not so a 2026-era HTTP request: it is a connection of its own, with no session. (stdio, SSE and
    handshake-era streamable HTTP, which taskloom serves with sessions, all keep theirs.)
    """
    return request_context.request is None or request_context.protocol_version in HANDSHAKE_PROTOCOL_VERSIONS


def stateless_missing_agent() -> InvalidInput:
    return InvalidInput(
        "No agent name was given, and this connection cannot remember one: it is stateless HTTP (no "
        "session), so the name given to agent_init does not reach later calls.",
        hint=STATELESS_IDENTITY,
    )


STATELESS_IDENTITY = (
    "Pass agent=<your name> on every call, or connect with your own per-agent token (made by "
    "`taskloom token new --agent NAME`, sent as `Authorization: Bearer <token>`), which names you on every call."
)
