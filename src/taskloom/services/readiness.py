"""Keeping the graph moving, incrementally.

`Settle` re-evaluates only what a change can affect: a completed task's dependents, its parent
and its stream; a stream's dependents and its own tasks when it opens or closes. So the cost of
a completion follows the number of dependents, not the size of the project. Every move is a
conditional update on the status just read, so several processes settling at once agree.
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Iterable

from taskloom.domain.events import EventKind
from taskloom.domain.statuses import DONE_WITH_SUBTASKS, SCHEDULABLE, StreamStatus, TaskStatus
from taskloom.services.common import Scope, event, events
from taskloom.store.base import Row, Tx

S = TaskStatus


class Settle:
    def __init__(self, tx: Tx, scope: Scope) -> None:
        self.tx = tx
        self.scope = scope
        self.became_ready: list[str] = []
        self._tasks: deque[int] = deque()
        self._streams: deque[int] = deque()
        self._fresh: list[int] = []

    def after_task_closed(self, task_id: int, stream_id: int | None, parent_id: int | None) -> Settle:
        """A task reached done or cancelled: its dependents, parent and stream may move."""
        self._tasks.extend(r["task_id"] for r in self.tx.all("task_dependent_ids", {"id": task_id}))
        if parent_id is not None:
            self._tasks.append(parent_id)
        if stream_id is not None:
            self._streams.append(stream_id)
        return self

    def after_claim(self, stream_id: int | None) -> Settle:
        """A ready task of this stream was just claimed: a ready stream has started, and an active
        one stays active. The full rule would read the stream, its dependencies and its tasks'
        flags to find the same, on every claim; any other status is left to the full rule."""
        if stream_id is None:
            return self
        row = self.tx.one("stream_by_id", {"id": stream_id})
        if row is None or row["status"] == StreamStatus.ACTIVE:
            return self
        if row["status"] == StreamStatus.READY:
            # Ready means its dependencies are done, and a claim changes none of them.
            self._move(row, StreamStatus.READY, StreamStatus.ACTIVE)
            return self
        self._streams.append(stream_id)
        return self

    def _move(self, row: Row, old: StreamStatus, new: StreamStatus) -> bool:
        """Move a stream from `old` to `new` with its event; False if it was no longer `old`."""
        if not self.tx.run("stream_set_status", {"id": row["id"], "from": old, "to": new, "now": self.scope.now}):
            return False
        event(self.tx, self.scope, EventKind.stream_moved(new), row["code"])
        return True

    def tasks(self, ids: Iterable[int]) -> Settle:
        self._tasks.extend(ids)
        return self

    def fresh(self, ids: Iterable[int]) -> Settle:
        """Tasks just created as waiting: all decided in one statement, before any other task."""
        self._fresh.extend(ids)
        return self

    def streams(self, ids: Iterable[int | None]) -> Settle:
        self._streams.extend(i for i in ids if i is not None)
        return self

    def run(self) -> list[str]:
        while self._tasks or self._streams or self._fresh:
            while self._streams:
                self._stream(self._streams.popleft())
            if self._fresh:
                self._ready_fresh()
            elif self._tasks:
                self._task(self._tasks.popleft())
        return self.became_ready

    def _ready_fresh(self) -> None:
        # A new task only ever moves from waiting to ready, and that move changes no other
        # task's rule (ready is neither done nor a started stream), so one statement decides them all.
        ids, self._fresh = sorted(set(self._fresh)), []
        moved = self.tx.all("tasks_ready_fresh", {"ids": json.dumps(ids), "now": self.scope.now})
        codes = [r["code"] for r in sorted(moved, key=lambda r: r["id"])]
        events(self.tx, self.scope, EventKind.task_moved(S.READY), codes)
        self.became_ready.extend(codes)

    def _task(self, task_id: int) -> None:
        tx = self.tx
        row = tx.one("task_sched_state", {"id": task_id})
        if row is None:
            return
        status = S(row["status"])
        if status not in DONE_WITH_SUBTASKS:
            return
        kids = tx.one("task_children", {"id": task_id})
        if kids["total"] and not kids["open"] and kids["done"]:
            # A parent finishes with its last subtask, so it is never offered beside its children.
            if tx.run("task_parent_done", {"id": task_id, "now": self.scope.now}):
                event(tx, self.scope, EventKind.TASK_DONE, row["code"], via="subtasks")
                self.after_task_closed(task_id, row["stream_id"], row["parent_id"])
            return
        if status not in SCHEDULABLE:
            return
        blocked = bool(kids["open"]) or bool(tx.scalar("task_unmet", {"id": task_id}))
        if not blocked and row["stream_id"] is not None:
            stream = tx.one("stream_by_id", {"id": row["stream_id"]})
            blocked = stream["status"] == StreamStatus.WAITING
        target = S.WAITING if blocked else S.READY
        if target is status:
            return
        moved = tx.run(
            "task_schedule", {"id": task_id, "from": status, "to": target, "now": self.scope.now}
        )
        if moved:
            event(tx, self.scope, EventKind.task_moved(target), row["code"])
            if target is S.READY:
                self.became_ready.append(row["code"])

    def _stream(self, stream_id: int) -> None:
        tx = self.tx
        row = tx.one("stream_by_id", {"id": stream_id})
        if row is None:
            return
        old = StreamStatus(row["status"])
        if tx.scalar("stream_unmet", {"id": stream_id}):
            new = StreamStatus.WAITING
        else:
            flags = tx.one("stream_task_flags", {"id": stream_id})
            # All closed, none open. An all-cancelled stream is done too: a cancelled task never
            # holds a stream, or the streams after it, open.
            if flags["any_task"] and not flags["open"]:
                new = StreamStatus.DONE
            elif flags["started"]:
                new = StreamStatus.ACTIVE
            else:
                new = StreamStatus.READY
        if new is old or not self._move(row, old, new):
            return
        if StreamStatus.WAITING in (old, new):
            self._tasks.extend(r["id"] for r in tx.all("stream_schedulable_tasks", {"id": stream_id}))
        if StreamStatus.DONE in (old, new):
            self._streams.extend(r["stream_id"] for r in tx.all("stream_dependents", {"id": stream_id}))
