"""What needs a person's decision: the one source for the orchestrator brief and the dashboard.

Blocked, failed and review tasks, open escalations, streams that can never open, and leases that
ran out with no resolver running to expire them.
"""

from __future__ import annotations

from taskloom.clock import iso
from taskloom.domain.limits import MAX_PAGE
from taskloom.errors import InvalidInput
from taskloom.models import Stream
from taskloom.models.dashboard import Decisions, DecisionTask, OpenEscalation
from taskloom.services import planning, projects
from taskloom.services.common import Scope
from taskloom.store.base import Row, Tx

LIMIT = 20  # items of each kind, unless the caller asks otherwise


def needing_decision(tx: Tx, scope: Scope, limit: int = LIMIT, streams: list[Stream] | None = None) -> Decisions:
    """Up to `limit` tasks of each kind (blocked, failed, review), most urgent first, and `limit`
    open escalations. `streams`: the project's streams when the caller has them already (the brief
    does), to spare reading them again."""
    if not 1 <= limit <= MAX_PAGE:
        raise InvalidInput(f"limit must be 1..{MAX_PAGE}.", hint="Ask for fewer items of each kind.")
    found = {
        status: [_task(r) for r in tx.all("tasks_needing_decision", {"project": scope.project_id, "status": status,
                                                                     "limit": limit})]
        for status in ("blocked", "failed", "review")
    }
    escalations = [
        OpenEscalation(id=r["id"], task=r["task_code"], subject=r["subject"], at=iso(r["created_at"]))
        for r in tx.all("escalations_open", {"project": scope.project_id, "limit": limit})
    ]
    if streams is None:
        streams = [planning.render_stream(tx, r) for r in tx.all("stream_list", {"project": scope.project_id})]
    counts = tx.one("decision_counts", {"project": scope.project_id})
    return Decisions(
        **found,
        escalations=escalations,
        stuck_streams=planning.stuck_streams(streams),
        overdue_leases=projects.overdue_leases(tx, scope, limit),
        counts={k: counts[k] for k in ("blocked", "failed", "review", "escalations")},
    )


def _task(row: Row) -> DecisionTask:
    return DecisionTask(
        code=row["code"],
        title=row["title"],
        status=row["status"],
        reason=row["reason"],
        claimed_by=row["claimed_by"],
        attempts=row["attempts"],
        max_attempts=row["max_attempts"],
    )
