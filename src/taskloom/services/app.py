"""`Taskloom`: the process-wide facade over the store, opened once per process.

Every use case is a sync function `fn(tx, scope, ...)`; `write` and `read` wrap it with the
caller's scope and send it to the store whole. The server, the CLI and the resolver all go
through here, so they share one set of rules.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import anyio

from taskloom.clock import Clock, SystemClock
from taskloom.config import Settings
from taskloom.services import projects
from taskloom.services.common import Scope
from taskloom.store.backends import label, open_blobs, open_store
from taskloom.store.base import Store, Tx
from taskloom.store.blobs import Blobs

T = TypeVar("T")


class Taskloom:
    def __init__(self, store: Store, blobs: Blobs, settings: Settings, clock: Clock, project_id: int) -> None:
        self.store = store
        self.blobs = blobs
        self.settings = settings
        self.clock = clock
        self.project_id = project_id
        # When this process's resolver last finished a pass (health in agent_init).
        self.resolver_last_run: float | None = None

    @classmethod
    async def open(cls, settings: Settings, clock: Clock | None = None, *, create_project: bool = True) -> Taskloom:
        """Open the store and the project. Read-only callers pass `create_project=False`: a
        mistyped or defaulted project name is then a `not_found` naming the projects there are,
        instead of a new empty project."""
        clock = clock or SystemClock()
        store = await open_store(settings)

        def find_project(tx: Tx) -> int:
            if create_project:
                tx.run("project_insert", {"name": settings.project, "now": clock.now()})
            row = tx.one("project_get", {"name": settings.project})
            if row is None:
                raise projects.unknown(tx, settings.project, label(settings))
            return row["id"]

        try:
            project_id = await (store.write if create_project else store.read)(find_project)
            blobs = await anyio.to_thread.run_sync(open_blobs, settings, clock)
        except BaseException:
            await store.close()
            raise
        return cls(store, blobs, settings, clock, project_id)

    async def close(self) -> None:
        try:
            await anyio.to_thread.run_sync(self.blobs.close)
        finally:
            await self.store.close()

    def scope(self, agent: str | None = None) -> Scope:
        return Scope(
            project_id=self.project_id,
            project=self.settings.project,
            now=self.clock.now(),
            agent=self.settings.default_agent if agent is None else agent,
            lease_seconds=self.settings.lease_seconds,
            escalation_role=self.settings.escalation_role,
        )

    async def write(self, fn: Callable[..., T], *args: Any, agent: str | None = None, **kwargs: Any) -> T:
        scope = self.scope(agent)
        return await self.store.write(lambda tx: fn(tx, scope, *args, **kwargs))

    async def write_now(self, fn: Callable[..., T], *args: Any, agent: str | None = None, **kwargs: Any) -> T:
        """A short write (a claim: a few indexed statements), without a thread hop when the lock is free."""
        scope = self.scope(agent)
        return await self.store.write_now(lambda tx: fn(tx, scope, *args, **kwargs))

    async def peek(self, fn: Callable[..., T], *args: Any, agent: str | None = None, **kwargs: Any) -> T:
        """A point read (a few indexed statements), served without a thread hop."""
        scope = self.scope(agent)
        return await self.store.read_now(lambda tx: fn(tx, scope, *args, **kwargs))

    async def read(self, fn: Callable[..., T], *args: Any, agent: str | None = None, **kwargs: Any) -> T:
        scope = self.scope(agent)
        return await self.store.read(lambda tx: fn(tx, scope, *args, **kwargs))

