"""Waiting claims in the database: the line of waiters, and a claim that keeps to it.

A claim that waits (`task_claim(wait_seconds=...)`) joins a line shared by every process on the
database, and takes a ready task only when no older waiter could take it too
(`domain.turns`). The async part, waking on changes and ending on time or hang-up, is
`taskloom.waiting`; these are the transactions it runs.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass

from taskloom.domain.turns import Filters, my_turn
from taskloom.models import ClaimResult
from taskloom.services import outlook, work
from taskloom.services.common import Scope, claim_filters
from taskloom.store.base import Row, Tx


@dataclass(frozen=True)
class Wanted:
    """A waiting claim's filters as the caller gave them (the agent's role fills in a missing role)."""

    role: str | None = None
    stream: str | None = None
    labels: tuple[str, ...] = ()


@dataclass(frozen=True)
class Turn:
    """One attempt: a claim made, or this wait's place in line and when an older waiter's turn ends."""

    claimed: ClaimResult | None = None
    waiter: int | None = None
    retry_at: float | None = None  # on the app clock; None: wait for the next change


def claim_in_turn(tx: Tx, scope: Scope, wanted: Wanted, waiter: int | None, until: float) -> Turn:
    """Claim the best ready task this wait may take now; else join the line (once) and say when to look again.

    `waiter` is this wait's row from an earlier attempt (None on the first); `until` is when the
    wait ends, after which its row is ignored by others even if nobody removes it.
    """
    scope.require_agent()
    params = _params(tx, scope, wanted)
    candidate = tx.one("claim_candidate", params)
    retry_at = None
    if candidate is not None:
        retry_at = _older_turn(tx, scope, candidate, waiter)
        if retry_at is None:
            result = work.claim(tx, scope, code=candidate["code"])
            if waiter is not None:
                tx.run("claim_waiter_delete", {"id": waiter})
            return Turn(claimed=result)
    if waiter is None:
        waiter = tx.scalar(
            "claim_waiter_insert",
            {**params, "agent": scope.agent, "now": scope.now, "until": until},
        )
    return Turn(waiter=waiter, retry_at=retry_at)


def peek(tx: Tx, scope: Scope, wanted: Wanted, waiter: int | None) -> Turn | None:
    """Without the write lock: None if no ready task matches; else this wait's turn as it stands
    (`retry_at` set while an older waiter may take the task). A wake-up for others' work, or for
    a task whose turn is an older waiter's, then costs a read, not a write."""
    candidate = tx.one("claim_candidate", _params(tx, scope, wanted))
    if candidate is None:
        return None
    return Turn(waiter=waiter, retry_at=_older_turn(tx, scope, candidate, waiter))


def stop_answer(tx: Tx, scope: Scope, wanted: Wanted) -> ClaimResult | None:
    """The empty answer if it tells the caller to stop (finished, stalled, other_work), else None.

    Read when a wait finds nothing to claim: once the project is finished, or nothing can move,
    no task will come to it, and a worker waiting out its deadline would only sit idle. A project
    with no tasks at all is the exception: its plan may not be in yet, and the wait is how a
    worker started first gets its first task.
    """
    answer = outlook.nothing_ready(tx, scope, role=wanted.role, stream=wanted.stream, labels=list(wanted.labels))
    if answer.outlook not in outlook.STOP:
        return None
    if answer.outlook == "finished" and not tx.scalar("project_has_tasks", {"project": scope.project_id}):
        return None
    return answer


def leave(tx: Tx, scope: Scope, waiter: int) -> None:
    tx.run("claim_waiter_delete", {"id": waiter})


def purge(tx: Tx, scope: Scope) -> int:
    """Forget the waits of processes that died before they could leave the line."""
    return tx.run("claim_waiters_purge", {"project": scope.project_id, "now": scope.now})


def _params(tx: Tx, scope: Scope, wanted: Wanted) -> dict:
    return claim_filters(tx, scope, wanted.role, wanted.stream, wanted.labels)


def _older_turn(tx: Tx, scope: Scope, task: Row, waiter: int | None) -> float | None:
    ahead = tx.all("claim_waiters_ahead", {"project": scope.project_id, "now": scope.now, "id": waiter})
    if not ahead:
        return None
    filters = [Filters(r["role"], r["stream_id"], frozenset(json.loads(r["labels"]))) for r in ahead]
    labels = [r["label"] for r in tx.all("task_label_names", {"task_id": task["id"]})]
    ready_since = task["ready_at"] if task["ready_at"] is not None else -math.inf
    return my_turn(filters, task["role"], task["stream_id"], labels, ready_since, scope.now)
