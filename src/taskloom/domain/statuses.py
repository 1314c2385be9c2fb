"""Task and stream statuses, and which task transitions are allowed.

Transitions are checked in one place so that every path (a tool call, the resolver, a bulk
change) obeys the same table, and an invalid one names the transitions that are allowed.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Literal

from taskloom.errors import InvalidTransition


class TaskStatus(StrEnum):
    BACKLOG = "backlog"
    WAITING = "waiting"
    READY = "ready"
    IN_PROGRESS = "in_progress"
    REVIEW = "review"
    BLOCKED = "blocked"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"


class StreamStatus(StrEnum):
    WAITING = "waiting"
    READY = "ready"
    ACTIVE = "active"
    DONE = "done"


class SprintStatus(StrEnum):
    PLANNED = "planned"
    ACTIVE = "active"
    CLOSED = "closed"


S = TaskStatus

# A dependency is satisfied by these; a failed dependency keeps its dependents waiting.
SATISFIED: frozenset[TaskStatus] = frozenset({S.DONE, S.CANCELLED})
# A subtask in one of these keeps its parent from being offered; a stream stays open while any task is.
OPEN: frozenset[TaskStatus] = frozenset(set(S) - SATISFIED)
TERMINAL: frozenset[TaskStatus] = frozenset({S.DONE, S.CANCELLED})
# Statuses the resolver may move between ready and waiting as the graph changes.
SCHEDULABLE: frozenset[TaskStatus] = frozenset({S.WAITING, S.READY})

TRANSITIONS: dict[TaskStatus, frozenset[TaskStatus]] = {
    S.BACKLOG: frozenset({S.WAITING, S.CANCELLED}),
    S.WAITING: frozenset({S.READY, S.BACKLOG, S.BLOCKED, S.CANCELLED, S.DONE}),
    S.READY: frozenset({S.IN_PROGRESS, S.WAITING, S.BACKLOG, S.BLOCKED, S.CANCELLED, S.DONE}),
    S.IN_PROGRESS: frozenset(
        {S.DONE, S.REVIEW, S.FAILED, S.READY, S.WAITING, S.BLOCKED, S.CANCELLED}
    ),
    S.REVIEW: frozenset({S.DONE, S.WAITING, S.CANCELLED}),
    S.BLOCKED: frozenset({S.IN_PROGRESS, S.WAITING, S.CANCELLED}),
    S.FAILED: frozenset({S.WAITING, S.CANCELLED}),
    S.DONE: frozenset(),
    S.CANCELLED: frozenset(),
}

# What people and orchestrators may set directly (task_update, task_status_bulk). `ready` is a
# request to put the task back in play: it goes to waiting and readiness decides the rest.
MANUAL_TARGETS: frozenset[TaskStatus] = frozenset({S.BACKLOG, S.READY, S.CANCELLED, S.DONE, S.BLOCKED})


def finish_status(requires_review: bool) -> TaskStatus:
    """Where a claimer's finished task goes (task_done): to review when the task asks for one."""
    return S.REVIEW if requires_review else S.DONE


@dataclass(frozen=True)
class Attempt:
    """Where a task goes when its claimer uses up an attempt (task_fail, or a lease that ran out)."""

    status: TaskStatus  # ready (it is retried) or failed (for good)
    attempts: int  # the count after this attempt
    clear_claim: bool  # a retried task is nobody's; a failed one keeps its last claimer on record
    stamp: Literal["ready_at", "completed_at"]  # back in the queue from now, or finished now

    @property
    def retried(self) -> bool:
        return self.status is S.READY


def after_attempt(attempts: int, max_attempts: int, retry: bool) -> Attempt:
    """Decide the outcome of one more used attempt, from the counts before it.

    Retried while attempts remain and the claimer (or the lease sweep) asks for a retry; failed
    for good otherwise. The caller writes the result guarded by the counts it decided from.
    """
    used = attempts + 1
    if retry and used < max_attempts:
        return Attempt(S.READY, used, clear_claim=True, stamp="ready_at")
    return Attempt(S.FAILED, used, clear_claim=False, stamp="completed_at")


def manual_moves(current: TaskStatus | str) -> list[str]:
    """What task_update / task_status_bulk may set from `current` (`ready` means back into play)."""
    current = TaskStatus(current)
    allowed = TRANSITIONS[current]
    return sorted(
        t
        for t in MANUAL_TARGETS
        if t in allowed or (t is S.READY and (S.WAITING in allowed or current is S.WAITING))
    )


def check_manual(code: str, current: TaskStatus | str, target: TaskStatus | str) -> None:
    """Like check_transition, but speaks in the moves a person or orchestrator can ask for."""
    current, target = TaskStatus(current), TaskStatus(target)
    moves = manual_moves(current)
    if target in moves or (target is S.READY and current is S.READY):
        return
    names = ", ".join(moves) or "none: it is final"
    raise InvalidTransition(
        f"Task {code} is {current}; it cannot be set to {target}. You can set: {names}.",
        hint="The work cycle (task_claim, task_done, task_fail, task_review) makes the other moves.",
        details={"task": code, "from": str(current), "to": str(target), "allowed": moves},
    )


def check_transition(code: str, current: TaskStatus | str, target: TaskStatus | str) -> None:
    """Raise `InvalidTransition` naming the allowed moves when `current -> target` is not allowed."""
    current, target = TaskStatus(current), TaskStatus(target)
    allowed = TRANSITIONS[current]
    if target in allowed:
        return
    names = ", ".join(sorted(allowed)) or "none: it is final"
    raise InvalidTransition(
        f"Task {code} cannot go from {current} to {target}. Allowed from {current}: {names}.",
        details={"task": code, "from": str(current), "to": str(target), "allowed": sorted(allowed)},
    )
