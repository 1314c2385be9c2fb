"""`build_server()`: the MCP server for one open `Taskloom`, with the tools of one profile."""

from __future__ import annotations

import contextlib
import logging
import math
import weakref
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError, UnexpectedToolError
from mcp.shared.exceptions import MCPError
from mcp.types import INVALID_PARAMS, CallToolResult
from mcp.types import Tool as MCPTool

from taskloom import __version__
from taskloom.changes import ChangeFeed
from taskloom.config import Profile
from taskloom.domain.artifacts import URI_PREFIX, sha_of
from taskloom.errors import InvalidInput, NotFound, ReadOnly, TaskloomError
from taskloom.server import errors, prompts, protocol, resources, results
from taskloom.server.auth import token_agent, token_read_only
from taskloom.server.push import ListenBus, Push
from taskloom.server.schema import compact
from taskloom.server.tools import PROFILES, READ_ONLY_TOOLS, argument_names, sdk_tools
from taskloom.server.tools.common import keeps_connection, stateless_missing_agent
from taskloom.services import agents, artifacts
from taskloom.services.app import Taskloom
from taskloom.services.common import MissingAgent, missing_agent
from taskloom.waiting import Hangups

log = logging.getLogger(__name__)

INSTRUCTIONS = """taskloom coordinates a team of agents on one project.
Workers: agent_init first (it returns held tasks, claimable work and unread messages); then
task_claim(wait_seconds=50) gets the next ready task with everything needed to start, waiting
for one if none is ready (no polling); task_heartbeat before the lease runs out; task_note as
you go; finish with task_done (summary), task_fail (reason) or task_release; task_block when you
need an answer; claim again until the claim's outlook says stop. Orchestrators: plan_import or task_create lay
out work; project_status, agent_list and message_inbox (escalations) show where it stands.
Errors start with a stable code (not_found, conflict, invalid_transition, cycle, lease_lost,
invalid_input, too_large, read_only, busy, storage) and end with what to do next."""
PRESENCE_EVERY = 5.0  # seconds: at most one presence write per agent per process in this time


