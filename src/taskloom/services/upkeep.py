"""What the resolver does on each pass, as plain use cases."""

from __future__ import annotations

from taskloom.domain.events import EventKind
from taskloom.domain.statuses import after_attempt
from taskloom.services import escalation, reservations
from taskloom.services.common import Scope, attempt_params, event, note
from taskloom.services.readiness import Settle
from taskloom.store.base import Tx

SWEEP_BATCH = 200  # expired leases handled per transaction, to keep write locks short


def expire_leases(tx: Tx, scope: Scope) -> list[str]:
    """Return expired leases to the queue (attempts + 1), or fail them at max_attempts."""
    expired: list[str] = []
    for row in tx.all("leases_expired", {"project": scope.project_id, "now": scope.now, "limit": SWEEP_BATCH}):
        out = after_attempt(row["attempts"], row["max_attempts"], retry=True)
        if not tx.run("lease_expire", attempt_params(scope, row, out)):
            # Another process got there first, or the task changed since the sweep read it.
            continue
        expired.append(row["code"])
        used = f"attempt {out.attempts} of {row['max_attempts']}"
        verdict = "it is back in the queue" if out.retried else "it failed for good"
        note(tx, scope, row["id"], "system", f"Lease held by {row['claimed_by']} expired ({used}); {verdict}.")
        event(tx, scope, EventKind.LEASE_EXPIRED, row["code"], agent=row["claimed_by"], status=out.status)
        reservations.after_move(tx, scope, row["id"], row["code"], out.status)
        why = f"The lease held by {row['claimed_by']} expired ({used})"
        if out.retried:
            escalation.escalate(tx, scope, row, "lease_expired", why + "; it is back in the queue.")
        else:
            event(tx, scope, EventKind.TASK_FAILED, row["code"], reason="lease expired at max_attempts")
            escalation.after_failure(tx, scope, row, why + ".")
        # Back to ready, but a parent that gained subtasks meanwhile must wait for them.
        Settle(tx, scope).tasks([row["id"]]).streams([row["stream_id"]]).run()
    return expired


def next_expiry(tx: Tx, scope: Scope) -> float | None:
    return tx.scalar("lease_next_expiry", {"project": scope.project_id})


def misfiled(tx: Tx, scope: Scope) -> tuple[list[int], list[int], list[int]]:
    """Read-only: streams, tasks and parents a reconciliation should look at."""
    streams = [r["id"] for r in tx.all("stream_ids", {"project": scope.project_id})]
    tasks = [r["id"] for r in tx.all("task_misfiled", {"project": scope.project_id})]
    parents = [r["id"] for r in tx.all("task_parents_due", {"project": scope.project_id})]
    return streams, tasks, parents


def reconcile(tx: Tx, scope: Scope, found: tuple[list[int], list[int], list[int]]) -> list[str]:
    """Settle what `misfiled` found; each move re-checks its own conditions, so stale finds are harmless."""
    streams, tasks, parents = found
    became = Settle(tx, scope).streams(streams).tasks(parents).tasks(tasks).run()
    tx.run("project_mark_resolver_run", {"project": scope.project_id, "now": scope.now})
    return became
