"""A task's life as spans of time in each status, rebuilt from its events.

Most moves are logged as `task.<status>`, but four are not: a claim (`task.claimed`, into
in_progress), a retry after a failed attempt (`task.retry`) and a release (`task.released`), both
into ready, and a lease expiry (`lease.expired`, into the status its payload names: ready, or
failed, which a `task.failed` then repeats). `task.created` names no status before its payload
carries one: a task is created in backlog or waiting, and only its next move tells which.

A span in a held status (in progress, blocked) also names its holder: the agent whose claim
started it, kept through a block and an unblock (which another agent may make), and nobody for a
task blocked before anyone claimed it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from taskloom.domain.events import EventKind, kind_of
from taskloom.domain.statuses import HELD, TaskStatus

S = TaskStatus
_INTO = {EventKind.TASK_CLAIMED: S.IN_PROGRESS, EventKind.TASK_RETRY: S.READY, EventKind.TASK_RELEASED: S.READY}


@dataclass(frozen=True)
class Move:
    """One stored event, as far as history needs it."""

    at: float
    kind: str
    agent: str | None
    payload: Mapping[str, Any]


@dataclass(frozen=True)
class Span:
    status: TaskStatus
    entered_at: float
    left_at: float | None
    agent: str | None  # who made the move into it
    holder: str | None = None  # who held the task meanwhile: held statuses only


def entered(move: Move) -> TaskStatus | None:
    """The status an event moved its task into; None for events that move nothing (or created)."""
    kind = kind_of(move.kind)
    if kind in _INTO:
        return _INTO[kind]
    if kind is EventKind.LEASE_EXPIRED:
        return _status(move.payload.get("status"))
    if kind is not None and kind is not EventKind.TASK_CREATED and kind.value.startswith("task."):
        return _status(kind.value.removeprefix("task."))
    return None


def spans(moves: Iterable[Move], current: TaskStatus | str) -> list[Span]:
    """Spans oldest first, `moves` oldest first; the last span is open (left_at None). A move into
    the status the task is already in (an expiry to failed, then task.failed) starts no new span."""
    steps: list[tuple[Move, TaskStatus | None]] = []
    for move in moves:
        if move.kind == EventKind.TASK_CREATED:
            steps.append((move, _status(move.payload.get("status"))))
        elif (status := entered(move)) is not None:
            steps.append((move, status))
    out: list[Span] = []
    for i, (move, status) in enumerate(steps):
        if status is None:  # a creation whose payload names no status
            status = _created_as(steps[i + 1][1] if i + 1 < len(steps) else None, S(current))
        if out and out[-1].status is status:
            continue
        holder = _holder(move, status, out[-1] if out else None)
        if out:
            out[-1] = Span(out[-1].status, out[-1].entered_at, move.at, out[-1].agent, out[-1].holder)
        out.append(Span(status, move.at, None, move.agent, holder))
    return out


def _holder(move: Move, status: TaskStatus, before: Span | None) -> str | None:
    if status not in HELD:
        return None
    if move.kind == EventKind.TASK_CLAIMED:
        return move.agent
    return before.holder if before is not None and before.status in HELD else None


def _created_as(next_status: TaskStatus | None, current: TaskStatus) -> TaskStatus:
    # Only a backlog task can move into waiting first (waiting never moves to itself); with no
    # move since, the task is still as it was created. After that, backlog and waiting differ
    # only when the first move is a cancel, and creation defaults to waiting.
    if next_status is None:
        return current if current in (S.BACKLOG, S.WAITING) else S.WAITING
    return S.BACKLOG if next_status is S.WAITING else S.WAITING


def _status(value: object) -> TaskStatus | None:
    try:
        return S(value) if isinstance(value, str) else None
    except ValueError:
        return None