class TaskloomMCP(MCPServer[Taskloom]):
    """MCPServer with taskloom's error codes, strict argument names and compact schemas."""

    def __init__(self, app: Taskloom, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.app = app
        self.argument_names: dict[str, frozenset[str]] = {}
        self._listed: list[MCPTool] | None = None
        # Per connection: the agent named in agent_init, used when a call omits `agent`.
        self._session_agents: weakref.WeakKeyDictionary[Any, str] = weakref.WeakKeyDictionary()
        self._last_seen: dict[str, float] = {}
        self.push: Push | None = None
        self.feed: ChangeFeed | None = None
        # Waits in progress, ended at once when a stdio client's input ends (server/stdio.py).
        self.hangups = Hangups()
        self.lean_outputs = False
        self.profile: Profile = "all"

    def bind_agent(self, request_context: Any, name: str) -> bool:
        """Remember `name` for this connection's later calls; False when there will be none."""
        if not keeps_connection(request_context):
            return False
        try:
            self._session_agents[connection_of(request_context.session)] = name
        except TypeError:  # a connection type that cannot be weakly referenced
            return False
        return True

    async def list_tools(self) -> list[MCPTool]:
        if self._listed is None:
            self._listed = [
                tool.model_copy(
                    update={
                        "input_schema": compact(tool.input_schema, is_input=True),
                        # Lean (worker) lists leave out what no model reads: titles are for a
                        # person's UI (workers run headless; hosts fall back to the name), and
                        # outputs go unschematised: structuredContent is still sent, and the
                        # text copy is what a model reads.
                        "title": None if self.lean_outputs else tool.title,
                        "output_schema": None
                        if self.lean_outputs
                        else tool.output_schema and compact(tool.output_schema, is_input=False),
                    }
                )
                for tool in await super().list_tools()
            ]
        return self._listed

    async def read_resource(self, uri: Any, context: Any = None) -> Any:
        # Each artifact has its own media type; a template's mimeType is fixed, so serve these here.
        if str(uri).startswith(URI_PREFIX):
            return await resources.read_artifact(self.app, str(uri))
        fixed = token_agent(context)
        kind, name = resources.parse_uri(str(uri))
        if fixed is not None and kind == "inbox" and name != fixed:
            # A per-agent token reads its own inbox only, as message_inbox does.
            raise MCPError(INVALID_PARAMS, f"Your token is {fixed}'s; it cannot read {name}'s inbox.")
        return await super().read_resource(uri, context)

    async def get_prompt(self, name: str, arguments: dict[str, Any] | None = None, context: Any = None) -> Any:
        # The SDK answers an unknown name with an internal error; it is the caller's mistake.
        prompts = {p.name: p for p in await self.list_prompts()}
        if name not in prompts:
            raise MCPError(INVALID_PARAMS, f"Unknown prompt {name!r}. Prompts: {', '.join(prompts)}.")
        # The SDK renders an unknown argument as a logged traceback and a code-less error.
        allowed = [a.name for a in prompts[name].arguments or []]
        if unknown := sorted(set(arguments or {}) - set(allowed)):
            raise MCPError(
                INVALID_PARAMS,
                f"Prompt {name!r} has no argument(s) {', '.join(unknown)}. "
                f"Arguments: {', '.join(allowed) or 'none'}.",
            )
        return await super().get_prompt(name, arguments, context)

    async def full_tools(self) -> list[MCPTool]:
        """The tools with their schemas as pydantic wrote them (for tools.md)."""
        return await super().list_tools()

    async def call_tool(self, name: str, arguments: dict[str, Any], context: Any = None) -> Any:
        known = self.argument_names.get(name)
        if known is None and name in PROFILES["all"]:
            return errors.to_result(
                NotFound(
                    f"{name} is not offered by this server's {self.profile!r} profile.",
                    hint="Use the tools tools/list shows, or ask for a server with --profile all.",
                )
            )
        read_only = token_read_only(context)
        if read_only and known is not None and name not in READ_ONLY_TOOLS:
            return errors.to_result(ReadOnly(f"{name} can change the project, and this connection's token may only read."))
        unknown = sorted(set(arguments) - known) if known is not None else []
        if unknown:
            # A misspelt argument silently ignored is a wrong result the agent never notices.
            return errors.to_result(
                InvalidInput(
                    f"{name} has no argument(s) {', '.join(unknown)}.",
                    hint=f"Valid arguments: {', '.join(sorted(known)) or 'none'}.",
                )
            )
        fixed = token_agent(context)
        claimed = arguments.get("agent")
        if fixed is not None and claimed is not None and claimed != fixed:
            # A per-agent token fixes who the caller is; naming anyone else is impersonation.
            return errors.to_result(
                InvalidInput(
                    f"This connection's token belongs to agent {fixed!r}; it cannot act as {claimed!r}.",
                    hint=f"Omit `agent` (calls act as {fixed!r}), or use that agent's own token.",
                    details={"token_agent": fixed},
                )
            )
        agent = self._agent_for(arguments, context, fixed)
        if isinstance(agent, str):  # a wrong type is the tool's argument validation to report
            try:
                if not agent:  # an explicit "" would be stored as a nameless creator or author
                    raise missing_agent()
                agents.check_agent_name(agent)
            except TaskloomError as exc:
                return errors.to_result(exc)
        if agent is not None and known is not None and "agent" in known:
            arguments = {**arguments, "agent": agent}
        try:
            result = await self._run_tool(name, arguments, context)
        except ToolError as exc:
            err = errors.map_exception(name, exc)
            if isinstance(err, MissingAgent) and context is not None and not keeps_connection(context.request_context):
                err = stateless_missing_agent()  # "call agent_init" would not help here
            result = errors.to_result(err)
        succeeded = isinstance(result, CallToolResult) and result.structured_content is not None and not result.is_error
        if succeeded and agent and not read_only:
            # Only a call that succeeded is a sighting: a refused call commits nothing at all
            # (the fuzz suite checks it for every tool), and leaves no mistyped agent behind.
            # A read-only token writes nothing, presence included.
            await self._seen(agent)
        return result

    async def _handle_call_tool(self, ctx: Any, params: Any) -> Any:
        # The SDK registers this bound method as its tools/call handler (private in SDK 2.3;
        # tests/server/test_results.py covers it). A dict is what the SDK would dump a result to.
        result = await super()._handle_call_tool(ctx, params)
        return result.wire() if isinstance(result, results.Once) else result

    async def _run_tool(self, name: str, arguments: dict[str, Any], context: Any) -> Any:
        """`MCPServer.call_tool`, but the result is built once, by `results.to_result`."""
        if context is None:
            context = Context(mcp_server=self, subscriptions=self._subscriptions)
        tool = self._tool_manager.get_tool(name)  # private in SDK 2.3; tests/server/test_results.py covers it
        if tool is None:
            raise ToolError(f"Unknown tool: {name}")
        value = await tool.run(arguments, context)
        try:
            return results.to_result(tool, value)
        except (ValueError, TypeError) as exc:  # a value that does not convert: a crash, as in the SDK
            raise UnexpectedToolError(f"Error executing tool {name}") from exc

    def _agent_for(self, arguments: dict[str, Any], context: Any, fixed: str | None = None) -> str | None:
        if fixed is not None:
            return fixed
        if arguments.get("agent") is not None:
            # Even "": an explicit empty name is an error for the tool to report, not a default.
            return arguments["agent"]
        if context is not None:
            with contextlib.suppress(Exception):  # no request context (a direct call)
                bound = self._session_agents.get(connection_of(context.session))
                if bound:
                    return bound
        return self.app.settings.default_agent

    async def _seen(self, agent: str) -> None:
        """Presence: any successful call is a sighting, written at most every PRESENCE_EVERY seconds."""
        now = self.app.clock.now()
        if now - self._last_seen.get(agent, -math.inf) < PRESENCE_EVERY:
            return
        # Only names seen within the window need remembering; dropping the rest bounds the map
        # by the agents active in the last few seconds, not every name ever used.
        self._last_seen = {a: t for a, t in self._last_seen.items() if now - t < PRESENCE_EVERY}
        self._last_seen[agent] = now
        try:
            await self.app.write(agents.touch, agent)
        except TaskloomError as exc:  # a sighting lost under load is harmless; the call succeeded
            log.warning("presence not recorded for %s: %s", agent, exc)


def connection_of(session: Any) -> Any:
    """The connection behind a request's session.

    The SDK builds a new ServerSession for every request; what lasts as long as the client's
    connection is its private `_connection` (tests/server cover this against the pinned SDK).
    """
    return getattr(session, "_connection", session)


def build_server(app: Taskloom, profile: Profile = "all", feed: ChangeFeed | None = None) -> TaskloomMCP:
    """The app is opened by the caller, once per process: over SSE the lifespan runs per connection.

    `feed` is the process's change feed, shared with the resolver; the caller runs it
    (`feed.run`). Without a running loop, listeners drive it themselves (tests, tools-md)."""

    @asynccontextmanager
    async def lifespan(_: MCPServer[Taskloom]) -> AsyncIterator[Taskloom]:
        yield app

    bus = ListenBus()
    server = TaskloomMCP(
        app,
        "taskloom",
        version=__version__,
        instructions=INSTRUCTIONS,
        lifespan=lifespan,
        log_level="WARNING",
        subscriptions=bus,
        tools=list(sdk_tools(PROFILES[profile])),
    )
    server.argument_names = argument_names(PROFILES[profile])
    server.lean_outputs = profile == "worker"
    server.profile = profile
    resources.register(server, app)
    prompts.register(server)
    protocol.register(server)

    async def readable(uri: str, request_context: Any) -> None:
        if uri.startswith(URI_PREFIX):  # an artifact exists or not; its bytes need not be read
            with errors.as_mcp_error():
                await app.read(artifacts.get, sha_of(uri))
            return
        await server.read_resource(uri, Context(request_context=request_context, mcp_server=server))

    server.feed = feed or ChangeFeed(app)
    server.push = Push(app, server.feed, bus, connection_of, readable)
    server.push.register(server._lowlevel_server)  # private in SDK 2.3; tests/server/test_push.py covers it
    return server


__all__ = ["CallToolResult", "TaskloomMCP", "build_server"]
