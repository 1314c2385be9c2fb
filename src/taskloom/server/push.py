"""Push: `notifications/resources/updated` for subscribed resources, whichever process made the change.

Push keeps the subscriptions and the fan-out; what changed comes from the change feed
(`taskloom.changes`), and which resources a change touches from `domain.events`. Handshake-era
clients subscribe with `resources/subscribe` (which `MCPServer` does not serve, so it is
registered here); clients of the 2026-07-28 era listen through the SDK's subscription bus, which
gets the same URIs. Both ways in pass through `_admit`, which refuses what the caller could not
read. Push listens to the feed only while someone is subscribed.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import anyio
from mcp.server.subscriptions import ListenHandler, ResourceUpdated, ServerEvent
from mcp.types import (
    EmptyResult,
    SubscribeRequestParams,
    SubscriptionsListenRequestParams,
    SubscriptionsListenResult,
    UnsubscribeRequestParams,
)

from taskloom.changes import ChangeFeed, Listener
from taskloom.domain.events import Change, touched
from taskloom.errors import TaskloomError
from taskloom.server.resources import STATUS_URI, inbox_uri
from taskloom.services import activity
from taskloom.services.app import Taskloom

log = logging.getLogger(__name__)
IDLE_CHECK = 5.0  # seconds: how often a quiet listener looks whether anyone is still subscribed


class ListenBus:
    """The SDK's in-process subscription bus, able to say whether anyone is listening."""

    def __init__(self) -> None:
        self._listeners: dict[object, Callable[[ServerEvent], None]] = {}
        self.on_listen: Callable[[], None] = lambda: None

    @property
    def listening(self) -> bool:
        return bool(self._listeners)

    async def publish(self, event: ServerEvent) -> None:
        for listener in list(self._listeners.values()):
            try:
                listener(event)
            except Exception:  # fan-out boundary: one bad listener must not starve the others
                log.exception("subscription listener raised")
        await anyio.lowlevel.checkpoint()

    def subscribe(self, listener: Callable[[ServerEvent], None]) -> Callable[[], None]:
        token = object()
        self._listeners[token] = listener
        self.on_listen()
        return lambda: self._listeners.pop(token, None)


