"""The projects one database holds, for callers that have not picked one (or picked a wrong one)."""

from __future__ import annotations

from pathlib import Path

from taskloom.clock import iso
from taskloom.errors import NotFound
from taskloom.models.overview import OverdueLease, ProjectSummary
from taskloom.services.common import Scope
from taskloom.store.base import Tx

NAMED_IN_ERRORS = 10  # projects an unknown-project error lists by name


def listing(tx: Tx) -> list[ProjectSummary]:
    out: dict[str, ProjectSummary] = {}
    for row in tx.all("project_task_counts"):
        summary = out.setdefault(
            row["name"], ProjectSummary(name=row["name"], created_at=iso(row["created_at"]), counts={}, total=0)
        )
        if row["status"] is not None:
            summary.counts[row["status"]] = row["n"]
            summary.total += row["n"]
    return list(out.values())


def unknown(tx: Tx, name: str, db: Path | str) -> NotFound:
    """The project is not in the database: name the ones that are, and how to pick one."""
    known = listing(tx)
    if not known:
        return NotFound(
            f"{db} holds no projects yet (looked for {name!r}).",
            hint="`taskloom import PLAN` or `taskloom serve` creates the project; check --db if you expected one.",
        )
    shown = ", ".join(f"{p.name} ({p.total} tasks)" for p in known[:NAMED_IN_ERRORS])
    more = f" and {len(known) - NAMED_IN_ERRORS} more" if len(known) > NAMED_IN_ERRORS else ""
    return NotFound(
        f"No project {name!r} in {db}; it holds {shown}{more}.",
        hint="Pick one with --project NAME or TASKLOOM_PROJECT=NAME (without either, the project is named "
        "after the current directory); `taskloom projects` lists them.",
        details={"projects": [p.name for p in known]},
    )


def overdue_leases(tx: Tx, scope: Scope, limit: int = 50) -> list[OverdueLease]:
    """Leases that ran out and are still held: what a resolver pass would expire. Reads only."""
    rows = tx.all("leases_overdue", {"project": scope.project_id, "now": scope.now, "limit": limit})
    return [
        OverdueLease(
            code=r["code"],
            claimed_by=r["claimed_by"],
            lease_expired_at=iso(r["lease_expires_at"]),
            seconds_ago=scope.now - r["lease_expires_at"],
        )
        for r in rows
    ]
