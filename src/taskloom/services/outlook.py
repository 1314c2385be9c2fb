"""What a claim that found nothing tells its agent: wait, try again, or stop.

A headless worker loops on `task_claim(wait_seconds=...)` and must know when to stop, so the
empty answer carries an `outlook`:

- `finished`: no task is left that is not done or cancelled;
- `stalled`: what is left for this caller waits on failed or parked work (or is itself failed or
  parked), and nothing in progress can free it: an orchestrator must act;
- `other_work`: nothing left is for this caller's role or filters;
- `retry`: tasks for it are ready, others took the ones it saw: claim again now;
- `wait`: its tasks wait on work in progress: claim again with wait_seconds.
"""

from __future__ import annotations

from taskloom.domain.statuses import PARKED, TaskStatus
from taskloom.models import ClaimResult
from taskloom.services.common import Scope, claim_filters
from taskloom.store.base import Tx

S = TaskStatus
STOP = frozenset({"finished", "stalled", "other_work"})  # the outlooks that tell a worker to stop


def nothing_ready(
    tx: Tx,
    scope: Scope,
    *,
    role: str | None = None,
    stream: str | None = None,
    labels: list[str] | None = None,
) -> ClaimResult:
    """The answer to a claim that found nothing. Read after the claim's write, so ready tasks
    matching the filters mean others took the ones this claim saw in between."""
    everything = {r["status"]: r["n"] for r in tx.all("task_counts_all", {"project": scope.project_id})}
    left = sum(everything.values())
    if left == 0:
        return _empty(0, "finished", "The project is finished: no open tasks. Stop here.")
    params = claim_filters(tx, scope, role, stream, labels)
    filters = describe(params["role"], stream, labels)
    mine = {r["status"]: r["n"] for r in tx.all("task_open_counts_matching", params)} if filters else everything
    open_tasks = sum(n for s, n in everything.items() if s not in PARKED)
    ready, queued, blocked = mine.get(S.READY, 0), mine.get(S.WAITING, 0), mine.get(S.BLOCKED, 0)
    working = mine.get(S.IN_PROGRESS, 0) + mine.get(S.REVIEW, 0)
    parked = sum(mine.get(s, 0) for s in PARKED)
    if ready:
        return _empty(
            open_tasks, "retry",
            f"Others claimed the ready tasks first; {ready} more {_is(ready)} ready: call task_claim again.",
        )
    if not (queued or working or blocked or parked):
        return _empty(
            open_tasks, "other_work",
            f"Nothing for {filters}: the {_n(left, 'task')} left {_is(left)} for other roles or filters. "
            "Stop, or claim with other filters.",
        )
    moving = sum(everything.get(s, 0) for s in (S.READY, S.IN_PROGRESS, S.REVIEW, S.BLOCKED))
    stuck = tx.scalar("task_waiting_stuck_matching", params) if queued else 0
    if not moving or not (working or blocked or queued > stuck):
        n = queued + parked
        return _empty(
            open_tasks, "stalled",
            f"Nothing can move: {_n(n, 'task')} for you {'waits' if n == 1 else 'wait'} on failed or parked work "
            f"or {_is(n)} failed or parked, and nothing in progress can free {'it' if n == 1 else 'them'}. "
            "Stop; an orchestrator must retry, cancel or unpark (orchestrator_brief lists what).",
        )
    return _empty(
        open_tasks, "wait",
        f"Nothing ready now, but {_n(queued, 'task')} {_is(queued)} waiting on work in progress ({working} in "
        f"progress, {blocked} blocked). Call task_claim(wait_seconds=50) to wait for one.",
    )


def describe(role: str | None, stream: str | None, labels: list[str] | None) -> str:
    said = [f"role {role} (or no role)"] if role is not None else []
    said += [f"stream {stream}"] if stream is not None else []
    said += [f"labels {', '.join(sorted(set(labels)))}"] if labels else []
    return " and ".join(said)


def _empty(open_tasks: int, outlook: str, message: str) -> ClaimResult:
    return ClaimResult(claimed=False, open_tasks=open_tasks, outlook=outlook, message=message)


def _n(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def _is(count: int) -> str:
    return "is" if count == 1 else "are"
