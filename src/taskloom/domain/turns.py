"""Whose turn it is when work becomes ready and several agents wait for it.

Agents waiting in `task_claim(wait_seconds=...)` queue oldest first, across every process on the
database. A waiter takes a ready task only if no older waiter could take it too, so the agent
that has waited longest gets the next task it can do, and none starves however many wake-ups
go by. An older waiter gets HANDOFF_SECONDS from the moment the task became ready to take it;
after that anyone may, so a waiter whose process died (or stalled) holds nobody up for long.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

HANDOFF_SECONDS = 0.5  # how long a ready task is kept for an older waiter before anyone may take it


@dataclass(frozen=True)
class Filters:
    """What a claim asked for: a role (also matching tasks with none), a stream, labels (all of them)."""

    role: str | None = None
    stream_id: int | None = None
    labels: frozenset[str] = frozenset()

    def admit(self, role: str | None, stream_id: int | None, labels: Iterable[str]) -> bool:
        """Whether a claim with these filters could take a task with this role, stream and labels."""
        return (
            (self.role is None or role is None or role == self.role)
            and (self.stream_id is None or stream_id == self.stream_id)
            and self.labels <= set(labels)
        )


def my_turn(
    ahead: Iterable[Filters], role: str | None, stream_id: int | None, labels: Iterable[str],
    ready_since: float, now: float,
) -> float | None:
    """None if a waiter may take the task now; otherwise when it may (an older waiter's turn).

    `ahead` are the live waiters that came first; `ready_since` is when the task became ready.
    """
    if now >= ready_since + HANDOFF_SECONDS:
        return None
    labels = frozenset(labels)
    if any(f.admit(role, stream_id, labels) for f in ahead):
        return ready_since + HANDOFF_SECONDS
    return None
