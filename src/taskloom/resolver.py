"""The background resolver: one anyio task per server process.

Each pass expires leases, re-ranks the graph if it changed, and now and then reconciles
readiness from scratch. It sleeps until the next lease is due or the interval passes,
whichever comes first, and wakes early when the change feed says the graph changed shape. Several resolvers on one database are safe:
every transition they make is a conditional update.
"""

from __future__ import annotations

import logging
import math

import anyio

from taskloom.changes import ChangeFeed
from taskloom.domain.events import RESOLVER_WAKE
from taskloom.errors import TaskloomError
from taskloom.services import memory, ranks, upkeep, waiting
from taskloom.services.app import Taskloom
from taskloom.services.common import SYSTEM_AGENT

log = logging.getLogger(__name__)


class Resolver:
    def __init__(self, app: Taskloom, feed: ChangeFeed | None = None) -> None:
        self.app = app
        self.feed = feed  # None: passes only on the clock (the CLI's single passes need none)
        self._last_reconcile = -math.inf

    async def run_once(self, *, reconcile: bool | None = None) -> dict[str, list[str]]:
        """One pass. Public so that tests and the CLI can drive it with an injected clock."""
        app = self.app
        out: dict[str, list[str]] = {"expired": [], "ready": []}
        # Look before taking the write lock: most passes have nothing due. Point reads on the
        # loop (app.peek): an idle server's passes then cost no thread hop.
        due = await app.peek(upkeep.next_expiry)
        while due is not None and due < app.clock.now():
            # As taskloom, not the agent this process serves: that agent's inbox would hide the
            # escalations it sent.
            batch = await app.write(upkeep.expire_leases, agent=SYSTEM_AGENT)
            out["expired"] += batch
            if len(batch) < upkeep.SWEEP_BATCH:
                break
        await self._rerank()
        now = app.clock.now()
        if reconcile or (reconcile is None and now - self._last_reconcile >= app.settings.reconcile_interval):
            found = await app.read(upkeep.misfiled)
            out["ready"] = await app.write(upkeep.reconcile, found, agent=SYSTEM_AGENT)
            await app.write(memory.purge_expired)
            await app.write(waiting.purge)
            self._last_reconcile = now
        app.resolver_last_run = app.clock.now()
        return out

    async def _rerank(self) -> None:
        app = self.app

        def stale(tx, scope):
            project = tx.one("project_by_id", {"project": scope.project_id})
            return project["graph_version"] != project["ranked_version"]

        if not await app.peek(stale):
            return
        snap = await app.read(lambda tx, scope: ranks.snapshot(tx, scope.project_id))
        # CPU-bound graph work runs off the event loop and off the database thread.
        changes = await anyio.to_thread.run_sync(ranks.compute_changes, snap)
        await app.write(lambda tx, scope: ranks.apply_changes(tx, scope.project_id, snap.version, changes))

    async def run(self) -> None:
        """Loop until cancelled. Errors are logged and the loop goes on: it must outlive bad passes."""
        changes = None
        if self.feed is not None:
            try:
                # Patient: the resolver passes every second anyway, so the feed need not look often for it.
                changes = await self.feed.attach(RESOLVER_WAKE, patient=True)
            except TaskloomError as exc:  # the clock alone still drives every pass
                log.warning("resolver cannot listen for changes: %s", exc)
        try:
            while True:
                try:
                    await self.run_once()
                except TaskloomError as exc:
                    log.warning("resolver pass failed: %s", exc)
                except Exception:  # top-level handler: a bug in one pass must not stop the resolver
                    log.exception("resolver pass crashed")
                delay = await self._delay()
                if changes is None:
                    await anyio.sleep(delay)
                else:
                    await changes.next(delay)
        finally:
            if changes is not None and self.feed is not None:
                self.feed.detach(changes)

    async def _delay(self) -> float:
        interval = self.app.settings.resolver_interval
        try:
            due = await self.app.peek(upkeep.next_expiry)
        except TaskloomError:
            return interval
        if due is None:
            return interval
        return max(0.0, min(interval, due - self.app.clock.now() + 0.01))
