"""What the resolver does on each pass, as plain use cases."""

from __future__ import annotations

from taskloom.domain.events import EventKind
from taskloom.services import escalation, reservations
from taskloom.services.common import Scope, event, note
from taskloom.services.readiness import Settle
from taskloom.store.base import Tx

SWEEP_BATCH = 200  # expired leases handled per transaction, to keep write locks short


def expire_leases(tx: Tx, scope: Scope) -> list[str]:
    """Return expired leases to the queue (attempts + 1), or fail them at max_attempts."""
    expired: list[str] = []
    for row in tx.all("leases_expired", {"project": scope.project_id, "now": scope.now, "limit": SWEEP_BATCH}):
        out = tx.one("lease_expire", {"id": row["id"], "now": scope.now})
        if out is None:  # another process got there first
            continue
        expired.append(row["code"])
        verdict = "it failed for good" if out["status"] == "failed" else "it is back in the queue"
        note(
            tx,
            scope,
            row["id"],
            "system",
            f"Lease held by {row['claimed_by']} expired (attempt {out['attempts']} of {row['max_attempts']}); {verdict}.",
        )
        event(tx, scope, EventKind.LEASE_EXPIRED, row["code"], agent=row["claimed_by"], status=out["status"])
        reservations.after_move(tx, scope, row["id"], row["code"], out["status"])
        why = f"The lease held by {row['claimed_by']} expired (attempt {out['attempts']} of {row['max_attempts']})"
        if out["status"] == "failed":
            event(tx, scope, EventKind.TASK_FAILED, row["code"], reason="lease expired at max_attempts")
            escalation.after_failure(tx, scope, row, why + ".")
        else:
            escalation.escalate(tx, scope, row, "lease_expired", why + "; it is back in the queue.")
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