class Push:
    def __init__(
        self,
        app: Taskloom,
        feed: ChangeFeed,
        bus: ListenBus,
        connection_of: Callable[[Any], Any],
        readable: Callable[[str, Any], Awaitable[None]],
    ) -> None:
        self.app = app
        self.feed = feed
        self.bus = bus
        self._connection_of = connection_of
        self._readable = readable
        # uri -> {connection: the session to notify through}
        self._subscribers: dict[str, dict[Any, Any]] = {}
        self._connections: set[Any] = set()
        self._wake = anyio.Event()
        self._changes: Listener | None = None  # attached while anyone is subscribed
        self._listen = ListenHandler(bus)
        bus.on_listen = lambda: self._wake.set()

    # ---------------------------------------------------------------- subscribing (both eras)

    async def _admit(self, uris: Iterable[str], ctx: Any) -> None:
        """The one gate for every way to subscribe: what cannot be read cannot be watched.

        An unknown URI, task or agent, or another agent's inbox under a per-agent token, gets the
        error a read would. Then push listens to the feed before the client hears back, so a
        change another process commits right after is not missed.
        """
        for uri in uris:
            await self._readable(uri, ctx)
        if self._changes is None:
            self._changes = await self.feed.attach()

    async def on_subscribe(self, ctx: Any, params: SubscribeRequestParams) -> EmptyResult:
        uri = str(params.uri)
        await self._admit([uri], ctx)
        connection = self._connection_of(ctx.session)
        if connection not in self._connections:
            self._connections.add(connection)
            # A connection that closes is forgotten then, not at the next failed send, which for a
            # resource that never changes would never come.
            with contextlib.suppress(AttributeError):
                connection.exit_stack.callback(self._forget, connection)
        self._subscribers.setdefault(uri, {})[connection] = ctx.session
        self._wake.set()
        return EmptyResult()

    async def on_listen(self, ctx: Any, params: SubscriptionsListenRequestParams) -> SubscriptionsListenResult:
        """`subscriptions/listen` (2026-07-28): admitted here, then served by the SDK's handler."""
        await self._admit(params.notifications.resource_subscriptions or (), ctx)
        return await self._listen(ctx, params)

    async def on_unsubscribe(self, ctx: Any, params: UnsubscribeRequestParams) -> EmptyResult:
        uri = str(params.uri)
        sessions = self._subscribers.get(uri, {})
        sessions.pop(self._connection_of(ctx.session), None)
        if not sessions:
            self._subscribers.pop(uri, None)
        return EmptyResult()

    def register(self, lowlevel: Any) -> None:
        lowlevel.add_request_handler("resources/subscribe", SubscribeRequestParams, self.on_subscribe)
        lowlevel.add_request_handler("resources/unsubscribe", UnsubscribeRequestParams, self.on_unsubscribe)
        # Replaces the unchecked handler MCPServer registered on the same bus.
        lowlevel.add_request_handler("subscriptions/listen", SubscriptionsListenRequestParams, self.on_listen)

    # ---------------------------------------------------------------- the fan-out

    @property
    def wanted(self) -> bool:
        return bool(self._subscribers) or self.bus.listening

    async def run(self) -> None:
        """Until cancelled: notify subscribers of what changed. Errors are logged; the loop goes on."""
        while True:
            if self._changes is None:
                await self._wake.wait()
                self._wake = anyio.Event()
                if self.wanted and self._changes is None:
                    self._changes = await self.feed.attach()  # a 2026-era listen arrived
                continue
            changes = await self._changes.next(IDLE_CHECK)
            lost = self._changes.lost_some()
            if not self.wanted:
                self.feed.detach(self._changes)
                self._changes = None
                continue
            try:
                await self._publish(changes, lost)
            except TaskloomError as exc:
                log.warning("push failed: %s", exc)
            except Exception:  # top-level handler: push must outlive a bad pass
                log.exception("push crashed")

    async def check(self) -> set[str]:
        """Settle the feed and notify what changed; returns the URIs (for tests, which drive it)."""
        if self._changes is None:
            self._changes = await self.feed.attach()
            return set()
        await self.feed.poll(force=True)
        return await self._publish(self._changes.take(), self._changes.lost_some())

    async def _publish(self, changes: list[Change], lost: bool = False) -> set[str]:
        uris = set(self._subscribers) if lost else set()
        if changes:
            uris |= await self._affected(changes)
        for uri in uris:
            await self._notify(uri)
        return uris

    async def _affected(self, changes: list[Change]) -> set[str]:
        """The resource URIs a batch of changes altered: what the events say by themselves
        (`domain.events.touched`), plus what the database says only when someone could be
        listening for it."""
        found = touched(changes)
        uris = {STATUS_URI} | {inbox_uri(n) for n in found.inboxes}
        uris.update(f"taskloom://streams/{s}" for s in found.streams)
        # 2026-era listeners' URIs are not known here (the SDK filters per listener), so while
        # any listen, role, broadcast and thread messages resolve to every inbox they reach.
        listening = self.bus.listening
        subscribed = list(self._subscribers)
        subscribed_inboxes = [u for u in subscribed if u.endswith("/inbox")]
        if found.every_inbox:
            uris.update(subscribed_inboxes)
            if listening:
                uris.update(inbox_uri(n) for n in await self.app.read(activity.agent_names))
        elif found.roles and (subscribed_inboxes or listening):
            uris.update(inbox_uri(n) for n in await self.app.read(activity.agents_in_roles, sorted(found.roles)))
        if found.tasks and (listening or any(u.startswith("taskloom://tasks/") for u in subscribed)):
            # A dependent's page shows each dependency's state, a parent's its subtasks.
            found.tasks.update(await self.app.read(activity.pages_showing, sorted(found.tasks)))
        uris.update(f"taskloom://tasks/{code}" for code in found.tasks)
        if found.tasks and (listening or any(u.startswith("taskloom://streams/") for u in subscribed)):
            streams = await self.app.read(activity.streams_of_tasks, sorted(found.tasks))
            uris.update(f"taskloom://streams/{s}" for s in streams)
        return uris

    async def _notify(self, uri: str) -> None:
        if self.bus.listening:
            await self.bus.publish(ResourceUpdated(uri=uri))
        for connection, session in list(self._subscribers.get(uri, {}).items()):
            try:
                await session.send_resource_updated(uri)
            except Exception:  # noqa: BLE001 -- fan-out boundary: a connection that closed mid-send
                self._forget(connection)  # is dropped, and the others are still served

    def _forget(self, connection: Any) -> None:
        self._connections.discard(connection)
        for uri in list(self._subscribers):
            self._subscribers[uri].pop(connection, None)
            if not self._subscribers[uri]:
                del self._subscribers[uri]

    def subscribed(self) -> Iterable[str]:
        return list(self._subscribers)
