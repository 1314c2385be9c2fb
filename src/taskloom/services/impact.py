"""What finishing a task unblocks: its dependents, those that would become ready, and the streams
that would open. Read only; it answers as of now, for the task finishing as done."""

from __future__ import annotations

from taskloom.domain.limits import MAX_PAGE
from taskloom.domain.statuses import OPEN, StreamStatus, TaskStatus
from taskloom.errors import InvalidInput
from taskloom.models.dashboard import Dependent, Impact, StreamOpening
from taskloom.services.common import Scope, task_row
from taskloom.store.base import Row, Tx

DEPENDENTS = 100  # direct dependents listed by default


def dependents(tx: Tx, scope: Scope, code: str, limit: int = DEPENDENTS) -> Impact:
    """Direct dependents (with their other open dependencies), those for which this task is the
    last thing they wait for, the count of everything downstream through task dependencies, and
    the streams that open when this, the last open task of its stream, is done. A task already
    done or cancelled unblocks nothing more: it lists its dependents and nothing would change."""
    if not 1 <= limit <= MAX_PAGE:
        raise InvalidInput(f"limit must be 1..{MAX_PAGE}.", hint="Ask for fewer dependents per page.")
    row = task_row(tx, scope, code)
    still_open = TaskStatus(row["status"]) in OPEN
    opening = _streams_opening(tx, row) if still_open else []
    others: dict[int, list[str]] = {}
    for r in tx.all("impact_other_open_deps", {"id": row["id"]}):
        others.setdefault(r["task_id"], []).append(r["code"])
    found = tx.all("impact_dependents", {"id": row["id"], "limit": limit})
    opens = {s.code for s in opening}
    ready = [
        r["code"]
        for r in found
        if still_open
        and r["status"] == TaskStatus.WAITING
        and not others.get(r["id"])
        and not r["open_subtasks"]
        and (r["stream_status"] != StreamStatus.WAITING or r["stream_code"] in opens)
    ]
    return Impact(
        task=row["code"],
        dependents=[
            Dependent(
                code=r["code"], title=r["title"], status=r["status"], stream=r["stream_code"],
                other_open=others.get(r["id"], []),
            )
            for r in found
        ],
        direct=tx.scalar("impact_dependent_count", {"id": row["id"]}),
        would_be_ready=ready,
        transitive=tx.scalar("impact_transitive_count", {"id": row["id"]}),
        streams_opening=opening,
    )


def _streams_opening(tx: Tx, row: Row) -> list[StreamOpening]:
    stream_id = row["stream_id"]
    if stream_id is None:
        return []
    stream = tx.one("stream_by_id", {"id": stream_id})
    # A stream still waiting on its own dependencies stays waiting, whatever its tasks do.
    if stream["status"] == StreamStatus.WAITING:
        return []
    if not tx.scalar("impact_last_open_in_stream", {"stream_id": stream_id, "id": row["id"]}):
        return []
    return [
        StreamOpening(code=r["code"], name=r["name"])
        for r in tx.all("impact_streams_opening", {"stream_id": stream_id})
    ]
