"""A task's history: how long it spent in each status, from its events (domain/history.py)."""

from __future__ import annotations

import json

from taskloom.clock import iso
from taskloom.domain.history import Move, spans
from taskloom.models.dashboard import StatusHistory, StatusSpan
from taskloom.services.common import Scope, task_row
from taskloom.store.base import Tx

MAX_MOVES = 2000  # a task's newest status events read; older spans drop off the front


def status_history(tx: Tx, scope: Scope, code: str) -> StatusHistory:
    """Spans oldest first; the current one runs to now. Totals add up every span of a status."""
    row = task_row(tx, scope, code)
    rows = tx.all("task_status_events", {"project": scope.project_id, "code": row["code"], "limit": MAX_MOVES})
    moves = [Move(r["at"], r["kind"], r["agent"], json.loads(r["payload"]) if r["payload"] else {}) for r in reversed(rows)]
    out: list[StatusSpan] = []
    totals: dict[str, float] = {}
    for span in spans(moves, row["status"]):
        seconds = max(0.0, (scope.now if span.left_at is None else span.left_at) - span.entered_at)
        totals[str(span.status)] = totals.get(str(span.status), 0.0) + seconds
        out.append(
            StatusSpan(
                status=str(span.status),
                entered_at=iso(span.entered_at),
                left_at=iso(span.left_at),
                seconds=seconds,
                agent=span.agent,
            )
        )
    return StatusHistory(task=row["code"], spans=out, totals=totals)
